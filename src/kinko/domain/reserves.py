"""Proof of liabilities: a Merkle *sum* tree over every customer's per-asset balances,
under a root that commits to the whole snapshot.

Concepts (the format itself is specified in ``docs/proof-of-reserves.md``; the verifier,
one standard-library file a customer runs, is :mod:`kinko.verify_proof`, and kinko checks
proofs with that same code):

* **Header** -- what the snapshot is (:class:`~kinko.verify_proof.Header`): its random id,
  the tree's height, the assets (symbol, decimals, chain, token contract), the ledger entry
  and time the balances are taken at, the chain block(s) the reserves are read at (chain,
  CAIP-2 chain id, block number and hash) and, when the exchange publishes one, the
  customer count (exact, or a range).
* **Leaf** -- one per customer: a vector of balances, one per asset in order, each a
  non-negative integer of minor units below ``2**128``. Its hash is
  ``SHA-256("kinko-por-leaf-v2" ‖ snapshot id ‖ len(id) ‖ id ‖ salt ‖ values)``: the
  customer id is in the leaf, so two customers owed the same can never share one; the salt
  is 32 random bytes per customer and snapshot, handed only to that customer with their
  proof, so a sibling hash in someone else's proof reveals nothing about who this leaf is.
* **Node** -- ``SHA-256("kinko-por-node-v2" ‖ left hash ‖ left values ‖ right hash ‖ right
  values)``; its values are the element-wise sum (refused if a sum reaches ``2**128``). Both
  children's vectors are hashed *separately*, not only their sum: a tree that binds only the
  sum lets the exchange show two customers different sibling values under one root (Hu, Zhang
  & Guo 2019; Chalkias, Chatzigiannis & Ji 2022).
* **Padding** -- the tree always has ``2**height`` leaves; empty positions hold padding leaves
  ``SHA-256("kinko-por-pad-v2" ‖ snapshot id)`` with zero values. A whole padding subtree has one
  hash per level, so padding costs ``height`` hashes, not ``2**height``. Customers are placed
  in the order of their random salts at positions ``0 .. n-1``.
* **Root commitment** -- ``SHA-256("kinko-por-root-v2" ‖ header ‖ top hash ‖ top values)``:
  a proof of another snapshot, a root.json with other totals, another block, other decimals
  or another customer count cannot match it.

All arithmetic is on exact integers; level sums are computed with numpy on (high, low) 64-bit
halves with explicit carry and overflow checks.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from kinko.domain.messages import Arg, msg
from kinko.domain.proof_errors import proof_said
from kinko.errors import BadInput
from kinko.verify_proof import (
    FORMAT,
    LEAF_TAG,
    MAX_HEIGHT,
    MAX_VALUE,
    NODE_TAG,
    VALUE_BYTES,
    WIDTH_BITS,
    AssetSpec,
    ChainPoint,
    Header,
    ProofError,
    Verified,
    customer_id,
    pad_hashes,
    root_commitment,
)
from kinko.verify_proof import loads as _loads
from kinko.verify_proof import verify as _verify
from kinko.verify_proof import verify_root as _verify_root

__all__ = [
    "DEFAULT_MIN_HEIGHT",
    "FORMAT",
    "MAX_VALUE",
    "WIDTH_BITS",
    "AssetSpec",
    "ChainPoint",
    "Count",
    "Header",
    "Leaf",
    "PublishedRoot",
    "SumTree",
    "Verified",
    "build_tree",
    "customer_count",
    "parse_json",
    "snapshot_time",
    "verify_proof",
    "verify_root",
]

DEFAULT_MIN_HEIGHT = 20

U64 = npt.NDArray[np.uint64]

Count = str | int
"""What a snapshot publishes of its customer count: ``"none"``, ``"exact"``, or a step
``S >= 1`` (the count committed as the range of ``S`` values it falls in)."""


@dataclass(frozen=True, slots=True)
class Leaf:
    """One customer's leaf: id (unique in the snapshot), 32-byte salt, balances in asset order."""

    customer: str
    salt: bytes
    values: tuple[int, ...]


