"""Customers: their opening balances imported from CSV, and their tiers.

The file has a header with (at least) ``customer_id``, ``asset`` and ``balance``; a
balance is decimal text in whole units of the asset (``1.5`` XEM), never negative. An
optional ``tier`` column records each customer's tier (one of the policy's tiers; empty:
none recorded; a customer's rows must agree)::

    customer_id,asset,balance,tier
    C000001,XEM,1520.25,vip
    C000001,JPY,30000,vip

Column names are read in any case (``Tier`` is the tier column). A header naming a
column twice is refused, as is a row with more (non-empty) fields than
the header: ``C1,XEM,1,000`` is a balance of 1 and a field no column names, not 1000.
A quoted field whose closing quote is missing (``C1,"100`` at the end of the file, or one
that runs on into the rows after it) is an unterminated quoted field, named on the line
where its quote opens. A field such as ``"XEM"x`` (a closing quote followed by more than a
comma or a line end, which the csv module would read as ``XEMx``) is refused on its line.

The whole file is checked before anything is written; every problem is reported as
``file:line: what is wrong`` and nothing is written. Rows are then appended in batches of
``import_batch_size`` rows, one journal entry and one transaction per batch (customers
credited, ``clearing:opening`` debited per asset). A batch's idempotency key is derived from
its content, so rerunning an import that crashed skips the batches already committed and
writes the rest: no duplicate, no partial batch. A (customer, asset) that already has a
balance in the ledger is refused: opening balances are imported once. A batch's customers'
tiers are recorded in the same unit of work as its entry, with an audit record.

A customer's tier (a KYC level that tiered screening rules such as ``max_amount`` with
``tier = "new"`` look at) is recorded in kinko, never taken from a withdrawal request:
:func:`set_tier` (``kinko customers tier``, ``PUT /v1/customers/{id}/tier``) records it,
from the active policy's declared set, with an audit record in the same unit. A customer
with no tier recorded is ``standard``.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from kinko.domain.csvcells import CsvRecords, columns_said, columns_text
from kinko.domain.ledger import Posting, check_account, parse_account
from kinko.domain.messages import Message, msg, os_refusal
from kinko.domain.money import Asset, AssetRegistry, parse_units
from kinko.domain.policy import DEFAULT_TIER
from kinko.errors import BadInput, InputFileError, KinkoError
from kinko.safeload import bounded_lines, column_twice, open_text
from kinko.services.access import Access
from kinko.services.custody import effective_policy
from kinko.services.ledger import Draft, Ledger, no_cyclic_gc

__all__ = ["CustomerRow", "ImportReport", "customer_tier", "declared_tiers", "import_customers",
           "read_customer_csv", "set_tier"]

REQUIRED = ("customer_id", "asset", "balance")
MAX_PROBLEMS = 20
# builds a row or posting without the NamedTuple's own __new__ (a Python call per record: an
# import makes one of each per row)
_new = tuple.__new__


class CustomerRow(NamedTuple):
    line: int
    account: str  # customer:<id>
    asset: str
    units: int

    @property
    def customer(self) -> str:
        return self.account[len("customer:"):]


@dataclass
class ImportReport:
    rows: int = 0
    zero_rows: int = 0
    batches_written: int = 0
    batches_skipped: int = 0
    postings: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    tiers: int = 0  # customers whose tier the file recorded


# ---------------------------------------------------------------------------- tiers

def declared_tiers(ledger: Ledger) -> tuple[str, ...]:
    """The tiers a customer may have: the active policy's (``standard`` alone without one)."""
    with ledger.store.custody(write=False) as (_, tables):
        active = effective_policy(tables, ledger.assets, ledger.clock.now())
    return (DEFAULT_TIER,) if active is None else active.tiers


