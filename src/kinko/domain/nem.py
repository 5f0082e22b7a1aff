"""NEM (NIS1) values that are not addresses: mosaic ids, public keys, amounts.

Addresses are one format of the address registry (:mod:`kinko.domain.addresses`, formats
``nem`` and ``nem-testnet``): the one place kinko checks them (base32, network byte, and
the checksum, whose verdict is the NEM SDK's). Everything else cryptographic (keys,
signatures, transactions) is the chains layer's (:mod:`kinko.chains.nem`, on the same
SDK); this module only reads and checks text.

A **mosaic** is named ``namespace:name``: the namespace is one to three parts joined by dots
(the root at most 16 characters, a sub-namespace at most 64; each part ``a-z``, ``0-9``,
``_`` and ``-``, starting with a letter or digit), the name at most 32 characters (``a-z``,
``0-9``, ``'``, ``_``, ``-`` and single spaces between words, starting with a letter or
digit). NIS1 writes both in lower case, so kinko accepts either case and keeps the lower::

    >>> mosaic_id("NEM:XEM")
    'nem:xem'
    >>> mosaic_id("kinko.tags:stolen-2018")
    'kinko.tags:stolen-2018'
    >>> mosaic_id("nem")
    Traceback (most recent call last):
    ...
    kinko.errors.BadInput: mosaic 'nem' is not namespace:name (e.g. nem:xem)

XEM itself is the mosaic ``nem:xem`` with divisibility 6: amounts are kept in micro-XEM
(:data:`MICRO_XEM` a XEM). In a version 2 transfer that carries mosaics, the transfer's
``amount`` is a multiplier: each mosaic moves ``quantity × amount / 1,000,000`` of its
smallest unit (:func:`mosaic_quantity`; NIS1 rounds down).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kinko.domain.messages import msg
from kinko.errors import BadInput

__all__ = ["LEVY_ABSOLUTE", "LEVY_PERCENTILE", "MICRO_XEM", "PERCENTILE_DIVISOR", "XEM_MOSAIC",
           "Levy", "MosaicDefinition", "check_public_key", "mosaic_id", "mosaic_quantity",
           "split_mosaic"]

MICRO_XEM = 1_000_000
XEM_MOSAIC = "nem:xem"
XEM_DIVISIBILITY = 6

_PART = r"[a-z0-9][a-z0-9_-]*"
_NAMESPACE = re.compile(rf"{_PART}(?:\.{_PART}){{0,2}}")
_NAME = re.compile(r"[a-z0-9][a-z0-9'_-]*(?: [a-z0-9'_-]+)*")
_KEY = re.compile(r"[0-9a-fA-F]{64}")


def mosaic_id(text: object) -> str:
    """The canonical ``namespace:name`` of a mosaic, or :class:`BadInput` naming it."""
    shown = repr(str(text)[:100])
    if not isinstance(text, str) or text.count(":") != 1:
        raise BadInput(f"mosaic {shown} is not namespace:name (e.g. nem:xem)", mosaic=str(text),
                       says=msg("error.nem.mosaic_id", mosaic=str(text)[:100]))
    namespace, name = (part.strip().lower() for part in text.split(":"))
    parts = namespace.split(".")
    if not _NAMESPACE.fullmatch(namespace) or len(parts[0]) > 16 or any(
            len(p) > 64 for p in parts[1:]):
        raise BadInput(f"mosaic {shown}: namespace {namespace!r} is not a NEM namespace "
                       "(1 to 3 dot-separated parts of a-z, 0-9, _ and -; the root at most "
                       "16 characters)", mosaic=text,
                       says=msg("error.nem.mosaic_namespace", mosaic=text[:100],
                                namespace=namespace[:100]))
    if not _NAME.fullmatch(name) or len(name) > 32:
        raise BadInput(f"mosaic {shown}: name {name!r} is not a NEM mosaic name (at most 32 "
                       "characters of a-z, 0-9, ', _, - and single spaces)", mosaic=text,
                       says=msg("error.nem.mosaic_name", mosaic=text[:100], name=name[:100]))
    return f"{namespace}:{name}"


def split_mosaic(mosaic: str) -> tuple[str, str]:
    """(namespace, name) of a mosaic id (checked)."""
    namespace, _, name = mosaic_id(mosaic).partition(":")
    return namespace, name


def mosaic_quantity(quantity: int, amount: int) -> int:
    """What one mosaic entry of a version 2 transfer moves, in the mosaic's smallest unit:
    ``quantity × amount / 1,000,000`` rounded down (``amount`` is the transfer's multiplier,
    1,000,000 for "× 1")."""
    return quantity * amount // MICRO_XEM


def check_public_key(text: object) -> str:
    """A NEM public key: 64 hex digits, kept upper case (as NEM's tools print it)."""
    if not isinstance(text, str) or not _KEY.fullmatch(text.strip()):
        raise BadInput(f"public key {str(text)[:80]!r} is not 64 hex digits", field="public_key",
                       says=msg("error.nem.public_key", text=str(text)[:80]))
    return text.strip().upper()


# ---------------------------------------------------------------------- mosaic levies

LEVY_ABSOLUTE, LEVY_PERCENTILE = 1, 2
PERCENTILE_DIVISOR = 10_000
"""A percentile levy's ``fee`` is in ten-thousandths of the quantity moved (NIS1's
``MosaicTransferFeeType.Percentile``): 100 is 1%."""


@dataclass(frozen=True)
class Levy:
    """What every transfer of a levied mosaic also pays, as its definition says (NIS1):
    ``mosaic`` (``nem:xem`` or another) to ``recipient``; ``kind`` 1 (absolute: ``fee``
    smallest units per transfer) or 2 (percentile: ``quantity × fee / 10,000``, rounded
    down). The sender pays it on top of what it sends; it is written in no transaction."""

    kind: int
    recipient: str
    mosaic: str
    fee: int

    def __post_init__(self) -> None:
        if self.kind not in (LEVY_ABSOLUTE, LEVY_PERCENTILE):
            raise BadInput(f"levy type {self.kind!r} is neither 1 (absolute) nor 2 "
                           "(percentile)", field="levy.type",
                           says=msg("error.nem.levy_type", kind=str(self.kind)[:40]))
        if isinstance(self.fee, bool) or not isinstance(self.fee, int) or self.fee < 0:
            raise BadInput(f"levy fee {self.fee!r} is not a whole number of 0 or more",
                           field="levy.fee", says=msg("error.nem.levy_fee", fee=str(self.fee)[:40]))
        object.__setattr__(self, "mosaic", mosaic_id(self.mosaic))

    def amount(self, quantity: int) -> int:
        """The levy on moving ``quantity`` (smallest units) of the levied mosaic: exact,
        in the smallest units of :attr:`mosaic`; 0 when nothing is due."""
        if quantity <= 0:
            return 0
        if self.kind == LEVY_ABSOLUTE:
            return self.fee
        return quantity * self.fee // PERCENTILE_DIVISOR


@dataclass(frozen=True)
class MosaicDefinition:
    """A mosaic as its namespace defines it: ``supply`` and ``divisibility`` (for NIS1's
    fees and for amounts) and its ``levy``, if any."""

    mosaic: str
    supply: int
    divisibility: int
    levy: Levy | None = None

    def levies(self, quantity: int) -> tuple[tuple[str, str, int], ...]:
        """(mosaic, recipient, amount) of the levy a transfer of ``quantity`` pays; ()
        when the mosaic has none or nothing is due (NIS1 moves no levy of 0)."""
        if self.levy is None:
            return ()
        due = self.levy.amount(quantity)
        return ((self.levy.mosaic, self.levy.recipient, due),) if due else ()
