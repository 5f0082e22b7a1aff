"""NEM transactions as a cosignatory reads them, and NEM proofs of control: pure, on the
NEM SDK's computing functions (no I/O).

A multisig account's transfer is read from **its own bytes** (:func:`read_transfer`: the
unsigned inner transaction as NIS1 serialises it), never from what a caller says it does:
the account, recipient, XEM and mosaics, time stamp and deadline, fee (and the most NIS1
would ask: :attr:`NemTransfer.fee_cap`), and its hash, which cosignatures name. A signed
cosignature is checked with :func:`read_cosignature` (its signature, the transfer and
account it names); a proof of control (:func:`message_signer`) is a public key and its
signature of a text. Addresses come out in the registry's canonical form
(:mod:`kinko.domain.addresses`); mosaic ids and amounts are :mod:`kinko.domain.nem`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kinko.domain.addresses import CHAINS, FORMATS, canonical_address
from kinko.domain.messages import msg
from kinko.domain.nem import XEM_MOSAIC, check_public_key, mosaic_id, mosaic_quantity
from kinko.errors import BadInput

__all__ = ["MOSAIC_FEE_CAP", "NemTransfer", "is_nem", "message_signer", "network_byte",
           "read_cosignature", "read_transfer"]

_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){1,4096}")


@dataclass(frozen=True)
class NemTransfer:
    """What a transfer from a NEM multisig account does, read from its own bytes (the inner
    transaction NIS1 makes once enough cosignatories have signed), for a cosignatory to
    compare with what was approved: the ``account`` paying, the recipient ``to``, ``xem``
    (micro-XEM) and ``mosaics`` ((``namespace:name``, smallest units), sorted) moved, its
    ``timestamp`` and ``deadline`` (NEM network seconds; :attr:`deadline_unix` in Unix
    seconds), its ``fee`` and ``inner_hash`` (what cosignatures name, lower-case hex)."""

    chain: str
    account: str
    account_public_key: str
    to: str
    xem: int
    mosaics: tuple[tuple[str, int], ...]
    timestamp: int
    deadline: int
    deadline_unix: int
    fee: int
    inner_hash: str
    data: str  # the inner transaction's bytes, hex: what the terms were read from
    fee_cap: int = 0  # the most NIS1 would ask of it: its minimum fee for XEM, 1.25 XEM a mosaic

    def to_json(self) -> dict[str, object]:
        return {"chain": self.chain, "account": self.account,
                "account_public_key": self.account_public_key, "to": self.to,
                "xem": str(self.xem), "mosaics": {m: str(q) for m, q in self.mosaics},
                "timestamp": self.timestamp, "deadline": self.deadline,
                "deadline_unix": self.deadline_unix, "fee": str(self.fee),
                "inner_hash": self.inner_hash, "data": self.data}


def _facade(chain: str) -> Any:
    from symbolchain.facade.NemFacade import NemFacade
    from symbolchain.nem.Network import Network

    byte = next((getattr(FORMATS[n], "network", None) for n in CHAINS.get(chain, ())), None)
    network = next((n for n in Network.NETWORKS if n.identifier == byte), None)
    if network is None:
        raise BadInput(f"chain {chain!r} is not a NEM network (nem, nem-testnet)", chain=chain,
                       says=msg("error.nem.not_a_network", chain=str(chain)[:80]))
    return NemFacade(network)


def read_transfer(chain: str, data: object) -> NemTransfer:
    """The :class:`NemTransfer` of a NEM transfer's bytes (``data``: hex, as a multisig
    transaction carries its inner transaction, unsigned); :class:`BadInput` naming what is
    wrong when it is not a transfer of ``chain``."""
    from symbolchain import nc

    if not isinstance(data, str) or not _HEX.fullmatch(data):
        raise BadInput("a NEM transfer is hex bytes", field="transfer",
                       says=msg("error.nem.transfer_hex"))
    facade = _facade(chain)
    try:
        tx = nc.NonVerifiableTransactionFactory.deserialize(bytes.fromhex(data))
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise BadInput(f"not a NEM transaction: {exc}", field="transfer",
                       says=msg("error.nem.not_a_transaction", reason=str(exc)[:200])) from None
    name = type(tx).__name__
    if name not in ("NonVerifiableTransferTransactionV1", "NonVerifiableTransferTransactionV2"):
        raise BadInput(f"a {name.removeprefix('NonVerifiable')}, not a transfer",
                       field="transfer", says=msg("error.nem.not_a_transfer",
                                                  kind=name.removeprefix("NonVerifiable")[:80]))
    if tx.network.value != facade.network.identifier:
        raise BadInput(f"a transfer of network 0x{tx.network.value:02x}, not of {chain}",
                       field="transfer", says=msg("error.nem.transfer_network",
                                                  byte=f"0x{tx.network.value:02x}"[:20],
                                                  chain=chain))
    if tx.message and tx.message.message:
        raise BadInput("a transfer with a message: kinko's transfers carry none",
                       field="message", says=msg("error.nem.transfer_message"))
    public_key = str(tx.signer_public_key)
    account = canonical_address(str(facade.network.public_key_to_address(
        _public_key(public_key))), chain)
    to = canonical_address(tx.recipient_address.bytes.decode(), chain)
    amount = tx.amount.value
    moved: dict[str, int] = {}
    for m in getattr(tx, "mosaics", []) or []:
        mosaic = mosaic_id(f"{m.mosaic.mosaic_id.namespace_id.name.decode()}:"
                           f"{m.mosaic.mosaic_id.name.decode()}")
        if mosaic in moved:
            raise BadInput(f"mosaic {mosaic} is named twice in the transfer", field="mosaics",
                           says=msg("error.nem.mosaic_twice", mosaic=mosaic[:120]))
        moved[mosaic] = mosaic_quantity(m.mosaic.amount.value, amount)
    xem = moved.pop(XEM_MOSAIC, 0) if name.endswith("V2") and tx.mosaics else amount
    deadline = tx.deadline.value
    from symbolchain.nem.Network import NetworkTimestamp

    unix = int(facade.network.to_datetime(NetworkTimestamp(deadline)).timestamp())
    return NemTransfer(chain, account, public_key.upper(), to, xem,
                       tuple(sorted((m, q) for m, q in moved.items() if q)), tx.timestamp.value,
                       deadline, unix, tx.fee.value,
                       str(facade.hash_transaction(tx)).lower(), data.upper(),
                       _fee_cap(tx, moved))


MOSAIC_FEE_CAP = 1_250_000
"""The most NIS1's fee rules ask for one mosaic of a transfer (25 × 0.05 XEM)."""


