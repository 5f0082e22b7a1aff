"""Publish a proof-of-liabilities snapshot from the ledger and check proofs against it.

:func:`snapshot` reads every customer's balances (now, after entry N or at a time), refuses
when any is negative (naming the accounts), gives each customer a fresh 32-byte salt and
builds the Merkle sum tree of :mod:`kinko.domain.reserves`. :func:`publish` writes
``root.json``, ``proofs/<customer>.json`` and a copy of the standalone ``verify_proof.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kinko.domain.ledger import normal_balance
from kinko.domain.proof_formats import refuse_foreign
from kinko.domain.reserves import DEFAULT_MIN_HEIGHT, Leaf, SumTree, build_tree, verify_proof
from kinko.errors import BadInput, InputFileError
from kinko.services.ledger import Ledger

__all__ = ["Snapshot", "load_json", "publish", "publish_okx", "snapshot", "verify_files"]


@dataclass(frozen=True)
class Snapshot:
    tree: SumTree
    customers: int
    seq: int | None
    at: datetime | None

    block: int | None = None  # the chain height the reserves are read at (when a node is set)

    def root_json(self) -> dict[str, Any]:
        return self.tree.root_json({
            "ledger_seq": self.seq,
            "snapshot_time": self.at.isoformat() if self.at is not None else None,
            "snapshot_block": self.block,
        })


def snapshot(ledger: Ledger, *, as_of_seq: int | None = None, as_of_time: datetime | None = None,
             min_height: int = DEFAULT_MIN_HEIGHT) -> Snapshot:
    """The tree of every customer's balances at the given point (now by default)."""
    seq: int | None
    if as_of_seq is None and as_of_time is None:
        seq = ledger.head()[0]
        at: datetime | None = ledger.clock.now()
        rows = ledger.balances(kind="customer", as_of_seq=seq)
    else:
        rows = ledger.balances(kind="customer", as_of_seq=as_of_seq, as_of_time=as_of_time)
        seq = as_of_seq  # at a time: the entries up to that time (seq not resolved here)
        at = as_of_time
    symbols = list(ledger.assets)
    position = {s: i for i, s in enumerate(symbols)}
    balances: dict[str, list[int]] = {}
    negative: list[str] = []
    for row in rows:
        customer = row.account.partition(":")[2]
        value = normal_balance(row.account, row.state)
        if value < 0:
            negative.append(f"{row.account} {row.asset}")
        balances.setdefault(customer, [0] * len(symbols))[position[row.asset]] = value
    if negative:
        raise BadInput(f"refusing to publish: negative customer balances at the snapshot: "
                       f"{', '.join(negative[:20])}" + (" ..." if len(negative) > 20 else ""),
                       accounts=negative)
    salts = os.urandom(32 * len(balances))
    leaves = [Leaf(cid, salts[32 * i:32 * i + 32], tuple(vals))
              for i, (cid, vals) in enumerate(sorted(balances.items()))]
    assets = [(s, ledger.assets[s].decimals) for s in symbols]
    tree = build_tree(secrets.token_bytes(16), assets, leaves, min_height=min_height)
    return Snapshot(tree, len(leaves), seq, at)


def proof_file_name(customer: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in customer)
    if safe != customer or safe.startswith("."):
        safe = f"{safe}-{customer.encode('utf-8').hex()[:16]}"
    return f"{safe}.json"


JSONL_SHARD = 1_000_000
"""Proofs per file with ``layout="jsonl"``."""


def publish(snap: Snapshot, out: Path, *, layout: str = "files") -> Path:
    """Write root.json, the proofs and verify_proof.py under ``out``.

    ``layout="files"`` (default): ``proofs/<customer>.json``, one file per customer.
    ``layout="jsonl"`` (very large snapshots): ``proofs/proofs-NNNN.jsonl``, one proof per
    line (the same JSON text), :data:`JSONL_SHARD` proofs per file.
    """
    if layout not in ("files", "jsonl"):
        raise BadInput(f"layout must be files or jsonl, not {layout!r}")
    proofs = out / "proofs"
    proofs.mkdir(parents=True, exist_ok=True)
    (out / "root.json").write_text(json.dumps(snap.root_json(), indent=2) + "\n",
                                   encoding="utf-8")
    if layout == "files":
        for customer, text in snap.tree.proofs():
            (proofs / proof_file_name(customer)).write_text(text + "\n", encoding="utf-8")
    else:
        sink = None
        try:
            for i, (_customer, text) in enumerate(snap.tree.proofs()):
                if i % JSONL_SHARD == 0:
                    if sink is not None:
                        sink.close()
                    sink = (proofs / f"proofs-{i // JSONL_SHARD:04d}.jsonl").open(
                        "w", encoding="utf-8")
                assert sink is not None
                sink.write(text + "\n")
        finally:
            if sink is not None:
                sink.close()
    import kinko.verify_proof as standalone

    shutil.copyfile(standalone.__file__, out / "verify_proof.py")
    return out / "root.json"


