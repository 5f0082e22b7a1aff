"""Proof of reserves, the reserves side: the message each address signs and the report model.

Pure: no I/O. The exchange proves control of each of its addresses by an EIP-191
``personal_sign`` signature over :func:`proof_message` for the snapshot id published in
``root.json``; the report sets, per asset, the on-chain reserves at the snapshot block against
the liabilities (the root's totals). Ratios are exact :class:`~fractions.Fraction` values,
shown as decimals by :func:`ratio_text`; never floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, localcontext
from fractions import Fraction
from typing import Any

from kinko.errors import BadInput

__all__ = [
    "MESSAGE_PREFIX",
    "SIGNATURES_FORMAT",
    "AddressRow",
    "AssetReserves",
    "ReservesReport",
    "proof_message",
    "ratio_text",
]

MESSAGE_PREFIX = "kinko proof of reserves"
SIGNATURES_FORMAT = "kinko-por-signatures-v1"
SIGNED = "signed and verified"
MISSING = "missing"


def proof_message(snapshot_id: str, address: str) -> str:
    """The text an address signs (EIP-191) to prove control at snapshot ``snapshot_id``.

    The address is lower-cased so checksummed and plain spellings sign the same text.
    """
    sid = snapshot_id.strip().lower()
    if len(sid) != 32 or any(c not in "0123456789abcdef" for c in sid):
        raise BadInput(f"snapshot id {snapshot_id!r} is not 32 hex digits")
    return f"{MESSAGE_PREFIX}\nsnapshot {sid}\naddress {address.strip().lower()}"


def ratio_text(ratio: Fraction | None, places: int = 4) -> str:
    """An exact ratio as a decimal rounded down to ``places`` digits; ``n/a`` when undefined."""
    if ratio is None:
        return "n/a"
    with localcontext() as ctx:
        ctx.prec = 80
        value = Decimal(ratio.numerator) / Decimal(ratio.denominator)
        return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN))


@dataclass(frozen=True)
class AddressRow:
    """One address of one wallet: its balance at the block and its proof of control."""

    wallet: str
    tier: str
    address: str
    balance: int
    status: str  # "signed and verified", "missing" or "invalid (recovers 0x…)"

    @property
    def proven(self) -> bool:
        return self.status == SIGNED


@dataclass(frozen=True)
class AssetReserves:
    """One asset: reserves on chain (minor units), liabilities from the root, their ratio."""

    symbol: str
    decimals: int
    reserves: int
    liabilities: int
    rows: tuple[AddressRow, ...] = ()

    @property
    def ratio(self) -> Fraction | None:
        """reserves / liabilities, exactly; None when there are no liabilities."""
        return Fraction(self.reserves, self.liabilities) if self.liabilities else None

    @property
    def proven_reserves(self) -> int:
        """The reserves held at addresses whose control is proven by a verified signature."""
        return sum(r.balance for r in self.rows if r.proven)


@dataclass(frozen=True)
class ReservesReport:
    """The whole report for one snapshot at one block."""

    snapshot_id: str
    root_hash: str
    block: int
    assets: tuple[AssetReserves, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view: amounts as decimal strings of minor units, ratios as fractions
        (``"num/den"``) and as rounded-down decimals."""
        out = []
        for a in self.assets:
            ratio = a.ratio
            out.append({
                "symbol": a.symbol, "decimals": a.decimals,
                "reserves": str(a.reserves), "proven_reserves": str(a.proven_reserves),
                "liabilities": str(a.liabilities),
                "ratio": None if ratio is None else f"{ratio.numerator}/{ratio.denominator}",
                "ratio_decimal": None if ratio is None else ratio_text(ratio, 6),
                "addresses": [{"wallet": r.wallet, "tier": r.tier, "address": r.address,
                               "balance": str(r.balance), "status": r.status}
                              for r in a.rows],
            })
        return {"snapshot_id": self.snapshot_id, "root_hash": self.root_hash,
                "block": self.block, "assets": out}
