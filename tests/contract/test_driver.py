"""Statements on the driver's own cursor (``kinko.store.driver.run``), on SQLite and
PostgreSQL: the rows and counts SQLAlchemy would give, its exception classes for the
driver's errors (an id taken is an ``IntegrityError`` the store turns into a conflict),
the unit still usable after a failed statement in a savepoint, and every statement seen
by whoever listens to the engine's statement events (the round-trip counts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import event
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    MultipleResultsFound,
    NoResultFound,
    ProgrammingError,
)

from kinko.errors import KinkoError
from kinko.store import SqlStore, open_store
from kinko.store.driver import defer, run


def _p(store: SqlStore) -> str:
    return "?" if store.dialect == "sqlite" else "%s"


def test_rows_counts_and_one(store: SqlStore) -> None:
    p = _p(store)
    with store.unit() as u:
        rows = [(f"k{i}", 1, 2, "s", 0) for i in range(3)]
        done = run(u.conn, "INSERT INTO stamps (name, n) VALUES "
                   f"({p}, {p})", [(name, n) for name, n, *_ in rows])
        assert done.rowcount == 3
        got = run(u.conn, f"SELECT name, n FROM stamps WHERE name IN ({p}, {p}, {p}) "
                  "ORDER BY name", ("k0", "k1", "k2"))
        assert [tuple(r) for r in got] == [("k0", 1), ("k1", 1), ("k2", 1)]
        assert run(u.conn, f"SELECT n FROM stamps WHERE name = {p}", ("k1",)).scalar() == 1
        assert run(u.conn, f"SELECT n FROM stamps WHERE name = {p}", ("none",)).first() \
            is None
        with pytest.raises(NoResultFound):
            run(u.conn, f"SELECT n FROM stamps WHERE name = {p}", ("none",)).one()
        with pytest.raises(MultipleResultsFound):
            run(u.conn, f"SELECT n FROM stamps WHERE name IN ({p}, {p})", ("k0", "k1")).one()
        updated = run(u.conn, f"UPDATE stamps SET n = n + 1 WHERE name IN ({p}, {p})",
                      ("k0", "k2"))
        assert updated.rowcount == 2 and updated.first() is None


def test_a_driver_error_is_sqlalchemys_and_the_unit_goes_on(store: SqlStore) -> None:
    p = _p(store)
    with store.unit() as u:
        run(u.conn, f"INSERT INTO stamps (name, n) VALUES ({p}, {p})", ("dup", 1))
        with pytest.raises(IntegrityError), u.savepoint():
            run(u.conn, f"INSERT INTO stamps (name, n) VALUES ({p}, {p})", ("dup", 2))
        assert run(u.conn, f"SELECT n FROM stamps WHERE name = {p}", ("dup",)).scalar() == 1
    with store.unit(write=False) as u:
        assert run(u.conn, f"SELECT n FROM stamps WHERE name = {p}", ("dup",)).scalar() == 1


def test_listeners_see_every_statement(store: SqlStore) -> None:
    seen: list[str] = []

    def listen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        with store.unit(write=False) as u:
            rows = run(u.conn, "SELECT name, n FROM stamps WHERE name = 'database'").all()
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)
    assert len(rows) == 1 and rows[0][0] == "database"
    assert "SELECT name, n FROM stamps WHERE name = 'database'" in seen


class _Taken(KinkoError):
    pass


def test_a_deferred_statement_keeps_its_order_and_its_errors(store: SqlStore) -> None:
    """A deferred write (sent with the next statement, on PostgreSQL in its round trip) is
    seen by that statement; one that fails on a constraint raises its own error inside the
    savepoint it was written in (or SQLAlchemy's when it has none), the unit goes on, and
    a unit's last deferred writes are sent before it commits."""
    p = _p(store)
    insert = f"INSERT INTO stamps (name, n) VALUES ({p}, {p})"
    with store.unit() as u:
        defer(u.conn, insert, ("d1", 1))
        assert run(u.conn, f"SELECT n FROM stamps WHERE name = {p}", ("d1",)).scalar() == 1
        with pytest.raises(_Taken), u.savepoint():
            defer(u.conn, insert, ("d1", 2), conflict=lambda why: _Taken(why))
        with pytest.raises(IntegrityError), u.savepoint():
            defer(u.conn, insert, ("d2", 1))
            defer(u.conn, insert, ("d2", 2))
            run(u.conn, "SELECT 1")
        defer(u.conn, insert, ("d3", 3))  # the unit's last statement
    with store.unit(write=False) as u:
        got = run(u.conn, f"SELECT name, n FROM stamps WHERE name IN ({p}, {p}, {p}) "
                  "ORDER BY name", ("d1", "d2", "d3")).all()
        assert [tuple(r) for r in got] == [("d1", 1), ("d3", 3)]


def test_a_unit_whose_deferred_write_fails_leaves_nothing(store: SqlStore) -> None:
    p = _p(store)
    insert = f"INSERT INTO stamps (name, n) VALUES ({p}, {p})"
    with store.unit() as u:
        run(u.conn, insert, ("e1", 1))
    with pytest.raises(_Taken), store.unit() as u:
        defer(u.conn, insert, ("e2", 1))
        defer(u.conn, insert, ("e1", 2), conflict=lambda why: _Taken(why))
    with store.unit(write=False) as u:
        got = run(u.conn, f"SELECT name, n FROM stamps WHERE name IN ({p}, {p})",
                  ("e1", "e2")).all()
        assert [tuple(r) for r in got] == [("e1", 1)]


@pytest.fixture
def pg_store(pg: Any) -> Iterator[SqlStore]:
    s = open_store(pg.new_url())
    yield s
    s.close()


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What psycopg sends and then waits for the server's answer to, in order: a command
    of the connection's own (a BEGIN, a COMMIT), a statement, a pipeline's sync; a
    pipeline of libpq's that kinko drives itself (``_round_trip``) is a pipeline too."""
    from psycopg import _cursor_base, generators
    from psycopg._pipeline_base import BasePipeline

    from kinko.store import driver

    seen: list[str] = []

    def counted(step: Any, name: str) -> Any:
        def exchange(*args: Any, **kwargs: Any) -> Any:
            seen.append(name)
            return step(*args, **kwargs)
        return exchange

    monkeypatch.setattr(generators, "execute", counted(generators.execute, "command"))
    monkeypatch.setattr(_cursor_base, "execute", counted(_cursor_base.execute, "statement"))
    monkeypatch.setattr(BasePipeline, "_sync_gen", counted(BasePipeline._sync_gen, "sync"))
    monkeypatch.setattr(BasePipeline, "_exit_gen", counted(BasePipeline._exit_gen, "pipeline"))
    monkeypatch.setattr(driver, "_round_trip", counted(driver._round_trip, "pipeline"))
    return seen


@pytest.mark.slow
def test_a_transaction_begins_with_its_first_statement(pg_store: SqlStore,
                                                        exchanges: list[str]) -> None:
    """PostgreSQL: a transaction's BEGIN travels with its first statement (one round trip,
    not two), with the isolation level of its kind of unit (a read unit's statements share
    one snapshot), and a unit that sent nothing costs no round trip at all."""
    store = pg_store
    with store.unit(write=False) as u:  # the pool's first connection: made before counting
        run(u.conn, "SELECT 1")
    exchanges.clear()
    with store.unit(write=False) as u:
        level = run(u.conn, "SHOW transaction_isolation").scalar()
        first = run(u.conn, "SELECT pg_current_snapshot()::text, txid_current()").one()
        assert exchanges == ["pipeline", "statement"]
        with store.engine.connect() as other:  # another transaction commits meanwhile
            other.exec_driver_sql("UPDATE stamps SET n = n + 1 WHERE name = 'database'")
            other.commit()
        again = run(u.conn, "SELECT pg_current_snapshot()::text, txid_current()").one()
    assert level == "repeatable read"
    assert tuple(again) == tuple(first)  # one transaction, one snapshot
    assert exchanges[-1] == "command"  # its COMMIT
    exchanges.clear()
    with store.unit() as u:
        assert run(u.conn, "SHOW transaction_isolation").scalar() == "read committed"
        defer(u.conn, "UPDATE stamps SET n = n + 1 WHERE name = 'database'")
    # the write unit: the batch's lock with its BEGIN, its statement, the update sent
    # before the commit, the commit
    assert exchanges == ["pipeline", "statement", "pipeline", "command"]
    exchanges.clear()
    with store.unit(write=False):
        pass
    with store.engine.connect() as conn, conn.begin():
        pass
    assert exchanges == []


@pytest.mark.slow
def test_a_read_without_a_snapshot_is_one_round_trip_a_statement(
        pg_store: SqlStore, exchanges: list[str]) -> None:
    """PostgreSQL: a read unit whose statements stand alone (``snapshot=False``, the reads
    before the writers' lock) opens no transaction: each statement is one round trip, with
    no BEGIN or COMMIT, and sees what was committed before it ran."""
    store = pg_store
    with store.unit(write=False) as u:  # the pool's first connection: made before counting
        run(u.conn, "SELECT 1")
    exchanges.clear()
    with store.unit(write=False, snapshot=False) as u:
        first = run(u.conn, "SELECT n FROM stamps WHERE name = 'api_keys'").scalar()
        assert exchanges == ["statement"]
        with store.engine.connect() as other:  # another transaction commits meanwhile
            other.exec_driver_sql("UPDATE stamps SET n = n + 1 WHERE name = 'api_keys'")
            other.commit()
        exchanges.clear()
        again = run(u.conn, "SELECT n FROM stamps WHERE name = 'api_keys'").scalar()
        assert run(u.conn, "SELECT txid_current_if_assigned()").scalar() is None
    assert exchanges == ["statement", "statement"]
    assert again == first + 1
    with store.unit(write=False) as u:  # the connection's next unit has its snapshot again
        assert run(u.conn, "SHOW transaction_isolation").scalar() == "repeatable read"


@pytest.mark.slow
def test_list_parameters_reach_postgresql_as_they_were(pg_store: SqlStore) -> None:
    """PostgreSQL: a list parameter of strings, integers and None is written as an array
    literal by kinko's own dumper (whatever its strings hold), typed by the statement's
    cast or by the column it is compared with; a list of anything else is psycopg's."""
    from decimal import Decimal

    from kinko.store.driver import ArrayText

    awkward = ['a"b', "c\\d", "e,f", "{g}", "NULL", "", " h ", "日本", "i'j", None]
    with pg_store.unit(write=False) as u:
        dumper = u.conn.connection.dbapi_connection.adapters.get_dumper(  # type: ignore[union-attr]
            list, PyFormat.AUTO)
        assert dumper is ArrayText
        written = Transformer.from_context(u.conn.connection.dbapi_connection)
        assert written.get_dumper(["a", None, 1], PyFormat.AUTO).dump(["a", None, 1]) == (
            b'{"a",NULL,1}')  # kinko's literal: psycopg's own writes {a,NULL,1}
        assert run(u.conn, "SELECT %s::text[]", (awkward,)).scalar() == awkward
        texts = [a for a in awkward if a is not None]  # all text: joined and split at once
        assert run(u.conn, "SELECT %s::text[]", (texts,)).scalar() == texts
        assert run(u.conn, "SELECT %s::text[]", ([""],)).scalar() == [""]
        assert run(u.conn, "SELECT %s::bigint[]", ([1, -2, 2**62],)).scalar() == [
            1, -2, 2**62]
        assert run(u.conn, "SELECT %s::bigint[]", ([1, -2, None, 2**62],)).scalar() == [
            1, -2, None, 2**62]
        assert run(u.conn, "SELECT x FROM unnest(%s::text[], %s::bigint[]) AS u(x, y) "
                   "WHERE y = 2", (["p", "q"], [1, 2])).scalar() == "q"
        assert run(u.conn, "SELECT %s::text[]", ([],)).scalar() == []
        names = [r[0] for r in run(u.conn, "SELECT name FROM stamps WHERE name = ANY(%s) "
                                   "ORDER BY name", (["database", "api_keys", "x"],))]
        assert names == ["api_keys", "database"]
        assert run(u.conn, "SELECT %s::numeric[]", ([Decimal("1.5"), None],)).scalar() == [
            Decimal("1.5"), None]
        assert run(u.conn, "SELECT %s::bool[]", ([True, False],)).scalar() == [True, False]
    with pg_store.unit(write=False) as u, pytest.raises(DataError):  # refused, not split
        run(u.conn, "SELECT %s::text[]", (["a\x00b", "c"],))


@pytest.mark.slow
def test_a_statement_planned_each_time_is_never_prepared(pg_store: SqlStore) -> None:
    """PostgreSQL: a statement run with ``planned`` is planned for its parameters every
    time; the same statement run often enough otherwise becomes a prepared statement, whose
    one plan is made for any parameters."""
    sql = "SELECT count(*) FROM stamps WHERE name = %s"
    with pg_store.unit(write=False) as u:
        for _ in range(8):
            run(u.conn, sql, ("api_keys",), planned=True)
        prepared = run(u.conn, "SELECT count(*) FROM pg_prepared_statements WHERE "
                       "statement LIKE 'SELECT count(*) FROM stamps%%'").scalar()
        assert prepared == 0
        for _ in range(8):
            run(u.conn, sql, ("api_keys",))
        assert run(u.conn, "SELECT count(*) FROM pg_prepared_statements WHERE "
                   "statement LIKE 'SELECT count(*) FROM stamps%%'").scalar() == 1


def _with_held(u: Any, sql: str, params: Any = (), *, planned: bool = False) -> Any:
    """``sql`` run with a statement held before it: the direct pipeline's path."""
    defer(u.conn, "SELECT 1")
    return run(u.conn, sql, params, planned=planned)


@pytest.mark.slow
def test_the_direct_pipeline_reads_and_prepares_as_psycopg(pg_store: SqlStore) -> None:
    """PostgreSQL: a statement sent with what is held goes through libpq's pipeline
    directly (one round trip, without psycopg's per-statement costs): its rows and count
    are read as psycopg reads them (types, NULL, arrays, no rows), it is prepared as
    psycopg prepares it (in psycopg's own books: not when ``planned``), and a rollback to a
    savepoint, after which psycopg deallocates every prepared statement, leaves nothing
    stale."""
    from decimal import Decimal

    sql = "SELECT name, n, %s::numeric, %s::text[] FROM stamps WHERE name = %s"
    counted = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s"
    with pg_store.unit(write=False) as u:
        for _ in range(8):
            got = _with_held(u, sql, (Decimal("1.5"), ["a", None], "api_keys"))
            assert [tuple(r) for r in got] == [("api_keys", got.rows[0][1], Decimal("1.5"),
                                               ["a", None])]
            assert got.rowcount == 1
        none = _with_held(u, "SELECT n FROM stamps WHERE name = %s", ("nobody",))
        assert (none.rows, none.rowcount) == ([], 0)
        assert run(u.conn, counted, ("SELECT name, n, $1::numeric%",)).scalar() == 1
        for _ in range(8):
            _with_held(u, "SELECT n + 0 FROM stamps WHERE name = %s", ("api_keys",),
                       planned=True)
        assert run(u.conn, counted, ("SELECT n + 0%",)).scalar() == 0
    with pg_store.unit() as u:  # a rollback to a savepoint: psycopg then deallocates all
        for _ in range(8):
            assert len(_with_held(u, sql, (Decimal(1), [], "database")).rows) == 1
        defer(u.conn, "SAVEPOINT back")
        run(u.conn, "ROLLBACK TO SAVEPOINT back")
        for _ in range(8):  # prepared again, after psycopg's deallocation, not before it
            assert len(_with_held(u, sql, (Decimal(1), [], "database")).rows) == 1
        run(u.conn, "SELECT 1")  # a statement of psycopg's own: its maintenance, if left
        assert len(_with_held(u, sql, (Decimal(1), [], "database")).rows) == 1


def test_the_direct_pipeline_names_what_failed_and_goes_on(pg_store: SqlStore) -> None:
    """A held write that fails raises its own error (and the statement after it is not
    run); a parameter no dumper takes is refused before anything is sent, and the
    connection is left as it was (not in pipeline mode)."""
    insert = "INSERT INTO stamps (name, n) VALUES (%s, %s)"
    with pg_store.unit() as u:
        run(u.conn, insert, ("p1", 1))
    with pytest.raises(_Taken), pg_store.unit() as u:
        defer(u.conn, insert, ("p1", 2), conflict=lambda why: _Taken(why))
        run(u.conn, insert, ("p2", 1))
    with pg_store.unit() as u:
        with pytest.raises(ProgrammingError):
            _with_held(u, "SELECT %s::text", (object(),))
        assert u.conn.connection.dbapi_connection.pgconn.pipeline_status == 0  # type: ignore[union-attr]
    with pg_store.unit(write=False) as u:
        got = run(u.conn, "SELECT name FROM stamps WHERE name IN ('p1', 'p2')").all()
        assert [tuple(r) for r in got] == [("p1",)]


@pytest.mark.slow
@pytest.mark.parametrize("check", [test_rows_counts_and_one,
                                   test_a_driver_error_is_sqlalchemys_and_the_unit_goes_on,
                                   test_a_deferred_statement_keeps_its_order_and_its_errors,
                                   test_a_unit_whose_deferred_write_fails_leaves_nothing,
                                   test_the_direct_pipeline_names_what_failed_and_goes_on])
@pytest.mark.usefixtures("without_direct_pipeline")
def test_without_psycopgs_internals_its_own_pipeline_does_the_same(
        pg_store: SqlStore, monkeypatch: pytest.MonkeyPatch, check: Any) -> None:
    """A psycopg whose internals the direct pipeline uses are gone (renamed in a later
    release): the held statements go through psycopg's own pipeline instead, with the same
    rows, errors and order, and the direct one is never entered."""
    from psycopg._pipeline_base import BasePipeline

    pipelines: list[int] = []
    exit_gen = BasePipeline._exit_gen

    def counted(*args: Any, **kwargs: Any) -> Any:
        pipelines.append(1)
        return exit_gen(*args, **kwargs)

    monkeypatch.setattr(BasePipeline, "_exit_gen", counted)
    check(pg_store)
    assert pipelines  # what was held went in psycopg's own pipelines


def test_a_psycopg_without_the_internals_is_said_once_in_the_log(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The first PostgreSQL connection on a psycopg the direct pipeline cannot use tells
    the log (once), so that an upgrade that slows the writers is seen."""
    from kinko.store import driver

    class Connection:
        def __init__(self) -> None:
            self.adapters = psycopg.adapt.AdaptersMap()

    driver._say_without_direct_pipeline.cache_clear()
    driver.plain_arrays(Connection())
    assert not caplog.records  # the direct pipeline is there: nothing to say
    monkeypatch.setattr(driver, "PostgresQuery", None)
    with caplog.at_level("WARNING", logger="kinko.store.driver"):
        driver.plain_arrays(Connection())
        driver.plain_arrays(Connection())
    driver._say_without_direct_pipeline.cache_clear()  # for a later test's psycopg
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "psycopg's own pipeline" in said[0], said
