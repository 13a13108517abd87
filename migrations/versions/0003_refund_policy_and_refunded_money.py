"""the policy a refund was started under; money refunded per payment, as the platform and its refunds say

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('refunds') as batch:
        batch.add_column(sa.Column('policy', sa.JSON(), nullable=False, server_default='{}'))
    with op.batch_alter_table('payments') as batch:
        batch.add_column(sa.Column('refunded', sa.BigInteger(), nullable=False, server_default='0'))
    with op.batch_alter_table('shop_refunds') as batch:
        batch.add_column(sa.Column('refunded_by_parent', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('shop_refunds') as batch:
        batch.drop_column('refunded_by_parent')
    with op.batch_alter_table('payments') as batch:
        batch.drop_column('refunded')
    with op.batch_alter_table('refunds') as batch:
        batch.drop_column('policy')
