"""Deposits: customer deposit addresses, the blocks seen, and credited deposits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kinko.store.schema import Amount

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deposit_addresses",
        sa.Column("address", sa.String(128), primary_key=True),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("wallet", sa.String(64), nullable=False),
    )
    op.create_table(
        "chain_blocks",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(66), nullable=False),
    )
    op.create_table(
        "deposits",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("block", sa.BigInteger, nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
    )
    op.create_index("ix_deposits_block", "deposits", ["chain", "block"])


def downgrade() -> None:
    for name in ("deposits", "chain_blocks", "deposit_addresses"):
        op.drop_table(name)
