"""The books: the VAT country of an order, the shop's bookkeeping settings and credit-note numbers, credit notes,
and the providers' settlements with their movements

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('settlements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('route', sa.String(length=40), nullable=False),
    sa.Column('settlement_id', sa.String(length=255), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('net', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('paid_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_settlements_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlements')),
    sa.UniqueConstraint('shop_id', 'route', 'settlement_id', name=op.f('uq_settlements_shop_id_route_settlement_id'))
    )
    with op.batch_alter_table('settlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlements_shop_id'), ['shop_id'], unique=False)

    op.create_table('settlement_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_row_id', sa.Integer(), nullable=False),
    sa.Column('movement_id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_refund_id', sa.String(length=255), nullable=True),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('payment_id', sa.String(length=255), nullable=True),
    sa.Column('provider_type', sa.String(length=60), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['settlement_row_id'], ['settlements.id'], name=op.f('fk_settlement_lines_settlement_row_id_settlements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_lines')),
    sa.UniqueConstraint('settlement_row_id', 'movement_id', name=op.f('uq_settlement_lines_settlement_row_id_movement_id'))
    )
    with op.batch_alter_table('settlement_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_lines_provider_refund_id'), ['provider_refund_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_lines_settlement_row_id'), ['settlement_row_id'], unique=False)

    op.create_table('credit_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('refund_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_credit_notes_refund_id_refunds')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_credit_notes_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_notes')),
    sa.UniqueConstraint('refund_id', name=op.f('uq_credit_notes_refund_id')),
    sa.UniqueConstraint('shop_id', 'number', name=op.f('uq_credit_notes_shop_id_number'))
    )
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_notes_shop_id'), ['shop_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_country', sa.String(length=2), nullable=True))

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shipping_tax', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('shipping_tax_rate', sa.Numeric(precision=9, scale=6), nullable=True))

    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('books', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('credit_note_seq', sa.Integer(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_column('credit_note_seq')
        batch_op.drop_column('books')

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_column('shipping_tax_rate')
        batch_op.drop_column('shipping_tax')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('tax_country')

    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_notes_shop_id'))

    op.drop_table('credit_notes')
    with op.batch_alter_table('settlement_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlement_lines_settlement_row_id'))
        batch_op.drop_index(batch_op.f('ix_settlement_lines_provider_refund_id'))

    op.drop_table('settlement_lines')
    with op.batch_alter_table('settlements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlements_shop_id'))

    op.drop_table('settlements')
