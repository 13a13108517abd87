"""the policy a refund was started under; money refunded per payment, as the platform and its refunds say

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

A development database may have `refunds.policy` and `payments.refunded` already:
an earlier draft of 0002 added them. Each column is added only where it is missing.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = {
    'refunds': [sa.Column('policy', sa.JSON(), nullable=False, server_default='{}'),
                sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True)],
    'payments': [sa.Column('refunded', sa.BigInteger(), nullable=False, server_default='0')],
    'shop_refunds': [sa.Column('refunded_by_parent', sa.JSON(), nullable=False, server_default='{}'),
                     sa.Column('pending', sa.BigInteger(), nullable=False, server_default='0'),
                     sa.Column('complete', sa.Boolean(), nullable=False, server_default=sa.true())],
}


def _has(table: str) -> set[str]:
    return {column['name'] for column in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        missing = [column for column in columns if column.name not in _has(table)]
        if missing:
            with op.batch_alter_table(table) as batch:
                for column in missing:
                    batch.add_column(column)


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        present = [column.name for column in columns if column.name in _has(table)]
        if present:
            with op.batch_alter_table(table) as batch:
                for name in present:
                    batch.drop_column(name)
