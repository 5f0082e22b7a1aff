"""The ledger: assets, wallets, hash-chained journal, postings, balances, holds.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kinko.store.schema import Amount

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("symbol", sa.String(16), primary_key=True),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("decimals", sa.Integer, nullable=False),
    )
    op.create_table(
        "wallets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(8), nullable=False),
        sa.Column("addresses", sa.Text, nullable=False),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(
        sa.table("ledger_head", sa.column("id"), sa.column("seq"), sa.column("hash")),
        [{"id": 1, "seq": 0, "hash": "0" * 64}],
    )
    op.create_table(
        "entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("ts_us", sa.BigInteger, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("memo", sa.Text, nullable=False),
        sa.Column("hold_id", sa.String(128), nullable=True),
        sa.Column("resolves_hold", sa.String(128), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("key", name="uq_entries_key"),
        sa.UniqueConstraint("resolves_hold", name="uq_entries_resolves_hold"),
    )
    op.create_index("ix_entries_ts", "entries", ["ts_us"])
    op.create_table(
        "postings",
        sa.Column("entry_seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account", sa.String(160), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("amount", Amount, nullable=False),
    )
    op.create_index("ix_postings_account", "postings", ["account", "asset", "entry_seq"])
    op.create_table(
        "balances",
        sa.Column("account", sa.String(160), primary_key=True),
        sa.Column("asset", sa.String(16), primary_key=True),
        sa.Column("balance", Amount, nullable=False),
        sa.Column("pending_debit", Amount, nullable=False),
        sa.Column("pending_credit", Amount, nullable=False),
    )
    op.create_table(
        "holds",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("debit", sa.String(160), nullable=False),
        sa.Column("credit", sa.String(160), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("created_seq", sa.BigInteger, nullable=False),
        sa.Column("resolved_seq", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_holds_state_expiry", "holds", ["state", "expires_us"])


def downgrade() -> None:
    for name in ("holds", "balances", "postings", "entries", "ledger_head", "wallets", "assets"):
        op.drop_table(name)
