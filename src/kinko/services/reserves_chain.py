"""Proof of reserves on chain: balances at the snapshot block and proof of control.

For the snapshot published in ``DIR/root.json`` (:mod:`kinko.services.reserves`):

* :func:`sign_hot` has each hot wallet's signer sign :func:`~kinko.domain.reserves_proof.
  proof_message` (EIP-191 ``personal_sign``) and records it in ``DIR/signatures.json``;
* :func:`import_signatures` adds the signatures the offline signers of cold and warm wallets
  produced (a JSON file ``{"snapshot_id": ..., "signatures": [{"address", "signature"}]}``),
  each verified by recovering its address; an invalid one never replaces a valid one;
* :func:`build_report` reads every registered address's balance at the block through the
  :class:`~kinko.ports.Chain` port (``token=`` for ERC-20 assets) and sets the reserves
  against the root's totals, with every address's proof status.

Signatures are public data; no key material ever passes through this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from eth_account import Account
from eth_account.messages import encode_defunct

from kinko.domain.addresses import address_key
from kinko.domain.custody import Wallet
from kinko.domain.money import AssetRegistry
from kinko.domain.reserves_proof import (
    MISSING,
    SIGNATURES_FORMAT,
    SIGNED,
    AddressRow,
    AssetReserves,
    ReservesReport,
    proof_message,
)
from kinko.errors import BadInput, InputFileError
from kinko.ports import Chain
from kinko.services.reserves import load_json

__all__ = ["MessageSigner", "SignatureResult", "build_report", "import_signatures",
           "load_root", "read_signatures", "recover", "sign_hot", "status_of"]


class MessageSigner(Protocol):
    """Signs a text message EIP-191 (``personal_sign``); returns the 65-byte signature as
    0x-hex. Holds the key; never reveals it."""

    address: str

    def sign_message(self, text: str) -> str: ...


@dataclass(frozen=True)
class SignatureResult:
    """One signature considered: its address, wallet and status (see ``status_of``)."""

    address: str
    wallet: str
    status: str


def load_root(directory: Path) -> dict[str, Any]:
    """``DIR/root.json``, checked to carry a snapshot id, assets and totals."""
    root = load_json(directory / "root.json", "root")
    if not isinstance(root, dict) or not isinstance(root.get("snapshot_id"), str) \
            or not isinstance(root.get("assets"), list) \
            or not isinstance(root.get("totals"), list) \
            or len(root["assets"]) != len(root["totals"]):
        raise InputFileError(f"{directory / 'root.json'}: not a kinko root.json "
                             "(needs snapshot_id, assets and totals)")
    proof_message(root["snapshot_id"], "0x")  # checks the id's shape
    return root


def recover(message: str, signature: str) -> str | None:
    """The address that signed ``message`` (EIP-191), or None if the signature is malformed."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        if len(raw) != 65:
            return None
        return str(Account.recover_message(encode_defunct(text=message), signature=raw))
    except Exception:  # malformed signatures raise assorted errors inside eth_account
        return None


def status_of(snapshot_id: str, address: str, signature: str | None) -> str:
    """``signed and verified``, ``missing`` or ``invalid (recovers 0x…)``."""
    if not signature:
        return MISSING
    signer = recover(proof_message(snapshot_id, address), signature)
    if signer is None:
        return "invalid (malformed signature)"
    if address_key(signer) != address_key(address):
        return f"invalid (recovers {signer})"
    return SIGNED


def read_signatures(directory: Path, snapshot_id: str) -> dict[str, dict[str, str]]:
    """``DIR/signatures.json`` as address (canonical form) -> record; empty when absent."""
    path = directory / "signatures.json"
    if not path.exists():
        return {}
    data = load_json(path, "signatures")
    if not isinstance(data, dict) or not isinstance(data.get("signatures"), list):
        raise InputFileError(f"{path}: not a kinko signatures file")
    if data.get("snapshot_id") != snapshot_id:
        raise BadInput(f"{path} is for snapshot {data.get('snapshot_id')}, not {snapshot_id}")
    out: dict[str, dict[str, str]] = {}
    for rec in data["signatures"]:
        if isinstance(rec, dict) and isinstance(rec.get("address"), str) \
                and isinstance(rec.get("signature"), str):
            out[address_key(rec["address"])] = {k: str(v) for k, v in rec.items()}
    return out


def _write_signatures(directory: Path, snapshot_id: str,
                      records: dict[str, dict[str, str]]) -> Path:
    path = directory / "signatures.json"
    body = {"format": SIGNATURES_FORMAT, "snapshot_id": snapshot_id,
            "message": proof_message(snapshot_id, "<address>"),
            "signatures": [records[k] for k in sorted(records)]}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _owners(wallets: Iterable[Wallet]) -> dict[str, Wallet]:
    return {address_key(a): w for w in wallets for a in w.addresses}


