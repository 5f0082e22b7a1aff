"""NEM (NIS1) values that are not addresses: mosaic ids, public keys, amounts.

Addresses are one format of the address registry (:mod:`kinko.domain.addresses`, formats
``nem`` and ``nem-testnet``): the one place kinko checks them (base32, network byte, and
the checksum, whose verdict is the NEM SDK's). Everything else cryptographic (keys,
signatures, transactions) is the chains layer's (:mod:`kinko.chains.nem`, on the same
SDK); this module only reads and checks text.

A **mosaic** is named ``namespace:name``: the namespace is one to three parts joined by dots
(the root at most 16 characters, a sub-namespace at most 64; each part ``a-z``, ``0-9``,
``_`` and ``-``, starting with a letter or digit), the name at most 32 characters (``a-z``,
``0-9``, ``'``, ``_``, ``-`` and single spaces between words, starting with a letter or
digit). NIS1 writes both in lower case, so kinko accepts either case and keeps the lower::

    >>> mosaic_id("NEM:XEM")
    'nem:xem'
    >>> mosaic_id("kinko.tags:stolen-2018")
    'kinko.tags:stolen-2018'
    >>> mosaic_id("nem")
    Traceback (most recent call last):
    ...
    kinko.errors.BadInput: mosaic 'nem' is not namespace:name (e.g. nem:xem)

XEM itself is the mosaic ``nem:xem`` with divisibility 6: amounts are kept in micro-XEM
(:data:`MICRO_XEM` a XEM). In a version 2 transfer that carries mosaics, the transfer's
``amount`` is a multiplier: each mosaic moves ``quantity × amount / 1,000,000`` of its
smallest unit (:func:`mosaic_quantity`; NIS1 rounds down).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kinko.errors import BadInput

__all__ = ["LEVY_ABSOLUTE", "LEVY_PERCENTILE", "MICRO_XEM", "PERCENTILE_DIVISOR", "XEM_MOSAIC",
           "Levy", "MosaicDefinition", "NemTransfer", "check_public_key", "is_nem",
           "message_signer", "mosaic_id", "mosaic_quantity", "network_byte",
           "read_cosignature", "read_transfer", "split_mosaic"]

MICRO_XEM = 1_000_000
XEM_MOSAIC = "nem:xem"
XEM_DIVISIBILITY = 6

_PART = r"[a-z0-9][a-z0-9_-]*"
_NAMESPACE = re.compile(rf"{_PART}(?:\.{_PART}){{0,2}}")
_NAME = re.compile(r"[a-z0-9][a-z0-9'_-]*(?: [a-z0-9'_-]+)*")
_KEY = re.compile(r"[0-9a-fA-F]{64}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){1,4096}")


def mosaic_id(text: object) -> str:
    """The canonical ``namespace:name`` of a mosaic, or :class:`BadInput` naming it."""
    shown = repr(str(text)[:100])
    if not isinstance(text, str) or text.count(":") != 1:
        raise BadInput(f"mosaic {shown} is not namespace:name (e.g. nem:xem)", mosaic=str(text))
    namespace, name = (part.strip().lower() for part in text.split(":"))
    parts = namespace.split(".")
    if not _NAMESPACE.fullmatch(namespace) or len(parts[0]) > 16 or any(
            len(p) > 64 for p in parts[1:]):
        raise BadInput(f"mosaic {shown}: namespace {namespace!r} is not a NEM namespace "
                       "(1 to 3 dot-separated parts of a-z, 0-9, _ and -; the root at most "
                       "16 characters)", mosaic=text)
    if not _NAME.fullmatch(name) or len(name) > 32:
        raise BadInput(f"mosaic {shown}: name {name!r} is not a NEM mosaic name (at most 32 "
                       "characters of a-z, 0-9, ', _, - and single spaces)", mosaic=text)
    return f"{namespace}:{name}"


def split_mosaic(mosaic: str) -> tuple[str, str]:
    """(namespace, name) of a mosaic id (checked)."""
    namespace, _, name = mosaic_id(mosaic).partition(":")
    return namespace, name


def mosaic_quantity(quantity: int, amount: int) -> int:
    """What one mosaic entry of a version 2 transfer moves, in the mosaic's smallest unit:
    ``quantity × amount / 1,000,000`` rounded down (``amount`` is the transfer's multiplier,
    1,000,000 for "× 1")."""
    return quantity * amount // MICRO_XEM


def check_public_key(text: object) -> str:
    """A NEM public key: 64 hex digits, kept upper case (as NEM's tools print it)."""
    if not isinstance(text, str) or not _KEY.fullmatch(text.strip()):
        raise BadInput(f"public key {str(text)[:80]!r} is not 64 hex digits", field="public_key")
    return text.strip().upper()


# ---------------------------------------------------------------------- mosaic levies

LEVY_ABSOLUTE, LEVY_PERCENTILE = 1, 2
PERCENTILE_DIVISOR = 10_000
"""A percentile levy's ``fee`` is in ten-thousandths of the quantity moved (NIS1's
``MosaicTransferFeeType.Percentile``): 100 is 1%."""


@dataclass(frozen=True)
class Levy:
    """What every transfer of a levied mosaic also pays, as its definition says (NIS1):
    ``mosaic`` (``nem:xem`` or another) to ``recipient``; ``kind`` 1 (absolute: ``fee``
    smallest units per transfer) or 2 (percentile: ``quantity × fee / 10,000``, rounded
    down). The sender pays it on top of what it sends; it is written in no transaction."""

    kind: int
    recipient: str
    mosaic: str
    fee: int

    def __post_init__(self) -> None:
        if self.kind not in (LEVY_ABSOLUTE, LEVY_PERCENTILE):
            raise BadInput(f"levy type {self.kind!r} is neither 1 (absolute) nor 2 "
                           "(percentile)", field="levy.type")
        if isinstance(self.fee, bool) or not isinstance(self.fee, int) or self.fee < 0:
            raise BadInput(f"levy fee {self.fee!r} is not a whole number of 0 or more",
                           field="levy.fee")
        object.__setattr__(self, "mosaic", mosaic_id(self.mosaic))

    def amount(self, quantity: int) -> int:
        """The levy on moving ``quantity`` (smallest units) of the levied mosaic: exact,
        in the smallest units of :attr:`mosaic`; 0 when nothing is due."""
        if quantity <= 0:
            return 0
        if self.kind == LEVY_ABSOLUTE:
            return self.fee
        return quantity * self.fee // PERCENTILE_DIVISOR


@dataclass(frozen=True)
class MosaicDefinition:
    """A mosaic as its namespace defines it: ``supply`` and ``divisibility`` (for NIS1's
    fees and for amounts) and its ``levy``, if any."""

    mosaic: str
    supply: int
    divisibility: int
    levy: Levy | None = None

    def levies(self, quantity: int) -> tuple[tuple[str, str, int], ...]:
        """(mosaic, recipient, amount) of the levy a transfer of ``quantity`` pays; ()
        when the mosaic has none or nothing is due (NIS1 moves no levy of 0)."""
        if self.levy is None:
            return ()
        due = self.levy.amount(quantity)
        return ((self.levy.mosaic, self.levy.recipient, due),) if due else ()


# ---------------------------------------------------------------------- what cosignatories sign


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

    from kinko.domain.addresses import CHAINS, FORMATS

    byte = next((getattr(FORMATS[n], "network", None) for n in CHAINS.get(chain, ())), None)
    network = next((n for n in Network.NETWORKS if n.identifier == byte), None)
    if network is None:
        raise BadInput(f"chain {chain!r} is not a NEM network (nem, nem-testnet)", chain=chain)
    return NemFacade(network)


def read_transfer(chain: str, data: object) -> NemTransfer:
    """The :class:`NemTransfer` of a NEM transfer's bytes (``data``: hex, as a multisig
    transaction carries its inner transaction, unsigned); :class:`BadInput` naming what is
    wrong when it is not a transfer of ``chain``."""
    from symbolchain import nc

    from kinko.domain.addresses import canonical_address

    if not isinstance(data, str) or not _HEX.fullmatch(data):
        raise BadInput("a NEM transfer is hex bytes", field="transfer")
    facade = _facade(chain)
    try:
        tx = nc.NonVerifiableTransactionFactory.deserialize(bytes.fromhex(data))
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise BadInput(f"not a NEM transaction: {exc}", field="transfer") from None
    name = type(tx).__name__
    if name not in ("NonVerifiableTransferTransactionV1", "NonVerifiableTransferTransactionV2"):
        raise BadInput(f"a {name.removeprefix('NonVerifiable')}, not a transfer",
                       field="transfer")
    if tx.network.value != facade.network.identifier:
        raise BadInput(f"a transfer of network 0x{tx.network.value:02x}, not of {chain}",
                       field="transfer")
    if tx.message and tx.message.message:
        raise BadInput("a transfer with a message: kinko's transfers carry none",
                       field="message")
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
            raise BadInput(f"mosaic {mosaic} is named twice in the transfer", field="mosaics")
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

    from kinko.domain.addresses import canonical_address

    facade = _facade(chain)
    try:
        raw = bytes.fromhex(data)
        tx = nc.NonVerifiableTransactionFactory.deserialize(raw)
        ok = type(tx).__name__ == "NonVerifiableCosignatureV1" and bool(
            Verifier(tx.signer_public_key).verify(raw, Signature(signature)))
    except (ValueError, IndexError, KeyError, TypeError):
        ok = False
    if not ok:
        raise BadInput("not a NEM cosignature whose signature verifies", field="cosignature")
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

    from kinko.domain.addresses import canonical_address

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
