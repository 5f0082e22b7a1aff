"""Standalone verifier for kinko proof-of-liabilities proofs (format ``kinko-por-v1``).

Standard library only: download this one file and run::

    python verify_proof.py PROOF.json ROOT_HASH

It recomputes your leaf from your id, salt and balances, then every node up the path
(``SHA-256("kinko-por-node-v1" ‖ left hash ‖ left values ‖ right hash ‖ right values)``,
values 16-byte big-endian each, sums checked below 2**128), then the root commitment
``SHA-256("kinko-por-root-v1" ‖ snapshot id ‖ height ‖ assets ‖ top hash ‖ top values)`` and
compares it with ROOT_HASH, the hash the exchange published. Exit 0 and your balances as
counted when it matches, exit 1 and the reason otherwise. See docs/proof-of-reserves.md.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

FORMAT = "kinko-por-v1"
MAX_VALUE = (1 << 128) - 1
MAX_HEIGHT = 40


class ProofError(Exception):
    """The proof does not hold; the message says why."""


def _hex(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise ProofError(f"{what}: expected {2 * size} hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ProofError(f"{what}: not hex") from None


def _values(raw: Any, k: int, what: str) -> list[int]:
    if not isinstance(raw, list) or len(raw) != k:
        raise ProofError(f"{what}: expected a list of {k} decimal strings")
    out = []
    for i, v in enumerate(raw):
        if not isinstance(v, str) or not v.isascii() or not v.isdigit() \
                or (len(v) > 1 and v[0] == "0"):
            raise ProofError(f"{what}[{i}]: {v!r} is not a non-negative integer in decimal")
        n = int(v)
        if n > MAX_VALUE:
            raise ProofError(f"{what}[{i}]: {v} exceeds 2**128-1")
        out.append(n)
    return out


def _enc(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(16, "big") for v in values)


def verify(proof: Any, root_hash: str) -> dict[str, str]:
    """Check ``proof`` (parsed JSON) against the published root hash (hex).

    Returns the balances as counted, symbol -> decimal amount; raises :class:`ProofError`.
    """
    root = _hex(root_hash.strip().lower(), 32, "ROOT_HASH")
    if not isinstance(proof, dict):
        raise ProofError("proof: expected a JSON object")
    if proof.get("format") != FORMAT:
        raise ProofError(f"unknown format {proof.get('format')!r} (this verifier reads {FORMAT})")
    sid = _hex(proof.get("snapshot_id"), 16, "snapshot_id")
    height = proof.get("height")
    if not isinstance(height, int) or isinstance(height, bool) or not 0 <= height <= MAX_HEIGHT:
        raise ProofError("height: expected an integer 0 .. 40")
    assets = proof.get("assets")
    if not isinstance(assets, list) or not 0 < len(assets) < 256:
        raise ProofError("assets: expected a list of {symbol, decimals}")
    encoded_assets = bytes([len(assets)])
    for a in assets:
        if not isinstance(a, dict) or not isinstance(a.get("symbol"), str) \
                or not a["symbol"].isascii() or not 0 < len(a["symbol"]) < 256 \
                or not isinstance(a.get("decimals"), int) or not 0 <= a["decimals"] <= 255:
            raise ProofError("assets: expected a list of {symbol, decimals}")
        raw = a["symbol"].encode("ascii")
        encoded_assets += bytes([len(raw)]) + raw + bytes([a["decimals"]])
    k = len(assets)
    customer = proof.get("customer")
    if not isinstance(customer, dict) or not isinstance(customer.get("id"), str):
        raise ProofError("customer: expected {id, salt, balances}")
    cid = customer["id"].encode("utf-8")
    salt = _hex(customer.get("salt"), 32, "customer.salt")
    balances = _values(customer.get("balances"), k, "customer.balances")
    current = hashlib.sha256(b"kinko-por-leaf-v1" + sid + len(cid).to_bytes(2, "big") + cid
                             + salt + _enc(balances)).digest()
    values = balances
    path = proof.get("path")
    if not isinstance(path, list) or len(path) != height:
        raise ProofError(f"path: expected {height} steps")
    for n, step in enumerate(path):
        if not isinstance(step, dict) or step.get("side") not in ("left", "right"):
            raise ProofError(f"path[{n}]: expected {{side: left|right, hash, values}}")
        other = _hex(step.get("hash"), 32, f"path[{n}].hash")
        other_values = _values(step.get("values"), k, f"path[{n}].values")
        if step["side"] == "left":
            data = other + _enc(other_values) + current + _enc(values)
        else:
            data = current + _enc(values) + other + _enc(other_values)
        current = hashlib.sha256(b"kinko-por-node-v1" + data).digest()
        values = [a + b for a, b in zip(values, other_values, strict=True)]
        if any(v > MAX_VALUE for v in values):
            raise ProofError(f"path[{n}]: a sum exceeds 2**128-1")
    computed = hashlib.sha256(b"kinko-por-root-v1" + sid + bytes([height]) + encoded_assets
                              + current + _enc(values)).digest()
    if computed != root:
        raise ProofError(f"the proof leads to root {computed.hex()}, not {root.hex()}: "
                         "it was altered or belongs to another snapshot")
    return {str(a["symbol"]): _decimal(v, int(a["decimals"]))
            for a, v in zip(assets, balances, strict=True)}


def _decimal(units: int, decimals: int) -> str:
    whole, frac = divmod(units, 10 ** decimals)
    if decimals == 0:
        return str(whole)
    text = f"{whole}.{frac:0{decimals}d}".rstrip("0")
    return text.rstrip(".")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python verify_proof.py PROOF.json ROOT_HASH", file=sys.stderr)
        return 1
    try:
        with open(args[0], encoding="utf-8") as f:
            proof = json.load(f)
    except OSError as exc:
        print(f"FAIL: cannot read {args[0]}: {exc.strerror}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"FAIL: {args[0]} is not valid JSON: {exc}", file=sys.stderr)
        return 1
    try:
        balances = verify(proof, args[1])
    except ProofError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    print(f"OK: customer {proof['customer']['id']} is counted in root {args[1].strip()} "
          f"(snapshot {proof['snapshot_id']}) with:")
    for symbol, amount in balances.items():
        print(f"  {symbol} {amount}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
