"""Publish a proof-of-liabilities snapshot from the ledger and check proofs against it.

:func:`snapshot` reads every customer's balances (now, after entry N or at a time), refuses
when any is negative (naming the accounts), gives each customer a fresh 32-byte salt and
builds the Merkle sum tree of :mod:`kinko.domain.reserves` under a header that binds the
assets as the registry has them, the ledger entry and time, and (with a node) the chain
block the reserves are read at. :func:`publish` writes ``root.json``,
``proofs/<customer>.json`` and a copy of the standalone ``verify_proof.py``, never over an
earlier snapshot; :func:`refuse_reused_id` keeps a snapshot id from being used twice.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from kinko.atomic import write_atomic
from kinko.domain.ledger import normal_balance
from kinko.domain.messages import N_, Message, msg
from kinko.domain.proof_formats import refuse_foreign
from kinko.domain.reserves import (
    DEFAULT_MIN_HEIGHT,
    AssetSpec,
    ChainPoint,
    Count,
    Leaf,
    PublishedRoot,
    SumTree,
    Verified,
    build_tree,
    parse_json,
    snapshot_time,
    verify_proof,
    verify_root,
)
from kinko.errors import BadInput, InputFileError
from kinko.ports import Chain
from kinko.safeload import loads_json, read_bounded
from kinko.services.artifacts import Artifacts
from kinko.services.ledger import Ledger

__all__ = ["Snapshot", "chain_point", "load_json", "load_root", "publish", "publish_okx",
           "read_json", "refuse_reused_id", "replace_file", "snapshot", "verify_files"]


@dataclass(frozen=True)
class Snapshot:
    tree: SumTree
    customers: int

    def root_json(self) -> dict[str, Any]:
        return self.tree.root_json()


def chain_point(chain: Chain, block: int) -> tuple[ChainPoint, int]:
    """Where the reserves are read: ``chain`` at ``block``, by its chain id and the block's
    hash (so a node of another chain, or another fork, is told apart later); and the
    block's timestamp (seconds since the epoch)."""
    if block < 0:
        raise BadInput(f"block {block} is negative",
                       says=msg("error.reserves.negative_block", block=int(block)))
    head = chain.head()
    if block > head:
        raise BadInput(f"block {block} is beyond the node's head, {head}",
                       says=msg("error.trace.beyond_head", block=int(block), head=int(head)))
    read = chain.block(block)
    return ChainPoint(chain.name, chain.caip2(), block,
                      bytes.fromhex(read.hash.removeprefix("0x"))), read.timestamp


def snapshot(ledger: Ledger, *, as_of_seq: int | None = None, as_of_time: datetime | None = None,
             min_height: int = DEFAULT_MIN_HEIGHT, chain: Chain | None = None,
             block: int | None = None, count: Count = "none") -> Snapshot:
    """The tree of every customer's balances at the given point (now by default).

    With ``chain``, the header binds the block the reserves are read at: ``block``, or the
    node's head when the snapshot is now; a snapshot of an earlier point without ``block``
    binds none (and has no reserves report). ``count`` says what the header publishes of
    the number of customers.
    """
    now = as_of_seq is None and as_of_time is None
    if block is not None and chain is None:
        raise BadInput("a block for the reserves needs a chain node (KINKO_EVM_RPC_URL)",
                       says=msg("error.reserves.block_needs_node"))
    if chain is not None and block is None and now:
        block = chain.head()  # liabilities now, reserves at the head: one moment
    seq: int | None
    if now:
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
        shown = ", ".join(negative[:20]) + (" ..." if len(negative) > 20 else "")
        raise BadInput(f"refusing to publish: negative customer balances at the snapshot: "
                       f"{', '.join(negative[:20])}" + (" ..." if len(negative) > 20 else ""),
                       accounts=negative,
                       says=msg("error.reserves.negative_balances", accounts=shown[:2000]))
    salts = os.urandom(32 * len(balances))
    leaves = [Leaf(cid, salts[32 * i:32 * i + 32], tuple(vals))
              for i, (cid, vals) in enumerate(sorted(balances.items()))]
    assets = [AssetSpec(s, a.decimals, a.chain, a.token)
              for s in symbols for a in (ledger.assets[s],)]
    points = (chain_point(chain, block)[0],) if chain is not None and block is not None else ()
    tree = build_tree(secrets.token_bytes(16), assets, leaves, min_height=min_height,
                      ledger_seq=seq, time=snapshot_time(at) if at is not None else None,
                      reserves_at=points, count=count)
    return Snapshot(tree, len(leaves))


