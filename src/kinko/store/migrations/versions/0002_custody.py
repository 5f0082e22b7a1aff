"""Custody: policy versions, proposals and their Ed25519 approvals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("activated_us", sa.BigInteger, nullable=False),
        sa.Column("activated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("canonical", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_proposals_state", "proposals", ["state"])
    op.create_table(
        "approvals",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("approver", sa.String(64), primary_key=True),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("approved_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for name in ("approvals", "proposals", "policies"):
        op.drop_table(name)