def _fee_cap(tx: Any, moved: dict[str, int]) -> int:
    """The fee NIS1 would ask of transfer ``tx`` at most: its minimum, exactly, when it moves
    only XEM (the SDK's fee calculator); 1.25 XEM for each other mosaic otherwise (their fee
    depends on a supply the transfer does not carry)."""
    from symbolchain.nem.FeeCalculator import calculate_transaction_fee

    if any(m != XEM_MOSAIC for m in moved):
        return MOSAIC_FEE_CAP * len(tx.mosaics)
    return int(calculate_transaction_fee(tx, {XEM_MOSAIC: {"supply": 8_999_999_999,
                                                            "divisibility": 6}}))


def _public_key(text: str) -> Any:
    from symbolchain.CryptoTypes import PublicKey

    return PublicKey(check_public_key(text))


def read_cosignature(chain: str, data: str, signature: str) -> tuple[str, str, str]:
    """(signer's address, the inner hash it names, the account it names) of a signed
    cosignature, whose signature is checked with the NEM SDK; :class:`BadInput` when it is
    not a cosignature of ``chain`` or its signature does not verify."""
    from symbolchain import nc
    from symbolchain.CryptoTypes import Signature
    from symbolchain.nem.KeyPair import Verifier

    facade = _facade(chain)
    try:
        raw = bytes.fromhex(data)
        tx = nc.NonVerifiableTransactionFactory.deserialize(raw)
        ok = type(tx).__name__ == "NonVerifiableCosignatureV1" and bool(
            Verifier(tx.signer_public_key).verify(raw, Signature(signature)))
    except (ValueError, IndexError, KeyError, TypeError):
        ok = False
    if not ok:
        raise BadInput("not a NEM cosignature whose signature verifies", field="cosignature",
                       says=msg("error.nem.cosignature_unverified"))
    signer = canonical_address(str(facade.network.public_key_to_address(
        tx.signer_public_key)), chain)
    return (signer, str(tx.other_transaction_hash).lower(),
            canonical_address(tx.multisig_account_address.bytes.decode(), chain))


def network_byte(chain: str) -> int:
    """The network byte of NEM chain ``chain`` (0x68 mainnet, 0x98 testnet)."""
    return int(_facade(chain).network.identifier)


# ---------------------------------------------------------------------- proof of control


def is_nem(chain: str) -> bool:
    """Whether ``chain`` is a NEM network (its address format has a NEM network byte)."""
    if not any(getattr(FORMATS[n], "network", None) for n in CHAINS.get(chain, ())):
        return False  # no network byte: not NEM, without loading the SDK
    try:
        _facade(chain)
    except BadInput:
        return False
    return True


def message_signer(chain: str, message: str, proof: str) -> str | None:
    """The NEM address that signed ``message`` (its UTF-8 bytes, NEM's Ed25519 with
    Keccak-512) in ``proof``: the signer's public key then the signature, hex (192 digits,
    ``0x`` allowed); None when the proof is malformed or its signature does not verify."""
    from symbolchain.CryptoTypes import PublicKey, Signature
    from symbolchain.nem.KeyPair import Verifier

    text = proof.strip().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-fA-F]{192}", text):
        return None
    try:
        key = PublicKey(text[:64])
        if not Verifier(key).verify(message.encode(), Signature(text[64:])):
            return None
        return canonical_address(str(_facade(chain).network.public_key_to_address(key)),
                                 chain)
    except (ValueError, BadInput):
        return None