def _check_tier(tier: str, tiers: tuple[str, ...]) -> str:
    if tier not in tiers:
        shown = ascii(tier[:40]) if isinstance(tier, str) else "?"
        raise BadInput(f"tier {shown} is not one of the policy's tiers: {', '.join(tiers)} "
                       "(a policy declares its tiers under [screening] tiers; load it with "
                       "`kinko policy load`)",
                       tier=tier[:40] if isinstance(tier, str) else None, tiers=list(tiers),
                       says=msg("error.customers.undeclared_tier",
                                tier=tier[:40] if isinstance(tier, str) else "?",
                                tiers=", ".join(tiers)[:400]))
    return tier


def customer_tier(ledger: Ledger, customer: str) -> dict[str, object]:
    """The customer's tier, when and by whom it was set (``standard``, never set, when kinko
    has none recorded)."""
    parse_account(f"customer:{customer}")
    with ledger.store.screening(write=False) as tables:
        row = tables.customer_tier(customer)
    if row is None:
        return {"customer": customer, "tier": DEFAULT_TIER, "set_at": None, "set_by": None}
    return dict(row)


def set_tier(ledger: Ledger, customer: str, tier: str, by: str, *,
             actor: str | None = None) -> dict[str, object]:
    """Record a customer's tier (one of the active policy's), with an audit record of the
    change (``actor``, default ``by``), in one unit of work."""
    parse_account(f"customer:{customer}")
    if not by.strip():
        raise BadInput("say who sets the tier (--by)", says=msg("error.customers.tier_by"))
    with ledger.store.unit() as u:
        _check_tier(tier, declared_tiers(ledger))
        old = u.screening.customer_tier(customer)
        u.screening.set_tiers({customer: tier}, ledger.clock.now(), by.strip()[:200])
        Access(ledger.store, ledger.clock).audit(
            (actor or by.strip())[:200], "customer.tier", customer,
            {"tier": tier, "was": old["tier"] if old else None})
        row = u.screening.customer_tier(customer)
    assert row is not None
    return dict(row)


# ---------------------------------------------------------------------------- import

def read_customer_csv(path: Path, registry: AssetRegistry,
                      tiers: dict[str, str] | None = None,
                      allowed: tuple[str, ...] = (DEFAULT_TIER,)) -> list[CustomerRow]:
    """Parse and check the whole file; raise :class:`InputFileError` listing every problem.
    With ``tiers``, the ``tier`` column's values (from ``allowed``) are put there by
    customer."""
    try:
        with open_text(path) as fh:
            return parse_customer_rows(bounded_lines(fh, str(path)), str(path), registry,
                                       tiers, allowed)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}", file=str(path),
                             says=msg("error.file.cannot_read", file=str(path)[:200],
                                      reason=os_refusal(exc))) from None
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not UTF-8 text ({exc.reason})", file=str(path),
                             says=msg("error.customers.not_utf8", file=str(path)[:200],
                                      reason=str(exc.reason)[:200])) from None


