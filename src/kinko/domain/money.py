"""Assets and exact amounts.

An :class:`Asset` has a symbol, the chain it lives on and its number of decimals.
Amounts are Python ``int`` in the asset's minor unit (wei, satoshi, micro-XEM, yen); text
is converted digit by digit, never through a float::

    >>> xem = Asset("XEM", "nem", 6)
    >>> parse_units("1.5", xem)
    1500000
    >>> format_units(1500000, xem)
    '1.5'
    >>> registry = AssetRegistry.default()
    >>> parse_money("0.25 ETH", registry)
    Money(asset='ETH', units=250000000000000000)

Text is refused when it has more significant decimals than the asset
(``1.0000001 XEM``), is negative where that is not allowed, is NaN or infinite, uses
exponent notation, or names an unknown asset. Trailing zeros beyond the asset's
decimals are accepted because the value is still exact (``1.50000000 XEM``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from kinko.domain.addresses import canonical_token
from kinko.domain.messages import msg
from kinko.errors import InvalidAmount, UnknownAsset

__all__ = [
    "DEFAULT_ASSETS",
    "Asset",
    "AssetRegistry",
    "Money",
    "cut_typed",
    "format_units",
    "parse_money",
    "parse_units",
]

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9]{0,15}$")
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")  # ASCII digits only
MAX_DECIMALS = 30
# the most digits an amount has in minor units: what the store's column holds (NUMERIC(78,0)
# on PostgreSQL), and every uint256 of a chain (2**256 has 78 digits)
MAX_DIGITS = 78


@dataclass(frozen=True, order=True)
class Asset:
    """A kind of money: ``Asset("ETH", "ethereum", 18)``; a token names its contract:
    ``Asset("USDT", "ethereum", 6, token="0xdAC1...")`` (``token`` None: the chain's own coin;
    kept in the chain's canonical form, :mod:`kinko.domain.addresses`); on NEM a token is a
    mosaic, ``Asset("TAG", "nem", 0, token="kinko.tags:stolen")``.
    """

    symbol: str
    chain: str
    decimals: int
    token: str | None = None

    def __post_init__(self) -> None:
        if not _SYMBOL.match(self.symbol):
            raise UnknownAsset(
                f"asset symbol {self.symbol!r} must be 1-16 upper-case letters or digits, "
                "starting with a letter",
                asset=self.symbol,
                says=msg("error.asset.symbol", asset=str(self.symbol)[:40]),
            )
        if not 0 <= self.decimals <= MAX_DECIMALS:
            raise InvalidAmount(
                f"asset {self.symbol}: decimals must be between 0 and {MAX_DECIMALS}, "
                f"not {self.decimals}",
                asset=self.symbol,
                says=msg("error.asset.decimals", asset=self.symbol, most=MAX_DECIMALS,
                         decimals=self.decimals),
            )
        if not self.chain or not self.chain.strip():
            raise UnknownAsset(f"asset {self.symbol}: chain must not be empty", asset=self.symbol,
                               says=msg("error.asset.no_chain", asset=self.symbol))
        if self.token is not None:  # the contract, in its chain's canonical form
            object.__setattr__(self, "token", canonical_token(self.token, self.chain))


DEFAULT_ASSETS: tuple[Asset, ...] = (
    Asset("BTC", "bitcoin", 8),
    Asset("ETH", "ethereum", 18),
    Asset("JPY", "fiat", 0),
    Asset("XEM", "nem", 6),
)


@dataclass(frozen=True)
class Money:
    """An exact amount of one asset, in minor units."""

    asset: str
    units: int


class AssetRegistry(Mapping[str, Asset]):
    """The assets kinko knows, by symbol; the shipped ones plus those from config."""

    def __init__(self, assets: Iterable[Asset]) -> None:
        by_symbol: dict[str, Asset] = {}
        for asset in assets:
            by_symbol[asset.symbol] = asset
        self._by_symbol = dict(sorted(by_symbol.items()))

    @classmethod
    def default(cls, extra: Iterable[Asset] = ()) -> AssetRegistry:
        """The shipped assets, with ``extra`` added (an extra may redefine a shipped one)."""
        return cls([*DEFAULT_ASSETS, *extra])

    def __getitem__(self, symbol: str) -> Asset:
        try:
            return self._by_symbol[symbol]
        except KeyError:
            known = ", ".join(self._by_symbol) or "none"
            raise UnknownAsset(
                f"unknown asset {symbol!r} (known: {known}; "
                "add others under [assets] in kinko.toml)",
                asset=symbol,
                says=msg("error.asset.unknown", asset=str(symbol)[:80],
                         known=msg("none") if known == "none" else known[:400]),
            ) from None

    def __contains__(self, symbol: object) -> bool:
        """Known or not; never raises (``Mapping`` would turn the UnknownAsset of
        ``__getitem__`` into an exception from ``in``)."""
        return symbol in self._by_symbol

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_symbol)

    def __len__(self) -> int:
        return len(self._by_symbol)

    def __repr__(self) -> str:
        return f"AssetRegistry({list(self._by_symbol.values())!r})"


def parse_units(text: str, asset: Asset, *, allow_negative: bool = False) -> int:
    """Parse decimal text in whole units of ``asset`` into an exact count of minor units, of
    at most :data:`MAX_DIGITS` digits."""
    raw = text.strip()
    whole, _point, frac = raw.partition(".")
    if whole.isdigit() and whole.isascii() and (not frac or (frac.isdigit() and frac.isascii())):
        # the common case, "1520.25": no sign, ASCII digits, at most one point
        significant = frac.rstrip("0")
        decimals = asset.decimals
        if len(significant) <= decimals and len(whole) + decimals < MAX_DIGITS:
            # the digits with the fraction padded to the asset's decimals: one exact parse
            return int(whole + significant.ljust(decimals, "0"))
    if not _NUMBER.match(raw):
        lowered = raw.lower().lstrip("+-")
        if not raw:
            problem = f"empty amount for {asset.symbol}"
            says = msg("error.amount.empty", asset=asset.symbol)
        elif lowered in {"nan", "snan", "inf", "infinity"}:
            problem = f"{raw!r} is not a number of {asset.symbol}"
            says = msg("error.amount.not_a_number", text=raw[:80], asset=asset.symbol)
        else:
            problem = (f"{raw!r} is not a plain decimal number (digits, one optional '.', "
                       "no exponent, no separators)")
            says = msg("error.amount.not_decimal", text=cut_typed(raw))
        raise InvalidAmount(problem, asset=asset.symbol, text=text, says=says)
    negative = raw[0] == "-"
    digits = raw.lstrip("+-")
    whole, _, frac = digits.partition(".")
    significant = frac.rstrip("0")
    if len(significant) > asset.decimals:
        raise InvalidAmount(
            f"{raw} {asset.symbol} has {len(significant)} decimal places; {asset.symbol} allows "
            f"at most {asset.decimals}",
            asset=asset.symbol,
            text=text,
            says=msg("error.amount.decimals", amount=cut_typed(raw), asset=asset.symbol,
                     places=len(significant), most=asset.decimals),
        )
    if len(whole.lstrip("0")) + asset.decimals > MAX_DIGITS:  # before int(): 5,000 digits
        raise InvalidAmount(  # raise a ValueError there
            f"{raw if len(raw) <= 100 else raw[:40] + '…'} {asset.symbol} is too large: an "
            f"amount has at most {MAX_DIGITS} digits in {asset.symbol}'s smallest unit",
            asset=asset.symbol, text=text[:100],
            says=msg("error.amount.too_large", amount=cut_typed(raw), asset=asset.symbol,
                     most=MAX_DIGITS))
    scale: int = 10**asset.decimals
    units: int = int(whole or "0") * scale + int(
        significant.ljust(asset.decimals, "0") or "0")
    if negative and units:
        if not allow_negative:
            raise InvalidAmount(
                f"negative amount {raw} {asset.symbol} is not allowed here",
                asset=asset.symbol,
                text=text,
                says=msg("error.amount.negative", amount=cut_typed(raw), asset=asset.symbol),
            )
        return -units
    return units


def cut_typed(text: str, longest: int = 100) -> str:
    """Text a person typed, for a message: as written, or (over ``longest`` characters) its
    first 40 and "…"."""
    return text if len(text) <= longest else text[:40] + "…"


def format_units(units: int, asset: Asset, *, trim: bool = True, group: bool = False) -> str:
    """Show minor units as decimal text in whole units, exactly.

    ``trim`` drops trailing zeros of the fraction; ``group`` adds thousands separators.
    """
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**asset.decimals)
    whole_text = f"{whole:,}" if group else str(whole)
    if asset.decimals == 0:
        return f"{sign}{whole_text}"
    frac_text = str(frac).rjust(asset.decimals, "0")
    if trim:
        frac_text = frac_text.rstrip("0")
    return f"{sign}{whole_text}.{frac_text}" if frac_text else f"{sign}{whole_text}"


def parse_money(text: str, registry: Mapping[str, Asset], *, allow_negative: bool = False) -> Money:
    """Parse ``"1.5 ETH"`` (number, whitespace, symbol) into exact :class:`Money`."""
    parts = text.split()
    if len(parts) != 2:
        raise InvalidAmount(
            f"{text!r} is not an amount: write a number and an asset, like '1.5 ETH'", text=text,
            says=msg("error.amount.not_amount", text=cut_typed(text.strip())),
        )
    number, symbol = parts
    asset = registry[symbol.upper()] if symbol.upper() in registry else registry[symbol]
    return Money(asset.symbol, parse_units(number, asset, allow_negative=allow_negative))
