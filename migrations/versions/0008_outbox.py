"""The inbox as an outbox: a delivery's correlation id is kept with it, and the rows waiting to be queued have
an index of their own (the relay reads them many times a second)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

WAITING = sa.text("status = 'received' AND enqueued_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table('webhook_events') as batch:
        batch.add_column(sa.Column('correlation_id', sa.String(64), nullable=True))
    op.create_index('ix_webhook_events_unqueued', 'webhook_events', ['id'], unique=False,
                    postgresql_where=WAITING, sqlite_where=WAITING)


def downgrade() -> None:
    op.drop_index('ix_webhook_events_unqueued', table_name='webhook_events')
    with op.batch_alter_table('webhook_events') as batch:
        batch.drop_column('correlation_id')
