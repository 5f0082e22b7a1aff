"""Reading and writing inside the folders of the artifacts index, safely.

The dashboard offers files of indexed folders for download and looks up a customer's proof
in a reserves snapshot. Every name it is given comes from a browser, so a file is served only
when it lies directly inside the artifact's own folder (no ``..``, no sub-folder, no link
out)::

    path = file_in(folder, "fsa-report.ja.html")          # NotFound for "../k.db"
    found = lookup_proof(snapshot_folder, "C1")           # "valid", "invalid" or "unknown"
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from kinko.domain.messages import Message, id_shown, msg
from kinko.domain.refunds import parse_plan_document
from kinko.domain.reserves import parse_json, verify_proof, verify_root
from kinko.errors import BadInput, InputFileError, KinkoError, NotFound
from kinko.safeload import open_input, read_text
from kinko.services.reserves import load_json, proof_file_name, read_json
from kinko.verify_proof import MAX_BYTES

__all__ = ["ProofLookup", "file_in", "files_of", "lookup_proof", "read_plan_summary"]


def file_in(folder: Path, name: str) -> Path:
    """The file ``name`` directly inside ``folder``; NotFound for anything else."""
    if (not name or name in (".", "..") or name.startswith(".") or "/" in name
            or "\\" in name or "\x00" in name):
        raise NotFound(f"no file {id_shown(name)!r} in this folder",
                       says=msg("error.artifacts.no_file", name=id_shown(name)))
    base = folder.resolve()
    try:
        path = (base / name).resolve()
        found = path.parent == base and path.is_file()
    except OSError:  # a name the file system refuses (too long, ...): no such file either
        found = False
    if not found:
        raise NotFound(f"no file {id_shown(name)!r} in this folder",
                       says=msg("error.artifacts.no_file", name=id_shown(name)))
    return path


def files_of(folder: Path) -> list[Path]:
    """The plain files directly inside ``folder`` (none when it is gone), by name."""
    base = folder.resolve()
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.resolve().parent == base)


def read_plan_summary(folder: Path) -> dict[str, Any]:
    """``plan.json`` of a refund plan's folder, checked (its plan id matches its content and
    its funds check adds up): the numbers as the plan wrote them."""
    path = folder / "plan.json"
    return parse_plan_document(load_json(path, "refund plan"), str(path))


@dataclass(frozen=True)
class ProofLookup:
    """One customer's proof in a snapshot and whether it leads to the published root."""

    customer: str
    status: Literal["valid", "invalid", "unknown"]
    text: str | None = None  # the proof file's JSON text, as published
    balances: dict[str, int] = field(default_factory=dict)  # as counted by the proof
    reason: Message | None = None  # why it is not valid, in the reader's language


def _proof_text(folder: Path, customer: str) -> str | None:
    proofs = folder / "proofs"
    one = proofs / proof_file_name(customer)
    if one.resolve().parent == proofs.resolve() and one.is_file():
        return read_text(one, MAX_BYTES).strip()
    needle = '"customer":{"id":' + json.dumps(customer, ensure_ascii=False)
    for shard in sorted(proofs.glob("proofs-*.jsonl")):  # the jsonl layout
        for offset, line in _ShardIndex.of(shard).places(customer):
            found = _shard_line(shard, needle, offset, line)
            if found is not None:
                return found
    return None


def _key(customer: str) -> int:
    """A customer id as the shards' index keeps it: 8 bytes of its BLAKE2b digest."""
    return int.from_bytes(hashlib.blake2b(customer.encode("utf-8"), digest_size=8).digest(),
                          "big", signed=True)