def refuse_reused_id(artifacts: Artifacts, snapshot_id: str, root_hash: str | None = None
                     ) -> None:
    """Refuse a snapshot id the index already holds: for a new snapshot (``root_hash``
    None) any record of it; for an existing one, a record of it with another root (old
    signatures and proofs must never pass for a new tree under the same id)."""
    for a in artifacts.find("reserves", limit=100_000):
        detail = a.get("detail") or {}
        if detail.get("snapshot_id") != snapshot_id:
            continue
        if root_hash is None or detail.get("root_hash") not in (None, root_hash):
            held = detail.get("root_hash")
            raise BadInput(f"snapshot id {snapshot_id} is already used by the snapshot in "
                           f"{a['folder']} (root {detail.get('root_hash', 'not recorded')}): "
                           "a snapshot id is never used twice", snapshot_id=snapshot_id,
                           says=msg("error.reserves.snapshot_id_used", id=snapshot_id[:80],
                                    folder=str(a["folder"])[:200],
                                    root=str(held)[:80] if held is not None
                                    else msg("error.reserves.root_not_recorded")))


def proof_file_name(customer: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in customer)
    if safe != customer or safe.startswith("."):
        safe = f"{safe}-{customer.encode('utf-8').hex()[:16]}"
    return f"{safe}.json"


JSONL_SHARD = 1_000_000
"""Proofs per file with ``layout="jsonl"``."""


def publish(snap: Snapshot, out: Path, *, layout: str = "files",
            progress: Callable[[int, int], None] | None = None) -> Path:
    """Write root.json, the proofs and verify_proof.py under ``out``; ``progress(done,
    customers)`` every thousand proofs.

    ``layout="files"`` (default): ``proofs/<customer>.json``, one file per customer.
    ``layout="jsonl"`` (very large snapshots): ``proofs/proofs-NNNN.jsonl``, one proof per
    line (the same JSON text), :data:`JSONL_SHARD` proofs per file.
    """
    if layout not in ("files", "jsonl"):
        raise BadInput(f"layout must be files or jsonl, not {layout!r}",
                       says=msg("error.reserves.layout", layout=str(layout)[:80]))
    _refuse_published(out)
    proofs = _proofs_folder(out)
    def written() -> Iterator[tuple[str, str]]:
        done = 0
        for done, proof in enumerate(snap.tree.proofs(), 1):
            if progress is not None and done % 1000 == 0:
                progress(done, snap.customers)
            yield proof
        if progress is not None:
            progress(done, snap.customers)

    if layout == "files":
        for customer, text in written():
            _write_new(proofs / proof_file_name(customer), text + "\n")
    else:
        sink = None
        try:
            for i, (_customer, text) in enumerate(written()):
                if i % JSONL_SHARD == 0:
                    if sink is not None:
                        sink.close()
                    sink = _create(proofs / f"proofs-{i // JSONL_SHARD:04d}.jsonl")
                assert sink is not None
                sink.write(text + "\n")
        finally:
            if sink is not None:
                sink.close()
    import kinko.verify_proof as standalone

    _write_new(out / "verify_proof.py", Path(standalone.__file__).read_text(encoding="utf-8"))
    return _write_root(out, snap.root_json())


def _refuse_published(out: Path) -> None:
    if (out / "root.json").exists():
        try:  # bounded: whatever the folder holds is only named in the refusal
            held = loads_json(read_bounded(out / "root.json"), str(out / "root.json"))
            sid = held.get("snapshot", {}).get("id") or held.get("snapshot_id") \
                or held.get("audit_id")
        except (BadInput, AttributeError):
            sid = None
        raise BadInput(f"{out} already holds snapshot {sid or '(unreadable)'}: publish each "
                       "snapshot to a new folder", folder=str(out),
                       says=msg("error.reserves.folder_used", folder=str(out)[:200],
                                id=str(sid)[:80] if sid
                                else msg("error.reserves.snapshot_unreadable")))


