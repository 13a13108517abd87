"""Privacy tombstones: a customer's erasure is remembered (hashed e-mail and customer id, order ids) so that a
delivery applied later does not bring their data back; an inbox delivery about them loses its body once applied

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'privacy_tombstones',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('shop_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('key', sa.String(64), nullable=False),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_privacy_tombstones_shop_id_shops'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_tombstones')),
        sa.UniqueConstraint('shop_id', 'kind', 'key', name=op.f('uq_privacy_tombstones_shop_id_kind_key')),
    )
    with op.batch_alter_table('webhook_events') as batch:
        batch.add_column(sa.Column('erase_body', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('webhook_events') as batch:
        batch.drop_column('erase_body')
    op.drop_table('privacy_tombstones')
