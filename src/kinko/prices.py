"""Price adapters for the ``Prices`` port: JPY per whole unit, exact decimals, no network.

kinko does not fetch prices: a price feed is outside it. An exchange gives them either
fixed in the settings (``prices = "ETH=512345.6,XEM=88.549"``) or as a CSV file with
``asset,jpy`` columns, for example exported from its own market data at the reporting time.
A price is written in plain decimal digits (``512345.6``: ASCII digits, one optional point):
an exponent (``1e3``, ``5E-2``), a digit separator (``1_000``) or another script's digits are
refused, as is a price (a row of the file, an item of the setting) for an asset the
exchange does not know (when the caller says which it knows) and a second price for an
asset (a row of the file, an item of the setting). Bad values are refused with the file and
line, or the setting.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

from kinko.domain.csvcells import CsvRecords
from kinko.domain.messages import Message, msg, os_refusal
from kinko.errors import ConfigError, InputFileError
from kinko.safeload import bounded_lines, column_twice, open_text

__all__ = ["FixedPrices", "parse_price", "prices_from_csv", "prices_from_text"]

_PLAIN = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")  # ASCII digits, no exponent


def parse_price(text: str, where: str, field: str = "price") -> Decimal:
    """The price ``text`` (JPY per whole unit) exactly; ConfigError naming ``where`` and
    ``field`` (a file's column) for anything but plain decimal digits ≥ 0."""
    raw = text.strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{where}: {text!r} is not a price",
                          says=msg("error.prices.not_price", where=where[:200],
                                   text=text[:80])) from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{where}: price {text!r} must be a finite number ≥ 0",
                          says=msg("error.prices.not_finite", where=where[:200], text=text[:80]))
    if _PLAIN.fullmatch(raw) is None:  # Decimal reads 1e3, 1_000 and other scripts' digits
        if "e" in raw.lower():
            raise ConfigError(f"{where}: {field} {raw[:80]!r} is written with an exponent; "
                              "write the price in plain decimal digits (1000, not 1e3)",
                              says=msg("error.prices.exponent", where=where[:200],
                                       field=field[:80], text=raw[:80]))
        raise ConfigError(f"{where}: {field} {raw[:80]!r} is not written in plain decimal "
                          "digits (ASCII digits and one optional '.', no separators)",
                          says=msg("error.prices.not_plain", where=where[:200],
                                   field=field[:80], text=raw[:80]))
    return value


class FixedPrices:
    def __init__(self, prices: Mapping[str, Decimal]) -> None:
        self._prices = dict(prices)

    def price(self, asset: str) -> Decimal | None:
        return self._prices.get(asset)

    def __repr__(self) -> str:
        return f"FixedPrices({self._prices!r})"


def prices_from_text(text: str, assets: Collection[str] | None = None) -> FixedPrices:
    """``ETH=512345.6,XEM=88.549`` (JPY per whole unit), the ``prices`` setting; with
    ``assets`` (the symbols the exchange knows), a price for any other asset is refused
    naming the setting and the asset. An asset priced twice (``ETH=1,eth=2``: symbols are
    read in capitals) is refused naming both items: which price holds would be a guess."""
    out: dict[str, Decimal] = {}
    items: dict[str, str] = {}  # the item that priced each asset, as written
    for item in text.split(","):
        if not item.strip():
            continue
        symbol, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"prices: {item.strip()!r} should be ASSET=JPY",
                              says=msg("error.prices.item", item=item.strip()[:80]))
        asset = symbol.strip().upper()
        if (unknown := _unknown(asset, assets, "prices")) is not None:
            english, says = unknown
            raise ConfigError(english, says=says)
        first = items.setdefault(asset, item.strip()[:80])
        if asset in out:
            second = item.strip()[:80]
            raise ConfigError(f"prices: asset {asset[:80]!r} has two prices ({first} and "
                              f"{second}); give one",
                              says=msg("error.prices.setting_duplicate_asset", asset=asset[:80],
                                       first=first, second=second))
        out[asset] = parse_price(value, f"prices: {symbol.strip()}")
    return FixedPrices(out)


def _unknown(asset: str, assets: Collection[str] | None, where: str
             ) -> tuple[str, Message] | None:
    """What to say of a price for ``asset`` at ``where`` (the setting, a file's line) when
    ``assets`` (the symbols the exchange knows) are given and it is not one of them."""
    if assets is None or asset in assets:
        return None
    known = ", ".join(sorted(assets)) or "none"
    return (f"{where}: asset {asset[:80]!r} is not one this exchange knows (known: "
            f"{known[:200]})", msg("error.prices.unknown_asset", where=where[:220],
                                   asset=asset[:80], known=known[:200]))


def prices_from_csv(path: Path, assets: Collection[str] | None = None) -> FixedPrices:
    """The prices of the CSV file ``path`` (``asset,jpy``); with ``assets`` (the symbols
    the exchange knows), a row for any other asset is refused naming its line. A quoted
    field whose closing quote is missing is refused on the line where it opens."""
    try:
        with open_text(path) as fh:
            records = CsvRecords(bounded_lines(fh, str(path)), str(path))
            try:
                return FixedPrices(_prices(records, str(path), assets))
            except csv.Error as exc:  # a quote left open, a field past 131,072 characters
                raise records.refusal(exc, file=str(path)) from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}",
                             says=msg("error.file.cannot_read", file=str(path)[:200],
                                      reason=os_refusal(exc))) from None
    except UnicodeDecodeError as exc:  # as every CSV kinko reads: refused, not a defect
        raise InputFileError(f"{path}: not UTF-8 text ({exc.reason})", file=str(path),
                             says=msg("error.customers.not_utf8", file=str(path)[:200],
                                      reason=str(exc.reason)[:200])) from None


def _prices(records: CsvRecords, name: str, assets: Collection[str] | None
            ) -> dict[str, Decimal]:
    """The prices of the records of the file ``name`` (see :func:`prices_from_csv`)."""
    header = next(records, None)
    if header is None or not {"asset", "jpy"} <= set(header):
        raise InputFileError(f"{name}:1: expected columns asset,jpy",
                             says=msg("error.prices.columns", file=name[:200]))
    if column_twice(header) is not None:
        raise InputFileError(f"{name}:1: a column appears twice in the header",
                             says=msg("error.prices.column_twice", file=name[:200]))
    out: dict[str, Decimal] = {}
    first: dict[str, int] = {}  # the line of each asset's row
    width = len(header)
    for record in records:
        if not record:  # a blank line
            continue
        where = f"{name}:{records.line_num}"
        if any(extra.strip() for extra in record[width:]):
            raise InputFileError(f"{where}: more fields than the header has (a value with a "
                                 "comma needs double quotes)",
                                 says=msg("error.prices.extra_fields", where=where[:220]))
        row = dict(zip(header, record, strict=False))
        symbol = row.get("asset", "").strip().upper()
        if (unknown := _unknown(symbol, assets, where)) is not None:
            english, says = unknown
            raise InputFileError(english, says=says)
        seen = first.setdefault(symbol, records.line_num)
        if seen != records.line_num:  # which of the two prices holds would be a guess
            raise InputFileError(f"{where}: a second price for asset {symbol[:80]!r} (first "
                                 f"on line {seen})",
                                 says=msg("error.prices.duplicate_asset", where=where[:220],
                                          asset=symbol[:80], first=seen))
        try:
            out[symbol] = parse_price(row.get("jpy", ""), where, "jpy")
        except ConfigError as exc:
            raise InputFileError(exc.message, says=exc.says) from None
    return out