def _write_root(out: Path, root: dict[str, Any]) -> Path:
    """root.json last, atomically: a folder with a root.json is a whole snapshot."""
    path = out / "root.json"
    replace_file(path, json.dumps(root, indent=2) + "\n")
    return path


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` at once (:func:`~kinko.atomic.write_atomic`: never
    through a symbolic link of that name). Readable by all, as the rest of a snapshot: what
    it holds is published."""
    write_atomic(path, text, mode=0o644)


def _proofs_folder(out: Path) -> Path:
    """``out/proofs``, made if need be; never a symbolic link to a folder elsewhere."""
    proofs = out / "proofs"
    if proofs.is_symlink():
        raise InputFileError(f"{proofs} is a symbolic link: kinko writes a snapshot's "
                             "files only in the folder itself",
                             says=msg("error.reserves.symlink", path=str(proofs)[:200]))
    proofs.mkdir(parents=True, exist_ok=True)
    return proofs


def _create(path: Path) -> TextIO:
    """``path`` opened to be written anew, never through a symbolic link of that name
    (which could point out of the folder being published)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputFileError(f"{path} is a symbolic link: kinko writes a snapshot's "
                                 "files only in the folder itself",
                                 says=msg("error.reserves.symlink", path=str(path)[:200])
                                 ) from None
        raise
    return os.fdopen(fd, "w", encoding="utf-8")


def _write_new(path: Path, text: str) -> None:
    with _create(path) as fh:
        fh.write(text)


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
    ``skip_other_assets``). Balances above 8 decimals are rounded up to 8. An asset whose
    customers' total has more than the format's 30 digits before the point is refused
    (:class:`~kinko.errors.InvalidAmount`, naming it and the sum) before anything is
    written. The format binds only each parent's sum (see :mod:`kinko.domain.okx`): kinko's
    own format stays the default.
    """
    from kinko.domain.okx import ASSETS, okx_proof_files

    tree = snap.tree
    specs = [(a.symbol, a.decimals) for a in tree.header.assets]
    symbols = [s for s, _d in specs]
    other = [s for s, total in zip(symbols, tree.totals, strict=True)
             if s not in ASSETS and total]
    if other and not skip_other_assets:
        raise BadInput(f"OKX v1 proofs hold only {', '.join(ASSETS)}; customers also hold "
                       f"{', '.join(other)}: use the kinko format (the default), or "
                       "--skip-other-assets to leave those assets out of the OKX proofs",
                       assets=other, says=msg("error.reserves.okx_assets",
                                              okx=", ".join(ASSETS),
                                              other=", ".join(other)[:200]))
    mapped = [(i, s, d) for i, (s, d) in enumerate(specs) if s in ASSETS]
    users = [(leaf.customer, {s: _okx_amount(leaf.values[i], d) for i, s, d in mapped})
             for leaf in tree.leaves]
    if not users:
        raise BadInput("no customers in the snapshot: nothing to write in OKX v1",
                       says=msg("error.reserves.okx_no_customers"))
    secret = secrets.token_bytes(32)
    files = okx_proof_files(users, secret, audit_id=tree.snapshot_id.hex())
    _refuse_published(out)
    proofs = _proofs_folder(out)
    top: dict[str, Any] = {}
    for customer, text in files.items():
        if not top:
            top = json.loads(text)["path"][-1]
        _write_new(proofs / proof_file_name(customer), text + "\n")
    root = {"format": "okx-v1", "audit_id": tree.snapshot_id.hex(), "root_hash": top["hash"],
            "height": top["height"], "balances": top["balances"], "users": len(users),
            "assets_left_out": other, "ledger_seq": tree.header.ledger_seq,
            "snapshot_time": tree.header.time}
    return _write_root(out, root)


def load_json(path: Path, what: str) -> Any:
    """A JSON file, bounded (size and depth) before it is parsed; InputFileError naming it."""
    if not path.exists():
        raise InputFileError(f"{path}: no such {what} file", says=_no_file(path, what))
    return loads_json(read_bounded(path), f"{path}: the {what}", error=InputFileError)


# the files read_json and load_json are asked for, as the catalog names them
_FILES = {"root": N_("error.reserves.file.root"), "proof": N_("error.reserves.file.proof"),
          "signatures": N_("error.reserves.file.signatures"),
          "refund plan": N_("error.reserves.file.refund_plan")}


def _what(what: str) -> Message | str:
    """What a file is (root, proof, ...) in the reader's words."""
    known = _FILES.get(what)
    return msg(known) if known is not None else what[:80]


def _no_file(path: Path, what: str) -> Message:
    """"PATH: no such WHAT file" as a catalog message."""
    return msg("error.reserves.no_file", file=str(path)[:200], what=_what(what))


def _file(path: Path, what: str) -> Message:
    """"PATH: the WHAT" as a catalog message."""
    return msg("proof.word.file", file=str(path)[:200], what=_what(what))


def read_json(path: Path, what: str, limit: int | None = None) -> Any:
    """A proof, root or signatures file, parsed strictly (bounded size and nesting, no
    duplicate keys: :func:`kinko.domain.reserves.parse_json`); InputFileError naming it."""
    from kinko.verify_proof import MAX_BYTES

    cap = MAX_BYTES if limit is None else limit
    if not path.exists():
        raise InputFileError(f"{path}: no such {what} file", says=_no_file(path, what))
    data = read_bounded(path, cap)
    try:
        return parse_json(data, f"{path}: the {what}", cap, what_said=_file(path, what))
    except BadInput as exc:
        raise InputFileError(exc.message, says=exc.says) from None


def load_root(directory: Path) -> PublishedRoot:
    """``DIR/root.json``, checked: its header, top hash and totals reproduce its root hash
    (the totals are the committed ones, never a field taken on trust)."""
    path = directory / "root.json"
    try:
        return verify_root(read_json(path, "root"))
    except InputFileError:
        raise
    except BadInput as exc:
        raise InputFileError(f"{path}: {exc.message}", says=msg(
            "error.reserves.in_file", file=str(path)[:200], what=exc.said())) from None


def verify_files(proof_path: Path, root_path: Path, customer: str | None = None) -> Verified:
    """Check a kinko proof file against root.json (for ``customer`` when given)."""
    root = read_json(root_path, "root")
    proof = read_json(proof_path, "proof")
    refuse_foreign(proof, str(proof_path), "kinko")
    published = verify_root(root)
    return verify_proof(proof, published.root_hash, root, customer=customer)
