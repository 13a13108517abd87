"""WooCommerce stores: the key in a store's webhook URL, what an operator should look at, the catch-up mark;
orders a store put in its trash, how many times an order's snapshot changed; the lease on a refund's sync

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = {
    'shops': [sa.Column('webhook_key', sa.String(64), nullable=True),
              sa.Column('alerts', sa.JSON(), nullable=False, server_default='{}'),
              sa.Column('synced_until', sa.DateTime(timezone=True), nullable=True)],
    'orders': [sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
               sa.Column('snapshot_changes', sa.Integer(), nullable=False, server_default='0')],
    'refunds': [sa.Column('sync_claimed_until', sa.DateTime(timezone=True), nullable=True)],
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(column)
    with op.batch_alter_table('shops') as batch:
        batch.create_unique_constraint('uq_shops_webhook_key', ['webhook_key'])


def downgrade() -> None:
    with op.batch_alter_table('shops') as batch:
        batch.drop_constraint('uq_shops_webhook_key', type_='unique')
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column.name)
