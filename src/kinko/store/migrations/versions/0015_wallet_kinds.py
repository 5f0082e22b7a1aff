"""Wallet kinds: every wallet records how a transfer from it is authorised, ``key`` (one
key: every wallet registered so far) or ``multisig`` (a contract account such as a Safe),
with a multisig's set-up (owners, threshold, the contracts it runs on, the operations key
and the co-signer among its owners) as JSON; and the signatures a multisig's owners made
offline for a proposal (a SafeTx hash each), kept until the proposal is executed.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False,
                                   server_default="key"))
        batch.add_column(sa.Column("setup", sa.Text, nullable=True))
    op.create_table(
        "owner_signatures",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("digest", sa.String(66), nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("signed_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("owner_signatures")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch: a batch copies the table on
    # SQLite, which would drop the triggers that move the wallets stamp (0012_request_path)
    op.drop_column("wallets", "setup")
    op.drop_column("wallets", "kind")
