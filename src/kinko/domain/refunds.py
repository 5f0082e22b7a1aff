"""Refund plans: who is refunded how much, at which price, and whether the money is there.

After a theft the customers are still owed the stolen coins (the ledger keeps their
balances whole, the loss sits on ``loss:<incident>``). A refund settles that claim in yen:
every customer who held the asset at the incident *snapshot* (the ledger as it stood at the
first alert) is paid ``units × price / 10^decimals`` yen, rounded by a stated rule::

    customer C1 held 1,520.250001 XEM = 1_520_250_001 micro-XEM, price 88.549 JPY/XEM
    exact refund = 1_520_250_001 × 88.549 / 10^6 = 134,616.617338549 JPY
    floor → 134,616 JPY        half-up → 134,617 JPY

Everything is exact: amounts are integers of minor units, prices are :class:`~decimal.Decimal`
read from digit strings (never a float), products and quotients are integer arithmetic on
the price's exact ratio. The plan's *remainder* is the exact total (Σ units × price, one
division) minus the sum of the rounded refunds: what floor rounding keeps back (positive) or
half-up rounding pays beyond the exact value (may be negative), as an exact decimal.

The reference price is fixed (``88.549``) or the volume-weighted average price of a trades
file over a window ``[from, to)``: VWAP = Σ price·amount / Σ amount over the trades in the
window, computed exactly, then rounded half-up to 3 decimal places (:data:`PRICE_PLACES`),
the way Coincheck's 88.549 JPY/XEM is stated. The exact Σp·v, Σv, the trade count and the
exact VWAP are kept so the price can be recomputed by anyone. A trades file is CSV with a
header naming at least ``time,price,amount`` (other columns are ignored)::

    time,price,amount,venue
    2018-01-26T00:00:00+09:00,88.40,1500,zaif
    2018-01-26T00:05:00+09:00,88.70,500.5,zaif

time: ISO 8601 with a zone; price: yen per whole unit; amount: whole units. Problems are
reported as ``file:line: what``; a quoted field whose closing quote is missing (``"88``) at
the line where its quote opens, not as a row running to the end of the file.

The *funds check* compares the total with the yen the exchange holds beyond what it owes
customers in yen: ``available = Σ bank:* JPY − Σ customer:* JPY``; "funds confirmed" when
available ≥ total, else the exact shortfall.

A plan is written as ``plan.json`` (:data:`PLAN_FORMAT`, see :func:`plan_document`) and
``refunds.csv`` (``customer,units,amount,refund_jpy``); ``plan_id`` is a digest of the
document's refunds (which include the CSV's SHA-256), so an edit to either file is detected
and the same refunds planned twice have the same id (:func:`plan_digest`).
Nothing here reads a file, a database or a clock.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from math import gcd
from typing import Any, Literal, NamedTuple

from kinko.domain.csvcells import CsvRecords, escape_cell, unescape_cell
from kinko.domain.ledger import Posting, format_timestamp
from kinko.domain.messages import N_, Message, msg
from kinko.domain.money import MAX_DIGITS, Asset, cut_typed, format_units
from kinko.errors import BadInput, InputFileError, InvalidAmount, ValueRefused
from kinko.safeload import column_twice

__all__ = [
    "PLAN_FORMAT",
    "PRICE_PLACES",
    "ROUNDINGS",
    "FundsCheck",
    "PlanFile",
    "PriceBasis",
    "RefundPlan",
    "Rounding",
    "Trade",
    "Vwap",
    "build_plan",
    "compute_vwap",
    "decimal_text",
    "parse_plan_document",
    "parse_price",
    "parse_refunds_csv",
    "parse_trades",
    "plan_digest",
    "plan_document",
    "refund_amounts",
    "refund_keys",
    "refund_postings",
    "refund_ratio",
    "refunds_csv",
    "round_half_up",
]

PLAN_FORMAT = "kinko-refund-plan-v1"
PRICE_PLACES = 3  # a VWAP is stated like Coincheck's 88.549 JPY/XEM
Rounding = Literal["floor", "half-up"]
ROUNDINGS: tuple[Rounding, ...] = ("floor", "half-up")
TRADE_COLUMNS = ("time", "price", "amount")
MAX_PROBLEMS = 20

_DECIMAL = re.compile(r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")  # ASCII digits, no sign, no exponent

# the words a refusal names a number or a rounding rule by, in the reader's language
_WORDS = {"price": N_("error.refunds.word.price"), "amount": N_("error.refunds.word.amount"),
          "floor": N_("error.refunds.rounding.floor"),
          "half-up": N_("error.refunds.rounding.half_up")}


def _word(word: object) -> Message | str:
    """``word`` (a number's name, a rounding rule) as the catalog says it, else as it is."""
    known = _WORDS.get(str(word))
    return msg(known) if known is not None else str(word)[:80]


def _rounding_refused(rounding: object, option: str = "rounding") -> BadInput:
    """An unknown rounding rule, refused in the words of ``option`` (``--rounding``)."""
    return BadInput(f"{option} must be one of {', '.join(ROUNDINGS)}, not {rounding!r}",
                    says=msg("error.refunds.rounding", option=option,
                             roundings=", ".join(ROUNDINGS), rounding=str(rounding)[:80]))


# ---------------------------------------------------------------------------- numbers


def _positive_decimal(text: str, what: str) -> Decimal:
    """Exact decimal from digit text; refuse signs, exponents, NaN, infinities and zero."""
    raw = text.strip()
    if raw.startswith("-") and _DECIMAL.match(raw[1:]):
        raise InvalidAmount(f"{what} {raw} must be above 0", text=text,
                            says=msg("error.refunds.not_positive", what=_word(what),
                                     value=raw[:80]))
    if not _DECIMAL.match(raw):
        raise InvalidAmount(f"{what} {raw!r} is not a plain decimal number (digits, one "
                            "optional '.', no exponent or separators)", text=text,
                            says=msg("error.refunds.not_decimal", what=_word(what),
                                     value=raw[:80]))
    whole, _, fraction = raw.lstrip("+").partition(".")
    if len(whole.lstrip("0")) + len(fraction) > MAX_DIGITS:  # before any arithmetic on it
        raise InvalidAmount(f"{what} {cut_typed(raw, 40)} has more than {MAX_DIGITS} digits",
                            text=text,
                            says=msg("error.refunds.too_many_digits", what=_word(what),
                                     value=cut_typed(raw, 40), most=MAX_DIGITS))
    value = Decimal(raw)  # the constructor is exact whatever the context's precision
    if value <= 0:
        raise InvalidAmount(f"{what} {raw} must be above 0", text=text,
                            says=msg("error.refunds.not_positive", what=_word(what),
                                     value=raw[:80]))
    return value


def parse_price(text: str) -> Decimal:
    """A reference price in yen per whole unit, exactly: ``"88.549"`` → ``Decimal('88.549')``."""
    return _positive_decimal(text, "price")


def round_half_up(value: Fraction, places: int) -> Decimal:
    """``value`` rounded to ``places`` decimals, halves away from zero, as an exact Decimal."""
    scale = 10**places
    n = abs(value.numerator) * scale * 2 + value.denominator
    rounded = n // (2 * value.denominator)
    sign = "-" if value < 0 and rounded else ""
    return Decimal(f"{sign}{rounded}E-{places}")


def _fixed(n: int, places: int) -> str:
    sign = "-" if n < 0 else ""
    whole, frac = divmod(abs(n), 10**places)
    return f"{sign}{whole}.{str(frac).rjust(places, '0')}" if places else f"{sign}{whole}"


def decimal_text(value: Fraction) -> str:
    """Exact text of a rational: the shortest exact decimal (``"-0.5"``) when it has one,
    else the reduced fraction ``"numerator/denominator"`` (a VWAP such as 265.1/3)."""
    d = value.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    return _fixed(value.numerator * 10**places // value.denominator, places)


def _decimal_of(value: Fraction) -> Decimal:
    """A terminating rational as an exact Decimal (callers guarantee it terminates)."""
    return Decimal(decimal_text(value))


# ---------------------------------------------------------------------------- trades


class Trade(NamedTuple):
    line: int
    time: datetime
    price: Decimal  # yen per whole unit
    amount: Decimal  # whole units


def _parse_time(text: str) -> datetime:
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueRefused(f"time {raw!r} is not ISO 8601 (2018-01-26T00:02:00+09:00)",
                           says=msg("error.refunds.time_not_iso", time=raw[:80])) from None
    if value.tzinfo is None:
        raise ValueRefused(f"time {raw!r} has no zone (add +09:00 or Z)",
                           says=msg("error.refunds.time_no_zone", time=raw[:80]))
    try:
        value.astimezone(UTC)
    except OverflowError:  # year 0 or 10000 in UTC
        raise ValueRefused(f"time {raw!r} is outside the years 1 to 9999 in UTC",
                           says=msg("error.refunds.time_range", time=raw[:80])) from None
    return value


def parse_trades(lines: Iterable[str], name: str) -> list[Trade]:
    """Every trade of a trades CSV; raise :class:`InputFileError` listing each bad line. A
    quoted field whose closing quote is missing is refused on the line where it opens."""
    reader = CsvRecords(lines, name)  # strict: a quote left open at the end is an error too
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputFileError(f"{name}:1: the trades file is empty; expected a header "
                             f"{','.join(TRADE_COLUMNS)}", file=name,
                             says=msg("error.refunds.trades_empty", file=name[:200],
                                      header=",".join(TRADE_COLUMNS))) from None
    except csv.Error as exc:
        unclosed = reader.unclosed(exc)
        if unclosed is not None:
            raise InputFileError(unclosed[0], file=name, says=unclosed[1]) from None
        raise InputFileError(f"{name}:1: {exc}", file=name,
                             says=msg("error.customers.header_unreadable", file=name[:200],
                                      reason=str(exc)[:200])) from None
    missing = [c for c in TRADE_COLUMNS if c not in header]
    if missing:
        raise InputFileError(f"{name}:1: the header lacks column(s) {', '.join(missing)} "
                             f"(found: {','.join(header) or 'nothing'})", file=name,
                             says=msg("error.customers.missing_columns", file=name[:200],
                                      missing=", ".join(missing),
                                      found=",".join(header)[:200]
                                      or msg("error.customers.no_columns")))
    twice = column_twice(header, TRADE_COLUMNS)
    if twice is not None:
        raise InputFileError(f"{name}:1: column {twice[0]} appears twice in the header",
                             file=name, says=msg("error.refunds.trades_column_twice",
                                                 file=name[:200], column=twice[0][:80]))
    at = {c: header.index(c) for c in TRADE_COLUMNS}
    trades: list[Trade] = []
    problems: list[str] = []
    problems_said: list[Message] = []  # the same problems, as catalog messages
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank lines carry no trade
            if len(row) < len(header) or any(c.strip() for c in row[len(header):]):
                # more: "1,000" unquoted is a price of 1 and a field no column names
                problems.append(f"{name}:{line}: {len(row)} fields, the header has "
                                f"{len(header)} (a value with a comma needs double quotes)")
                problems_said.append(msg("error.refunds.trade_fields", file=name[:200],
                                         line=str(line), fields=len(row), width=len(header)))
            else:
                try:
                    trades.append(Trade(line, _parse_time(row[at["time"]]),
                                        _positive_decimal(row[at["price"]], "price"),
                                        _positive_decimal(row[at["amount"]], "amount")))
                except (ValueError, InvalidAmount) as exc:
                    text = exc.message if isinstance(exc, InvalidAmount) else str(exc)
                    problems.append(f"{name}:{line}: {text}")
                    said = exc.said() if isinstance(exc, InvalidAmount) else (
                        exc.says if isinstance(exc, ValueRefused) else str(exc)[:200])
                    problems_said.append(msg("error.refunds.at_line", file=name[:200],
                                             line=str(line), what=said))
            if len(problems) >= MAX_PROBLEMS:
                problems.append(f"{name}: stopped after {MAX_PROBLEMS} problems")
                problems_said.append(msg("error.file.stopped_after", file=name[:200],
                                         most=MAX_PROBLEMS))
                break
    except csv.Error as exc:
        unclosed = reader.unclosed(exc)  # a quote not closed: where it opened, not where
        if unclosed is not None:  # the module gave up (the file's end)
            problems.append(unclosed[0])
            problems_said.append(unclosed[1])
        else:
            problems.append(f"{name}:{reader.line_num}: {exc}")
            problems_said.append(msg("error.refunds.at_line", file=name[:200],
                                     line=str(reader.line_num), what=str(exc)[:200]))
    if problems:
        raise InputFileError(f"{name}: {len(problems)} problem(s) in the trades file; nothing "
                             f"was planned (first: {problems[0]})", problems, file=name,
                             says=msg("error.refunds.trade_problems", file=name[:200],
                                      count=len(problems), first=problems_said[0]),
                             problems_said=problems_said)
    if not trades:
        raise InputFileError(f"{name}:2: the trades file has a header but no trades",
                             file=name, says=msg("error.refunds.no_trades", file=name[:200]))
    return trades


@dataclass(frozen=True)
class Vwap:
    """How a VWAP reference price was computed, with everything needed to recompute it."""

    start: datetime  # inclusive
    end: datetime  # exclusive
    trades: int
    sum_price_volume: Decimal  # Σ price × amount, exact
    sum_volume: Decimal  # Σ amount, exact
    exact: Fraction  # Σp·v / Σv
    price: Decimal  # exact rounded half-up to PRICE_PLACES


def _exact_sum(terms: Iterable[tuple[int, int]]) -> Fraction:
    """Σ n·10^e exactly, summing integers per exponent (no rational per term)."""
    by_exp: dict[int, int] = {}
    for n, e in terms:
        by_exp[e] = by_exp.get(e, 0) + n
    if not by_exp:
        return Fraction(0)
    low = min(by_exp)
    total = sum(n * 10 ** (e - low) for e, n in by_exp.items())
    return Fraction(total, 10**-low) if low < 0 else Fraction(total * 10**low)


def _digits(d: Decimal) -> tuple[int, int]:
    sign, digits, exp = d.as_tuple()
    n = int("".join(map(str, digits)) or "0")
    return (-n if sign else n), int(exp)


def compute_vwap(trades: Sequence[Trade], start: datetime, end: datetime, *,
                 name: str = "trades") -> Vwap:
    """The volume-weighted average price of the trades with ``start <= time < end``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise BadInput("the VWAP window needs times with a zone",
                       says=msg("error.refunds.window_zone"))
    if not start < end:
        raise BadInput(f"the VWAP window [{start.isoformat()}, {end.isoformat()}) is empty: "
                       "--from must be before --to",
                       says=msg("error.refunds.window_empty", start=start.isoformat(),
                                end=end.isoformat()))
    inside = [t for t in trades if start <= t.time < end]
    if not inside:
        first = min(t.time for t in trades).isoformat() if trades else "-"
        last = max(t.time for t in trades).isoformat() if trades else "-"
        raise BadInput(f"{name}: no trades in the window [{start.isoformat()}, "
                       f"{end.isoformat()}) (the file's trades run from {first} to {last})",
                       file=name,
                       says=msg("error.refunds.window_no_trades", file=name[:200],
                                start=start.isoformat(), end=end.isoformat(), first=first,
                                last=last))
    pv_terms = []
    v_terms = []
    for t in inside:
        pn, pe = _digits(t.price)
        vn, ve = _digits(t.amount)
        pv_terms.append((pn * vn, pe + ve))
        v_terms.append((vn, ve))
    pv = _exact_sum(pv_terms)
    v = _exact_sum(v_terms)
    exact = pv / v
    price = round_half_up(exact, PRICE_PLACES)
    if price <= 0:
        raise InvalidAmount(f"{name}: the VWAP {decimal_text(exact)} rounds to {price}; a "
                            "reference price must be above 0",
                            says=msg("error.refunds.vwap_zero", file=name[:200],
                                     exact=decimal_text(exact)[:120], price=str(price)))
    return Vwap(start, end, len(inside), _decimal_of(pv), _decimal_of(v), exact, price)


# ---------------------------------------------------------------------------- arithmetic


def refund_ratio(price: Decimal, decimals: int, currency_decimals: int = 0) -> tuple[int, int]:
    """(num, den) with refund in currency minor units = units × num / den, reduced.

    ``units`` are minor units of the asset (10^-decimals of a whole unit), ``price`` is
    currency per whole unit, the result is in currency minor units (yen: 10^0)."""
    if not price.is_finite() or price <= 0:
        raise InvalidAmount(f"price {price} must be above 0",
                            says=msg("error.refunds.not_positive", what=_word("price"),
                                     value=str(price)[:80]))
    pn, pd = price.as_integer_ratio()
    num = pn * 10**currency_decimals
    den = pd * 10**decimals
    g = gcd(num, den)
    return num // g, den // g


def refund_amounts(units: Sequence[int], num: int, den: int, rounding: Rounding) -> list[int]:
    """Each ``u × num / den`` rounded by ``rounding``: one integer operation per customer."""
    if rounding == "floor":
        return [u * num // den for u in units]
    if rounding == "half-up":  # floor(x + 1/2) = floor((2·u·num + den) / (2·den))
        num2, den2 = 2 * num, 2 * den
        return [(u * num2 + den) // den2 for u in units]
    raise _rounding_refused(rounding)


# ---------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class FundsCheck:
    """Yen the exchange holds beyond its customers' yen, against the refunds' total."""

    bank: int  # Σ bank:* in currency minor units
    customers: int  # Σ customer:* (what customers are owed in the currency)
    required: int  # the plan's total

    @property
    def available(self) -> int:
        return self.bank - self.customers

    @property
    def confirmed(self) -> bool:
        return self.available >= self.required

    @property
    def shortfall(self) -> int:
        return max(0, self.required - self.available)


@dataclass(frozen=True)
class PriceBasis:
    """The reference price and how it was obtained."""

    value: Decimal
    method: Literal["fixed", "vwap"]
    trades_file: str | None = None
    vwap: Vwap | None = None


@dataclass(frozen=True)
class RefundPlan:
    """Per-customer refunds of one asset for one incident; built by :func:`build_plan`.

    The per-customer columns are parallel tuples (customer id, units, refund) rather than a
    record per customer: 260,000 of them are built, written and read back in well under a
    second that way."""

    incident: str
    asset: Asset
    currency: Asset
    rounding: Rounding
    snapshot: datetime
    snapshot_source: str  # "alert A-1" or "incident opened"
    price: PriceBasis
    funds: FundsCheck
    funds_as_of: datetime
    customers: tuple[str, ...] = field(repr=False)
    units: tuple[int, ...] = field(repr=False)
    refunds: tuple[int, ...] = field(repr=False)
    total_units: int
    total_refund: int
    exact_total: Fraction
    zero_refunds: int

    @property
    def remainder(self) -> Fraction:
        """Exact total minus the sum of rounded refunds."""
        return self.exact_total - self.total_refund


def build_plan(*, incident: str, asset: Asset, currency: Asset, rounding: Rounding,
               snapshot: datetime, snapshot_source: str, price: PriceBasis,
               holdings: Sequence[tuple[str, int]], bank: int, customers_owed: int,
               funds_as_of: datetime) -> RefundPlan:
    """The plan for ``holdings`` (customer id, minor units > 0) at ``price``."""
    if rounding not in ROUNDINGS:
        raise _rounding_refused(rounding)
    if asset.symbol == currency.symbol:
        raise BadInput(f"{asset.symbol} cannot be refunded in {currency.symbol} itself",
                       says=msg("error.refunds.same_currency", asset=asset.symbol[:80],
                                currency=currency.symbol[:80]))
    num, den = refund_ratio(price.value, asset.decimals, currency.decimals)
    ids = tuple(c for c, _ in holdings)
    units = tuple(u for _, u in holdings)
    if any(u <= 0 for u in units):
        raise BadInput("a refund plan holds only customers with a positive balance",
                       says=msg("error.refunds.positive_only"))
    refunds = tuple(refund_amounts(units, num, den, rounding))
    total_units = sum(units)
    total = sum(refunds)
    if total >= 10**MAX_DIGITS:  # no ledger amount holds it: no price makes sense of it
        raise InvalidAmount(f"the refunds add up to more than {MAX_DIGITS} digits of "
                            f"{currency.symbol}'s smallest unit, more than a ledger amount "
                            f"holds: the price {price.value} cannot be meant",
                            says=msg("error.refunds.total_too_large", most=MAX_DIGITS,
                                     currency=currency.symbol[:80],
                                     price=cut_typed(str(price.value), 40)))
    return RefundPlan(
        incident=incident, asset=asset, currency=currency, rounding=rounding,
        snapshot=snapshot, snapshot_source=snapshot_source, price=price,
        funds=FundsCheck(bank, customers_owed, total), funds_as_of=funds_as_of,
        customers=ids, units=units, refunds=refunds, total_units=total_units,
        total_refund=total, exact_total=Fraction(total_units * num, den),
        zero_refunds=refunds.count(0))


def _csv_refund_column(currency: str) -> str:
    return f"refund_{currency.lower()}"


def refunds_csv(plan: RefundPlan) -> bytes:
    """``customer,units,amount,refund_jpy``: one line per customer, in plan order.

    Customer ids are account names (letters, digits and ``._@+:-``), never quoted; one that
    begins like a formula (``-2+3``, ``@SUM``) is written with a leading apostrophe
    (:func:`~kinko.domain.csvcells.escape_cell`), which the reader removes."""
    asset = plan.asset
    lines = [f"customer,units,amount,{_csv_refund_column(plan.currency.symbol)}"]
    lines.extend(f"{escape_cell(c)},{u},{format_units(u, asset)},{r}"
                 for c, u, r in zip(plan.customers, plan.units, plan.refunds, strict=True))
    lines.append("")
    return "\n".join(lines).encode()


def _text_time(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def plan_digest(document: dict[str, Any]) -> str:
    """``RP-`` and 24 hex digits of SHA-256 over the canonical JSON of the document without
    ``plan_id`` and ``funds``: any edit to who is paid what (incident, asset, snapshot,
    price, rounding, totals, the CSV's digest) changes it, while planning the same refunds
    again (after adding funds, say) gives the same id, hence the same idempotency keys, so
    two runs of one refund can never both pay. The funds section is checked for internal
    consistency instead, and execution checks the funds again against the live ledger."""
    body = {k: v for k, v in document.items() if k not in ("plan_id", "funds")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "RP-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def plan_document(plan: RefundPlan, csv_sha256: str) -> dict[str, Any]:
    """``plan.json``'s content. Amounts are strings of integers (minor units; yen) or exact
    decimals, so no reader ever rounds them through a float."""
    p = plan.price
    v = p.vwap
    funds = plan.funds
    doc: dict[str, Any] = {
        "format": PLAN_FORMAT,
        "plan_id": "",
        "incident": plan.incident,
        "asset": plan.asset.symbol,
        "decimals": plan.asset.decimals,
        "currency": plan.currency.symbol,
        "currency_decimals": plan.currency.decimals,
        "rounding": plan.rounding,
        "snapshot": format_timestamp(plan.snapshot),
        "snapshot_source": plan.snapshot_source,
        "price": {
            "value": format(p.value, "f"),
            "method": p.method,
            "places": PRICE_PLACES if v is not None else None,
            "trades_file": p.trades_file,
            "from": _text_time(v.start if v else None),
            "to": _text_time(v.end if v else None),
            "trades": v.trades if v else None,
            "sum_price_volume": format(v.sum_price_volume, "f") if v else None,
            "sum_volume": format(v.sum_volume, "f") if v else None,
            "vwap_exact": decimal_text(v.exact) if v else None,
        },
        "customers": len(plan.customers),
        "total_units": str(plan.total_units),
        "total_amount": format_units(plan.total_units, plan.asset),
        "total_yen": str(plan.total_refund),
        "exact_total_yen": decimal_text(plan.exact_total),
        "remainder_yen": decimal_text(plan.remainder),
        "zero_refunds": plan.zero_refunds,
        "funds": {
            "as_of": format_timestamp(plan.funds_as_of),
            "bank_yen": str(funds.bank),
            "customers_yen": str(funds.customers),
            "available_yen": str(funds.available),
            "required_yen": str(funds.required),
            "confirmed": funds.confirmed,
            "shortfall_yen": str(funds.shortfall),
        },
        "refunds_csv_sha256": csv_sha256,
    }
    doc["plan_id"] = plan_digest(doc)
    return doc


# ---------------------------------------------------------------------------- reading back


@dataclass(frozen=True)
class PlanFile:
    """A written plan read back and checked: what ``execute`` needs."""

    document: dict[str, Any] = field(repr=False)
    plan_id: str
    incident: str
    asset: str
    currency: str
    price: Decimal
    confirmed: bool
    customers: tuple[str, ...] = field(repr=False)
    units: tuple[int, ...] = field(repr=False)
    refunds: tuple[int, ...] = field(repr=False)

    @property
    def total_refund(self) -> int:
        return int(self.document["total_yen"])

    @property
    def shortfall(self) -> int:
        return int(self.document["funds"]["shortfall_yen"])


# What plan_document writes in each field, as a reader checks it before using it: text, a
# whole number (counts), an asset's decimals (0 to MAX_DIGITS), an integer of at most
# MAX_DIGITS digits as text, a signed one, an exact decimal or fraction as text
# (decimal_text), a price, true or false. Only a price's optional fields may be null.
_INTEGER = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")
_SIGNED = re.compile(rf"-?[0-9]{{1,{MAX_DIGITS}}}")
_EXACT = re.compile(r"-?[0-9]{1,300}(\.[0-9]{1,300}|/[0-9]{1,300})?")
_PLAN_FIELDS: dict[str, tuple[str, bool]] = {  # field: (kind, required)
    "plan_id": ("text", True), "incident": ("text", True), "asset": ("text", True),
    "decimals": ("decimals", False), "currency": ("text", True),
    "currency_decimals": ("decimals", False),
    "rounding": ("text", True), "snapshot": ("text", True),
    "snapshot_source": ("text", False), "customers": ("whole", True),
    "total_units": ("integer", True), "total_amount": ("text", False),
    "total_yen": ("integer", True), "exact_total_yen": ("exact", True),
    "remainder_yen": ("exact", True), "zero_refunds": ("whole", False),
    "refunds_csv_sha256": ("text", True)}
_PRICE_FIELDS: dict[str, tuple[str, bool]] = {
    "value": ("price", True), "method": ("text", True), "places": ("whole", False)}
_VWAP_FIELDS: dict[str, tuple[str, bool]] = {
    "trades_file": ("text", True), "from": ("text", True), "to": ("text", True),
    "trades": ("whole", True), "sum_price_volume": ("exact", True),
    "sum_volume": ("exact", True), "vwap_exact": ("exact", True)}
_FUNDS_FIELDS: dict[str, tuple[str, bool]] = {
    "as_of": ("text", True), "bank_yen": ("signed", True), "customers_yen": ("signed", True),
    "available_yen": ("signed", True), "required_yen": ("integer", True),
    "confirmed": ("flag", True), "shortfall_yen": ("integer", True)}


def _fits(kind: str, value: Any) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "whole":
        return type(value) is int and 0 <= value <= 2**63 - 1
    if kind == "decimals":
        return type(value) is int and 0 <= value <= MAX_DIGITS
    if kind == "flag":
        return isinstance(value, bool)
    if kind == "price":
        try:
            return isinstance(value, str) and parse_price(value) > 0
        except InvalidAmount:
            return False
    pattern = {"integer": _INTEGER, "signed": _SIGNED, "exact": _EXACT}[kind]
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _plan_shape(document: dict[str, Any]) -> tuple[str, Any] | None:
    """The first field of a plan document that is not what :func:`plan_document` writes
    there (its name and value), or None: an altered plan is refused before any of it is
    used (a number written with a point, a price that is not one, a count of 10**20...)."""
    parts: list[tuple[str, Any, dict[str, tuple[str, bool]]]] = [("", document, _PLAN_FIELDS)]
    price, funds = document.get("price"), document.get("funds")
    if not isinstance(price, dict):
        return "price", price
    if not isinstance(funds, dict):
        return "funds", funds
    parts += [("price.", price, _PRICE_FIELDS), ("funds.", funds, _FUNDS_FIELDS)]
    if price.get("method") == "vwap":
        parts.append(("price.", price, _VWAP_FIELDS))
    for prefix, fields, kinds in parts:
        for name, (kind, required) in kinds.items():
            optional_null = prefix == "price." and not required and fields.get(name) is None
            if name in fields and not optional_null:
                if not _fits(kind, fields[name]):
                    return prefix + name, fields[name]
            elif required:
                return prefix + name, None
    return None


def parse_plan_document(document: Any, where: str) -> dict[str, Any]:
    """Check ``plan.json``'s shape and that its ``plan_id`` still matches its content."""
    if not isinstance(document, dict) or document.get("format") != PLAN_FORMAT:
        raise InputFileError(f"{where}: not a kinko refund plan (format must be "
                             f"{PLAN_FORMAT!r})", file=where,
                             says=msg("error.refunds.not_a_plan", file=where[:200],
                                      format=PLAN_FORMAT))
    needed = ("plan_id", "incident", "asset", "currency", "rounding", "snapshot", "price",
              "customers", "total_units", "total_yen", "exact_total_yen", "remainder_yen",
              "funds", "refunds_csv_sha256")
    missing = [k for k in needed if k not in document]
    if missing:
        raise InputFileError(f"{where}: missing field(s) {', '.join(missing)}", file=where,
                             says=msg("error.refunds.plan_fields", file=where[:200],
                                      fields=", ".join(missing)))
    shape = _plan_shape(document)
    if shape is not None:
        field_name, value = shape
        raise InputFileError(f"{where}: {field_name} holds {str(value)[:80]!r}, not what kinko "
                             "writes there: the plan was altered", file=where,
                             says=msg("error.refunds.plan_field", file=where[:200],
                                      field=field_name, value=repr(value)[:80]))
    if plan_digest(document) != document["plan_id"]:
        raise InputFileError(f"{where}: the plan was altered after it was written: its content "
                             f"no longer matches its plan_id {document['plan_id']}", file=where,
                             says=msg("error.refunds.plan_altered", file=where[:200],
                                      plan=str(document["plan_id"])[:80]))
    funds = document["funds"]
    try:
        check = FundsCheck(int(funds["bank_yen"]), int(funds["customers_yen"]),
                           int(funds["required_yen"]))
        consistent = (str(check.available), check.confirmed, str(check.shortfall),
                      str(check.required)) == (str(funds["available_yen"]), funds["confirmed"],
                                               str(funds["shortfall_yen"]),
                                               str(document["total_yen"]))
    except (KeyError, TypeError, ValueError):
        consistent = False
    if not consistent:
        raise InputFileError(f"{where}: the funds check does not add up (available = bank − "
                             "customers' yen, confirmed when available ≥ required = the "
                             "plan's total): it was altered", file=where,
                             says=msg("error.refunds.funds_altered", file=where[:200]))
    return document


def parse_refunds_csv(data: bytes, name: str, document: dict[str, Any],
                      asset: Asset) -> PlanFile:
    """The refunds CSV of ``document`` (already digest-checked): every line parsed, and its
    count and totals compared with the plan's."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise InputFileError(f"{name}: not UTF-8 text", file=name,
                             says=msg("error.refunds.not_utf8", file=name[:200])) from None
    lines = text.split("\n")
    header = f"customer,units,amount,{_csv_refund_column(str(document['currency']))}"
    if not lines or lines[0] != header:
        raise InputFileError(f"{name}:1: expected the header {header}", file=name,
                             says=msg("error.refunds.csv_header", file=name[:200],
                                      header=header[:200]))
    if lines[-1] == "":
        lines.pop()
    price = Decimal(str(document["price"]["value"]))
    rounding = document.get("rounding")
    if rounding not in ROUNDINGS:
        raise InputFileError(f"{name}: the plan's rounding {rounding!r} is unknown", file=name,
                             says=msg("error.refunds.plan_rounding", file=name[:200],
                                      rounding=str(rounding)[:80]))
    num, den = refund_ratio(price, asset.decimals, int(document.get("currency_decimals", 0)))
    customers: list[str] = []
    units: list[int] = []
    refunds: list[int] = []
    for i, line in enumerate(lines[1:], start=2):
        parts = line.split(",")
        try:
            if len(parts) != 4:
                raise ValueRefused(f"{len(parts)} fields, expected 4",
                                   says=msg("error.refunds.csv_fields", fields=len(parts)))
            u, r = _whole(parts[1]), _whole(parts[3])
            if u <= 0 or format_units(u, asset) != parts[2]:
                raise ValueRefused(f"units {parts[1]} and amount {parts[2]} do not agree",
                                   says=msg("error.refunds.csv_units", units=parts[1][:80],
                                            amount=parts[2][:80]))
            (expected,) = refund_amounts((u,), num, den, rounding)
            if r != expected:
                raise ValueRefused(f"refund {r} is not {parts[2]} × {price} rounded {rounding} "
                                   f"({expected})",
                                   says=msg("error.refunds.csv_refund", refund=r,
                                            amount=parts[2][:80], price=str(price)[:80],
                                            rounding=_word(rounding), expected=expected))
        except ValueError as exc:
            raise InputFileError(f"{name}:{i}: {exc}", file=name,
                                 says=msg("error.refunds.at_line", file=name[:200],
                                          line=str(i), what=exc.says if isinstance(
                                              exc, ValueRefused) else str(exc)[:200])) from None
        customers.append(unescape_cell(parts[0]))
        units.append(u)
        refunds.append(r)
    if (len(customers), str(sum(units)), str(sum(refunds))) != (
            int(document["customers"]), str(document["total_units"]),
            str(document["total_yen"])):
        raise InputFileError(f"{name}: {len(customers)} customers, {sum(units)} units and "
                             f"{sum(refunds)} {document['currency']} do not match the plan",
                             file=name,
                             says=msg("error.refunds.csv_totals", file=name[:200],
                                      customers=len(customers), units=sum(units),
                                      refunds=sum(refunds),
                                      currency=str(document["currency"])[:80]))
    if len(set(customers)) != len(customers):
        raise InputFileError(f"{name}: a customer appears twice", file=name,
                             says=msg("error.refunds.csv_customer_twice", file=name[:200]))
    return PlanFile(document, str(document["plan_id"]), str(document["incident"]),
                    str(document["asset"]), str(document["currency"]),
                    price, document["funds"]["confirmed"] is True,
                    tuple(customers), tuple(units), tuple(refunds))


# ---------------------------------------------------------------------------- postings


def _whole(text: str) -> int:
    """``int(text)``; its refusal (Python's own words) also said as a catalog message."""
    try:
        return int(text)
    except ValueError as exc:
        raise ValueRefused(str(exc), says=msg("error.refunds.csv_not_whole",
                                              value=text[:80])) from None


def refund_keys(plan_id: str, customers: Iterable[str]) -> list[str]:
    """The idempotency key of each customer's refund entry: ``refund:<plan_id>:<customer>``."""
    return [f"refund:{plan_id}:{c}" for c in customers]


def refund_postings(incident: str, asset: str, currency: str, customer: str, units: int,
                    refund: int) -> tuple[Posting, ...]:
    """One customer's refund: the coin claim is settled against the incident's loss, and
    yen are credited to the customer out of the exchange's own funds::

        customer:C1  XEM  +units     (debit: the exchange no longer owes the XEM)
        loss:INC-1   XEM  -units     (credit: that part of the loss is made good)
        own          JPY  +refund    (debit: the exchange's own funds pay)
        customer:C1  JPY  -refund    (credit: the exchange owes the customer the yen)

    A zero-yen refund (a dust balance rounded down) settles the claim with the first two."""
    account = f"customer:{customer}"
    legs: tuple[Posting, ...] = (Posting(account, asset, units),
                                 Posting(f"loss:{incident}", asset, -units))
    if refund:
        legs += (Posting("own", currency, refund), Posting(account, currency, -refund))
    return legs
