"""The customer's side: the portal's per-shop address and the shop's profile, delivery dates on orders, gift cards on
lines, the withdrawal track and its statements, a deduction for diminished value per item, feedback on returns,
products' types and tags for the policy, messages to customers, and staff sign-in links

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
import re
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('dashboard_logins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_dashboard_logins_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_logins')),
    sa.UniqueConstraint('nonce', name=op.f('uq_dashboard_logins_nonce'))
    )
    with op.batch_alter_table('dashboard_logins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dashboard_logins_shop_id'), ['shop_id'], unique=False)

    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('platform_product_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=512), nullable=True),
    sa.Column('product_type', sa.String(length=255), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('platform_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_products_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('shop_id', 'platform_product_id', name=op.f('uq_products_shop_id_platform_product_id'))
    )
    op.create_table('withdrawals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('return_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('customer_name', sa.Text(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('order_reference', sa.String(length=64), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_withdrawals_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['return_id'], ['returns.id'], name=op.f('fk_withdrawals_return_id_returns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_withdrawals_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_withdrawals')),
    sa.UniqueConstraint('shop_id', 'code', name=op.f('uq_withdrawals_shop_id_code'))
    )
    with op.batch_alter_table('withdrawals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_withdrawals_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_withdrawals_shop_id'), ['shop_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=True),
    sa.Column('withdrawal_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('dedupe_key', sa.String(length=120), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['return_id'], ['returns.id'], name=op.f('fk_messages_return_id_returns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_messages_shop_id_shops'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['withdrawal_id'], ['withdrawals.id'], name=op.f('fk_messages_withdrawal_id_withdrawals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_messages_dedupe_key'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_return_id'), ['return_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_status'), ['status'], unique=False)

    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gift_card', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fulfilled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))

    with op.batch_alter_table('return_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deduction', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('deduction_reason', sa.Text(), nullable=True))

    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('track', sa.String(length=20), server_default='return', nullable=False))
        batch_op.add_column(sa.Column('customer_email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('refund_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('feedback_rating', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('feedback_comment', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('feedback_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('portal_slug', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('profile', sa.JSON(), server_default='{}', nullable=False))
        batch_op.create_unique_constraint(batch_op.f('uq_shops_portal_slug'), ['portal_slug'])
    _give_shops_portal_slugs()



def _give_shops_portal_slugs() -> None:
    """Every shop installed before gets its portal address, from its domain (integration/services/shops.py)."""
    conn = op.get_bind()
    taken = set()
    for shop_id, domain in conn.execute(sa.text("SELECT id, domain FROM shops ORDER BY id")).all():
        host = re.sub(r"^https?://", "", domain.lower()).removesuffix(".myshopify.com")  # a store URL, or a shop domain
        base = re.sub(r"[^a-z0-9]+", "-", host).strip("-")[:48] or "shop"
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        conn.execute(sa.text("UPDATE shops SET portal_slug = :slug WHERE id = :id"), {"slug": slug, "id": shop_id})


def downgrade() -> None:
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_shops_portal_slug'), type_='unique')
        batch_op.drop_column('profile')
        batch_op.drop_column('portal_slug')

    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.drop_column('feedback_at')
        batch_op.drop_column('feedback_comment')
        batch_op.drop_column('feedback_rating')
        batch_op.drop_column('refund_due_at')
        batch_op.drop_column('language')
        batch_op.drop_column('customer_email')
        batch_op.drop_column('track')

    with op.batch_alter_table('return_items', schema=None) as batch_op:
        batch_op.drop_column('deduction_reason')
        batch_op.drop_column('deduction')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('locale')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('fulfilled_at')

    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_column('gift_card')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_status'))
        batch_op.drop_index(batch_op.f('ix_messages_shop_id'))
        batch_op.drop_index(batch_op.f('ix_messages_return_id'))

    op.drop_table('messages')
    with op.batch_alter_table('withdrawals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_withdrawals_shop_id'))
        batch_op.drop_index(batch_op.f('ix_withdrawals_order_id'))

    op.drop_table('withdrawals')
    op.drop_table('products')
    with op.batch_alter_table('dashboard_logins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dashboard_logins_shop_id'))

    op.drop_table('dashboard_logins')
