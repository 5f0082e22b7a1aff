"""Screening's window sums from the running totals, on SQLite and PostgreSQL, always equal
the sums counted row by row over the withdrawals table: per customer, destination and
asset, at window edges to the microsecond, with amounts beyond 64 bits, withdrawals
recorded out of time order (another process's clock), blocked ones (never counted) and
rejected or expired ones (counted until then); and the migration fills the totals from the
withdrawals recorded before it. The marks a request reads of the customer's history (how
many withdrawals, how many counted, whether the destination was used) agree with the rows
too."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from kinko.errors import IdempotencyConflict
from kinko.store import SqlStore, open_store, upgrade
from kinko.store.migrate import _config
from kinko.store.screening_sql import COUNTED, with_totals

T0 = datetime(2026, 12, 1, tzinfo=UTC)
WINDOWS = [("customer", timedelta(hours=1)), ("customer", timedelta(days=30)),
           ("destination", timedelta(hours=24)), ("asset", timedelta(hours=1)),
           ("asset", timedelta(hours=25)), ("all", timedelta(hours=24)),
           ("customer", timedelta(microseconds=1))]


def _row(i: int, at: datetime, rng: random.Random, state: str = "allowed") -> dict[str, object]:
    return {"id": f"W{i:05d}", "customer": f"C{rng.randrange(3)}", "asset": rng.choice(
        ["ETH", "ETH", "XEM"]), "amount": rng.randrange(1, 10**21),
        "destination": f"0x{rng.randrange(3):040x}", "wallet": "hot", "requested_at": at,
        "requester": "t", "state": state, "decision": "{}", "tx_hash": None}


def _counted(store: SqlStore) -> list[dict[str, object]]:
    with store.unit(write=False) as u:
        return [r for r in u.screening.withdrawals(limit=1_000_000) if r["state"] in COUNTED]


def _expected(rows: list[dict[str, object]], customer: str, destination: str, asset: str,
              until: datetime) -> dict[tuple[str, timedelta], tuple[int, int]]:
    out = {}
    for scope, duration in WINDOWS:
        hit = [r for r in rows if r["asset"] == asset and until - duration < r["requested_at"]
               <= until and (scope != "customer" or r["customer"] == customer)  # type: ignore[operator]
               and (scope != "destination" or r["destination"] == destination)]
        out[(scope, duration)] = (sum(int(r["amount"]) for r in hit), len(hit))  # type: ignore[call-overload]
    return out


def _check(store: SqlStore, rng: random.Random, probes: list[datetime]) -> None:
    rows = _counted(store)
    with store.unit(write=False) as u:
        every = u.screening.withdrawals(limit=1_000_000)
        for customer in ("C0", "C1", "C2", "C9"):  # the marks of the customer's history
            marks = u.screening.request_marks("W-new", customer, "ETH", "wallet:hot")
            assert marks.history == (
                sum(r["customer"] == customer for r in every),
                sum(r["customer"] == customer for r in rows)), customer
            for to in (f"0x{d:040x}" for d in range(4)):  # withdrew there, counted
                marks = u.screening.request_marks("W-new", customer, "ETH", "wallet:hot",
                                                  destination=to)
                assert marks.destination_known == any(
                    r["customer"] == customer and r["destination"] == to for r in rows), to
    for until in probes:
        for customer in ("C0", "C1", "C9"):
            destination = f"0x{rng.randrange(3):040x}"
            for asset in ("ETH", "XEM"):
                expected = _expected(rows, customer, destination, asset, until)
                with store.unit(write=False) as u:
                    got = u.screening.window_sums(customer, destination, asset, until, WINDOWS)
                assert got == expected, until
                with store.unit(write=False) as u:  # read with a request's marks
                    u.screening.request_marks("W-new", customer, asset, "wallet:hot",
                                              (destination, until, WINDOWS))
                    got = u.screening.window_sums(customer, destination, asset, until, WINDOWS)
                assert got == expected, until


def test_a_policy_without_window_rules_sums_nothing(store: SqlStore) -> None:
    with store.unit(write=False) as u:
        assert u.screening.window_sums("C0", "0x0", "ETH", T0, []) == {}


def test_window_sums_equal_the_counted_rows(store: SqlStore) -> None:
    rng = random.Random(5)
    times = [T0 + timedelta(minutes=rng.randrange(0, 3000), microseconds=rng.randrange(3))
             for _ in range(120)]
    ordered = sorted(times[:90])
    with store.unit() as u:
        for i, at in enumerate(ordered):  # in time order, as one process records them
            u.screening.put_withdrawal(_row(i, at, rng, rng.choice(
                ["allowed", "review", "allowed", "blocked"])))
    with store.unit() as u:  # then late ones: before rows already recorded
        for i, at in enumerate(times[90:], start=90):
            u.screening.put_withdrawal(_row(i, at, rng))
    probes = [T0 + timedelta(minutes=m) for m in (0, 59, 60, 600, 1500, 2999, 3100)]
    probes += [ordered[10], ordered[10] - timedelta(microseconds=1), times[95]]
    _check(store, rng, probes)
    with store.unit() as u:  # some stop counting: rejected, expired; some move on
        for i in range(0, 120, 7):
            u.screening.set_state(f"W{i:05d}", ("allowed", "review"), "rejected")
        for i in range(3, 120, 11):
            u.screening.set_state(f"W{i:05d}", ("allowed", "review"), "expired")
        for i in range(1, 120, 13):
            u.screening.set_state(f"W{i:05d}", ("allowed",), "sending")
        u.screening.set_state("W00002", ("rejected",), "expired")  # not counted either way
    _check(store, rng, probes)


def test_sums_read_with_the_marks_are_not_served_after_a_write(store: SqlStore) -> None:
    rng = random.Random(11)
    at = T0 + timedelta(days=400)  # after every other test's rows
    row = _row(99_001, at, rng)
    with store.unit() as u:
        customer, destination = str(row["customer"]), str(row["destination"])
        before = u.screening.window_sums(customer, destination, "ETH", at, WINDOWS)
        marks = u.screening.request_marks("W99001", customer, "ETH", "wallet:hot",
                                          (destination, at, WINDOWS))
        assert not marks.exists
        row["asset"] = "ETH"
        u.screening.put_withdrawal(row)  # the unit writes: what was read ahead is stale
        after = u.screening.window_sums(customer, destination, "ETH", at, WINDOWS)
        assert after[("customer", timedelta(hours=1))] == (
            before[("customer", timedelta(hours=1))][0] + int(row["amount"]),  # type: ignore[call-overload]
            before[("customer", timedelta(hours=1))][1] + 1)
        # and sums asked for something else than what was read ahead are read afresh
        u.screening.request_marks("W99002", customer, "ETH", "wallet:hot",
                                  (destination, at, WINDOWS))
        assert u.screening.window_sums(customer, destination, "ETH",
                                       at - timedelta(days=1), WINDOWS) == \
            u.screening.window_sums(customer, destination, "ETH", at - timedelta(days=1),
                                    WINDOWS)


def test_the_migration_fills_the_totals_from_recorded_withdrawals(store_url: str) -> None:
    rng = random.Random(8)
    store = open_store(store_url)
    try:
        upgrade(store)
        with store.unit() as u:
            for i in range(40):
                u.screening.put_withdrawal(_row(i, T0 + timedelta(minutes=rng.randrange(600)),
                                                rng, rng.choice(["allowed", "blocked"])))
            u.screening.set_state("W00001", ("allowed", "blocked"), "rejected")
        from alembic import command

        with store.engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0010")
        with store.engine.begin() as conn:  # as a version without the totals left it
            assert conn.execute(text("SELECT count(*) FROM withdrawals")).scalar() == 40
        upgrade(store)
        _check(store, rng, [T0 + timedelta(minutes=m) for m in (30, 300, 601)])
    finally:
        store.close()


def test_the_migration_stamps_every_table_processes_cache() -> None:
    from importlib import import_module

    from kinko.store.stamps import STAMPED

    migration = import_module("kinko.store.migrations.versions.0012_request_path")
    assert tuple(migration.TABLES) == STAMPED
    assert tuple(migration.COUNTED) == COUNTED
    history = import_module("kinko.store.migrations.versions.0018_customer_history")
    assert tuple(history.COUNTED) == COUNTED


def test_a_withdrawal_recorded_twice_is_refused_where_it_was_written(store: SqlStore) -> None:
    """The row and its running totals are one statement sent with the unit's next round
    trip on PostgreSQL: an id recorded again is refused (``IdempotencyConflict``) inside
    the savepoint that wrote it, which undoes it alone, and counts nothing twice."""
    rng = random.Random(17)
    at = T0 + timedelta(days=800)  # after every other test's rows
    first = _row(99_101, at, rng)
    with store.unit() as u:
        u.screening.put_withdrawal(first)
        with pytest.raises(IdempotencyConflict), u.savepoint():
            u.screening.put_withdrawal({**first, "requested_at": at + timedelta(seconds=1)})
        u.screening.put_withdrawal(_row(99_102, at + timedelta(seconds=2), rng))
    rows = _counted(store)
    assert sorted(r["id"] for r in rows if int(str(r["id"])[1:]) > 99_100) == [
        "W99101", "W99102"]
    _check(store, rng, [at, at + timedelta(seconds=1), at + timedelta(seconds=2)])


@pytest.mark.slow
def test_postgresql_finds_the_later_rows_of_a_total_by_its_index(pg: Any) -> None:
    """PostgreSQL keeps the plan of a statement prepared while the tables were small (a
    new exchange's first minutes, before any ``ANALYZE``): the running totals' statement
    must reach the rows after the new one through the index then too, not by scanning a
    table that grows with every withdrawal."""
    first = ("INSERT INTO withdrawals (id, customer, asset, amount, destination, wallet, "
             "requested_us, requester, state, decision, tx_hash) VALUES (%s, %s, %s, %s, "
             "%s, %s, %s, %s, %s, %s, %s)")
    numbered = iter(range(1, 100))
    sql = re.sub("%s", lambda _m: f"${next(numbered)}", with_totals(first, 3))
    values = ("'W1'", "'C1'", "'ETH'", "'5'", "'0xd'", "'hot'", "1", "'t'", "'allowed'",
              "'{}'", "NULL", "'C1'", "'customer'", "'ETH'", "'C1'", "'destination'", "'ETH'", "'0xd'",
              "'all'", "'ETH'", "''", "1", "'W1'", "1", "'W1'", "'5'", "'5'", "1", "'W1'",
              "'5'")
    store = open_store(pg.new_url())
    with store.engine.connect() as conn:
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(f"PREPARE totals AS {sql}")
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(
            f"EXPLAIN (COSTS OFF) EXECUTE totals({', '.join(values)})"))
        conn.rollback()
    store.close()
    assert "outflows" in plan
    assert "Seq Scan on outflows" not in plan, plan


def test_a_destination_is_known_by_the_customers_counted_withdrawals_alone(
        store: SqlStore) -> None:
    rng = random.Random(23)
    to = [f"0x{0xd0 + i:040x}" for i in range(5)]
    at = T0 + timedelta(days=900)
    with store.unit() as u:
        for i, (customer, dest, state) in enumerate([
                ("C5", to[0], "blocked"), ("C5", to[1], "allowed"), ("C5", to[2], "review"),
                ("C6", to[3], "allowed")]):
            u.screening.put_withdrawal({**_row(99_200 + i, at + timedelta(seconds=i), rng,
                                               state), "customer": customer,
                                        "destination": dest})
        u.screening.set_state("W99201", ("allowed",), "rejected")
    with store.unit(write=False) as u:
        known = {(customer, dest) for customer in ("C5", "C6") for dest in to
                 if u.screening.request_marks("W-new", customer, "ETH", "wallet:hot",
                                              destination=dest).destination_known}
    assert known == {("C5", to[2]), ("C6", to[3])}