class PublishedRoot(NamedTuple):
    """A root.json that holds: its header, the totals it commits to and its root hash."""

    header: Header
    totals: tuple[int, ...]
    root_hash: bytes


def _bad(exc: ProofError, **instead: Arg) -> BadInput:
    """The verifier's refusal as kinko's error: its English words, and the same in the
    reader's language (``instead``: specifics said as given, see :func:`proof_said`)."""
    return BadInput(str(exc), says=proof_said(exc, **instead))


def snapshot_time(at: datetime) -> str:
    """A time as the header holds it: UTC, microseconds, ``Z``."""
    if at.tzinfo is None:
        raise BadInput(f"snapshot time {at.isoformat()} has no time zone",
                       says=msg("error.reserves.no_time_zone", time=at.isoformat()))
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def customer_count(count: Count, customers: int, height: int) -> tuple[int, int] | None:
    """The committed (min, max) for ``customers`` under the policy ``count``."""
    if count == "none":
        return None
    if count == "exact":
        return customers, customers
    if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
        low = customers - customers % count
        return low, min(low + count - 1, 1 << height)
    raise BadInput(f"customer count must be none, exact or a step of at least 1, not {count!r}",
                   says=msg("error.reserves.count_policy", value=repr(count)[:80]))


def parse_json(data: bytes, what: str, limit: int | None = None, *,
               what_said: Arg | None = None) -> Any:
    """Strict JSON (see :func:`kinko.verify_proof.loads`); :class:`BadInput` when not,
    naming ``what`` in English and ``what_said`` (``what`` in the reader's words) in the
    message it says."""
    try:
        return _loads(data, what) if limit is None else _loads(data, what, limit)
    except ProofError as exc:
        raise (_bad(exc) if what_said is None else _bad(exc, what=what_said)) from None


def _split(values: Sequence[Sequence[int]], k: int) -> tuple[U64, U64]:
    n = len(values)
    hi = np.zeros((n, k), dtype=np.uint64)
    lo = np.zeros((n, k), dtype=np.uint64)
    mask = (1 << 64) - 1
    if n:
        flat = [v for row in values for v in row]
        if all(0 <= v <= mask for v in flat):
            lo[:] = np.array(flat, dtype=np.uint64).reshape(n, k)
        else:
            hi[:] = np.array([v >> 64 for v in flat], dtype=np.uint64).reshape(n, k)
            lo[:] = np.array([v & mask for v in flat], dtype=np.uint64).reshape(n, k)
    return hi, lo


def _value_bytes(hi: U64, lo: U64) -> bytes:
    """Rows of (hi, lo) pairs as concatenated 16-byte big-endian values, row-major."""
    both = np.empty((*hi.shape, 2), dtype=">u8")
    both[..., 0] = hi
    both[..., 1] = lo
    return both.tobytes()


