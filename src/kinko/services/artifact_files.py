"""Reading and writing inside the folders of the artifacts index, safely.

The dashboard offers files of indexed folders for download and looks up a customer's proof
in a reserves snapshot. Every name it is given comes from a browser, so a file is served only
when it lies directly inside the artifact's own folder (no ``..``, no sub-folder, no link
out)::

    path = file_in(folder, "fsa-report.ja.html")          # NotFound for "../k.db"
    found = lookup_proof(snapshot_folder, "C1")           # "valid", "invalid" or "unknown"
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
        found = _shard_line(shard, needle)
        if found is not None:
            return found
    return None


def _shard_line(shard: Path, needle: str) -> str | None:
    """The line of a jsonl shard that holds ``needle``, each line read within
    :data:`~kinko.verify_proof.MAX_BYTES` (a proof's size); InputFileError naming
    ``shard:line`` for a longer line or one that is not UTF-8."""
    with open_input(shard) as fh:
        line = 0
        while raw := fh.readline(MAX_BYTES + 1):
            line += 1
            if len(raw) > MAX_BYTES:
                raise InputFileError(f"{shard}:{line}: a line longer than {MAX_BYTES:,} bytes, "
                                     "the largest proof kinko reads", file=str(shard), line=line,
                                     says=msg("error.artifacts.proof_line_too_long",
                                              where=f"{str(shard)[:200]}:{line}",
                                              most=MAX_BYTES))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputFileError(f"{shard}:{line}: not UTF-8 text (byte {exc.start} of "
                                     "the line)", file=str(shard), line=line,
                                     says=msg("error.file.not_text",
                                              where=f"{str(shard)[:200]}:{line}",
                                              encoding="UTF-8", byte=exc.start)) from None
            if needle in text:
                return text.strip()
    return None


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
