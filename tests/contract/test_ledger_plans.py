"""How PostgreSQL runs the ledger's reads under the writers' lock, whatever its plans.

A statement the driver prepared may run on a generic plan made while a new exchange's tables
were small, kept until the next ``ANALYZE``. A read under the writers' lock must stay a
look-up through its index then too, not a read of every row of a table that grows with every
withdrawal."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kinko.store import open_store, upgrade
from kinko.store.sql import FIRST_EXPIRY


def _rows_read(plan: list[str], table: str) -> list[int]:
    """The rows each node reading ``table`` returned, from EXPLAIN ANALYZE's text."""
    return [int(line.split("rows=")[-1].split()[0].rstrip(")"))
            for line in plan if f" on {table}" in line and "actual" in line]


@pytest.mark.slow
def test_the_earliest_expiry_is_one_row_of_the_holds_index(pg: Any) -> None:
    """The earliest expiry of a pending hold, read by each batch of the group commit (with
    its first unit's hold, and before expiring holds), reads one row of the holds' (state,
    expiry) index on a generic plan made when there were five holds, with 3,000 pending."""
    store = open_store(pg.new_url())
    upgrade(store)
    explain = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
    with store.unit() as u:  # a write unit's read ahead carries the expiry (the 'x' part)
        ahead = u.ledger.read_ahead({"k-new"}, {"h-new"}, set())
        assert ahead is not None
        numbered = iter(range(1, 100))
        carried = re.sub("%s", lambda _m: f"${next(numbered)}", " UNION ALL ".join(
            ahead.parts(8)))
        conn = u.conn

        def add(first: int, last: int) -> None:
            conn.exec_driver_sql(
                "INSERT INTO holds (id, debit, credit, asset, amount, expires_us, state, "
                "created_seq) SELECT 'h' || i, 'customer:c', 'wallet:hot', 'ETH', 1, "
                f"1000000 + i, 'pending', i FROM generate_series({first}, {last}) AS i")

        add(1, 5)
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(f"PREPARE carried AS {carried}")
        conn.exec_driver_sql(f"PREPARE alone AS {FIRST_EXPIRY}")
        conn.exec_driver_sql("EXECUTE carried('k-new', 'h-new')")
        conn.exec_driver_sql("EXECUTE alone")
        add(6, 3_000)
        plans = [[r[0] for r in conn.exec_driver_sql(explain + execute)]
                 for execute in ("EXECUTE carried('k-new', 'h-new')", "EXECUTE alone")]
        first = conn.exec_driver_sql("EXECUTE alone").scalar()
        conn.exec_driver_sql("DEALLOCATE ALL")
    store.close()
    assert first == 1_000_001
    for plan in plans:
        read = _rows_read(plan, "holds")
        assert read and max(read) <= 1, "\n".join(plan)
