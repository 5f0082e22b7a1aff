"""Web sessions of the operators' dashboard, and the index of files kinko writes (traces,
refund plans, reserve snapshots, reports) so the dashboard can find them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.Column("ended_us", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("incident", sa.String(64), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_artifacts_kind", "artifacts", ["kind", "created_us"])
    op.create_index("ix_withdrawals_state", "withdrawals", ["state", "requested_us"])


def downgrade() -> None:
    op.drop_index("ix_withdrawals_state", "withdrawals")
    op.drop_index("ix_artifacts_kind", "artifacts")
    op.drop_table("artifacts")
    op.drop_table("web_sessions")
