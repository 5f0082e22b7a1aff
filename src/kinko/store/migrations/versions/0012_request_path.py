"""The request path's reads: change stamps and running totals of withdrawals.

- Stamps: one counter per read-mostly table, moved by a trigger on every insert, update and
  delete of that table, so that every process (each ``kinko serve`` worker, the command
  line) can tell in one cheap read whether what it cached is still what is stored. A random
  ``database`` row tells one database from another at the same URL.
- Outflows: per scope (a customer's, a destination's, an asset's withdrawals), the running
  total of the withdrawals screening counts, in time order, so that a window's sum is two
  index look-ups instead of a scan; and the counted ones that stopped counting (rejected,
  expired). Filled here from the withdrawals recorded so far.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

from kinko.store.schema import Amount

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# the tables whose contents processes cache (kinko.store.stamps.STAMPED, kept equal by a test)
TABLES = ("policies", "api_keys", "deny_labels", "wallets", "incidents", "breaker_events")
# the states screening counts (kinko.store.screening_sql.COUNTED)
COUNTED = ("allowed", "review", "approved", "sending", "sent", "confirmed")


def _outflows() -> None:
    def keys() -> list[sa.Column[object]]:
        return [sa.Column("scope", sa.String(12), primary_key=True),
                sa.Column("asset", sa.String(16), primary_key=True),
                sa.Column("key", sa.String(128), primary_key=True),
                sa.Column("at_us", sa.BigInteger, primary_key=True, autoincrement=False),
                sa.Column("withdrawal", sa.String(128), primary_key=True),
                sa.Column("amount", Amount, nullable=False)]

    outflows = op.create_table(
        "outflows", *keys(), sa.Column("total", Amount, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False))
    op.create_table("outflow_removals", *keys())
    rows = op.get_bind().execute(sa.text(
        "SELECT id, customer, destination, asset, amount, requested_us FROM withdrawals "
        "WHERE state IN :counted ORDER BY requested_us, id").bindparams(
        sa.bindparam("counted", expanding=True)), {"counted": list(COUNTED)})
    totals: dict[tuple[str, str, str], tuple[int, int]] = {}
    batch: list[dict[str, object]] = []
    for wid, customer, destination, asset, amount, at in rows:
        for scope, key in (("customer", customer), ("destination", destination),
                           ("asset", "")):
            total, n = totals.get((scope, asset, key), (0, 0))
            total, n = total + int(amount), n + 1
            totals[(scope, asset, key)] = (total, n)
            batch.append({"scope": scope, "asset": asset, "key": key, "at_us": at,
                          "withdrawal": wid, "amount": int(amount), "total": total, "n": n})
        if len(batch) >= 3000:
            op.bulk_insert(outflows, batch)
            batch = []
    if batch:
        op.bulk_insert(outflows, batch)


def upgrade() -> None:
    _outflows()
    op.create_table(
        "stamps",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    rows = [{"name": t, "n": 0} for t in TABLES]
    rows.append({"name": "database", "n": secrets.randbits(62)})
    op.bulk_insert(sa.table("stamps", sa.column("name", sa.String), sa.column("n", sa.BigInteger)),
                   rows)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION kinko_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN UPDATE stamps SET n = n + 1 WHERE name = TG_TABLE_NAME; "
                   "RETURN NULL; END $$")
        for table in TABLES:
            op.execute(f"CREATE TRIGGER stamp_{table} AFTER INSERT OR UPDATE OR DELETE OR "
                       f"TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION kinko_stamp()")
        return
    for table in TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER stamp_{table}_{event.lower()} AFTER {event} ON {table} "
                       f"BEGIN UPDATE stamps SET n = n + 1 WHERE name = '{table}'; END")


def downgrade() -> None:
    op.drop_table("outflow_removals")
    op.drop_table("outflows")
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER stamp_{table} ON {table}")
        op.execute("DROP FUNCTION kinko_stamp()")
    else:
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER stamp_{table}_{event}")
    op.drop_table("stamps")
