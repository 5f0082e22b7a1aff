"""NEM (NIS1) keys, addresses and transactions, on the NEM SDK.

Everything cryptographic is ``symbol-sdk-python``'s (the SDK the NEM and Symbol developers
maintain, MIT licence; its NEM facade): NEM's Ed25519 with Keccak-512 (keys, signatures),
addresses from public keys, and the binary form of transactions that NIS1 signs and
announces. kinko writes none of it. What kinko adds is checked input and one vocabulary:

- the network of a chain (``nem`` mainnet, ``nem-testnet``) is the network byte of that
  chain's address format in the address registry (:mod:`kinko.domain.addresses`), the one
  place NEM addresses are checked (base32, network byte, and the SDK's checksum verdict);
  every address the SDK derives or reads goes through it, so kinko compares NEM addresses
  in one canonical form;
- :class:`NemKey` holds a private key and signs; it never shows the key (its ``repr`` is its
  address) and reads it from a key file whose content never reaches a message;
- :func:`transfer` builds a version 2 transfer (XEM, or mosaics with the multiplier 1,000,000:
  each mosaic moves exactly its quantity), :func:`multisig` wraps a transfer of a multisig
  account for one of its cosignatories to sign, and :func:`cosignature` is another
  cosignatory's approval of it (by the inner transaction's hash); NIS1 executes the inner
  transfer only once the account's minimum of cosignatories has signed;
- :class:`Signed` is what NIS1's ``/transaction/announce`` takes (``data`` and ``signature``,
  hex) with the hash NIS1 will give it; :func:`verify` checks one with the SDK.

Fees follow NIS1's rules through the SDK's fee calculator (:func:`minimum_fee`): a transfer
pays by its amount (0.05 XEM for up to 20,000 XEM) and message, a mosaic transfer by the
mosaic's supply and divisibility, a multisig wrapper and a cosignature 0.15 XEM each.
Amounts are integers in micro-XEM or in the mosaic's smallest unit, never floats.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from symbolchain import nc
from symbolchain.CryptoTypes import PrivateKey, PublicKey, Signature
from symbolchain.facade.NemFacade import NemFacade
from symbolchain.nem.FeeCalculator import calculate_transaction_fee
from symbolchain.nem.KeyPair import KeyPair, Verifier
from symbolchain.nem.Network import Network

from kinko.domain.addresses import CHAINS, FORMATS, canonical_address
from kinko.domain.messages import msg, os_refusal
from kinko.domain.nem import MICRO_XEM, XEM_MOSAIC, check_public_key, mosaic_id, split_mosaic
from kinko.errors import BadInput, ConfigError
from kinko.safeload import open_input

__all__ = ["MAX_DEADLINE", "NemKey", "Signed", "address_of", "cosignature", "decode",
           "facade", "from_nis", "inner_hash", "minimum_fee", "modification", "multisig",
           "network_time",
           "nis_hash", "transfer", "unix_time", "verify"]

MAX_DEADLINE = timedelta(hours=24)
"""NIS1 refuses a transaction whose deadline is more than a day after its time stamp."""
_HEX64 = re.compile(r"(?:00)?[0-9a-fA-F]{64}")  # NanoWallet exports a 00-prefixed key too


@cache
def facade(chain: str) -> Any:
    """The SDK's NEM facade of ``chain`` (``nem`` or ``nem-testnet``): its network is the one
    whose byte the chain's address format in the registry names."""
    names = CHAINS.get(chain, ())
    byte = next((getattr(FORMATS[n], "network", None) for n in names), None)
    network = next((n for n in Network.NETWORKS if n.identifier == byte), None)
    if network is None:
        raise ConfigError(f"chain {chain!r} is not a NEM network kinko knows (nem, "
                          "nem-testnet)", chain=chain,
                          says=msg("error.nem.unknown_network", chain=str(chain)[:80]))
    return NemFacade(network)