def _okx_amount(units: int, decimals: int) -> str:
    """Minor units as a decimal string of whole units with at most 8 decimals, rounded *up*
    (a customer is never counted for less than they hold; OKX v1 allows 8 decimals)."""
    if decimals > 8:
        step = 10 ** (decimals - 8)
        units, decimals = -(-units // step), 8
    whole, frac = divmod(units, 10 ** decimals)
    text = f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".") if decimals else str(whole)
    return text


def publish_okx(snap: Snapshot, out: Path, *, skip_other_assets: bool = False) -> Path:
    """Write the snapshot as OKX v1 proofs: ``root.json`` and ``proofs/<customer>.json``.

    OKX v1 knows only BTC, ETH and USDT; kinko assets of those symbols map one to one.
    Any other asset with a customer balance is refused (or left out, with
    ``skip_other_assets``). Balances above 8 decimals are rounded up to 8. The format binds
    only each parent's sum (see :mod:`kinko.domain.okx`): kinko's own format stays the default.
    """
    from kinko.domain.okx import ASSETS, okx_proof_files

    tree = snap.tree
    symbols = [s for s, _d in tree.assets]
    other = [s for s, total in zip(symbols, tree.totals, strict=True)
             if s not in ASSETS and total]
    if other and not skip_other_assets:
        raise BadInput(f"OKX v1 proofs hold only {', '.join(ASSETS)}; customers also hold "
                       f"{', '.join(other)}: use the kinko format (the default), or "
                       "--skip-other-assets to leave those assets out of the OKX proofs",
                       assets=other)
    mapped = [(i, s, d) for i, (s, d) in enumerate(tree.assets) if s in ASSETS]
    users = [(leaf.customer, {s: _okx_amount(leaf.values[i], d) for i, s, d in mapped})
             for leaf in tree.leaves]
    if not users:
        raise BadInput("no customers in the snapshot: nothing to write in OKX v1")
    secret = secrets.token_bytes(32)
    files = okx_proof_files(users, secret, audit_id=tree.snapshot_id.hex())
    proofs = out / "proofs"
    proofs.mkdir(parents=True, exist_ok=True)
    top: dict[str, Any] = {}
    for customer, text in files.items():
        if not top:
            top = json.loads(text)["path"][-1]
        (proofs / proof_file_name(customer)).write_text(text + "\n", encoding="utf-8")
    root = {"format": "okx-v1", "audit_id": tree.snapshot_id.hex(), "root_hash": top["hash"],
            "height": top["height"], "balances": top["balances"], "users": len(users),
            "assets_left_out": other, "ledger_seq": snap.seq,
            "snapshot_time": snap.at.isoformat() if snap.at is not None else None}
    (out / "root.json").write_text(json.dumps(root, indent=2) + "\n", encoding="utf-8")
    return out / "root.json"


def load_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such {what} file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}:{exc.lineno}: the {what} is not valid JSON: {exc.msg}"
                             ) from None


def verify_files(proof_path: Path, root_path: Path) -> dict[str, int]:
    """Check a kinko proof file against root.json; the balances as counted, or BadInput."""
    proof = load_json(proof_path, "proof")
    refuse_foreign(proof, str(proof_path), "kinko")
    root = load_json(root_path, "root")
    if not isinstance(root, dict) or not isinstance(root.get("root_hash"), str):
        raise InputFileError(f"{root_path}: not a kinko root.json (no root_hash)")
    try:
        root_hash = bytes.fromhex(root["root_hash"])
    except ValueError:
        raise InputFileError(f"{root_path}: root_hash is not hex") from None
    return verify_proof(proof, root_hash, root)