def parse_customer_rows(lines: Iterable[str], name: str, registry: AssetRegistry,
                        tiers: dict[str, str] | None = None,
                        allowed: tuple[str, ...] = (DEFAULT_TIER,)) -> list[CustomerRow]:
    reader = CsvRecords(lines, name)  # strict: a quote left open at the end is an error too
    problems: list[str] = []
    said: list[Message] = []  # the same problems, as catalog messages
    file = name[:200]
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputFileError(f"{name}:1: the file is empty; expected a header "
                             f"{','.join(REQUIRED)}", file=name,
                             says=msg("error.customers.empty_file", file=name[:200],
                                      header=",".join(REQUIRED))) from None
    except csv.Error as exc:
        unclosed = reader.unclosed(exc)
        if unclosed is not None:
            raise InputFileError(unclosed[0], file=name, says=unclosed[1]) from None
        raise InputFileError(f"{name}:1: {exc}", file=name,
                             says=msg("error.customers.header_unreadable", file=name[:200],
                                      reason=str(exc)[:200])) from None
    # the columns named as they are read, in any case (as the trace's files are): a
    # ``Tier`` column is the tier, not a column of the export's own left unread
    names = [h.lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InputFileError(
            f"{name}:1: missing column(s) {', '.join(missing)} in the header "
            f"(found: {columns_text(header)})", file=name,
            says=msg("error.customers.missing_columns", file=name[:200],
                     missing=", ".join(missing), found=columns_said(header)))
    twice = column_twice(names, (*REQUIRED, "tier"))
    if twice is not None:
        raise InputFileError(f"{name}:1: column {twice[0]} appears twice in the header "
                             f"(columns {twice[1]} and {twice[2]})", file=name,
                             says=msg("error.customers.column_twice", file=name[:200],
                                      column=twice[0][:80], first=twice[1], second=twice[2]))
    width = len(header)
    at = (names.index(REQUIRED[0]), names.index(REQUIRED[1]), names.index(REQUIRED[2]))
    tier_at = names.index("tier") if tiers is not None and "tier" in names else None
    tier_line: dict[str, int] = {}
    rows: list[CustomerRow] = []
    first_seen: dict[tuple[str, str], int] = {}
    assets: dict[str, Asset] = {}  # the symbols of rows read, as the registry has them
    last_at = max(at)
    at_customer, at_asset, at_balance = at
    checked = ""  # the account of the last row read (a customer's rows come together)
    line = reader.line_num  # the last line read (the header's)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            unclosed = reader.unclosed(exc)  # a quote not closed: where it opened, not
            if unclosed is not None:  # where the module gave up (the file's end)
                problems.append(unclosed[0])
                said.append(unclosed[1])
                break
            problems.append(f"{name}:{reader.line_num}: {exc}")
            said.append(msg("error.customers.row_unreadable", where=f"{file}:{reader.line_num}",
                            reason=str(exc)[:200]))
            break
        line = reader.line_num
        row = None
        if last_at < len(record) <= width:  # the common row without a call per check: its
            # fields there, an asset seen before, the customer of the row before or a valid one
            asset = assets.get(record[at_asset].strip())
            customer = record[at_customer].strip()
            text = record[at_balance].strip()
            if asset is not None and customer and text:
                account = "customer:" + customer
                try:
                    if account != checked:
                        check_account(account)
                    row = _new(CustomerRow, (line, account, asset.symbol,
                                             parse_units(text, asset)))
                except KinkoError:
                    pass  # noted below, as every problem is
        if row is None:  # any other row, and every problem, the careful way
            if not record or not "".join(record).strip():
                continue
            if any(f.strip() for f in record[width:]):  # "1,000" unquoted: a balance of 1
                problems.append(f"{name}:{line}: {len(record)} fields where the header has "
                                f"{width} (a value with a comma needs double quotes)")
                said.append(msg("error.customers.too_many_fields", where=f"{file}:{line}",
                                count=len(record), width=width))
                continue
            row = _row(record, at, line, name, registry, problems, checked, said)
            if row is not None:
                assets[row.asset] = registry[row.asset]
        if row is not None:
            checked = row.account
            seen = first_seen.setdefault((row[1], row[2]), line)
            if seen == line:
                rows.append(row)
            else:
                problems.append(f"{name}:{line}: duplicate customer {row.customer} asset "
                                f"{row.asset} (first on line {seen})")
                said.append(msg("error.customers.duplicate_row", where=f"{file}:{line}",
                                customer=row.customer[:80], asset=row.asset[:40], first=seen))
        if row is not None and tier_at is not None and tiers is not None:
            _tier(record, tier_at, row, line, name, allowed, tiers, tier_line, problems, said)
        if len(problems) >= MAX_PROBLEMS:
            problems.append(f"{name}: stopped after {MAX_PROBLEMS} problems")
            said.append(msg("error.customers.stopped", file=file, count=MAX_PROBLEMS))
            break
    if problems:
        raise InputFileError(f"{name}: {len(problems)} problem(s); nothing was imported",
                             problems=problems, file=name, problems_said=said,
                             says=msg("error.customers.problems", file=name[:200],
                                      count=len(problems)))
    return rows


def _row(record: list[str], at: tuple[int, int, int], line: int, name: str,
         registry: AssetRegistry, problems: list[str], checked: str,
         said: list[Message]) -> CustomerRow | None:
    """The row, checked (``checked``: an account already found valid), or ``None`` and
    the problem noted (in English in ``problems``, as a catalog message in ``said``)."""
    width = len(record)
    at_customer, at_asset, at_balance = at
    customer = record[at_customer].strip() if at_customer < width else ""
    symbol = record[at_asset].strip() if at_asset < width else ""
    text = record[at_balance].strip() if at_balance < width else ""
    if not (customer and symbol and text):
        missing = next(c for c, v in zip(REQUIRED, (customer, symbol, text), strict=True)
                       if not v)
        problems.append(f"{name}:{line}: missing {missing}")
        said.append(msg("error.customers.missing_value", where=f"{name[:200]}:{line}",
                        column=missing))
        return None
    account = "customer:" + customer
    try:
        if account != checked:  # a customer's rows (one per asset) come together
            check_account(account)
        asset = registry[symbol]
        units = parse_units(text, asset)
    except KinkoError as exc:
        problems.append(f"{name}:{line}: {exc.message}")
        said.append(msg("error.customers.at", where=f"{name[:200]}:{line}", problem=exc.said()))
        return None
    return _new(CustomerRow, (line, account, asset.symbol, units))


def _tier(record: list[str], at: int, row: CustomerRow, line: int, name: str,
          allowed: tuple[str, ...], tiers: dict[str, str], tier_line: dict[str, int],
          problems: list[str], said: list[Message]) -> None:
    value = record[at].strip() if at < len(record) else ""
    if not value:
        return
    customer = row.customer
    where = f"{name[:200]}:{line}"
    if value not in allowed:
        problems.append(f"{name}:{line}: tier {value!r} is not one of the policy's tiers "
                        f"({', '.join(allowed)})")
        said.append(msg("error.customers.at", where=where, problem=msg(
            "error.customers.unknown_tier", tier=value[:40], tiers=", ".join(allowed)[:400])))
    elif customer in tiers and tiers[customer] != value:
        problems.append(f"{name}:{line}: customer {customer} has tier {value!r} here and "
                        f"{tiers[customer]!r} on line {tier_line[customer]}")
        said.append(msg("error.customers.tier_conflict", where=where, customer=customer[:80],
                        tier=value[:40], other=tiers[customer][:40],
                        first=tier_line[customer]))
    elif customer not in tiers:
        tiers[customer] = value
        tier_line[customer] = line


def _batch_key(rows: Sequence[CustomerRow], counter: str) -> str:
    text = "\n".join([counter, *[f"{r[1]}\x1f{r[2]}\x1f{r[3]}" for r in rows]])
    return "import:" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _draft(rows: Sequence[CustomerRow], counter: str, source: str,
           all_totals: dict[str, int]) -> Draft:
    """The batch's entry; its totals per asset are added to ``all_totals``."""
    postings = []
    totals: dict[str, int] = {}
    new = _new
    for _, account, asset, units in rows:
        postings.append(new(Posting, (account, asset, -units)))
        totals[asset] = totals.get(asset, 0) + units
    postings.extend(Posting(counter, a, t) for a, t in sorted(totals.items()))
    for asset, total in totals.items():
        all_totals[asset] = all_totals.get(asset, 0) + total
    return Draft(_batch_key(rows, counter), "transfer", tuple(postings), source=source,
                 memo=f"opening balances, lines {rows[0].line}-{rows[-1].line}",
                 new_customers_only=True)


def import_customers(
    ledger: Ledger,
    path: Path,
    *,
    batch_size: int,
    counter: str = "clearing:opening",
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Check the whole file, then append it batch by batch (resumable, never duplicated)."""
    parse_account(counter)
    with no_cyclic_gc():  # hundreds of thousands of small acyclic records: see no_cyclic_gc
        return _import(ledger, path, batch_size, counter, progress)


def _import(ledger: Ledger, path: Path, batch_size: int, counter: str,
            progress: Callable[[int, int], None] | None) -> ImportReport:
    tiers: dict[str, str] = {}
    rows = read_customer_csv(path, ledger.assets, tiers, declared_tiers(ledger))
    report = ImportReport(rows=len(rows), tiers=len(tiers))
    nonzero = [r for r in rows if r[3]]  # (units)
    report.zero_rows = len(rows) - len(nonzero)
    batches = [nonzero[i : i + batch_size] for i in range(0, len(nonzero), batch_size)]
    drafts = [_draft(b, counter, f"import:{path.name}", report.totals) for b in batches]
    todo = _check_not_imported(ledger, path, batches, drafts)
    done_rows = sum(len(b) for b, d in zip(batches, drafts, strict=True) if d.key not in todo)
    report.batches_skipped = len(batches) - len(todo)
    # each customer's tier goes with the batch of its first row; the tiers of customers
    # whose rows are all zero (in no batch) with the first batch written
    with_batch: list[dict[str, str]] = [{} for _ in batches]
    if tiers:
        placed: set[str] = set()
        for i, batch in enumerate(batches):
            for r in batch:
                customer = r.customer
                if customer in tiers and customer not in placed:
                    with_batch[i][customer] = tiers[customer]
                    placed.add(customer)
        rest = {c: t for c, t in tiers.items() if c not in placed}
    else:
        rest = {}
    if progress:
        progress(done_rows, len(nonzero))
    for i, (batch, draft) in enumerate(zip(batches, drafts, strict=True)):
        if draft.key not in todo:
            continue
        with ledger.store.unit():
            result = ledger.append([draft])[0]
            _record_tiers(ledger, path, {**with_batch[i], **rest}, batch[0].line,
                          batch[-1].line)
        rest = {}
        if not result.replayed:
            report.batches_written += 1
            report.postings += len(draft.postings)
        done_rows += len(batch)
        if progress:
            progress(done_rows, len(nonzero))
    if rest and not batches:  # a file of zero balances only
        with ledger.store.unit():
            _record_tiers(ledger, path, rest, rows[0].line, rows[-1].line)
    return report


def _record_tiers(ledger: Ledger, path: Path, tiers: dict[str, str], first: int,
                  last: int) -> None:
    """Record imported tiers and their audit record (in the caller's unit of work)."""
    if not tiers:
        return
    with ledger.store.screening() as tables:
        tables.set_tiers(tiers, ledger.clock.now(), f"import:{path.name}"[:200])
    counts: dict[str, int] = {}
    for tier in tiers.values():
        counts[tier] = counts.get(tier, 0) + 1
    Access(ledger.store, ledger.clock).audit(
        f"import:{path.name}"[:200], "customer.tier", f"import:{path.name}"[:200],
        {"customers": len(tiers), "lines": f"{first}-{last}", "tiers": counts})


def _check_not_imported(ledger: Ledger, path: Path, batches: list[list[CustomerRow]],
                        drafts: list[Draft]) -> set[str]:
    """Keys of batches still to write; refuse rows whose balance already exists."""
    with ledger.store.reader() as tx:
        todo = {d.key for d in drafts} - tx.known_keys([d.key for d in drafts])
        pending = [r for b, d in zip(batches, drafts, strict=True) if d.key in todo for r in b]
        # a ledger without customer balances cannot conflict: skip the look-up of every row
        found = (tx.states({(r.account, r.asset) for r in pending})
                 if pending and tx.sum_balances("customer") else {})
    existing = [r for r in pending if (r.account, r.asset) in found] if found else []
    problems = [
        f"{path}:{r.line}: customer {r.customer} already has a {r.asset} balance in the ledger"
        for r in existing
    ]
    if problems:
        shown = problems[:MAX_PROBLEMS]
        said = [msg("error.customers.balance_exists", where=f"{str(path)[:200]}:{r.line}",
                    customer=r.customer[:80], asset=r.asset[:40])
                for r in existing[:MAX_PROBLEMS]]
        raise InputFileError(
            f"{path}: {len(problems)} row(s) were imported before; nothing was imported",
            problems=shown, file=str(path), problems_said=said,
            says=msg("error.customers.imported_before", file=str(path)[:200],
                     count=len(problems)))
    return todo
