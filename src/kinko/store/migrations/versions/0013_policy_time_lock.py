"""Loosening waits: each policy version records the time lock it was approved under, and
approvers' vetoes of versions still waiting are kept (signed, one per approver).

Versions loaded before get a lock of 0: they took effect when their quorum was reached,
as they did then. A veto moves the ``policies`` stamp (migration 0012), as a new version
does: every process reads the versions and their vetoes again.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policies") as batch:
        batch.add_column(sa.Column("time_lock_s", sa.BigInteger, nullable=False,
                                   server_default="0"))
    op.create_table(
        "policy_vetoes",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("approver", sa.String(64), primary_key=True),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("vetoed_us", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION kinko_stamp_policies() RETURNS trigger LANGUAGE plpgsql "
                   "AS $$ BEGIN UPDATE stamps SET n = n + 1 WHERE name = 'policies'; "
                   "RETURN NULL; END $$")
        op.execute("CREATE TRIGGER stamp_policy_vetoes AFTER INSERT OR UPDATE OR DELETE OR "
                   "TRUNCATE ON policy_vetoes FOR EACH STATEMENT "
                   "EXECUTE FUNCTION kinko_stamp_policies()")
        return
    for event in ("INSERT", "UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER stamp_policy_vetoes_{event.lower()} AFTER {event} ON "
                   "policy_vetoes BEGIN UPDATE stamps SET n = n + 1 WHERE name = 'policies'; "
                   "END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER stamp_policy_vetoes ON policy_vetoes")
        op.execute("DROP FUNCTION kinko_stamp_policies()")
    op.drop_table("policy_vetoes")  # its SQLite triggers go with it
    with op.batch_alter_table("policies") as batch:
        batch.drop_column("time_lock_s")
    if op.get_bind().dialect.name != "postgresql":
        # SQLite drops a column by copying the table: the copy has none of the stamp
        # triggers migration 0012 made on it
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER IF NOT EXISTS stamp_policies_{event.lower()} AFTER "
                       f"{event} ON policies BEGIN UPDATE stamps SET n = n + 1 WHERE name = "
                       "'policies'; END")
