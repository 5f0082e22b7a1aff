"""Signed moves: for every approved movement kinko signs (a withdrawal, a sweep or refill),
what it signed, recorded with its hash before it is broadcast: the sender and the nonce it
takes, and for a Safe's execution the Safe, its SafeTx hash and the Safe's nonce. The watch
matches what the chain shows against these exactly: a transaction at another nonce, or a
Safe execution of another SafeTx, is explained by nothing.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signed_moves",
        sa.Column("ref", sa.String(200), primary_key=True),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(128), nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("safe", sa.String(128), nullable=True),
        sa.Column("safe_tx_hash", sa.String(66), nullable=True),
        sa.Column("safe_nonce", sa.BigInteger, nullable=True),
        sa.Column("signed_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_signed_moves_safe_tx_hash", "signed_moves", ["safe_tx_hash"])


def downgrade() -> None:
    op.drop_index("ix_signed_moves_safe_tx_hash", "signed_moves")
    op.drop_table("signed_moves")