class SumTree:
    """A built tree: every level's hashes (bytes) and values (hi/lo uint64 arrays).

    ``leaves`` are taken in the order given (:func:`build_tree` orders them by salt and
    checks them; tests build dishonest trees directly).
    """

    def __init__(self, header: Header, leaves: Sequence[Leaf]) -> None:
        self.header = header
        snapshot_id = self.snapshot_id = header.snapshot_id
        self.leaves = leaves
        height = self.height = header.height
        k = self.k = len(header.assets)
        self.row = VALUE_BYTES * k
        zero = bytes(self.row)
        self.pad_hashes = pad_hashes(snapshot_id, height, k)
        hi, lo = _split([leaf.values for leaf in leaves], k)
        vbytes = _value_bytes(hi, lo)
        row = self.row
        prefix = LEAF_TAG + snapshot_id
        sha = hashlib.sha256
        pack = struct.Struct(">H").pack
        hashes = b"".join(
            sha(prefix + pack(len(cid)) + cid + leaf.salt + vbytes[i * row:(i + 1) * row]).digest()
            for i, leaf in enumerate(leaves)
            for cid in (leaf.customer.encode("utf-8"),))
        self.level_hashes: list[bytes] = [hashes]
        self.level_vbytes: list[bytes] = [vbytes]  # the values, 16-byte big-endian each
        for level in range(height):
            hashes, (hi, lo), vbytes = self._up(level, hashes, hi, lo, vbytes)
            self.level_hashes.append(hashes)
            self.level_vbytes.append(vbytes)
        self.top = hashes if hashes else self.pad_hashes[height]
        self.top_values = vbytes if vbytes else zero
        self.root = root_commitment(header, self.top, self.top_values)

    def _up(self, level: int, hashes: bytes, hi: U64, lo: U64,
            vbytes: bytes) -> tuple[bytes, tuple[U64, U64], bytes]:
        n = len(hashes) // 32
        if n == 0:
            return b"", (hi[:0], lo[:0]), b""
        row = self.row
        if n % 2:  # the last real node pairs with a padding subtree
            hashes += self.pad_hashes[level]
            vbytes += bytes(row)
            hi = np.concatenate([hi, np.zeros((1, self.k), dtype=np.uint64)])
            lo = np.concatenate([lo, np.zeros((1, self.k), dtype=np.uint64)])
            n += 1
        lhi, rhi, llo, rlo = hi[0::2], hi[1::2], lo[0::2], lo[1::2]
        slo = llo + rlo
        carry = (slo < llo).astype(np.uint64)
        shi = lhi + rhi
        over = shi < lhi
        shi2 = shi + carry
        over |= shi2 < shi
        if over.any():
            raise BadInput(f"a sum at level {level + 1} reaches 2**{WIDTH_BITS}: totals too large",
                           says=msg("error.reserves.sum_too_large", level=level + 1,
                                    bits=WIDTH_BITS))
        sha = hashlib.sha256
        step = 32 + row
        # interleave (hash, values) per node: then node i's input is one slice of 2 * step bytes
        h = np.frombuffer(hashes, dtype=np.uint8).reshape(n, 32)
        v = np.frombuffer(vbytes, dtype=np.uint8).reshape(n, row)
        buf = np.concatenate([h, v], axis=1).tobytes()
        tag = NODE_TAG
        out = b"".join(sha(tag + buf[i:i + 2 * step]).digest()
                       for i in range(0, n * step, 2 * step))
        return out, (shi2, slo), _value_bytes(shi2, slo)

    @property
    def totals(self) -> list[int]:
        raw = self.top_values
        return [int.from_bytes(raw[i:i + VALUE_BYTES], "big")
                for i in range(0, len(raw), VALUE_BYTES)]

    def root_json(self) -> dict[str, Any]:
        """``root.json``: the header, the root hash, and the top hash and totals that, with
        the header, reproduce it (so edited totals are caught without any proof)."""
        return {
            "format": FORMAT,
            "snapshot": self.header.to_json(),
            "root_hash": self.root.hex(),
            "top_hash": self.top.hex(),
            "totals": [str(t) for t in self.totals],
            "leaves": 1 << self.height,
        }

    def _fragments(self, level: int, start: int, stop: int) -> list[str]:
        """Nodes ``start .. stop-1`` (``start`` even) of ``level`` as JSON path steps.

        Built a chunk at a time: one ``bytes.hex`` of the chunk's hashes, sliced, and the
        values taken column by column from a numpy view, formatted by one ``%`` per node.
        """
        hashes = self.level_hashes[level]
        stop = min(stop, len(hashes) // 32)
        m = stop - start
        if m <= 0:
            return []
        hx = hashes[32 * start:32 * stop].hex()
        hexes = [hx[i:i + 64] for i in range(0, 64 * m, 64)]
        k, row = self.k, self.row
        both = np.frombuffer(self.level_vbytes[level], dtype=">u8", count=2 * k * m,
                             offset=row * start).reshape(m, k, 2)
        hi, lo = both[:, :, 0], both[:, :, 1]
        cols: list[list[int]]
        if hi.any():
            cols = [[(a << 64) | b for a, b in zip(hi[:, j].tolist(), lo[:, j].tolist(),
                                                   strict=True)] for j in range(k)]
        else:
            cols = [lo[:, j].tolist() for j in range(k)]
        values = ", ".join(['"%d"'] * k)  # json.dumps(list)'s default separators
        out: list[str] = [""] * m
        for parity, side in ((0, "left"), (1, "right")):
            template = '{"side":"' + side + '","hash":"%s","values":[' + values + ']}'
            rows = zip(hexes[parity::2], *(c[parity::2] for c in cols), strict=True)
            out[parity::2] = [template % t for t in rows]
        return out

    def proofs(self) -> Iterator[tuple[str, str]]:
        """Every customer's proof as compact JSON text: ``(customer id, text)``."""
        zero = json.dumps(["0"] * self.k)
        # per level, the chunk of path steps in use: leaves come in order, so each level's
        # siblings are read in order too and only one chunk per level is held in memory
        chunks: list[list[str]] = [[] for _ in range(self.height)]
        bases = [0] * self.height
        sizes = [len(h) // 32 for h in self.level_hashes]
        pads = [f'{{"side":"{{}}","hash":"{p.hex()}","values":{zero}}}'
                for p in self.pad_hashes]
        head = (f'{{"format":"{FORMAT}","snapshot":'
                + json.dumps(self.header.to_json(), separators=(",", ":")))
        height = self.height
        tail = f'],"root_hash":"{self.root.hex()}"}}'
        balances = ",".join(['"%d"'] * self.k)
        customer_fast = head + ',"customer":{"id":"%s","salt":"%s","balances":[' + balances \
            + ']},"path":['

        def step(level: int, j: int) -> str:
            offset = j - bases[level]
            if 0 <= offset < len(chunks[level]):
                return chunks[level][offset]
            if j < sizes[level]:
                bases[level] = base = j - j % _CHUNK
                chunks[level] = self._fragments(level, base, base + _CHUNK)
                return chunks[level][j - base]
            return pads[level].replace("{}", "left" if j % 2 == 0 else "right", 1)

        # suffix[L]: the path from level L to the top for the current leaf; leaves come in
        # order, so level L changes only every 2**L leaves (about two joins per leaf)
        suffix = [""] * (height + 1)
        for index, leaf in enumerate(self.leaves):
            top = height - 1 if index == 0 else min((index & -index).bit_length() - 1, height - 1)
            for level in range(top, -1, -1):
                own = step(level, (index >> level) ^ 1)
                suffix[level] = own + "," + suffix[level + 1] if level + 1 < height else own
            cid = leaf.customer
            if _PLAIN(cid):  # json.dumps would write it as is
                start = customer_fast % (cid, leaf.salt.hex(), *leaf.values)
            else:
                start = (f'{head},"customer":'
                         + json.dumps({"id": cid, "salt": leaf.salt.hex(),
                                       "balances": [str(v) for v in leaf.values]},
                                      separators=(",", ":"))
                         + ',"path":[')
            yield cid, start + suffix[0] + tail


_CHUNK = 1 << 15
"""Path steps built at once per level (an even number)."""

_PLAIN = re.compile(r'[ !#-\[\]-~]*').fullmatch
"""Printable ASCII without ``"`` or backslash: JSON text that ``json.dumps`` leaves unescaped."""


def build_tree(snapshot_id: bytes, assets: Sequence[AssetSpec], leaves: Sequence[Leaf],
               *, min_height: int = DEFAULT_MIN_HEIGHT, ledger_seq: int | None = None,
               time: str | None = None, reserves_at: Sequence[ChainPoint] = (),
               count: Count = "none") -> SumTree:
    """Check the leaves, order them by salt and build the tree (height >= ``min_height``)
    under a header of the given snapshot facts; ``count`` says what of the number of
    customers the header commits to (see :data:`Count`)."""
    if len(snapshot_id) != 16:
        raise BadInput("snapshot id must be 16 bytes", says=msg("error.reserves.snapshot_id_size"))
    k = len(assets)
    seen: set[str] = set()
    bad: list[str] = []
    for leaf in leaves:
        try:
            customer_id(leaf.customer, "customer id")
        except ProofError as exc:
            raise _bad(exc, where=msg("proof.word.customer_id")) from None
        if not leaf.customer.isprintable():
            raise BadInput(f"customer id {leaf.customer!r} has characters a terminal would not "
                           "show as they are", says=msg("error.reserves.customer_unprintable",
                                                        customer=repr(leaf.customer[:80])))
        if leaf.customer in seen:
            raise BadInput(f"customer id {leaf.customer!r} appears twice in the snapshot",
                           says=msg("error.reserves.customer_twice",
                                    customer=leaf.customer[:80]))
        seen.add(leaf.customer)
        if len(leaf.salt) != 32:
            raise BadInput(f"customer {leaf.customer!r}: salt must be 32 bytes",
                           says=msg("error.reserves.salt_size", customer=leaf.customer[:80]))
        if len(leaf.values) != k:
            raise BadInput(f"customer {leaf.customer!r}: {len(leaf.values)} values for "
                           f"{k} assets", says=msg("error.reserves.values_count",
                                                  customer=leaf.customer[:80],
                                                  values=len(leaf.values), assets=k))
        if any(not 0 <= v <= MAX_VALUE for v in leaf.values):
            bad.append(leaf.customer)
    if bad:
        raise BadInput(f"negative or oversized balances (must be 0 .. 2**{WIDTH_BITS}-1) for "
                       f"customers: {', '.join(bad[:20])}" + (" ..." if len(bad) > 20 else ""),
                       customers=bad, says=msg(
                           "error.reserves.bad_balances", bits=WIDTH_BITS,
                           customers=", ".join(c[:80] for c in bad[:20])
                           + (" ..." if len(bad) > 20 else "")))
    height = max(min_height, (len(leaves) - 1).bit_length() if leaves else 0)
    if height > MAX_HEIGHT:
        raise BadInput(f"height {height} exceeds {MAX_HEIGHT}",
                       says=msg("error.reserves.height", height=height, most=MAX_HEIGHT))
    try:
        header = Header(snapshot_id, height, tuple(assets), ledger_seq, time,
                        tuple(reserves_at), customer_count(count, len(leaves), height)).check()
    except ProofError as exc:
        raise _bad(exc) from None
    ordered = sorted(leaves, key=lambda leaf: leaf.salt)
    return SumTree(header, ordered)


# ---------------------------------------------------------------------------- verification


def verify_root(doc: Any) -> PublishedRoot:
    """Check a parsed ``root.json``: its header, top hash and totals reproduce its root
    hash. The totals returned are the committed ones; raises :class:`BadInput`."""
    try:
        return PublishedRoot(*_verify_root(doc))
    except ProofError as exc:
        raise _bad(exc) from None


def verify_proof(proof: Any, root_hash: bytes, root: Any = None, *,
                 customer: str | None = None) -> Verified:
    """Check one proof against a published root hash (and root.json, when given), for
    ``customer`` when given (exactly that id).

    Returns what the proof shows (:class:`~kinko.verify_proof.Verified`: the customer's
    balances, the committed totals, the header); raises :class:`BadInput` naming the first
    thing that does not hold.
    """
    if root is not None:
        published = verify_root(root)
        if published.root_hash != root_hash:
            raise BadInput(f"root.json's root hash {published.root_hash.hex()} is not the "
                           f"root given, {root_hash.hex()}",
                           says=msg("error.reserves.root_mismatch",
                                    found=published.root_hash.hex(), given=root_hash.hex()))
        sid = published.header.snapshot_id.hex()
        claimed = proof.get("snapshot") if isinstance(proof, dict) else None
        if isinstance(claimed, dict) and isinstance(claimed.get("id"), str) \
                and claimed["id"] != sid:
            raise BadInput(f"the proof is for snapshot {claimed['id'][:32]!r}, but the root is "
                           f"of another snapshot, {sid}",
                           says=msg("error.reserves.proof_other_snapshot",
                                    claimed=claimed["id"][:32], snapshot=sid))
    try:
        return _verify(proof, root_hash.hex(), customer)
    except ProofError as exc:
        raise _bad(exc) from None
