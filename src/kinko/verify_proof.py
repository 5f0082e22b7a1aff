"""Standalone verifier for kinko proof-of-reserves proofs (format ``kinko-por-v2``).

One file, Python standard library only. Download it and run::

    python verify_proof.py PROOF.json ROOT_HASH --customer YOUR_ID

PROOF.json is the proof the exchange gave you, ROOT_HASH the root hash it published (64 hex
digits, in either case, with 0x or not) and YOUR_ID your customer id exactly as the exchange
shows it to you. The verifier recomputes your leaf from your id, salt and balances, every node
up the path and the root commitment, which binds the whole snapshot: its id, the assets with
their decimals, chain and token, the ledger entry and time it was taken at, the chain block
the reserves are read at, the customer count (when the exchange publishes one) and the totals.
It exits 0 and prints your balances as counted *and the totals the exchange committed to*
(compare them with what the exchange announces) when everything holds; otherwise it prints one
``FAIL:`` line saying why and exits 1. The format is specified in docs/proof-of-reserves.md.

kinko itself verifies with this same code (``kinko.verify_proof``): one verifier, not two.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, NoReturn

FORMAT = "kinko-por-v2"
OLD_FORMATS = ("kinko-por-v1",)
LEAF_TAG = b"kinko-por-leaf-v2"
NODE_TAG = b"kinko-por-node-v2"
PAD_TAG = b"kinko-por-pad-v2"
ROOT_TAG = b"kinko-por-root-v2"
WIDTH_BITS = 128
VALUE_BYTES = WIDTH_BITS // 8
MAX_VALUE = (1 << WIDTH_BITS) - 1
MAX_HEIGHT = 40
MAX_ASSETS = 255
MAX_CHAINS = 16
MAX_ID_BYTES = 1024
MAX_U63 = (1 << 63) - 1
MAX_BYTES = 2 * 1024 * 1024
"""Largest proof or root file read (a proof of height 40 over 255 assets is about 0.5 MB)."""
MAX_DEPTH = 8
"""Deepest nesting of JSON arrays and objects accepted (the format needs 4)."""

SYMBOL = re.compile(r"[A-Z][A-Z0-9]{0,15}")
CHAIN = re.compile(r"[A-Za-z0-9._-]{1,64}")
CHAIN_ID = re.compile(r"[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}")  # CAIP-2, e.g. eip155:1
TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
DECIMAL = re.compile(r"0|[1-9][0-9]{0,38}")
_HEX = {n: re.compile(f"[0-9a-f]{{{2 * n}}}") for n in (16, 32)}
_QUOTE_OR_BRACKET = re.compile(r'["\[\]{}]')
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # after its opening quote


class ProofError(Exception):
    """The input does not hold; the message says what and where, in English.

    ``key`` names the problem and ``params`` its specifics (the values the message shows),
    so that a program using this verifier can say the same in another language.
    """

    def __init__(self, message: str, key: str | None = None, /, **params: str | int) -> None:
        super().__init__(message)
        self.key = key
        self.params = params


# ------------------------------------------------------------------------------ showing


def shown(text: str) -> str:
    """``text`` in double quotes with every character a terminal could act on escaped
    (control and format characters, line breaks, lone surrogates) and ``"``, ``\\`` too."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def amount(units: int, decimals: int) -> str:
    """Minor units as a decimal number of whole units, without trailing zeros."""
    whole, frac = divmod(units, 10 ** decimals)
    if decimals == 0 or frac == 0:
        return str(whole)
    return f"{whole}.{frac:0{decimals}d}".rstrip("0")


# ------------------------------------------------------------------------- strict JSON


def _fail(message: str, key: str, /, **params: str | int) -> NoReturn:
    raise ProofError(message, key, **params)


