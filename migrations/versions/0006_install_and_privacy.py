"""Install and privacy: WooCommerce connections started from the browser, and privacy requests with their exports

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'pending_connections',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('token', sa.String(64), nullable=False, unique=True),
        sa.Column('store_url', sa.String(255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('shop_id', sa.Integer(), sa.ForeignKey('shops.id', ondelete='SET NULL'), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
    )
    op.create_table(
        'privacy_requests',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('shop_id', sa.Integer(), sa.ForeignKey('shops.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(30), nullable=False),
        sa.Column('source', sa.String(20), nullable=False),
        sa.Column('customer_email', sa.String(320), nullable=True),
        sa.Column('platform_customer_id', sa.String(64), nullable=True),
        sa.Column('platform_request_id', sa.String(64), nullable=True),
        sa.Column('orders', sa.JSON(), nullable=False, server_default='[]'),
        sa.Column('status', sa.String(20), nullable=False, server_default='received'),
        sa.Column('export', sa.JSON(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(op.f('ix_privacy_requests_shop_id'), 'privacy_requests', ['shop_id', 'kind'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_privacy_requests_shop_id'), table_name='privacy_requests')
    op.drop_table('privacy_requests')
    op.drop_table('pending_connections')
