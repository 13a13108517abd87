"""core second pass: early platform statuses, sweeper stamps, return shipping fees per currency

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

shops = sa.table("shops", sa.column("id", sa.Integer), sa.column("currency", sa.String), sa.column("policy", sa.JSON))


def upgrade() -> None:
    op.create_table('early_return_statuses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('platform_return_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('happened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_early_return_statuses_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_early_return_statuses'))
    )
    op.create_index(op.f('ix_early_return_statuses_shop_id'), 'early_return_statuses', ['shop_id', 'platform_return_id'], unique=False)
    with op.batch_alter_table('webhook_events') as batch:
        batch.add_column(sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('refunds') as batch:
        batch.add_column(sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('sync_enqueued_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('returns') as batch:
        batch.add_column(sa.Column('sync_enqueued_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('shipping_total', sa.BigInteger(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('shipping_tax', sa.BigInteger(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('shipping_tax_rate', sa.Numeric(precision=9, scale=6), nullable=False, server_default='0'))
    with op.batch_alter_table('shop_refunds') as batch:
        batch.add_column(sa.Column('shipping_refunded', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('refunds') as batch:
        batch.add_column(sa.Column('shipping', sa.BigInteger(), nullable=False, server_default='0'))
    _fees_per_currency()


def _fees_per_currency() -> None:
    """A flat return_shipping_fee was in whatever currency an order had: keep it in the shop's own currency."""
    conn = op.get_bind()
    for shop_id, currency, policy in conn.execute(sa.select(shops.c.id, shops.c.currency, shops.c.policy)).all():
        policy = dict(policy or {})
        fee = policy.pop("return_shipping_fee", None)
        # Without a shop currency to pin it to, the fee is dropped rather than charged in a wrong currency.
        if fee and currency:
            policy["return_shipping_fees"] = {currency.upper(): fee}
        conn.execute(shops.update().where(shops.c.id == shop_id).values(policy=policy))


def downgrade() -> None:
    conn = op.get_bind()
    for shop_id, currency, policy in conn.execute(sa.select(shops.c.id, shops.c.currency, shops.c.policy)).all():
        policy = dict(policy or {})
        fees = policy.pop("return_shipping_fees", None) or {}
        policy["return_shipping_fee"] = fees.get((currency or "").upper(), 0)
        conn.execute(shops.update().where(shops.c.id == shop_id).values(policy=policy))
    with op.batch_alter_table('refunds') as batch:
        batch.drop_column('shipping')
    with op.batch_alter_table('shop_refunds') as batch:
        batch.drop_column('shipping_refunded')
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('shipping_tax_rate')
        batch.drop_column('shipping_tax')
        batch.drop_column('shipping_total')
    with op.batch_alter_table('returns') as batch:
        batch.drop_column('sync_enqueued_at')
    with op.batch_alter_table('refunds') as batch:
        batch.drop_column('sync_enqueued_at')
        batch.drop_column('enqueued_at')
    with op.batch_alter_table('webhook_events') as batch:
        batch.drop_column('enqueued_at')
    op.drop_index(op.f('ix_early_return_statuses_shop_id'), table_name='early_return_statuses')
    op.drop_table('early_return_statuses')
