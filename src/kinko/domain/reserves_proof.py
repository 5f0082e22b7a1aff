"""Proof of reserves, the reserves side: the message each address signs and the report model.

Pure: no I/O. The exchange proves control of each of its addresses by an EIP-191
``personal_sign`` signature over :func:`proof_message`, which names the snapshot's *root
hash* (so it binds everything the root commits to: the liabilities, the assets, the block
the reserves are read at), the snapshot id, the chain and block, and the address. The
report sets, per asset, the reserves held at the snapshot's block *at addresses whose
control is proven* against the liabilities the root commits to; balances at addresses with
no valid proof are shown apart and never counted. Ratios are exact
:class:`~fractions.Fraction` values, shown as decimals by :func:`ratio_text`; never floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal, localcontext
from fractions import Fraction
from typing import Any

from kinko.domain.messages import msg
from kinko.errors import BadInput
from kinko.verify_proof import ChainPoint, Header

__all__ = [
    "DUPLICATE",
    "MESSAGE_PREFIX",
    "MISSING",
    "SIGNATURES_FORMAT",
    "SIGNED",
    "AddressRow",
    "AssetReserves",
    "ReservesReport",
    "proof_message",
    "ratio_text",
]

MESSAGE_PREFIX = "kinko proof of reserves v2"
SIGNATURES_FORMAT = "kinko-por-signatures-v2"
SIGNED = "signed and verified"
MISSING = "missing"
DUPLICATE = "duplicate"
_ROOT = re.compile(r"[0-9a-f]{64}")


def proof_message(root_hash: str, header: Header, chain: str, address: str) -> str:
    """The text an address on ``chain`` signs (EIP-191) to prove control for the snapshot
    of ``header`` whose root is ``root_hash``.

    The address is lower-cased so checksummed and plain spellings sign the same text.
    Refuses a snapshot that binds no block of ``chain``: its reserves are not of the
    liabilities' moment, so there is nothing to prove.
    """
    if not _ROOT.fullmatch(root_hash):
        raise BadInput(f"root hash {root_hash!r} is not 64 lower-case hex digits",
                       says=msg("error.reserves.root_not_hex", root=str(root_hash)[:80]))
    return "\n".join([MESSAGE_PREFIX, f"root {root_hash}",
                      f"snapshot {header.snapshot_id.hex()}",
                      _chain_line(point_of(header, chain)),
                      f"address {address.strip().lower()}"])


def point_of(header: Header, chain: str) -> ChainPoint:
    """The block of ``chain`` the snapshot's reserves are read at; refused when none."""
    point = header.point(chain)
    if point is None:
        bound = ", ".join(p.chain for p in header.reserves_at) or "no chain"
        raise BadInput(f"snapshot {header.snapshot_id.hex()} binds no block of chain {chain} "
                       f"(it binds {bound}): its reserves cannot be proven at the moment of its "
                       "liabilities; take the snapshot with a node configured (or --block N)",
                       chain=chain,
                       says=msg("error.reserves.unbound_chain", id=header.snapshot_id.hex(),
                                chain=chain[:80],
                                bound=", ".join(p.chain for p in header.reserves_at)[:200]
                                or msg("error.reserves.no_chain")))
    return point


def _chain_line(p: ChainPoint) -> str:
    return f"chain {p.chain} {p.chain_id} block {p.block} hash {p.block_hash.hex()}"


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
    status: str  # signed and verified, missing, invalid (...), duplicate (...)

    @property
    def proven(self) -> bool:
        return self.status == SIGNED

    @property
    def duplicate(self) -> bool:
        """The same address as an earlier row (counted there, never twice)."""
        return self.status.startswith(DUPLICATE)


@dataclass(frozen=True)
class AssetReserves:
    """One asset: liabilities (the root's committed total), and the reserves on chain at
    the snapshot's block, split into proven and not proven."""

    symbol: str
    decimals: int
    liabilities: int
    rows: tuple[AddressRow, ...] = ()
    note: str = ""  # why no reserves are read, when none are

    @property
    def proven_reserves(self) -> int:
        """Held at addresses whose control a verified signature proves: what counts."""
        return sum(r.balance for r in self.rows if r.proven)

    @property
    def unproven_reserves(self) -> int:
        """Held at registered addresses with no valid proof of control: never counted."""
        return sum(r.balance for r in self.rows if not r.proven and not r.duplicate)

    @property
    def unproven_addresses(self) -> int:
        return sum(1 for r in self.rows if not r.proven and not r.duplicate)

    @property
    def ratio(self) -> Fraction | None:
        """proven reserves / liabilities, exactly; None when there are no liabilities."""
        return Fraction(self.proven_reserves, self.liabilities) if self.liabilities else None


@dataclass(frozen=True)
class ReservesReport:
    """The whole report for one snapshot: its header, and per asset the reserves at the
    snapshot's block against the committed liabilities."""

    header: Header
    root_hash: str
    assets: tuple[AssetReserves, ...] = ()
    time_gaps: dict[str, timedelta] = field(default_factory=dict)  # per chain: time - block's
    warnings: list[str] = field(default_factory=list)

    @property
    def snapshot_id(self) -> str:
        return self.header.snapshot_id.hex()

    @property
    def points(self) -> tuple[ChainPoint, ...]:
        return self.header.reserves_at

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view: amounts as decimal strings of minor units, ratios (proven
        reserves over liabilities) as fractions ``"num/den"`` and rounded-down decimals."""
        out = []
        for a in self.assets:
            ratio = a.ratio
            out.append({
                "symbol": a.symbol, "decimals": a.decimals,
                "liabilities": str(a.liabilities),
                "proven_reserves": str(a.proven_reserves),
                "unproven_reserves": str(a.unproven_reserves),
                "ratio": None if ratio is None else f"{ratio.numerator}/{ratio.denominator}",
                "ratio_decimal": None if ratio is None else ratio_text(ratio, 6),
                "note": a.note or None,
                "addresses": [{"wallet": r.wallet, "tier": r.tier, "address": r.address,
                               "balance": str(r.balance), "status": r.status,
                               "counted": r.proven} for r in a.rows],
            })
        return {"snapshot": self.header.to_json(), "root_hash": self.root_hash,
                "time_gaps_seconds": {c: g.total_seconds() for c, g in self.time_gaps.items()},
                "warnings": self.warnings, "assets": out}
