"""Payment routes: the route a refund takes (a provider's own, or the shop platform's gateway); payments that
are gift cards or store credit, refunded last; the payments one refund is paid from, when its route refunds several
in one request

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('refunds') as batch:
        batch.add_column(sa.Column('route', sa.String(40), nullable=True))
        batch.add_column(sa.Column('parts', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('payments') as batch:
        batch.add_column(sa.Column('stored_value', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE payments SET stored_value = true WHERE provider = 'gift_card'")
    # Every refund so far went directly to its payment's provider.
    op.execute("UPDATE refunds SET route = provider WHERE provider IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('payments') as batch:
        batch.drop_column('stored_value')
    with op.batch_alter_table('refunds') as batch:
        batch.drop_column('last_sent_at')
        batch.drop_column('parts')
        batch.drop_column('route')