def _merge(records: dict[str, dict[str, str]], snapshot_id: str, wallet: Wallet, address: str,
           signature: str, source: str) -> SignatureResult:
    status = status_of(snapshot_id, address, signature)
    key = address_key(address)
    old = records.get(key)
    keeps_old = (status != SIGNED and old is not None
                 and status_of(snapshot_id, address, old["signature"]) == SIGNED)
    if not keeps_old:
        records[key] = {"address": address, "wallet": wallet.name, "tier": str(wallet.tier),
                        "signature": signature, "source": source}
    return SignatureResult(address, wallet.name, status)


def sign_hot(directory: Path, wallets: Sequence[Wallet],
             signer_for: Callable[[Wallet], MessageSigner]) -> list[SignatureResult]:
    """Each hot wallet's signer signs the snapshot for its addresses; written to
    ``DIR/signatures.json`` (other signatures there are kept)."""
    sid = load_root(directory)["snapshot_id"]
    records = read_signatures(directory, sid)
    results = []
    for wallet in wallets:
        if wallet.tier != "hot" or not wallet.addresses:
            continue
        signer = signer_for(wallet)
        for address in wallet.addresses:
            if address_key(address) != address_key(signer.address):
                results.append(SignatureResult(address, wallet.name,
                                               f"missing (the signer holds {signer.address})"))
                continue
            signature = signer.sign_message(proof_message(sid, address))
            results.append(_merge(records, sid, wallet, address, signature, "hot"))
    _write_signatures(directory, sid, records)
    return results


def import_signatures(directory: Path, file: Path,
                      wallets: Sequence[Wallet]) -> list[SignatureResult]:
    """Add offline signatures from ``file``; each is verified and its status returned.

    Refuses a file of another snapshot and addresses that are not the exchange's.
    """
    sid = load_root(directory)["snapshot_id"]
    data = load_json(file, "signatures")
    if isinstance(data, dict):
        if data.get("snapshot_id") not in (None, sid):
            raise BadInput(f"{file} is for snapshot {data.get('snapshot_id')}, not {sid}")
        data = data.get("signatures")
    if not isinstance(data, list) or not all(
            isinstance(r, dict) and isinstance(r.get("address"), str)
            and isinstance(r.get("signature"), str) for r in data):
        raise InputFileError(f"{file}: expected signatures as [{{address, signature}}]")
    owners = _owners(wallets)
    unknown = [r["address"] for r in data if address_key(r["address"]) not in owners]
    if unknown:
        raise BadInput(f"{file}: not addresses of the exchange's wallets: {', '.join(unknown)}")
    records = read_signatures(directory, sid)
    results = [_merge(records, sid, owners[address_key(r["address"])], r["address"],
                      r["signature"], "imported") for r in data]
    _write_signatures(directory, sid, records)
    return results


def build_report(directory: Path, wallets: Sequence[Wallet], assets: AssetRegistry,
                 chain: Chain, block: int | None = None) -> ReservesReport:
    """Per asset of the snapshot: balances of every registered address at ``block`` (the
    root's ``snapshot_block`` when absent, else the chain's head), liabilities from the
    root's totals, and each address's proof status."""
    root = load_root(directory)
    sid = root["snapshot_id"]
    if block is None:
        recorded = root.get("snapshot_block", root.get("block"))
        block = recorded if isinstance(recorded, int) else chain.head()
    if block < 0:
        raise BadInput(f"block {block} is negative")
    records = read_signatures(directory, sid)
    out = []
    for spec, total in zip(root["assets"], root["totals"], strict=True):
        symbol = str(spec["symbol"])
        held = [w for w in wallets if w.asset == symbol and w.addresses]
        addresses = [a for w in held for a in w.addresses]
        token = assets[symbol].token if symbol in assets else None
        balances = chain.balances(addresses, block, token=token) if addresses else {}
        rows = tuple(
            AddressRow(w.name, str(w.tier), a, _balance(balances, a),
                       status_of(sid, a, records.get(address_key(a), {}).get("signature")))
            for w in held for a in w.addresses)
        out.append(AssetReserves(symbol, int(spec["decimals"]), sum(r.balance for r in rows),
                                 int(total), rows))
    return ReservesReport(sid, str(root.get("root_hash", "")), block, tuple(out))


def _balance(balances: dict[str, int], address: str) -> int:
    if address in balances:
        return balances[address]
    key = address_key(address)
    return next((v for k, v in balances.items() if address_key(k) == key), 0)