def _object(what: str, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            _fail(f"{what}: duplicate key {shown(key)} in one JSON object", "duplicate_key",
                  what=what, name=shown(key))
        out[key] = value
    return out


def _int(what: str, text: str) -> int:
    if len(text) > 24:
        _fail(f"{what}: number {text[:24]}... is too long", "number_too_long", what=what,
              number=text[:24])
    return int(text)


def _float(what: str, text: str) -> NoReturn:
    _fail(f"{what}: number {text[:40]} is not an integer (amounts are decimal strings)",
          "fraction", what=what, number=text[:40])


def _constant(what: str, text: str) -> NoReturn:
    _fail(f"{what}: {text} is not allowed in JSON", "json_constant", what=what, constant=text)


def _nesting(text: str) -> int:
    """How deep the arrays and objects of JSON ``text`` nest (at most one more than
    :data:`MAX_DEPTH`: it stops there), brackets inside strings not counted. One pass:
    a string left open ends the count (the parser refuses it), where searching for
    strings again from each of its quotes took hours for 2 MB of escaped quotes."""
    depth = deepest = 0
    at = 0
    while deepest <= MAX_DEPTH and (found := _QUOTE_OR_BRACKET.search(text, at)):
        char = found.group()
        if char == '"':
            rest = _STRING_REST.match(text, found.end())
            if rest is None:
                break
            at = rest.end()
            continue
        depth += 1 if char in "[{" else -1
        deepest = max(deepest, depth)
        at = found.end()
    return deepest


def loads(data: bytes, what: str, limit: int = MAX_BYTES) -> Any:
    """Parse ``data`` as strict JSON: at most ``limit`` bytes, UTF-8, nesting at most
    :data:`MAX_DEPTH`, no duplicate keys, no NaN or Infinity, no fractions."""
    if len(data) > limit:
        _fail(f"{what} is larger than {limit} bytes", "too_large", what=what, limit=limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"{what} is not UTF-8 text (byte {exc.start})", "not_utf8", what=what,
              byte=exc.start)
    if _nesting(text) > MAX_DEPTH:
        _fail(f"{what} is nested more than {MAX_DEPTH} levels deep", "too_deep",
              what=what, depth=MAX_DEPTH)
    try:  # the hooks refuse a key twice, a fraction, a long number, NaN
        return json.loads(text, object_pairs_hook=partial(_object, what),
                          parse_int=partial(_int, what), parse_float=partial(_float, what),
                          parse_constant=partial(_constant, what))
    except json.JSONDecodeError as exc:
        _fail(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
              "not_json", what=what, problem=exc.msg, line=exc.lineno, column=exc.colno)
    except RecursionError:
        _fail(f"{what} is nested too deeply", "nested_too_deeply", what=what)


_NOT_FILES = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
              (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
              (stat.S_ISSOCK, "a socket"))


def read(path: str, what: str) -> Any:
    """Read and :func:`loads` a file, refusing it when larger than :data:`MAX_BYTES`, and
    refusing what is no regular file (opened without waiting: a FIFO would wait for a
    writer forever, a device never ends)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        _fail(f"cannot read {what} {shown(path)}: {exc.strerror or exc}", "cannot_read",
              what=what, path=shown(path), reason=str(exc.strerror or exc))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((word for test, word in _NOT_FILES if test(mode)), "not a file")
        _fail(f"cannot read {what} {shown(path)}: {kind}, not a regular file",
              "not_regular_file", what=what, path=shown(path), kind=kind)
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(MAX_BYTES + 1)
        except OSError as exc:
            _fail(f"cannot read {what} {shown(path)}: {exc.strerror or exc}", "cannot_read",
                  what=what, path=shown(path), reason=str(exc.strerror or exc))
    return loads(data, f"{what} {shown(path)}")


# ---------------------------------------------------------------------- field parsing


def fields(obj: Any, where: str, required: Sequence[str]) -> dict[str, Any]:
    """``obj`` as an object with exactly the keys ``required``."""
    if not isinstance(obj, dict):
        _fail(f"{where}: expected a JSON object", "not_object", where=where)
    missing = [k for k in required if k not in obj]
    if missing:
        _fail(f"{where}: missing {', '.join(missing)}", "missing_fields", where=where,
              fields=", ".join(missing))
    unknown = [k for k in obj if k not in required]
    if unknown:
        _fail(f"{where}: unknown field {shown(unknown[0])}", "unknown_field", where=where,
              field=shown(unknown[0]))
    return obj


def hex_bytes(value: Any, size: int, where: str) -> bytes:
    """Exactly ``2*size`` lower-case hex digits, nothing else (no 0x, no spaces)."""
    if not isinstance(value, str) or not _HEX[size].fullmatch(value):
        _fail(f"{where}: expected {2 * size} lower-case hex digits", "not_hex", where=where,
              digits=2 * size)
    return bytes.fromhex(value)


def integer(value: Any, low: int, high: int, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        _fail(f"{where}: expected an integer {low} .. {high}", "not_in_range", where=where,
              low=low, high=high)
    return value


def matching(value: Any, pattern: re.Pattern[str], where: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        got = shown(value) if isinstance(value, str) else type(value).__name__
        _fail(f"{where}: {got} is not of the form {pattern.pattern}", "not_of_form",
              where=where, value=got, pattern=pattern.pattern)
    return value


def values(raw: Any, k: int, where: str) -> tuple[int, ...]:
    """``k`` decimal strings (no sign, no leading zeros), each below 2**128."""
    if not isinstance(raw, list) or len(raw) != k:
        _fail(f"{where}: expected a list of {k} decimal strings", "not_values", where=where,
              count=k)
    out = []
    for i, v in enumerate(raw):
        if not isinstance(v, str) or not DECIMAL.fullmatch(v):
            got = shown(v) if isinstance(v, str) else type(v).__name__
            _fail(f"{where}[{i}]: {got} is not a non-negative integer in decimal",
                  "not_decimal", where=where, index=i, value=got)
        n = int(v)
        if n > MAX_VALUE:
            _fail(f"{where}[{i}]: {v} exceeds 2**{WIDTH_BITS}-1", "value_too_large",
                  where=where, index=i, value=v, bits=WIDTH_BITS)
        out.append(n)
    return tuple(out)


def customer_id(value: Any, where: str) -> str:
    """1 to :data:`MAX_ID_BYTES` bytes of UTF-8 without control characters."""
    if not isinstance(value, str) or not value:
        _fail(f"{where}: expected a non-empty string", "empty_id", where=where)
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        _fail(f"{where}: {shown(value)} is not valid Unicode", "not_unicode", where=where,
              value=shown(value))
    if len(raw) > MAX_ID_BYTES:
        _fail(f"{where}: longer than {MAX_ID_BYTES} bytes", "id_too_long", where=where,
              most=MAX_ID_BYTES)
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        _fail(f"{where}: {shown(value)} contains control characters", "control_characters",
              where=where, value=shown(value))
    return value


# ------------------------------------------------------------------ the snapshot header


@dataclass(frozen=True)
class AssetSpec:
    """One asset of the snapshot: symbol, decimals, chain and token contract (or None)."""

    symbol: str
    decimals: int
    chain: str
    token: str | None = None


@dataclass(frozen=True)
class ChainPoint:
    """Where the reserves are read: a chain (kinko's name and its CAIP-2 id) at a block."""

    chain: str
    chain_id: str
    block: int
    block_hash: bytes


@dataclass(frozen=True)
class Header:
    """Everything the root commits to besides the tree: see :meth:`encode`."""

    snapshot_id: bytes
    height: int
    assets: tuple[AssetSpec, ...]
    ledger_seq: int | None = None
    time: str | None = None
    reserves_at: tuple[ChainPoint, ...] = ()
    customers: tuple[int, int] | None = None  # (min, max) customers, when published

    def check(self) -> Header:
        """Refuse anything the format cannot hold; the header itself when it is sound."""
        if len(self.snapshot_id) != 16:
            _fail("snapshot.id: expected 16 bytes", "wrong_size", where="snapshot.id", size=16)
        integer(self.height, 0, MAX_HEIGHT, "snapshot.height")
        if not 0 < len(self.assets) <= MAX_ASSETS:
            _fail(f"snapshot.assets: expected 1 to {MAX_ASSETS} assets", "asset_count",
                  most=MAX_ASSETS)
        seen = set()
        for i, a in enumerate(self.assets):
            where = f"snapshot.assets[{i}]"
            matching(a.symbol, SYMBOL, where + ".symbol")
            integer(a.decimals, 0, 255, where + ".decimals")
            matching(a.chain, CHAIN, where + ".chain")
            if a.token is not None:
                matching(a.token, TOKEN, where + ".token")
            if a.symbol in seen:
                _fail(f"{where}: asset {a.symbol} appears twice", "asset_twice", where=where,
                      asset=a.symbol)
            seen.add(a.symbol)
        if self.ledger_seq is not None:
            integer(self.ledger_seq, 0, MAX_U63, "snapshot.ledger_seq")
        if self.time is not None:
            matching(self.time, TIME, "snapshot.time")
            try:
                datetime.strptime(self.time, "%Y-%m-%dT%H:%M:%S.%fZ")
            except ValueError:
                _fail(f"snapshot.time: {shown(self.time)} is not a valid time", "bad_time",
                      time=shown(self.time))
        if len(self.reserves_at) > MAX_CHAINS:
            _fail(f"snapshot.reserves_at: at most {MAX_CHAINS} chains", "too_many_chains",
                  most=MAX_CHAINS)
        chains = set()
        for i, p in enumerate(self.reserves_at):
            where = f"snapshot.reserves_at[{i}]"
            matching(p.chain, CHAIN, where + ".chain")
            matching(p.chain_id, CHAIN_ID, where + ".chain_id")
            integer(p.block, 0, MAX_U63, where + ".block")
            if len(p.block_hash) != 32:
                _fail(where + ".block_hash: expected 32 bytes", "wrong_size",
                      where=where + ".block_hash", size=32)
            if p.chain in chains:
                _fail(f"{where}: chain {p.chain} appears twice", "chain_twice", where=where,
                      chain=p.chain)
            chains.add(p.chain)
        if self.customers is not None:
            low, high = self.customers
            integer(low, 0, 1 << self.height, "snapshot.customers.min")
            integer(high, low, 1 << self.height, "snapshot.customers.max")
        return self

    def encode(self) -> bytes:
        """The committed bytes (see the format's specification)."""
        out = bytearray(self.snapshot_id)
        out.append(self.height)
        out.append(len(self.assets))
        for a in self.assets:
            out += _str8(a.symbol) + bytes([a.decimals]) + _str8(a.chain) + _str8(a.token or "")
        out += b"\x00" if self.ledger_seq is None else b"\x01" + self.ledger_seq.to_bytes(8, "big")
        out += _str8(self.time or "")
        out.append(len(self.reserves_at))
        for p in self.reserves_at:
            out += (_str8(p.chain) + _str8(p.chain_id) + p.block.to_bytes(8, "big")
                    + p.block_hash)
        if self.customers is None:
            out += b"\x00"
        else:
            out += b"\x01" + self.customers[0].to_bytes(8, "big") \
                + self.customers[1].to_bytes(8, "big")
        return bytes(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.snapshot_id.hex(),
            "height": self.height,
            "assets": [{"symbol": a.symbol, "decimals": a.decimals, "chain": a.chain,
                        "token": a.token} for a in self.assets],
            "ledger_seq": self.ledger_seq,
            "time": self.time,
            "reserves_at": [{"chain": p.chain, "chain_id": p.chain_id, "block": p.block,
                             "block_hash": p.block_hash.hex()} for p in self.reserves_at],
            "customers": None if self.customers is None else {
                "min": self.customers[0], "max": self.customers[1]},
        }

    def point(self, chain: str) -> ChainPoint | None:
        """The block the reserves of ``chain`` are read at, if the snapshot names one."""
        return next((p for p in self.reserves_at if p.chain == chain), None)


def _str8(s: str) -> bytes:
    raw = s.encode("ascii")
    return bytes([len(raw)]) + raw


def parse_header(raw: Any, where: str = "snapshot") -> Header:
    obj = fields(raw, where, ("id", "height", "assets", "ledger_seq", "time", "reserves_at",
                              "customers"))
    assets_raw = obj["assets"]
    if not isinstance(assets_raw, list):
        _fail(f"{where}.assets: expected a list", "not_list", where=where + ".assets")
    assets = []
    for i, a in enumerate(assets_raw[:MAX_ASSETS + 1]):
        f = fields(a, f"{where}.assets[{i}]", ("symbol", "decimals", "chain", "token"))
        assets.append(AssetSpec(f["symbol"], f["decimals"], f["chain"], f["token"]))
    points_raw = obj["reserves_at"]
    if not isinstance(points_raw, list):
        _fail(f"{where}.reserves_at: expected a list", "not_list",
              where=where + ".reserves_at")
    points = []
    for i, p in enumerate(points_raw[:MAX_CHAINS + 1]):
        at = f"{where}.reserves_at[{i}]"
        f = fields(p, at, ("chain", "chain_id", "block", "block_hash"))
        points.append(ChainPoint(f["chain"], f["chain_id"], f["block"],
                                 hex_bytes(f["block_hash"], 32, at + ".block_hash")))
    customers = obj["customers"]
    count: tuple[int, int] | None = None
    if customers is not None:
        f = fields(customers, where + ".customers", ("min", "max"))
        count = (integer(f["min"], 0, MAX_U63, where + ".customers.min"),
                 integer(f["max"], 0, MAX_U63, where + ".customers.max"))
    return Header(hex_bytes(obj["id"], 16, where + ".id"),
                  integer(obj["height"], 0, MAX_HEIGHT, where + ".height"), tuple(assets),
                  obj["ledger_seq"], obj["time"], tuple(points), count).check()


# ------------------------------------------------------------------------------ hashing


def encode_values(vals: Sequence[int]) -> bytes:
    return b"".join(v.to_bytes(VALUE_BYTES, "big") for v in vals)


def leaf_hash(snapshot_id: bytes, customer: str, salt: bytes, vals: Sequence[int]) -> bytes:
    cid = customer.encode("utf-8")
    return hashlib.sha256(LEAF_TAG + snapshot_id + len(cid).to_bytes(2, "big") + cid + salt
                          + encode_values(vals)).digest()


def node_hash(left: bytes, left_values: bytes, right: bytes, right_values: bytes) -> bytes:
    return hashlib.sha256(NODE_TAG + left + left_values + right + right_values).digest()


def pad_hashes(snapshot_id: bytes, height: int, k: int) -> list[bytes]:
    """The hash of a whole padding subtree at each level 0 .. height."""
    zero = bytes(VALUE_BYTES * k)
    pad = hashlib.sha256(PAD_TAG + snapshot_id).digest()
    out = [pad]
    for _ in range(height):
        pad = node_hash(pad, zero, pad, zero)
        out.append(pad)
    return out


def root_commitment(header: Header, top: bytes, top_values: bytes) -> bytes:
    return hashlib.sha256(ROOT_TAG + header.encode() + top + top_values).digest()


# ---------------------------------------------------------------------------- verifying


def _format(doc: Any, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        _fail(f"{what}: expected a JSON object", "not_object", where=what)
    found = doc.get("format")
    if found in OLD_FORMATS:
        _fail(f"{what} is in the old format {found}, which binds neither the reserves side nor the "
              f"customer count: ask the exchange for a {FORMAT} {what}", "old_format", what=what,
              found=found, format=FORMAT)
    if found != FORMAT:
        got = shown(found) if isinstance(found, str) else repr(found)[:40]
        _fail(f"{what}: unknown format {got} (this verifier reads {FORMAT})", "unknown_format",
              what=what, found=got, format=FORMAT)
    return doc


@dataclass(frozen=True)
class Verified:
    """A proof that holds: the customer's balances and the totals the root commits to."""

    header: Header
    customer: str
    balances: tuple[int, ...]
    totals: tuple[int, ...]
    position: int
    root_hash: bytes

    def named(self, vals: Sequence[int]) -> dict[str, int]:
        return {a.symbol: v for a, v in zip(self.header.assets, vals, strict=True)}


def published_root(text: Any) -> Any:
    """The root hash as a customer may copy it from the exchange's page: in either case,
    with ``0x`` or not, with spaces around it; in lower case (anything else is left as it
    is, for :func:`hex_bytes` to refuse)."""
    if not isinstance(text, str):
        return text
    text = text.strip()
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    return digits.lower() if len(digits) == 64 and digits.isascii() else text


def verify(proof: Any, root_hash: str, customer: str | None) -> Verified:
    """Check ``proof`` (parsed JSON) for ``customer`` against the published ``root_hash``.

    ``customer`` None accepts whoever the proof names (an operator checking a file; a
    customer always gives their id). Raises :class:`ProofError` naming the first thing
    that does not hold.
    """
    root = hex_bytes(published_root(root_hash), 32, "ROOT_HASH")
    expected = None if customer is None else customer_id(customer, "the customer id given")
    doc = fields(_format(proof, "proof"), "proof",
                 ("format", "snapshot", "customer", "path", "root_hash"))
    header = parse_header(doc["snapshot"])
    k = len(header.assets)
    me = fields(doc["customer"], "customer", ("id", "salt", "balances"))
    cid = customer_id(me["id"], "customer.id")
    if expected is not None and cid != expected:
        _fail(f"this proof is for customer {shown(cid)}, not {shown(expected)}",
              "other_customer", customer=shown(cid), expected=shown(expected))
    salt = hex_bytes(me["salt"], 32, "customer.salt")
    balances = values(me["balances"], k, "customer.balances")
    path = doc["path"]
    if not isinstance(path, list) or len(path) != header.height:
        _fail(f"path: expected {header.height} steps", "path_length", steps=header.height)
    steps = []
    position = 0
    for n, step in enumerate(path):
        f = fields(step, f"path[{n}]", ("side", "hash", "values"))
        if f["side"] not in ("left", "right"):
            _fail(f"path[{n}].side: expected left or right", "bad_side", step=n)
        if f["side"] == "left":  # the sibling is on the left: this node is a right child
            position |= 1 << n
        steps.append((f["side"], hex_bytes(f["hash"], 32, f"path[{n}].hash"),
                      values(f["values"], k, f"path[{n}].values")))
    current = leaf_hash(header.snapshot_id, cid, salt, balances)
    running = list(balances)
    for n, (side, other, other_values) in enumerate(steps):
        if side == "left":
            current = node_hash(other, encode_values(other_values), current,
                                encode_values(running))
        else:
            current = node_hash(current, encode_values(running), other,
                                encode_values(other_values))
        running = [a + b for a, b in zip(running, other_values, strict=True)]
        if any(v > MAX_VALUE for v in running):
            _fail(f"path[{n}]: a sum exceeds 2**{WIDTH_BITS}-1", "sum_too_large", step=n,
                  bits=WIDTH_BITS)
    computed = root_commitment(header, current, encode_values(running))
    if computed != root:
        _fail(f"the proof leads to root {computed.hex()}, not {root.hex()}: it was altered "
              "or belongs to another snapshot", "root_mismatch", computed=computed.hex(),
              root=root.hex())
    if doc["root_hash"] != root.hex():
        field = shown(str(doc["root_hash"])[:80])
        _fail(f"the proof's root_hash field {field} differs from the root it leads to",
              "root_field", value=field)
    if header.customers is not None:
        _check_position(header, position, steps)
    return Verified(header, cid, balances, tuple(running), position, root)


def _check_position(header: Header, position: int,
                    steps: Sequence[tuple[str, bytes, tuple[int, ...]]]) -> None:
    """With a committed count (min, max): customers hold positions 0 .. n-1, n <= max, the
    rest is padding. So this leaf lies below max, every sibling subtree lying wholly at or
    beyond max is padding, and every one lying wholly below min is not."""
    assert header.customers is not None
    low, high = header.customers
    if position >= high:
        _fail(f"the proof's leaf is at position {position}, beyond the {high} customers the "
              "root commits to", "beyond_count", position=position, count=high)
    pads = pad_hashes(header.snapshot_id, header.height, len(header.assets))
    for n, (_side, other, other_values) in enumerate(steps):
        first = ((position >> n) ^ 1) << n
        last = first + (1 << n) - 1
        padding = other == pads[n] and not any(other_values)
        if first >= high and not padding:
            _fail(f"path[{n}]: positions {first} .. {last} lie beyond the committed customer "
                  "count but are not padding", "not_padding", step=n, first=first, last=last)
        if last < low and padding:
            _fail(f"path[{n}]: positions {first} .. {last} are padding, yet the root commits "
                  f"to at least {low} customers", "padding_counted", step=n, first=first,
                  last=last, least=low)


def verify_root(doc: Any) -> tuple[Header, tuple[int, ...], bytes]:
    """Check a ``root.json``: its header, top hash and totals must reproduce its root hash.

    Returns ``(header, totals, root hash)``; raises :class:`ProofError`.
    """
    f = fields(_format(doc, "root.json"), "root.json",
               ("format", "snapshot", "root_hash", "top_hash", "totals", "leaves"))
    header = parse_header(f["snapshot"])
    totals = values(f["totals"], len(header.assets), "root.json totals")
    top = hex_bytes(f["top_hash"], 32, "root.json top_hash")
    root = hex_bytes(f["root_hash"], 32, "root.json root_hash")
    if f["leaves"] != 1 << header.height or isinstance(f["leaves"], bool):
        _fail(f"root.json leaves: expected 2**height = {1 << header.height}", "leaves",
              leaves=1 << header.height)
    if root_commitment(header, top, encode_values(totals)) != root:
        _fail("root.json does not match its root hash: its snapshot, top hash or totals "
              "were altered", "root_json_altered")
    return header, totals, root


# --------------------------------------------------------------------------------- main


def describe(header: Header) -> list[str]:
    """What the snapshot commits to besides the amounts, in plain lines."""
    chains = ", ".join(f"block {p.block} of {p.chain} ({p.chain_id}), hash {p.block_hash.hex()}"
                       for p in header.reserves_at) or "none (no reserves are bound)"
    if header.customers is None:
        count = f"not published (at most {1 << header.height})"
    elif header.customers[0] == header.customers[1]:
        count = f"exactly {header.customers[0]}"
    else:
        count = f"between {header.customers[0]} and {header.customers[1]}"
    seq = "not stated" if header.ledger_seq is None else header.ledger_seq
    return [f"  taken at:         {header.time or 'not stated'}",
            f"  ledger entry:     {seq}",
            f"  reserves read at: {chains}",
            f"  customers:        {count}"]


_COMMAND = "python verify_proof.py PROOF.json ROOT_HASH --customer YOUR_ID"
USAGE = f"usage: {_COMMAND}"


def _args(argv: Sequence[str]) -> tuple[str, str, str]:
    positional: list[str] = []
    customer: str | None = None
    args = iter(argv)
    for arg in args:
        if arg == "--customer":
            customer = next(args, None)
            if customer is None:
                _fail(f"--customer needs your customer id; {USAGE}", "customer_needed",
                      command=_COMMAND)
        elif arg.startswith("--customer="):
            customer = arg[len("--customer="):]
        elif arg.startswith("-") and len(arg) > 1:
            _fail(f"unknown option {shown(arg)}; {USAGE}", "unknown_option",
                  option=shown(arg), command=_COMMAND)
        else:
            positional.append(arg)
    if len(positional) != 2 or customer is None:
        _fail(USAGE, "usage", command=_COMMAND)
    return positional[0], positional[1], customer


def run(argv: Sequence[str]) -> list[str]:
    """Verify as the command line asks; the lines to print. Raises :class:`ProofError`."""
    path, root_hash, customer = _args(argv)
    return report(verify(read(path, "proof"), root_hash, customer))


def report(v: Verified) -> list[str]:
    """What a verified proof shows: the customer's balances, the committed totals and
    what else the snapshot commits to."""
    assets = v.header.assets
    lines = [f"OK: customer {shown(v.customer)} is counted in root {v.root_hash.hex()} "
             f"(snapshot {v.header.snapshot_id.hex()}) with:"]
    lines += [f"  {a.symbol} {amount(b, a.decimals)}"
              for a, b in zip(assets, v.balances, strict=True)]
    lines.append("The exchange committed to these totals owed to all its customers; compare "
                 "them with what it announces:")
    lines += [f"  {a.symbol} {amount(t, a.decimals)} ({a.decimals} decimals, chain {a.chain}"
              + (f", token {a.token})" if a.token else ")")
              for a, t in zip(assets, v.totals, strict=True)]
    lines.append("The snapshot:")
    return lines + describe(v.header)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    for stream in (sys.stdout, sys.stderr):  # never fail on a terminal's encoding
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        lines = run(args)
    except ProofError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the last resort: any input ends in one FAIL line
        print(f"FAIL: the proof could not be checked ({type(exc).__name__}: "
              f"{shown(str(exc)[:200])})", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