def network_time(chain: str, at: datetime) -> int:
    """NEM's time stamp (seconds since the network's first block) of ``at``."""
    return int(facade(chain).network.from_datetime(at.astimezone(UTC)).timestamp)


def unix_time(chain: str, stamp: int) -> int:
    """Unix time (seconds) of NEM time stamp ``stamp`` (seconds since the network's first
    block, 2015-03-29 00:06:25 UTC)."""
    from symbolchain.nem.Network import NetworkTimestamp

    return int(facade(chain).network.to_datetime(NetworkTimestamp(stamp)).timestamp())


def address_of(public_key: str, chain: str) -> str:
    """The address of a public key on ``chain``, in kinko's canonical form."""
    key = PublicKey(check_public_key(public_key))
    return canonical_address(str(facade(chain).network.public_key_to_address(key)), chain)


class NemKey:
    """A NEM private key; signs, never shows itself (``repr`` and errors name its address)."""

    def __init__(self, private_key: str, chain: str, *, source: str = "key") -> None:
        text = private_key.strip()
        if not _HEX64.fullmatch(text):
            raise BadInput(f"{source}: not a NEM private key (64 hex digits expected)",
                           file=source,
                           says=msg("error.nem.not_a_private_key", source=str(source)[:200]))
        self._pair = KeyPair(PrivateKey(text[-64:]))
        self.chain = chain
        self.public_key = str(self._pair.public_key)
        self.address = address_of(self.public_key, chain)

    @classmethod
    def from_file(cls, path: Path, chain: str) -> NemKey:
        """The key in a file (its first line: 64 hex digits, as NEM wallets export it)."""
        try:
            with open_input(Path(path), BadInput) as fh:  # a file: never a FIFO or device
                raw = fh.read(4096)  # a key is one line: never more is read
        except OSError as exc:
            raise BadInput(f"{path}: cannot read the key file ({exc.strerror})",
                           file=str(path),
                           says=msg("error.nem.key_file_unreadable", file=str(path)[:200],
                                    reason=os_refusal(exc))) from None
        lines = raw.decode("ascii", "replace").splitlines()
        return cls(lines[0] if lines else "", chain, source=str(path))

    @classmethod
    def create(cls, path: Path, chain: str, *,
               accept: Callable[[str], object] | None = None) -> NemKey:
        """A new key for ``chain``, written to a new key file ``path`` in the form
        :meth:`from_file` reads (the private key, 64 hex digits, one line; mode 0600:
        readable by this user only); an existing file is never overwritten. ``accept``,
        given the new key's address, may refuse it (by raising) before anything is written."""
        if path.exists():
            raise ConfigError(f"NEM key file {path} already exists; refusing to overwrite a key",
                              file=str(path),
                              says=msg("error.nem.key_file_exists", file=str(path)[:200]))
        text = secrets.token_hex(32).upper()
        key = cls(text, chain, source=str(path))
        if accept is not None:
            accept(key.address)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text + "\n")
        return key

    def __repr__(self) -> str:
        return f"NemKey({self.address})"

    def sign(self, transaction: Any) -> Signed:
        """``transaction`` (built here) signed by this key, which must be its signer."""
        if str(transaction.signer_public_key) != self.public_key:
            raise BadInput(f"the transaction's signer is {transaction.signer_public_key}, "
                           f"not this key ({self.address})",
                           says=msg("error.nem.not_the_signer",
                                    signer=str(transaction.signer_public_key)[:80],
                                    address=self.address))
        f = facade(self.chain)
        signature = f.sign_transaction(self._pair, transaction)
        return Signed(data=bytes(f.extract_signing_payload(transaction)).hex().upper(),
                      signature=str(signature), hash=str(f.hash_transaction(transaction)),
                      chain=self.chain)


    def sign_message(self, text: str) -> str:
        """A proof of control of this key's account: its public key then its signature of
        ``text``'s UTF-8 bytes, hex (:func:`kinko.domain.nem_tx.message_signer` reads it)."""
        return (self.public_key + str(self._pair.sign(text.encode()))).lower()

    def cosign(self, inner_hash: str, account: str, timestamp: int,
               deadline: int) -> tuple[str, str]:
        """A cosignature by this key of the multisig transfer with hash ``inner_hash`` from
        ``account``: NIS1's (``data``, ``signature``), hex (the co-signer's
        :class:`~kinko.ports.NemCosignKey`)."""
        signed = self.sign(cosignature(self.chain, cosignatory_public_key=self.public_key,
                                       inner_transaction_hash=inner_hash,
                                       multisig_address=account, timestamp=timestamp,
                                       deadline=deadline))
        return signed.data, signed.signature