class _ShardIndex:
    """Where each customer's line starts in a jsonl shard of proofs: read once per shard as
    it is (its size and time), then each look-up is a search in sorted arrays, where every
    look-up read the whole shard (hundreds of megabytes) again. A published snapshot never
    changes; one that did is read again. Reading it checks every line as a look-up did
    (within a proof's size, UTF-8), naming ``shard:line``."""

    KEPT = 8  # shards whose index is kept (24 bytes a proof), the last ones used
    _kept: ClassVar[dict[Path, tuple[tuple[int, int], _ShardIndex]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, keys: list[int], starts: list[int], lines: list[int]) -> None:
        order = np.argsort(np.asarray(keys, np.int64), kind="stable")
        self.keys = np.asarray(keys, np.int64)[order]
        self.starts = np.asarray(starts, np.int64)[order]
        self.lines = np.asarray(lines, np.int64)[order]

    @classmethod
    def of(cls, shard: Path) -> _ShardIndex:
        stat = shard.stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
        with cls._lock:  # requests for the same shard wait for one reading of it
            kept = cls._kept.pop(shard, None)
            if kept is None or kept[0] != stamp:
                kept = (stamp, cls._read(shard))
            cls._kept[shard] = kept  # the newest last
            while len(cls._kept) > cls.KEPT:
                del cls._kept[next(iter(cls._kept))]
            return kept[1]

    @classmethod
    def _read(cls, shard: Path) -> _ShardIndex:
        keys: list[int] = []
        starts: list[int] = []
        lines: list[int] = []
        decoder = json.JSONDecoder()
        with open_input(shard) as fh:
            at = line = 0
            while raw := fh.readline(MAX_BYTES + 1):
                line += 1
                text = _checked_line(shard, line, raw)
                found = text.find(_ID_KEY)
                if found >= 0:  # a line that is no proof is found by nobody
                    try:
                        customer, _ = decoder.raw_decode(text, found + len(_ID_KEY))
                    except ValueError:
                        customer = None
                    if isinstance(customer, str):
                        keys.append(_key(customer))
                        starts.append(at)
                        lines.append(line)
                at += len(raw)
        return cls(keys, starts, lines)

    def places(self, customer: str) -> list[tuple[int, int]]:
        """(offset, line) of each line that may be ``customer``'s (its key's: one, rarely
        more)."""
        key = _key(customer)
        lo = int(np.searchsorted(self.keys, key, side="left"))
        hi = int(np.searchsorted(self.keys, key, side="right"))
        return [(int(o), int(n)) for o, n in zip(self.starts[lo:hi], self.lines[lo:hi],
                                                 strict=True)]


_ID_KEY = '"customer":{"id":'


def _checked_line(shard: Path, line: int, raw: bytes) -> str:
    """Line ``line`` of a jsonl shard as text: InputFileError naming ``shard:line`` for one
    longer than :data:`~kinko.verify_proof.MAX_BYTES` (a proof's size) or not UTF-8."""
    if len(raw) > MAX_BYTES:
        raise InputFileError(f"{shard}:{line}: a line longer than {MAX_BYTES:,} bytes, "
                             "the largest proof kinko reads", file=str(shard), line=line,
                             says=msg("error.artifacts.proof_line_too_long",
                                      where=f"{str(shard)[:200]}:{line}", most=MAX_BYTES))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{shard}:{line}: not UTF-8 text (byte {exc.start} of "
                             "the line)", file=str(shard), line=line,
                             says=msg("error.file.not_text",
                                      where=f"{str(shard)[:200]}:{line}",
                                      encoding="UTF-8", byte=exc.start)) from None


def _shard_line(shard: Path, needle: str, offset: int, line: int) -> str | None:
    """Line ``line`` of a jsonl shard, which starts at ``offset``, if it holds ``needle``."""
    with open_input(shard) as fh:
        fh.seek(offset)
        text = _checked_line(shard, line, fh.readline(MAX_BYTES + 1))
    return text.strip() if needle in text else None


def lookup_proof(folder: Path, customer: str) -> ProofLookup:
    """Find ``customer``'s proof in the snapshot folder and check it against root.json."""
    customer = customer.strip()
    if not customer:
        raise BadInput("give a customer id", says=msg("error.artifacts.no_customer"))
    text = _proof_text(folder, customer)
    if text is None:
        return ProofLookup(customer, "unknown", reason=msg("res.no_proof_in_snapshot"))
    try:
        proof = parse_json(text.encode("utf-8"), "the proof",
                           what_said=msg("proof.word.the_proof"))
    except BadInput as exc:
        return ProofLookup(customer, "invalid", text, reason=exc.said())
    named = proof.get("customer") if isinstance(proof, dict) else None
    if not isinstance(named, dict) or named.get("id") != customer:
        return ProofLookup(customer, "unknown", reason=msg("res.no_proof_in_snapshot"))
    root = read_json(folder / "root.json", "root")
    try:
        checked = verify_proof(proof, verify_root(root).root_hash, root, customer=customer)
    except KinkoError as exc:
        return ProofLookup(customer, "invalid", text, reason=exc.said())
    return ProofLookup(customer, "valid", text, checked.named(checked.balances))
