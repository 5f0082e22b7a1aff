"""Watch: token assets, the follower's checkpoint, observations, alerts, incidents, the
webhook outbox and hot-wallet balance samples.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kinko.store.schema import Amount

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("token", sa.String(128), nullable=True))
    op.create_table(
        "watch_blocks",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(66), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("wallet", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("sender", sa.String(128), nullable=False),
        sa.Column("receiver", sa.String(128), nullable=True),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=False),
        sa.Column("block", sa.BigInteger, nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("match_ref", sa.String(200), nullable=True),
        sa.Column("first_seen_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_observations_block", "observations", ["chain", "block"])
    op.create_index("ix_observations_status", "observations", ["status"])
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("asset", sa.String(16), nullable=True),
        sa.Column("wallet", sa.String(64), nullable=True),
        sa.Column("opened_us", sa.BigInteger, nullable=False),
        sa.Column("closed_us", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(240), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("chain_state", sa.String(10), nullable=True),
        sa.Column("asset", sa.String(16), nullable=True),
        sa.Column("wallet", sa.String(64), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("amount", Amount, nullable=True),
        sa.Column("block", sa.BigInteger, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("incident", sa.String(64), nullable=True),
        sa.Column("raised_us", sa.BigInteger, nullable=False),
        sa.Column("acked_by", sa.String(200), nullable=True),
        sa.Column("acked_us", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_alerts_raised", "alerts", ["raised_us"])
    op.create_table(
        "timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident", sa.String(64), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_timeline_incident", "timeline", ["incident", "at_us"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_us", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_table(
        "balance_samples",
        sa.Column("wallet", sa.String(64), primary_key=True),
        sa.Column("block", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("balance", Amount, nullable=False),
    )


def downgrade() -> None:
    for table in ("balance_samples", "notifications", "timeline", "alerts", "incidents",
                  "observations", "watch_blocks"):
        op.drop_table(table)
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("token")