@dataclass(frozen=True)
class Signed:
    """A signed transaction as NIS1 announces it: ``data`` (the transaction's bytes without
    its signature) and ``signature``, both hex; ``hash`` is what NIS1 calls it."""

    data: str
    signature: str
    hash: str
    chain: str

    def announce(self) -> dict[str, str]:
        """The body of ``POST /transaction/announce`` (NIS1's ``RequestAnnounce``)."""
        return {"data": self.data, "signature": self.signature}


def decode(data: str) -> Any:
    """The SDK's (unsigned) transaction of announce ``data`` (hex); :class:`BadInput` when
    it is not a NEM transaction."""
    try:
        return nc.NonVerifiableTransactionFactory.deserialize(bytes.fromhex(data))
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise BadInput(f"not a NEM transaction: {exc}",
                       says=msg("error.nem.not_a_transaction", reason=str(exc)[:200])) from None


def verify(signed: Signed) -> bool:
    """Whether ``signed``'s signature is its signer's over its data (the SDK checks)."""
    tx = decode(signed.data)
    try:
        return bool(Verifier(tx.signer_public_key).verify(bytes.fromhex(signed.data),
                                                          Signature(signed.signature)))
    except ValueError:
        return False


def _mosaic(mosaic: str, quantity: int) -> dict[str, Any]:
    namespace, name = split_mosaic(mosaic)
    return {"mosaic": {"mosaic_id": {"namespace_id": {"name": namespace.encode()},
                                     "name": name.encode()}, "amount": quantity}}


def transfer(chain: str, *, signer_public_key: str, recipient: str, timestamp: int,
             amount: int = 0, mosaics: Sequence[tuple[str, int]] = (), message: str = "",
             fee: int | None = None, mosaic_info: Mapping[str, tuple[int, int]] | None = None,
             deadline: int | None = None) -> Any:
    """A version 2 transfer from ``signer_public_key`` to ``recipient``: ``amount`` micro-XEM,
    or, with ``mosaics`` ((``namespace:name``, quantity in its smallest unit), ...), those
    mosaics (``nem:xem`` for XEM among them) and the multiplier 1,000,000. ``fee`` defaults to
    NIS1's minimum (``mosaic_info``: supply and divisibility of each mosaic sent, which
    NIS1's mosaic fee depends on); ``deadline`` to an hour after ``timestamp``."""
    if amount < 0 or any(q <= 0 for _, q in mosaics):
        raise BadInput("NEM amounts and mosaic quantities must be positive whole units",
                       says=msg("error.nem.amounts_positive"))
    if mosaics and amount:
        raise BadInput("a transfer carries XEM or mosaics (nem:xem among them), not both",
                       says=msg("error.nem.xem_or_mosaics"))
    canonical = canonical_address(recipient, chain)
    descriptor: dict[str, Any] = {
        "type": "transfer_transaction_v2",
        "signer_public_key": PublicKey(check_public_key(signer_public_key)),
        "recipient_address": facade(chain).Address(canonical),
        "amount": MICRO_XEM if mosaics else amount,
        "timestamp": timestamp,
        "deadline": timestamp + 3600 if deadline is None else deadline,
        "mosaics": [_mosaic(m, q) for m, q in mosaics],
    }
    if message:
        descriptor["message"] = {"message_type": "plain", "message": message.encode()}
    tx = facade(chain).transaction_factory.create(descriptor)
    tx.fee = nc.Amount(minimum_fee(tx, mosaic_info) if fee is None else fee)
    return tx


