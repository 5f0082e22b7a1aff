"""Withdrawals, allow lists, deny labels and the breaker's audit log, in SQL."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from kinko.domain.labels import tag_index
from kinko.domain.ledger import BalanceState
from kinko.domain.messages import Message, decode, msg
from kinko.domain.screening import AMOUNTS_SCREENED, Label
from kinko.domain.states import COUNTED_WITHDRAWAL_STATES, SENDABLE_WITHDRAWAL_STATES
from kinko.errors import IdempotencyConflict
from kinko.ports import BreakerEventRow, ReadAhead, RequestMarks, TierRow, WithdrawalRow
from kinko.store import schema as s
from kinko.store.driver import defer, run
from kinko.store.stamps import untouched
from kinko.store.values import from_us, to_us

__all__ = ["SqlScreening"]

COUNTED = COUNTED_WITHDRAWAL_STATES
# a window's scope -> the running totals it reads ("all" is every withdrawal of the asset)
_SERIES = {"customer": "customer", "destination": "destination", "asset": "asset",
           "all": "asset"}
_SQL: dict[tuple[str, tuple[Any, ...]], str] = {}  # window statements, by their shape
_PG_SUMS = (  # PostgreSQL: window_sums' look-ups, each an element of the arrays
    "SELECT v.i AS i, o.total AS total, o.n AS n FROM unnest(%s::int[], %s::text[], "
    "%s::text[], %s::bigint[]) AS v(i, scope, key, t) LEFT JOIN LATERAL (SELECT total, n "
    "FROM outflows WHERE scope = v.scope AND asset = %s AND key = v.key AND at_us <= v.t "
    "ORDER BY at_us DESC, withdrawal DESC LIMIT 1) AS o ON true "
    "UNION ALL SELECT r.i, g.total, g.n FROM unnest(%s::int[], %s::text[], %s::text[], "
    "%s::bigint[], %s::bigint[]) AS r(i, scope, key, lo, hi) CROSS JOIN LATERAL (SELECT "
    "sum(amount) AS total, count(*) AS n FROM outflow_removals WHERE scope = r.scope AND "
    "asset = %s AND key = r.key AND at_us > r.lo AND at_us <= r.hi) AS g")
# what request_marks reads ahead for window_sums: destination, until, windows
SumsWanted = tuple[str, datetime, Collection[tuple[str, timedelta]]]
_Plan = tuple[tuple[tuple[str, timedelta], ...], tuple[tuple[str, timedelta], ...],
              tuple[tuple[str, int], ...], tuple[tuple[int, int, int], ...]]
_US = timedelta(microseconds=1)
# per set of windows (a policy's: see Withdrawals._compiled), what window_sums' statement
# looks up (_plan); emptied past _MAX_PLANS sets
_PLANS: dict[frozenset[tuple[str, timedelta]], _Plan] = {}
_MAX_PLANS = 64
_COUNTED_IN = ", ".join(f"'{state}'" for state in COUNTED)  # fixed words, not input
_MARKS = (  # one row: see SqlScreening.request_marks
    "SELECT (SELECT count(*) FROM withdrawals WHERE id = :p) AS m0, "
    "(SELECT count(*) FROM balances WHERE account = :p AND asset = :p) AS m1, "
    "(SELECT tier FROM customer_tiers WHERE customer = :p) AS m2, "
    "(SELECT count(*) FROM allow_list WHERE customer = :p) AS m3, "
    "(SELECT coalesce(sum(added_us), 0) FROM allow_list WHERE customer = :p) AS m4, "
    "coalesce((SELECT recorded FROM customer_history WHERE customer = :p), 0) AS m5, "
    "coalesce((SELECT counted FROM customer_history WHERE customer = :p), 0) "
    "AS m6, h.balance AS m7, h.pending_debit AS m8, h.pending_credit AS m9, "
    "(SELECT CASE WHEN EXISTS (SELECT 1 FROM withdrawals WHERE customer = :p AND "
    f"destination = :p AND state IN ({_COUNTED_IN})) THEN 1 ELSE 0 END) AS m10 "
    "FROM (SELECT 1 AS one) AS o LEFT JOIN balances AS h ON h.account = :p AND h.asset = :p")
_AMOUNTS = AMOUNTS_SCREENED  # a customer's latest amounts screening compares a request with
_WIDTH = 12  # the tagged rows' columns: a tag and the marks' eleven
_NULLS = ", NULL" * (_WIDTH - 3)
_MARKS_ROW = (  # the marks as a tagged row of text, to go before other tagged rows
    "SELECT 'm' AS tag, CAST(m0 AS TEXT) AS a, CAST(m1 AS TEXT) AS b, m2, CAST(m3 AS TEXT), "
    "CAST(m4 AS TEXT), CAST(m5 AS TEXT), CAST(m6 AS TEXT), CAST(m7 AS TEXT), "
    f"CAST(m8 AS TEXT), CAST(m9 AS TEXT), CAST(m10 AS TEXT) FROM ({_MARKS}) AS m ")
_INPUTS = (  # the marks' row, then tagged rows of the lists: see SqlScreening.request_inputs
    f"{_MARKS_ROW}UNION ALL SELECT 'a', address, CAST(added_us AS TEXT){_NULLS} FROM allow_list "
    "WHERE customer = :p "
    f"UNION ALL SELECT 'n', CAST(amount AS TEXT), CAST(requested_us AS TEXT){_NULLS} FROM "
    "(SELECT amount, requested_us FROM withdrawals WHERE customer = :p AND asset = :p AND "
    f"state IN ({_COUNTED_IN}) ORDER BY requested_us DESC LIMIT {_AMOUNTS}) AS n")


def _plan(windows: Collection[tuple[str, timedelta]]) -> _Plan:
    """What the window sums of ``windows`` look up, whatever the time: the windows in
    order, their (series, duration), the running totals' points as (series, microseconds
    before the end), each once, in the statement's order (by series, oldest first), and
    per window the rows of its end, of its start and of what stopped counting in it."""
    wanted = tuple(sorted(windows, key=lambda w: (w[0], w[1])))
    shape = tuple((_SERIES[scope], duration) for scope, duration in wanted)
    offsets = tuple(sorted({(series, d // _US) for series, d in shape}
                           | {(series, 0) for series, _ in shape},
                           key=lambda point: (point[0], -point[1])))
    index = {point: i for i, point in enumerate(offsets)}
    picks = tuple((index[(series, 0)], index[(series, d // _US)], len(offsets) + j)
                  for j, (series, d) in enumerate(shape))
    return wanted, shape, offsets, picks


def _scopes(row: WithdrawalRow) -> list[tuple[str, str, str]]:
    """The running totals a withdrawal counts in: (scope, asset, key)."""
    return [("customer", row["asset"], row["customer"]),
            ("destination", row["asset"], row["destination"]), ("asset", row["asset"], "")]



def _recorded(customer: str, counted: str) -> str:
    """One more withdrawal of a customer in their history: ``customer`` and ``counted`` (1
    if screening counts it, else 0) as SQL, a placeholder or a literal."""
    return ("INSERT INTO customer_history (customer, recorded, counted) VALUES "
            f"({customer}, 1, {counted}) ON CONFLICT (customer) DO UPDATE SET recorded = "
            f"customer_history.recorded + 1, counted = customer_history.counted + {counted}")


def with_totals(first: str, scopes: int) -> str:
    """PostgreSQL: the statement of :meth:`SqlScreening._add_with_totals` for ``scopes``
    running totals. The rows after the new one are found through the key's index in
    order (a lateral look-up per total, then each row by its ``ctid``): a join of the
    totals with the table could be planned as a scan of all of it, and a prepared
    statement keeps the plan made while the table was small (before any ``ANALYZE``)."""
    rows = ", ".join(["(%s, %s, %s)"] * scopes)
    return (
        f"WITH w AS ({first}), c AS ({_recorded('%s', '1')}), v(scope, asset, key) AS "
        f"(VALUES {rows}), "
        "b AS (SELECT v.scope, v.asset, v.key, o.total, o.n FROM v LEFT JOIN LATERAL "
        "(SELECT total, n FROM outflows AS f WHERE f.scope = v.scope AND f.asset = "
        "v.asset AND f.key = v.key AND (at_us, withdrawal) < (%s, %s) ORDER BY at_us "
        "DESC, withdrawal DESC LIMIT 1) AS o ON true), "
        "ins AS (INSERT INTO outflows (scope, asset, key, at_us, withdrawal, amount, "
        "total, n) SELECT scope, asset, key, %s, %s, %s::numeric, coalesce(total, 0) + "
        "%s::numeric, coalesce(n, 0) + 1 FROM b), "
        "later AS (SELECT g.ctid AS t FROM v CROSS JOIN LATERAL (SELECT ctid FROM "
        "outflows AS g WHERE g.scope = v.scope AND g.asset = v.asset AND g.key = v.key "
        "AND (g.at_us, g.withdrawal) > (%s, %s) ORDER BY g.at_us, g.withdrawal) AS g) "
        "UPDATE outflows AS f SET total = f.total + %s::numeric, n = f.n + 1 FROM later "
        "WHERE f.ctid = later.t")


class SqlScreening:
    def __init__(self, conn: Connection, touch: Callable[[str], None] | None = None) -> None:
        self.conn = conn
        self._touch = touch or untouched  # a stamped table is written (SqlUnit.touch)
        # window sums read with the marks (request_marks), until this view next writes
        self._ahead: tuple[tuple[Any, ...], dict[tuple[str, timedelta], tuple[int, int]]] \
            | None = None

    # withdrawals ---------------------------------------------------------------

    def put_withdrawal(self, row: WithdrawalRow) -> None:
        """Insert a new withdrawal (the caller looked it up in the same write unit); one
        screening counts goes into the running totals of its customer, its destination
        and its asset."""
        self._ahead = None
        at = to_us(row["requested_at"])
        p = self._p()
        insert = ("INSERT INTO withdrawals (id, customer, asset, amount, destination, wallet, "
                  "requested_us, requester, state, decision, tx_hash) "
                  f"VALUES ({', '.join([p] * 11)})")
        values = (row["id"], row["customer"], row["asset"], self._amount(int(row["amount"])),
                  row["destination"], row["wallet"], at, row["requester"], row["state"],
                  row["decision"], row["tx_hash"])
        counted = row["state"] in COUNTED
        if counted and self.conn.dialect.name == "postgresql":
            # the row, the customer's history and the running totals in one statement,
            # whose result nobody reads: sent with the unit's next statement or its end
            # (driver.defer)
            self._add_with_totals(row["id"], at, int(row["amount"]), _scopes(row),
                                  (insert, values))
            return
        try:
            run(self.conn, insert, values)
        except IntegrityError:
            raise IdempotencyConflict(f"withdrawal {row['id']} already exists",
                                      says=msg("error.withdrawal.exists",
                                               id=str(row["id"])[:128])) from None
        run(self.conn, _recorded(p, str(int(counted))), (row["customer"],))
        if counted:
            self._add_outflow(row["id"], at, int(row["amount"]), _scopes(row))

    # running totals ---------------------------------------------------------------

    def _p(self) -> str:
        return "?" if self.conn.dialect.name == "sqlite" else "%s"

    def _amount(self, value: int) -> Any:
        return str(value) if self.conn.dialect.name == "sqlite" else value

    def _add_outflow(self, wid: str, at: int, amount: int,
                     scopes: list[tuple[str, str, str]]) -> None:
        """Append the withdrawal to each running total: after the last row as a rule (one
        look-up); a withdrawal older than the last row (another process's clock) is put in
        its place and the rows after it carry its amount too."""
        p = self._p()
        pick = (f"SELECT scope, at_us, withdrawal, total, n FROM outflows WHERE scope = {p} "
                f"AND asset = {p} AND key = {p} ORDER BY at_us DESC, withdrawal DESC LIMIT 1")
        sql = " UNION ALL ".join(f"SELECT * FROM ({pick}) AS q{i}" for i in range(len(scopes)))
        last = {r[0]: r[1:] for r in run(self.conn,
            sql, tuple(v for scope in scopes for v in scope))}
        rows = []
        for scope, asset, key in scopes:
            found = last.get(scope)
            total, n = (int(found[2]), int(found[3])) if found is not None else (0, 0)
            if found is not None and (int(found[0]), found[1]) > (at, wid):
                total, n = self._insert_early(scope, asset, key, at, wid, amount)
            rows.append((scope, asset, key, at, wid, self._amount(amount),
                         self._amount(total + amount), n + 1))
        run(self.conn,
            f"INSERT INTO outflows (scope, asset, key, at_us, withdrawal, amount, total, n) "
            f"VALUES ({', '.join([p] * 8)})", rows)

    def _add_with_totals(self, wid: str, at: int, amount: int,
                         scopes: list[tuple[str, str, str]], first: tuple[str, tuple[Any, ...]]
                         ) -> None:
        """PostgreSQL, in one statement (exact ``numeric`` sums) deferred to the unit's
        next round trip: the insert ``first`` (the withdrawal's row), then the withdrawal
        in each running total, after the last row before it (at, id); the rows after it
        (another process's clock ran behind) carry its amount too."""
        customer = first[1][1]  # the withdrawal row's second column
        defer(self.conn, with_totals(first[0], len(scopes)),
            (*first[1], customer, *(v for scope in scopes for v in scope), at, wid, at, wid,
             amount, amount, at, wid, amount),
            conflict=lambda _why: IdempotencyConflict(
                f"withdrawal {wid} already exists",
                says=msg("error.withdrawal.exists", id=wid[:128])))

    def _insert_early(self, scope: str, asset: str, key: str, at: int, wid: str,
                      amount: int) -> tuple[int, int]:
        """The total and count before (at, wid); the rows after it grow by ``amount``."""
        p = self._p()
        before = run(self.conn,
            f"SELECT total, n FROM outflows WHERE scope = {p} AND asset = {p} AND key = {p} "
            f"AND (at_us < {p} OR (at_us = {p} AND withdrawal < {p})) "
            "ORDER BY at_us DESC, withdrawal DESC LIMIT 1",
            (scope, asset, key, at, at, wid)).first()
        later = run(self.conn,
            f"SELECT at_us, withdrawal, total, n FROM outflows WHERE scope = {p} AND "
            f"asset = {p} AND key = {p} AND (at_us > {p} OR (at_us = {p} AND withdrawal > {p}))",
            (scope, asset, key, at, at, wid)).all()
        run(self.conn,
            f"UPDATE outflows SET total = {p}, n = {p} WHERE scope = {p} AND asset = {p} AND "
            f"key = {p} AND at_us = {p} AND withdrawal = {p}",
            [(self._amount(int(total) + amount), int(n) + 1, scope, asset, key, t, w)
             for t, w, total, n in later])
        return (int(before[0]), int(before[1])) if before is not None else (0, 0)

    def window_sums(self, customer: str, destination: str, asset: str, until: datetime,
                    windows: Collection[tuple[str, timedelta]]
                    ) -> dict[tuple[str, timedelta], tuple[int, int]]:
        """Amount and count of the counted withdrawals of ``asset`` in (until - duration,
        until] per (scope, duration): the request's customer's, its destination's, or every
        one (scope asset or all). One statement: per window, the running totals at both
        ends (index look-ups) less what stopped counting in between (or none, when
        :meth:`request_marks` read them with the marks and nothing was written since)."""
        if not windows:  # a policy without window rules: nothing to sum
            return {}
        key = (customer, destination, asset, until, frozenset(windows))
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == key:
            return ahead[1]
        sql, params, decode = self._sums_query(customer, destination, asset, until, windows)
        return decode({int(i): (int(a or 0), int(n or 0))
                       for i, a, n in run(self.conn, sql, tuple(params))})

    def _sums_query(self, customer: str, destination: str, asset: str, until: datetime,
                    windows: Collection[tuple[str, timedelta]]
                    ) -> tuple[str, list[Any], Callable[[dict[int, tuple[int, int]]],
                                                        dict[tuple[str, timedelta],
                                                             tuple[int, int]]]]:
        """:meth:`window_sums`' statement (rows: index, amount, count), its parameters,
        and what makes the sums of its rows."""
        keys = {"customer": customer, "destination": destination, "asset": "", "all": ""}
        end = to_us(until)
        plan = _PLANS.get(windows) if isinstance(windows, frozenset) else None
        if plan is None:
            plan = _plan(windows)
            if isinstance(windows, frozenset):
                if len(_PLANS) >= _MAX_PLANS:
                    _PLANS.clear()
                _PLANS[windows] = plan
        wanted, shape, offsets, picks = plan
        params: list[Any] = []
        if self.conn.dialect.name == "postgresql":
            # one text for every shape, the look-ups as arrays: psycopg keeps the statement
            # parsed and PostgreSQL prepared (neither is done past 50 parameters)
            sql = _PG_SUMS
            params += [list(range(len(offsets))), [series for series, _ in offsets],
                       [keys[series] for series, _ in offsets], [end - o for _, o in offsets],
                       asset]
            params += [list(range(len(offsets), len(offsets) + len(shape))),
                       [series for series, _ in shape], [keys[series] for series, _ in shape],
                       [end - d // _US for _, d in shape], [end] * len(shape), asset]
        else:
            sql = _SQL.get((self.conn.dialect.name, shape)) or self._sums_sql(shape, offsets)
            for series, o in offsets:
                params += [series, asset, keys[series], end - o]
            for series, d in shape:
                params += [series, asset, keys[series], end - d // _US, end]

        def decode(found: dict[int, tuple[int, int]]
                   ) -> dict[tuple[str, timedelta], tuple[int, int]]:
            out: dict[tuple[str, timedelta], tuple[int, int]] = {}
            for window, (at_end, at_start, removal) in zip(wanted, picks, strict=True):
                last = found.get(at_end, (0, 0))
                first = found.get(at_start, (0, 0))
                removed = found.get(removal, (0, 0))
                out[window] = (last[0] - first[0] - removed[0], last[1] - first[1] - removed[1])
            return out

        return sql, params, decode

    def _sums_sql(self, shape: tuple[tuple[str, timedelta], ...],
                  points: Sequence[tuple[str, int]]) -> str:
        """SQLite: the window sums' statement of one shape (kept: one per policy)."""
        p = self._p()
        at = (f"SELECT total, n FROM outflows WHERE scope = {p} AND asset = {p} AND "
              f"key = {p} AND at_us <= {p} ORDER BY at_us DESC, withdrawal DESC LIMIT 1")
        gone = (f"SELECT kinko_sum(amount), count(*) FROM outflow_removals WHERE scope = {p} "
                f"AND asset = {p} AND key = {p} AND at_us > {p} AND at_us <= {p}")
        parts = [f"SELECT {i} AS i, q{i}.* FROM ({at}) AS q{i}" for i in range(len(points))]
        parts += [f"SELECT {len(points) + i} AS i, q{len(points) + i}.* FROM ({gone}) "
                  f"AS q{len(points) + i}" for i in range(len(shape))]
        return _SQL.setdefault((self.conn.dialect.name, shape), " UNION ALL ".join(parts))

    def withdrawal(self, withdrawal_id: str) -> WithdrawalRow | None:
        row = self.conn.execute(select(s.withdrawals).where(
            s.withdrawals.c.id == withdrawal_id)).first()
        return None if row is None else _withdrawal(row)

    def withdrawals(self, state: str | None = None, customer: str | None = None,
                    limit: int = 1000) -> list[WithdrawalRow]:
        q = select(s.withdrawals).order_by(s.withdrawals.c.requested_us.desc()).limit(limit)
        if state is not None:
            q = q.where(s.withdrawals.c.state == state)
        if customer is not None:
            q = q.where(s.withdrawals.c.customer == customer)
        return [_withdrawal(r) for r in self.conn.execute(q)]

    def withdrawal_page(self, *, state: str | None = None, customer: str | None = None,
                        asset: str | None = None, before: tuple[int, str] | None = None,
                        limit: int = 50) -> list[WithdrawalRow]:
        """Withdrawals newest first by (requested_us, id), filtered; ``before`` is the
        (requested_us, id) of the last row of the previous page (keyset paging: as fast on
        the thousandth page as on the first, using ix_withdrawals_state / _customer /
        _time)."""
        w = s.withdrawals
        q = select(w).order_by(w.c.requested_us.desc(), w.c.id.desc()).limit(limit)
        if state is not None:
            q = q.where(w.c.state == state)
        if customer is not None:
            q = q.where(w.c.customer == customer)
        if asset is not None:
            q = q.where(w.c.asset == asset)
        if before is not None:
            at, last = before
            # the first term alone bounds the index range; the second breaks ties by id
            q = q.where(w.c.requested_us <= at,
                        or_(w.c.requested_us < at, w.c.id < last))
        return [_withdrawal(r) for r in self.conn.execute(q)]

    def approval_counts(self, proposal_ids: list[str]) -> dict[str, int]:
        """How many approvals each of these proposals has (one query per 500 ids)."""
        a = s.approvals
        counts: dict[str, int] = {}
        for i in range(0, len(proposal_ids), 500):
            counts.update((str(r[0]), int(r[1])) for r in self.conn.execute(
                select(a.c.proposal_id, func.count()).where(
                    a.c.proposal_id.in_(proposal_ids[i : i + 500]))
                .group_by(a.c.proposal_id)))
        return counts

    def open_withdrawals(self, wallet: str, states: tuple[str, ...]) -> list[WithdrawalRow]:
        """The withdrawals from ``wallet`` in ``states``, oldest first."""
        w = s.withdrawals
        return [_withdrawal(r) for r in self.conn.execute(
            select(w).where(w.c.wallet == wallet, w.c.state.in_(states))
            .order_by(w.c.requested_us, w.c.id))]

    def withdrawal_counts(self) -> dict[str, int]:
        """How many withdrawals are in each state."""
        w = s.withdrawals
        return {str(r[0]): int(r[1]) for r in self.conn.execute(
            select(w.c.state, func.count()).group_by(w.c.state))}

    def withdrawals_for_watch(self, tx_hashes: list[str]) -> list[WithdrawalRow]:
        """Withdrawals the chain may show: those sent (or sending) as one of ``tx_hashes``,
        and every allowed or approved one that has not been sent by kinko."""
        rows: list[WithdrawalRow] = []
        lowered = sorted({h.lower() for h in tx_hashes})
        for i in range(0, len(lowered), 500):
            rows += [_withdrawal(r) for r in self.conn.execute(select(s.withdrawals).where(
                func.lower(s.withdrawals.c.tx_hash).in_(lowered[i : i + 500])))]
        rows += [_withdrawal(r) for r in self.conn.execute(select(s.withdrawals).where(
            s.withdrawals.c.state.in_(SENDABLE_WITHDRAWAL_STATES),
            s.withdrawals.c.tx_hash.is_(None)))]
        return rows

    def set_state(self, withdrawal_id: str, old: tuple[str, ...], new: str,
                  tx_hash: str | None = None) -> bool:
        """Move a withdrawal from one of ``old`` to ``new`` (False: it is in none of them);
        one that stops counting (rejected, expired) is taken out of the running totals."""
        self._ahead = None
        values: dict[str, Any] = {"state": new}
        if tx_hash is not None:
            values["tx_hash"] = tx_hash
        leaving = new not in COUNTED and any(state in COUNTED for state in old)
        entering = new in COUNTED and any(state not in COUNTED for state in old)
        row = self.withdrawal(withdrawal_id) if leaving or entering else None
        done = self.conn.execute(update(s.withdrawals).where(
            s.withdrawals.c.id == withdrawal_id, s.withdrawals.c.state.in_(old)).values(**values))
        moved = bool(done.rowcount == 1)
        p = self._p()
        if moved and row is not None and (new in COUNTED) != (row["state"] in COUNTED):
            run(self.conn, f"UPDATE customer_history SET counted = counted + {p} WHERE "
                f"customer = {p}", (1 if new in COUNTED else -1, row["customer"]))
        if moved and row is not None and row["state"] in COUNTED and leaving:
            at = to_us(row["requested_at"])
            run(self.conn,
                "INSERT INTO outflow_removals (scope, asset, key, at_us, withdrawal, amount) "
                f"VALUES ({', '.join([p] * 6)})",
                [(*scope, at, row["id"], self._amount(row["amount"])) for scope in _scopes(row)])
        return moved

    def customer_amounts(self, customer: str, asset: str, limit: int = _AMOUNTS
                         ) -> tuple[list[int], int | None]:
        """The customer's latest counted amounts of ``asset``, newest first, and when the
        newest was requested (microseconds since the epoch; None: none)."""
        p = self._p()
        rows = run(self.conn,
            f"SELECT amount, requested_us FROM withdrawals WHERE customer = {p} AND asset = {p} "
            f"AND state IN ({_COUNTED_IN}) ORDER BY requested_us DESC LIMIT {int(limit)}",
            (customer, asset), planned=True)
        return [int(r[0]) for r in rows], int(rows.first()[1]) if rows.all() else None

    def request_marks(self, withdrawal_id: str, customer: str, asset: str,
                      hot_account: str, sums: SumsWanted | None = None,
                      also: ReadAhead | None = None, destination: str = "") -> RequestMarks:
        """In one statement, what screening a request reads that a racing writer may
        change: whether the id is taken, whether the customer has a balance, their tier,
        the paying wallet's balance, marks of the customer's allow list (it only grows)
        and of their counted withdrawals (a withdrawal is only added, and only ever stops
        counting: its count of all and of counted ones moves on any change), and whether
        they withdrew to ``destination`` before.
        With ``sums`` (destination, until, windows), the same statement reads the window
        sums :meth:`window_sums` is about to be asked for (one round trip less while the
        writers' lock is held); with ``also`` (another table group's read ahead, such as
        the ledger's for the hold the request opens), that read too."""
        params: tuple[Any, ...] = (
            withdrawal_id, f"customer:{customer}", asset, customer, customer, customer,
            customer, customer, customer, destination, hot_account, asset)
        self._ahead = None
        wanted = sums is not None and bool(sums[2])
        if not wanted and also is None:
            return _marks(run(self.conn, _MARKS.replace(":p", self._p()), params).one())
        sql = _MARKS_ROW.replace(":p", self._p())
        decode = None
        if sums is not None and wanted:
            destination, until, windows = sums
            query, more, decode = self._sums_query(customer, destination, asset, until,
                                                   windows)
            sql += (f"UNION ALL SELECT 's', CAST(i AS TEXT), CAST(total AS TEXT), "
                    f"CAST(n AS TEXT){', NULL' * (_WIDTH - 4)} FROM ({query}) AS s")
            params += tuple(more)
        if also is not None:
            sql = " UNION ALL ".join([sql, *also.parts(_WIDTH)])
            params += also.params
        marks: RequestMarks | None = None
        found: dict[int, tuple[int, int]] = {}
        other: list[Any] = []
        for row in run(self.conn, sql, params):
            if row[0] == "m":
                marks = _marks(row[1:])
            elif row[0] == "s":
                found[int(row[1])] = (int(row[2] or 0), int(row[3] or 0))
            else:
                other.append(row)
        assert marks is not None  # the marks' query returns one row, always
        if also is not None:
            also.accept(other)
        if sums is not None and decode is not None:
            self._ahead = ((customer, sums[0], asset, sums[1], frozenset(sums[2])),
                           decode(found))
        return marks

    def request_inputs(self, withdrawal_id: str, customer: str, asset: str, hot_account: str,
                       destination: str = ""
                       ) -> tuple[RequestMarks, dict[str, datetime], list[int], int | None]:
        """:meth:`request_marks`, the customer's allow list (:meth:`allowed`) and their
        latest amounts of ``asset`` (:meth:`customer_amounts`, newest first), in one
        statement: one snapshot, so the marks are those of the lists read with them; and
        when the newest of those amounts was requested (microseconds since the epoch; None:
        none)."""
        sql = _INPUTS.replace(":p", self._p())
        marks: RequestMarks | None = None
        allow: dict[str, datetime] = {}
        amounts: list[tuple[int, int]] = []
        for tag, *row in run(self.conn, sql, (
                withdrawal_id, f"customer:{customer}", asset, customer, customer, customer,
                customer, customer, customer, destination, hot_account, asset, customer,
                customer, asset), planned=True):  # the latest amounts: by the customer's
            # index for a customer of few rows, in time order for one of most of them
            if tag == "m":
                marks = _marks(row)
            elif tag == "a":
                allow[row[0]] = from_us(int(row[1]))
            else:
                amounts.append((int(row[1]), int(row[0])))
        assert marks is not None  # the marks' query returns one row, always
        amounts.sort(key=lambda a: a[0], reverse=True)
        return (marks, allow, [amount for _, amount in amounts],
                amounts[0][0] if amounts else None)

    # tiers -----------------------------------------------------------------------

    def customer_tier(self, customer: str) -> TierRow | None:
        """The customer's recorded tier: tier, set_at, set_by (None: never set)."""
        row = self.conn.execute(select(s.customer_tiers).where(
            s.customer_tiers.c.customer == customer)).first()
        if row is None:
            return None
        return TierRow(customer=row.customer, tier=row.tier, set_at=from_us(row.set_us),
                       set_by=row.set_by)

    def set_tiers(self, tiers: dict[str, str], at: datetime, by: str) -> None:
        """Record each customer's tier (replacing an earlier one)."""
        if not tiers:
            return
        t = s.customer_tiers
        ins = (sqlite.insert if self.conn.dialect.name == "sqlite" else postgresql.insert)(t)
        rows = [{"customer": c, "tier": tier, "set_us": to_us(at), "set_by": by}
                for c, tier in tiers.items()]
        for i in range(0, len(rows), 500):
            self.conn.execute(ins.on_conflict_do_update(
                index_elements=["customer"],
                set_={"tier": ins.excluded.tier, "set_us": ins.excluded.set_us,
                      "set_by": ins.excluded.set_by}), rows[i : i + 500])

    # lists -----------------------------------------------------------------------

    def allow(self, customer: str, address: str, at: datetime) -> None:
        key = address  # canonical form
        exists = self.conn.execute(select(s.allow_list).where(and_(
            s.allow_list.c.customer == customer, s.allow_list.c.address == key))).first()
        if exists is None:
            self.conn.execute(s.allow_list.insert().values(customer=customer, address=key,
                                                           added_us=to_us(at)))

    def allowed(self, customer: str) -> dict[str, datetime]:
        rows = run(self.conn,
            f"SELECT address, added_us FROM allow_list WHERE customer = {self._p()}", (customer,))
        return {r[0]: from_us(int(r[1])) for r in rows}

    def put_labels(self, list_name: str, labels: list[tuple[str, Label]],
                   kind: str = "deny") -> int:
        """Add labels (keyed by address) of a deny list (``kind="deny"``: one label per
        address, the newest replacing) or of the attribution tags (``"tags"``: every tag is
        kept beside the other lists' tags; this list's earlier tags of these addresses are
        replaced). Return how many addresses were new."""
        if kind != "deny":
            return self._put_tags(list_name, labels)
        self._touch("deny_labels")
        table = s.deny_labels
        keys = [k for k, _ in labels]
        existing = self._present(table, keys)
        rows = {k: {"address": k, "label": lbl.label, "source": lbl.source,
                    "category": lbl.category, "actor": lbl.actor, "list_name": list_name}
                for k, lbl in labels}
        if existing:
            self.conn.execute(table.delete().where(
                table.c.address.in_(sorted(existing & set(rows)))))
        if rows:
            self.conn.execute(table.insert(), list(rows.values()))
        return len(set(rows) - existing)

    def _present(self, table: Any, keys: list[str]) -> set[str]:
        existing: set[str] = set()
        unique = sorted(set(keys))
        for i in range(0, len(unique), 900):
            existing.update(self.conn.execute(select(table.c.address).where(
                table.c.address.in_(unique[i : i + 900]))).scalars())
        return existing

    def _put_tags(self, list_name: str, labels: list[tuple[str, Label]]) -> int:
        table = s.tags
        keys = sorted({k for k, _ in labels})
        existing = self._present(table, keys)
        for i in range(0, len(keys), 900):
            self.conn.execute(table.delete().where(
                table.c.list_name == list_name, table.c.address.in_(keys[i : i + 900])))
        rows = {(k, lbl.label, lbl.source, lbl.category, lbl.actor, ",".join(lbl.concepts)):
                None for k, lbl in labels}
        if rows:
            self.conn.execute(table.insert(), [
                {"address": k, "label": label, "source": source, "category": category,
                 "actor": actor, "concepts": concepts, "list_name": list_name}
                for k, label, source, category, actor, concepts in rows])
        return len(set(keys) - existing)
    def deny_count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(s.deny_labels)).scalar()
                   or 0)

    def deny_map(self) -> dict[str, Label]:
        rows = self.conn.execute(select(s.deny_labels))
        return {r.address: Label(r.address, r.label, r.source, r.category, r.actor)
                for r in rows}

    def tag_map(self) -> dict[str, tuple[Label, ...]]:
        """Every tag, by address: all of an address's tags, in a fixed order."""
        rows = self.conn.execute(select(s.tags).order_by(s.tags.c.address, s.tags.c.id))
        return tag_index(Label(r.address, r.label, r.source, r.category, r.actor,
                               tuple(c for c in r.concepts.split(",") if c)) for r in rows)

    # breaker ---------------------------------------------------------------------

    def breaker_event(self, scope: str, event: str, at: datetime, by: str,
                      reason: Message) -> None:
        self._touch("breaker_events")
        self.conn.execute(s.breaker_events.insert().values(
            scope=scope, event=event, at_us=to_us(at), by=by, reason=reason.to_json()))

    def breaker_events(self) -> list[BreakerEventRow]:
        rows = self.conn.execute(select(s.breaker_events).order_by(s.breaker_events.c.id))
        return [BreakerEventRow(id=r.id, scope=r.scope, event=r.event, at=from_us(r.at_us),
                                at_us=r.at_us, by=r.by, reason=decode(r.reason))
                for r in rows]

    def tripped(self) -> dict[str, BreakerEventRow]:
        """Scopes whose latest event is a trip, with that event."""
        state: dict[str, BreakerEventRow] = {}
        for e in self.breaker_events():
            state[e["scope"]] = e
        return {scope: e for scope, e in state.items() if e["event"] == "trip"}


def _marks(row: Any) -> RequestMarks:
    """The marks' row (numbers as numbers or as their text)."""
    hot = None if row[7] is None else BalanceState(int(row[7]), int(row[8]), int(row[9]))
    return RequestMarks(bool(int(row[0])), bool(int(row[1])),
                        None if row[2] is None else str(row[2]),
                        (int(row[3]), int(row[4])), (int(row[5]), int(row[6])), hot,
                        bool(int(row[10])))


def _withdrawal(row: Any) -> WithdrawalRow:
    # the state column holds only what put_withdrawal and set_state wrote: a WithdrawalState
    return WithdrawalRow(id=row.id, customer=row.customer, asset=row.asset,
                         amount=int(row.amount), destination=row.destination,
                         wallet=row.wallet, requested_at=from_us(row.requested_us),
                         requester=row.requester, state=row.state, decision=row.decision,
                         tx_hash=row.tx_hash)
