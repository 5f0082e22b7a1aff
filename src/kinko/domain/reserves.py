"""Proof of liabilities: a Merkle *sum* tree over every customer's per-asset balances.

Concepts (the format itself is specified in ``docs/proof-of-reserves.md``):

* **Leaf** -- one per customer: a vector of balances, one per asset in a fixed order, each a
  non-negative integer of minor units below ``2**128`` (:data:`WIDTH_BITS`). Its hash is
  ``SHA-256("kinko-por-leaf-v1" ‖ snapshot id ‖ len(id) ‖ id ‖ salt ‖ values)``; the salt is 32
  random bytes per customer and snapshot, handed only to that customer with their proof, so a
  sibling hash in someone else's proof reveals nothing about who this leaf is.
* **Node** -- ``SHA-256("kinko-por-node-v1" ‖ left hash ‖ left values ‖ right hash ‖ right
  values)``; its values are the element-wise sum (refused if a sum reaches ``2**128``). Both
  children's vectors are hashed *separately*, not only their sum: a tree that binds only the
  sum lets the exchange show two customers different sibling values under one root (Hu, Zhang
  & Guo 2019; Chalkias, Chatzigiannis & Ji 2022).
* **Padding** -- the tree always has ``2**height`` leaves; empty positions hold padding leaves
  ``SHA-256("kinko-por-pad-v1" ‖ snapshot id)`` with zero values. A whole padding subtree has one
  hash per level, so padding costs ``height`` hashes, not ``2**height``. The height (default
  at least 20) bounds the number of customers without revealing it; customers are placed in
  an order drawn from their random salts, so a position reveals nothing either.
* **Root commitment** -- the published root hash is ``SHA-256("kinko-por-root-v1" ‖ snapshot id
  ‖ height ‖ assets ‖ top hash ‖ top values)``: it binds the snapshot, the asset list and the
  totals, so a proof of another snapshot, or a root with other totals, cannot match.

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
from typing import Any

import numpy as np
import numpy.typing as npt

from kinko.errors import BadInput

__all__ = [
    "FORMAT",
    "LEAF_TAG",
    "MAX_VALUE",
    "NODE_TAG",
    "PAD_TAG",
    "ROOT_TAG",
    "WIDTH_BITS",
    "Leaf",
    "SumTree",
    "build_tree",
    "encode_assets",
    "root_commitment",
    "verify_proof",
]

FORMAT = "kinko-por-v1"
LEAF_TAG = b"kinko-por-leaf-v1"
NODE_TAG = b"kinko-por-node-v1"
PAD_TAG = b"kinko-por-pad-v1"
ROOT_TAG = b"kinko-por-root-v1"
WIDTH_BITS = 128
MAX_VALUE = (1 << WIDTH_BITS) - 1
VALUE_BYTES = WIDTH_BITS // 8
MAX_HEIGHT = 40
DEFAULT_MIN_HEIGHT = 20

U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class Leaf:
    """One customer's leaf: id (unique in the snapshot), 32-byte salt, balances in asset order."""

    customer: str
    salt: bytes
    values: tuple[int, ...]


def encode_values(values: Sequence[int]) -> bytes:
    """Each value as 16 bytes big-endian; refuses negative or oversized values."""
    out = bytearray()
    for v in values:
        if not 0 <= v <= MAX_VALUE:
            raise BadInput(f"value {v} is outside 0 .. 2**{WIDTH_BITS}-1")
        out += v.to_bytes(VALUE_BYTES, "big")
    return bytes(out)


def encode_assets(assets: Sequence[tuple[str, int]]) -> bytes:
    """``count`` then per asset ``len(symbol) ‖ symbol ‖ decimals``, one byte each."""
    out = bytearray([len(assets)])
    for symbol, decimals in assets:
        raw = symbol.encode("ascii")
        out += bytes([len(raw)]) + raw + bytes([decimals])
    return bytes(out)


def leaf_hash(snapshot_id: bytes, leaf: Leaf) -> bytes:
    cid = leaf.customer.encode("utf-8")
    return hashlib.sha256(LEAF_TAG + snapshot_id + struct.pack(">H", len(cid)) + cid
                          + leaf.salt + encode_values(leaf.values)).digest()