def minimum_fee(transaction: Any, mosaic_info: Mapping[str, tuple[int, int]] | None = None
                ) -> int:
    """NIS1's minimum fee of ``transaction`` in micro-XEM (the SDK's calculator);
    ``mosaic_info`` maps each mosaic a transfer carries to (supply, divisibility); an
    unknown mosaic is :class:`BadInput` naming it."""
    known = {XEM_MOSAIC: (8_999_999_999, 6), **{mosaic_id(k): v
                                                for k, v in (mosaic_info or {}).items()}}

    def lookup(mid: Mapping[str, Any]) -> dict[str, int] | None:
        key = f"{mid['namespace_id']['name']}:{mid['name']}"
        if key not in known:
            raise BadInput(f"unknown mosaic {key!r}: its supply and divisibility are needed "
                           "for the fee (is it defined on this network?)", mosaic=key,
                           says=msg("error.nem.fee_unknown_mosaic", mosaic=key[:120]))
        supply, divisibility = known[key]
        return {"supply": supply, "divisibility": divisibility}

    return int(calculate_transaction_fee(transaction, lookup))


def multisig(chain: str, inner: Any, *, cosignatory_public_key: str, timestamp: int,
             deadline: int | None = None) -> Any:
    """The multisig transaction that asks the multisig account (``inner``'s signer) to make
    ``inner``; signed by one cosignatory (``cosignatory_public_key``), who pays NIS1's fee of
    the wrapper on the account's behalf."""
    f = facade(chain)
    tx = f.transaction_factory.create({
        "type": "multisig_transaction_v1",
        "signer_public_key": PublicKey(check_public_key(cosignatory_public_key)),
        "timestamp": timestamp,
        "deadline": timestamp + 3600 if deadline is None else deadline,
        "inner_transaction": f.transaction_factory.to_non_verifiable_transaction(inner),
    })
    tx.fee = nc.Amount(minimum_fee(tx))
    return tx


def modification(chain: str, *, account_public_key: str, timestamp: int,
                 add: Sequence[str] = (), remove: Sequence[str] = (), min_change: int = 0,
                 deadline: int | None = None) -> Any:
    """A change of a multisig account's cosignatories (public keys to ``add`` and
    ``remove``) and of its minimum (``min_change``, relative), signed for the account (inside
    :func:`multisig`) or, to convert an account, by the account itself."""
    mods = [{"modification": {"modification_type": kind,
                              "cosignatory_public_key": PublicKey(check_public_key(k))}}
            for kind, keys in (("add_cosignatory", add), ("delete_cosignatory", remove))
            for k in keys]
    tx = facade(chain).transaction_factory.create({
        "type": "multisig_account_modification_transaction_v2",
        "signer_public_key": PublicKey(check_public_key(account_public_key)),
        "timestamp": timestamp,
        "deadline": timestamp + 3600 if deadline is None else deadline,
        "modifications": mods, "min_approval_delta": min_change})
    tx.fee = nc.Amount(minimum_fee(tx))
    return tx


def inner_hash(chain: str, inner: Any) -> str:
    """The hash of a multisig's inner transaction (what cosignatories sign for)."""
    return str(facade(chain).hash_transaction(inner))


def cosignature(chain: str, *, cosignatory_public_key: str, inner_transaction_hash: str,
                multisig_address: str, timestamp: int, deadline: int | None = None) -> Any:
    """Another cosignatory's approval of a pending multisig transaction, named by its inner
    transaction's hash and the multisig account."""
    tx = facade(chain).transaction_factory.create({
        "type": "cosignature_v1",
        "signer_public_key": PublicKey(check_public_key(cosignatory_public_key)),
        "timestamp": timestamp,
        "deadline": timestamp + 3600 if deadline is None else deadline,
        "other_transaction_hash": _hash(inner_transaction_hash),
        "multisig_account_address": facade(chain).Address(
            canonical_address(multisig_address, chain)),
    })
    tx.fee = nc.Amount(minimum_fee(tx))
    return tx


