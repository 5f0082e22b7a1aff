"""Screening: withdrawals and their decisions, allow lists, deny labels, breaker events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kinko.store.schema import Amount

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("destination", sa.String(128), nullable=False),
        sa.Column("wallet", sa.String(64), nullable=False),
        sa.Column("requested_us", sa.BigInteger, nullable=False),
        sa.Column("requester", sa.String(128), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=True),
    )
    op.create_index("ix_withdrawals_customer", "withdrawals", ["customer", "requested_us"])
    op.create_index("ix_withdrawals_time", "withdrawals", ["requested_us"])
    op.create_table(
        "allow_list",
        sa.Column("customer", sa.String(128), primary_key=True),
        sa.Column("address", sa.String(128), primary_key=True),
        sa.Column("added_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "deny_labels",
        sa.Column("address", sa.String(128), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("list_name", sa.String(200), nullable=False),
    )
    op.create_table(
        "breaker_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("event", sa.String(8), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("breaker_events", "deny_labels", "allow_list", "withdrawals"):
        op.drop_table(name)