def node_hash(left: bytes, left_values: bytes, right: bytes, right_values: bytes) -> bytes:
    return hashlib.sha256(NODE_TAG + left + left_values + right + right_values).digest()


def root_commitment(snapshot_id: bytes, height: int, assets: Sequence[tuple[str, int]],
                    top: bytes, top_values: bytes) -> bytes:
    return hashlib.sha256(ROOT_TAG + snapshot_id + bytes([height]) + encode_assets(assets)
                          + top + top_values).digest()


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
    """A built tree: every level's hashes (bytes) and values (hi/lo uint64 arrays)."""

    def __init__(self, snapshot_id: bytes, assets: Sequence[tuple[str, int]],
                 leaves: Sequence[Leaf], height: int) -> None:
        self.snapshot_id = snapshot_id
        self.assets = list(assets)
        self.leaves = leaves
        self.height = height
        k = len(assets)
        self.k = k
        self.row = VALUE_BYTES * k
        zero = bytes(self.row)
        pad = hashlib.sha256(PAD_TAG + snapshot_id).digest()
        self.pad_hashes = [pad]
        for _ in range(height):
            pad = node_hash(pad, zero, pad, zero)
            self.pad_hashes.append(pad)
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
        self.root = root_commitment(snapshot_id, height, assets, self.top, self.top_values)

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
            raise BadInput(f"a sum at level {level + 1} reaches 2**{WIDTH_BITS}: totals too large")
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

    def root_json(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "snapshot_id": self.snapshot_id.hex(),
            "root_hash": self.root.hex(),
            "height": self.height,
            "leaves": 1 << self.height,
            "assets": [{"symbol": s, "decimals": d} for s, d in self.assets],
            "totals": [str(t) for t in self.totals],
            **(extra or {}),
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
        head = (f'{{"format":"{FORMAT}","snapshot_id":"{self.snapshot_id.hex()}",'
                f'"height":{self.height},"assets":'
                + json.dumps([{"symbol": s, "decimals": d} for s, d in self.assets],
                             separators=(",", ":")))
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


def build_tree(snapshot_id: bytes, assets: Sequence[tuple[str, int]], leaves: Sequence[Leaf],
               *, min_height: int = DEFAULT_MIN_HEIGHT) -> SumTree:
    """Check the leaves, order them by salt and build the tree (height ≥ ``min_height``)."""
    if len(snapshot_id) != 16:
        raise BadInput("snapshot id must be 16 bytes")
    if not assets or len(assets) > 255:
        raise BadInput("a snapshot needs 1 to 255 assets")
    seen: set[str] = set()
    bad: list[str] = []
    for leaf in leaves:
        if leaf.customer in seen:
            raise BadInput(f"customer id {leaf.customer!r} appears twice in the snapshot")
        seen.add(leaf.customer)
        if len(leaf.salt) != 32:
            raise BadInput(f"customer {leaf.customer!r}: salt must be 32 bytes")
        if len(leaf.values) != len(assets):
            raise BadInput(f"customer {leaf.customer!r}: {len(leaf.values)} values for "
                           f"{len(assets)} assets")
        if any(not 0 <= v <= MAX_VALUE for v in leaf.values):
            bad.append(leaf.customer)
        if len(leaf.customer.encode("utf-8")) > 0xFFFF:
            raise BadInput(f"customer id {leaf.customer[:40]!r}... is too long")
    if bad:
        raise BadInput(f"negative or oversized balances (must be 0 .. 2**{WIDTH_BITS}-1) for "
                       f"customers: {', '.join(bad[:20])}" + (" ..." if len(bad) > 20 else ""),
                       customers=bad)
    height = max(min_height, (len(leaves) - 1).bit_length() if leaves else 0)
    if height > MAX_HEIGHT:
        raise BadInput(f"height {height} exceeds {MAX_HEIGHT}")
    ordered = sorted(leaves, key=lambda leaf: leaf.salt)
    return SumTree(snapshot_id, assets, ordered, height)


# ---------------------------------------------------------------------------- verification


def _hex(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise BadInput(f"{what}: expected {2 * size} hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise BadInput(f"{what}: not hex") from None


def _values(raw: Any, k: int, what: str) -> list[int]:
    if not isinstance(raw, list) or len(raw) != k:
        raise BadInput(f"{what}: expected a list of {k} decimal strings")
    out = []
    for i, v in enumerate(raw):
        if not isinstance(v, str) or not v.isascii() or not v.isdigit() \
                or (len(v) > 1 and v[0] == "0"):
            raise BadInput(f"{what}[{i}]: {v!r} is not a non-negative integer in decimal")
        n = int(v)
        if n > MAX_VALUE:
            raise BadInput(f"{what}[{i}]: {v} exceeds 2**{WIDTH_BITS}-1")
        out.append(n)
    return out


def verify_proof(proof: Any, root_hash: bytes, root: dict[str, Any] | None = None
                 ) -> dict[str, int]:
    """Check one proof against a published root hash (and root.json, when given).

    Returns the customer's balances as counted (symbol -> minor units); raises
    :class:`~kinko.errors.BadInput` naming the first thing that does not hold.
    """
    if not isinstance(proof, dict):
        raise BadInput("proof: expected a JSON object")
    if proof.get("format") != FORMAT:
        raise BadInput(f"proof: unknown format {proof.get('format')!r} (expected {FORMAT})")
    sid = _hex(proof.get("snapshot_id"), 16, "snapshot_id")
    height = proof.get("height")
    if not isinstance(height, int) or isinstance(height, bool) or not 0 <= height <= MAX_HEIGHT:
        raise BadInput("height: expected an integer 0 .. 40")
    assets_raw = proof.get("assets")
    if not isinstance(assets_raw, list) or not assets_raw or not all(
            isinstance(a, dict) and isinstance(a.get("symbol"), str)
            and isinstance(a.get("decimals"), int) and 0 <= a["decimals"] <= 255
            for a in assets_raw):
        raise BadInput("assets: expected a list of {symbol, decimals}")
    assets = [(str(a["symbol"]), int(a["decimals"])) for a in assets_raw]
    k = len(assets)
    if root is not None:
        if root.get("format") != FORMAT:
            raise BadInput(f"root: unknown format {root.get('format')!r} (expected {FORMAT})")
        if root.get("snapshot_id") != proof.get("snapshot_id"):
            raise BadInput(f"the proof is for snapshot {proof.get('snapshot_id')}, but the root is "
                           f"of another snapshot, {root.get('snapshot_id')}")
        if root.get("assets") != assets_raw or root.get("height") != height:
            raise BadInput("the proof's assets or height differ from the root's")
    customer = proof.get("customer")
    if not isinstance(customer, dict) or not isinstance(customer.get("id"), str):
        raise BadInput("customer: expected {id, salt, balances}")
    salt = _hex(customer.get("salt"), 32, "customer.salt")
    balances = _values(customer.get("balances"), k, "customer.balances")
    values = balances
    current = leaf_hash(sid, Leaf(customer["id"], salt, tuple(balances)))
    path = proof.get("path")
    if not isinstance(path, list) or len(path) != height:
        raise BadInput(f"path: expected {height} steps")
    for n, step in enumerate(path):
        if not isinstance(step, dict) or step.get("side") not in ("left", "right"):
            raise BadInput(f"path[{n}]: expected {{side: left|right, hash, values}}")
        other = _hex(step.get("hash"), 32, f"path[{n}].hash")
        other_values = _values(step.get("values"), k, f"path[{n}].values")
        if step["side"] == "left":
            current = node_hash(other, encode_values(other_values), current, encode_values(values))
        else:
            current = node_hash(current, encode_values(values), other, encode_values(other_values))
        values = [a + b for a, b in zip(values, other_values, strict=True)]
        if any(v > MAX_VALUE for v in values):
            raise BadInput(f"path[{n}]: a sum exceeds 2**{WIDTH_BITS}-1")
    computed = root_commitment(sid, height, assets, current, encode_values(values))
    if computed != root_hash:
        raise BadInput(f"the proof does not lead to root {root_hash.hex()} "
                       f"(it leads to {computed.hex()}): it was altered or is of another tree")
    if root is not None:
        if root.get("root_hash") != root_hash.hex():
            raise BadInput("root.json's root_hash differs")
        if root.get("totals") != [str(v) for v in values]:
            raise BadInput("root.json's totals differ from the totals the proof commits to")
    return {symbol: v for (symbol, _d), v in zip(assets, balances, strict=True)}