def _hash(text: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text.strip()):
        raise BadInput(f"transaction hash {text[:80]!r} is not 64 hex digits",
                       says=msg("error.nem.hash_digits", text=text[:80]))
    return text.strip().upper()


def from_nis(tx: Mapping[str, Any], chain: str) -> Any:
    """The SDK's transaction of a transfer, a multisig modification, or either wrapped in a
    multisig transaction, as NIS1's JSON gives it (``type``, ``version``, ``signer``,
    ``timeStamp``, ``deadline``, ``fee``, ``recipient``, ``amount``, ``message``,
    ``mosaics``, ``modifications``, ``minCosignatories``, ``otherTrans``), so that kinko can
    compute its hash; :class:`BadInput` naming the field for anything else or anything
    malformed."""
    try:
        kind, version = int(tx["type"]), int(tx["version"]) & 0xFF
        common: dict[str, Any] = {
            "signer_public_key": PublicKey(check_public_key(tx["signer"])),
            "timestamp": int(tx["timeStamp"]), "deadline": int(tx["deadline"]),
            "fee": int(tx["fee"])}
        if kind == 0x1004:
            inner = from_nis(tx["otherTrans"], chain)
            return facade(chain).transaction_factory.create({
                "type": "multisig_transaction_v1", **common,
                "inner_transaction": facade(chain).transaction_factory
                .to_non_verifiable_transaction(inner)})
        if kind == 0x1001 and version in (1, 2):
            kinds = {1: "add_cosignatory", 2: "delete_cosignatory"}
            change: dict[str, Any] = {
                "type": f"multisig_account_modification_transaction_v{version}", **common,
                "modifications": [{"modification": {
                    "modification_type": kinds[int(m["modificationType"])],
                    "cosignatory_public_key": PublicKey(check_public_key(
                        m["cosignatoryAccount"]))}} for m in tx.get("modifications") or []]}
            if version == 2:
                change["min_approval_delta"] = int(
                    (tx.get("minCosignatories") or {}).get("relativeChange", 0))
            return facade(chain).transaction_factory.create(change, autosort=False)
        if kind != 0x101 or version not in (1, 2):
            raise BadInput(f"NEM transaction type {kind} version {version} is not a transfer "
                           "or a multisig modification",
                           says=msg("error.nem.not_a_transfer_type", kind=str(kind)[:40],
                                    version=str(version)[:40]))
        descriptor: dict[str, Any] = {
            "type": f"transfer_transaction_v{version}", **common,
            "recipient_address": facade(chain).Address(canonical_address(tx["recipient"], chain)),
            "amount": int(tx["amount"])}
        message = tx.get("message") or {}
        if message.get("payload") is not None:
            descriptor["message"] = {
                "message_type": "plain" if int(message.get("type", 1)) == 1 else "encrypted",
                "message": bytes.fromhex(message["payload"])}
        if version == 2:
            descriptor["mosaics"] = [
                _mosaic(f"{m['mosaicId']['namespaceId']}:{m['mosaicId']['name']}",
                        int(m["quantity"])) for m in tx.get("mosaics") or []]
        return facade(chain).transaction_factory.create(descriptor, autosort=False)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, IndexError) as exc:
        raise BadInput(f"not a NIS1 transfer: {type(exc).__name__} {exc}",
                       says=msg("error.nem.not_a_nis1_transfer",
                                reason=f"{type(exc).__name__} {str(exc)[:200]}")) from None


def nis_hash(tx: Mapping[str, Any], chain: str) -> str:
    """The hash NIS1 gives the transaction of this JSON (lower-case hex)."""
    return str(facade(chain).hash_transaction(from_nis(tx, chain))).lower()
