"""Safe{Wallet} transactions as kinko signs and checks them: pure, no chain access.

A Safe is a contract account owned by several keys; it moves money only through
``execTransaction`` carrying enough owner signatures over one *SafeTx*. The SafeTx is the
EIP-712 structure ``SafeTx(address to, uint256 value, bytes data, uint8 operation,
uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address
refundReceiver, uint256 nonce)`` in the domain ``EIP712Domain(uint256 chainId, address
verifyingContract)``; its hash (the *safeTxHash*) is what every owner signs. Because the hash
covers the chain id, the Safe's address and the Safe's nonce, a signature is good for one
transaction of one Safe on one chain, once.

kinko's own rules for what it signs (:meth:`SafeTx.check`), checked before any signature is
made: ``operation`` is CALL (0) only — a DELEGATECALL runs foreign code with the Safe's own
storage and could rewrite its owners — and there are no gas refunds: ``gasPrice`` 0,
``gasToken`` and ``refundReceiver`` the zero address (a refund pays whoever executes out of
the Safe's funds). ``safeTxGas`` and ``baseGas`` are 0: with ``gasPrice`` 0 the Safe then
reverts the whole transaction when the inner call fails, so a failed transfer does not use up
the nonce.

Signatures are 65 bytes ``r ‖ s ‖ v``. The Safe contract accepts, among others, an ECDSA
signature of the safeTxHash itself (``v`` 27 or 28) and an ``eth_sign`` signature of the
hash — the EIP-191 ``personal_sign`` of its 32 bytes, what most hardware wallets produce —
marked by ``v`` + 4 (31 or 32). :func:`accept_signature` takes a signature made anywhere and
an owner's address and returns it in the form the Safe checks; :func:`pack_signatures` orders
them by owner address, as the contract requires (``currentOwner > lastOwner``).

    >>> tx = SafeTx(safe="0x" + "11" * 20, chain_id=1, to="0x" + "22" * 20,
    ...             value=10**18, data=b"", nonce=0)
    >>> tx.check()
    >>> len(tx.hash)
    32
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from coincurve import PublicKey

from kinko.domain.addresses import display_address, same_address
from kinko.domain.addresses.codecs import keccak256 as keccak
from kinko.domain.messages import Message, msg
from kinko.errors import ApprovalError, InvalidAddress, SafeTxRefused

__all__ = [
    "CALL",
    "CONFIGURATION_CHANGES",
    "DELEGATECALL",
    "DOMAIN_TYPEHASH",
    "SAFE_MSG_TYPEHASH",
    "SAFE_TX_TYPEHASH",
    "ZERO_ADDRESS",
    "PendingExecution",
    "SafeEvent",
    "SafeTx",
    "accept_signature",
    "check_owners",
    "check_signatures",
    "domain_separator",
    "pack_signatures",
    "recover_owner",
    "safe_message_hash",
]

CALL, DELEGATECALL = 0, 1
ZERO_ADDRESS = "0x" + "00" * 20
SENTINEL = "0x" + "00" * 19 + "01"  # the Safe's list head: never an owner or a module

DOMAIN_TYPEHASH = keccak(b"EIP712Domain(uint256 chainId,address verifyingContract)")
SAFE_TX_TYPEHASH = keccak(
    b"SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,"
    b"uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,"
    b"uint256 nonce)")
SAFE_MSG_TYPEHASH = keccak(b"SafeMessage(bytes message)")

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # secp256k1 order
_UINT256 = 1 << 256
_ETH_SIGN_PREFIX = b"\x19Ethereum Signed Message:\n32"


def _words(*values: bytes | int | str) -> bytes:
    """ABI encoding of static values, one 32-byte word each (what EIP-712 hashes): bytes32
    as given, integers big-endian, addresses (0x-hex text) left-padded."""
    out = b""
    for value in values:
        if isinstance(value, bytes):
            out += value.rjust(32, b"\0")
        elif isinstance(value, int):
            out += value.to_bytes(32, "big")
        else:
            out += bytes.fromhex(value[2:]).rjust(32, b"\0")
    return out


# a SafeTx's fields as the errors name them (the field's name, and the same in a catalog)
_FIELDS: dict[str, Message] = {
    "safe": msg("error.safe.field.safe"), "to": msg("error.safe.field.to"),
    "gas_token": msg("error.safe.field.gas_token"),
    "refund_receiver": msg("error.safe.field.refund_receiver"),
    "chain_id": msg("error.safe.field.chain_id"), "value": msg("error.safe.field.value"),
    "nonce": msg("error.safe.field.nonce"), "safe_tx_gas": msg("error.safe.field.safe_tx_gas"),
    "base_gas": msg("error.safe.field.base_gas"), "gas_price": msg("error.safe.field.gas_price"),
}


def _address(value: str, what: str, says_what: Message) -> str:
    """The EIP-55 spelling of an Ethereum address (checked: a mixed-case one must carry its
    checksum), or :class:`SafeTxRefused` naming ``what`` (``says_what``: the same as a
    catalog message)."""
    try:
        return display_address(value, "ethereum")
    except InvalidAddress as exc:
        raise SafeTxRefused(f"{what} {value!r} is not an Ethereum address ({exc.message})",
                            says=msg("error.safe.not_an_address", what=says_what,
                                     value=str(value)[:100], reason=exc.said())) from None


def _uint(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT256:
        raise SafeTxRefused(f"{what} must be an integer between 0 and 2**256-1, not {value!r}",
                            says=msg("error.safe.not_uint256", field=_FIELDS[what],
                                     value=repr(value)[:100]))
    return value


def domain_separator(chain_id: int, safe: str) -> bytes:
    """The Safe's EIP-712 domain separator: its chain id and its own address."""
    return keccak(_words(DOMAIN_TYPEHASH, chain_id,
                         _address(safe, "the Safe", msg("error.safe.field.the_safe"))))


@dataclass(frozen=True)
class SafeTx:
    """One transaction of one Safe on one chain; ``hash`` is what the owners sign."""

    safe: str
    chain_id: int
    to: str
    value: int
    data: bytes
    nonce: int
    operation: int = CALL
    safe_tx_gas: int = 0
    base_gas: int = 0
    gas_price: int = 0
    gas_token: str = ZERO_ADDRESS
    refund_receiver: str = ZERO_ADDRESS

    def __post_init__(self) -> None:
        for name in ("safe", "to", "gas_token", "refund_receiver"):
            object.__setattr__(self, name, _address(getattr(self, name), name, _FIELDS[name]))
        for name in ("chain_id", "value", "nonce", "safe_tx_gas", "base_gas", "gas_price"):
            _uint(getattr(self, name), name)
        if not isinstance(self.data, bytes):
            raise SafeTxRefused(f"data must be bytes, not {type(self.data).__name__}",
                                says=msg("error.safe.data_not_bytes",
                                         type=type(self.data).__name__[:80]))
        if self.operation not in (CALL, DELEGATECALL):
            raise SafeTxRefused(f"operation must be 0 (CALL) or 1 (DELEGATECALL), not "
                                f"{self.operation!r}",
                                says=msg("error.safe.operation", operation=repr(
                                    self.operation)[:80]))

    def check(self) -> None:
        """kinko's rules for a SafeTx it signs or executes (see the module docstring);
        :class:`~kinko.errors.SafeTxRefused` naming the field otherwise."""
        if self.operation != CALL:
            raise SafeTxRefused(f"Safe {self.safe}: operation {self.operation} (DELEGATECALL) "
                                "is refused; kinko signs CALL (0) only", field="operation",
                                says=msg("error.safe.delegatecall", safe=self.safe,
                                         operation=str(self.operation)))
        for name in ("safe_tx_gas", "base_gas", "gas_price"):
            if getattr(self, name):
                raise SafeTxRefused(f"Safe {self.safe}: {name} must be 0 (kinko pays no gas "
                                    f"refunds), not {getattr(self, name)}", field=name,
                                    says=msg("error.safe.gas_refund", safe=self.safe,
                                             field=_FIELDS[name],
                                             value=str(getattr(self, name))))
        for name in ("gas_token", "refund_receiver"):
            if getattr(self, name) != ZERO_ADDRESS:
                raise SafeTxRefused(f"Safe {self.safe}: {name} must be the zero address "
                                    f"(kinko pays no gas refunds), not {getattr(self, name)}",
                                    field=name,
                                    says=msg("error.safe.refund_address", safe=self.safe,
                                             field=_FIELDS[name], value=getattr(self, name)))
        if same_address(self.to, self.safe, "ethereum"):
            raise SafeTxRefused(f"Safe {self.safe}: a transaction to the Safe itself changes "
                                "its owners, modules or guard; kinko does not sign it",
                                field="to", says=msg("error.safe.to_itself", safe=self.safe))

    @property
    def struct_hash(self) -> bytes:
        return keccak(_words(SAFE_TX_TYPEHASH, self.to, self.value, keccak(self.data),
                             self.operation, self.safe_tx_gas, self.base_gas, self.gas_price,
                             self.gas_token, self.refund_receiver, self.nonce))

    @property
    def hash(self) -> bytes:
        """The safeTxHash (32 bytes): ``keccak(0x19 ‖ 0x01 ‖ domain separator ‖ struct
        hash)``, what the contract's ``getTransactionHash`` returns."""
        return keccak(b"\x19\x01" + domain_separator(self.chain_id, self.safe)
                      + self.struct_hash)

    def differences(self, other: SafeTx) -> list[str]:
        """The fields in which ``other`` differs from this one (empty: the same)."""
        names = ("safe", "chain_id", "to", "value", "data", "nonce", "operation",
                 "safe_tx_gas", "base_gas", "gas_price", "gas_token", "refund_receiver")
        return [n for n in names if getattr(self, n) != getattr(other, n)]


def safe_message_hash(chain_id: int, safe: str, message: bytes) -> bytes:
    """The hash the owners sign for the Safe to vouch for ``message`` (EIP-1271 through
    the compatibility fallback handler): ``keccak(0x19 ‖ 0x01 ‖ domain separator ‖
    keccak(SafeMessage typehash ‖ keccak(message)))``. For ``isValidSignature(bytes32 h,
    ...)`` the message is the 32 bytes of ``h`` itself."""
    inner = keccak(_words(SAFE_MSG_TYPEHASH, keccak(message)))
    return keccak(b"\x19\x01" + domain_separator(chain_id, safe) + inner)


def _split(signature: bytes) -> tuple[int, int, int]:
    if not isinstance(signature, bytes) or len(signature) != 65:
        size = len(signature) if isinstance(signature, bytes) else type(signature).__name__
        raise ApprovalError(f"a Safe signature is 65 bytes (r, s, v), not {size}",
                            says=msg("error.safe.signature_size", size=str(size)[:80]))
    return (int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"),
            signature[64])


def recover_owner(digest: bytes, signature: bytes) -> str:
    """The address whose key made ``signature`` over ``digest`` as the Safe contract reads
    it: ``v`` 27/28 an ECDSA signature of the digest, 31/32 an ``eth_sign`` one. Other
    ``v`` (contract signatures, approved hashes) and non-canonical ``s`` are refused."""
    r, s, v = _split(signature)
    if v in (31, 32):
        digest, v = keccak(_ETH_SIGN_PREFIX + digest), v - 4
    if v not in (27, 28):
        raise ApprovalError(f"signature v = {v}: kinko accepts owners' ECDSA signatures "
                            "only (v 27/28, or 31/32 for eth_sign)",
                            says=msg("error.safe.signature_v", v=str(v)))
    if not 0 < r < _N or not 0 < s <= _N // 2:
        raise ApprovalError("signature r or s out of range (s must be in the lower half "
                            "of the curve order)", says=msg("error.safe.signature_range"))
    if not isinstance(digest, bytes) or len(digest) != 32:
        raise ApprovalError("a Safe signature is over a 32-byte hash",
                            says=msg("error.safe.signature_hash"))
    try:
        public = PublicKey.from_signature_and_message(
            r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v - 27]), digest,
            hasher=None)
    except (ValueError, TypeError):
        raise ApprovalError("signature does not recover to any key",
                            says=msg("error.safe.signature_no_key")) from None
    point = public.format(compressed=False)[1:]
    return display_address("0x" + keccak(point)[12:].hex(), "ethereum")


def accept_signature(digest: bytes, signature: bytes, owner: str) -> bytes:
    """``signature`` (65 bytes, made anywhere) by ``owner`` over ``digest`` in the form the
    Safe checks: an ECDSA signature of the digest keeps ``v`` 27/28 (0/1 read as 27/28); a
    ``personal_sign``/``eth_sign`` signature of the digest's 32 bytes (hardware wallets) gets
    ``v`` + 4. :class:`~kinko.errors.ApprovalError` if it is neither, by ``owner``."""
    owner = _address(owner, "the owner", msg("error.safe.field.the_owner"))
    v = _split(signature)[2]
    if v in (0, 1):
        v += 27
    candidates = [v] if v in (31, 32) else [v, v + 4] if v in (27, 28) else []
    for candidate in candidates:
        packed = signature[:64] + bytes([candidate])
        try:
            if recover_owner(digest, packed) == owner:
                return packed
        except ApprovalError:
            if candidate == candidates[-1]:
                raise
    raise ApprovalError(f"the signature is not {owner}'s over hash 0x{digest.hex()}",
                        owner=owner, says=msg("error.safe.signature_not_owners", owner=owner,
                                              hash="0x" + digest.hex()[:64]))


def check_owners(owners: Collection[str], threshold: int) -> list[str]:
    """The owners of a new Safe, checked: distinct addresses (not zero, not the list
    sentinel 0x…01), ``1 ≤ threshold ≤ len(owners)``; EIP-55 forms in the order given."""
    out: list[str] = []
    for owner in owners:
        address = _address(owner, "owner", msg("error.safe.field.owner"))
        if address in (ZERO_ADDRESS, _address(SENTINEL, "the sentinel",
                                              msg("error.safe.field.sentinel"))):
            raise SafeTxRefused(f"owner {address} is reserved by the Safe contract",
                                says=msg("error.safe.owner_reserved", address=address))
        if address in out:
            raise SafeTxRefused(f"owner {address} is named twice",
                                says=msg("error.safe.owner_twice", address=address))
        out.append(address)
    if isinstance(threshold, bool) or not isinstance(threshold, int) \
            or not 1 <= threshold <= len(out):
        raise SafeTxRefused(f"threshold {threshold!r} must be between 1 and the number of "
                            f"owners ({len(out)})",
                            says=msg("error.safe.threshold", threshold=repr(threshold)[:80],
                                     owners=len(out)))
    return out


def pack_signatures(signatures: Mapping[str, bytes]) -> bytes:
    """The owners' signatures (owner → 65 bytes) concatenated in ascending order of owner
    address, as ``execTransaction`` reads them."""
    ordered = sorted(signatures.items(), key=lambda item: int(item[0], 16))
    for owner, signature in ordered:
        _split(signature)
        _address(owner, "owner", msg("error.safe.field.owner"))
    return b"".join(signature for _, signature in ordered)


def check_signatures(tx: SafeTx, signatures: Mapping[str, bytes], owners: Collection[str],
                     threshold: int) -> None:
    """What the chain will check, checked first by kinko: every signature is its owner's
    over this SafeTx (so over its Safe, chain and nonce), every signer is an owner, and there
    are at least ``threshold`` of them. :class:`~kinko.errors.ApprovalError` naming the
    first that is not."""
    current = {_address(o, "owner", msg("error.safe.field.owner")) for o in owners}
    digest = tx.hash
    for owner, signature in signatures.items():
        claimed = _address(owner, "signer", msg("error.safe.field.signer"))
        if claimed not in current:
            raise ApprovalError(f"{claimed} is not an owner of Safe {tx.safe}", owner=claimed,
                                says=msg("error.safe.not_an_owner", owner=claimed,
                                         safe=tx.safe))
        signer = recover_owner(digest, signature)
        if signer != claimed:
            raise ApprovalError(
                f"the signature given for {claimed} is not theirs over this SafeTx of Safe "
                f"{tx.safe} (nonce {tx.nonce}, chain {tx.chain_id}): forged, altered, "
                "replayed or made for another chain", owner=claimed,
                says=msg("error.safe.signature_forged", owner=claimed, safe=tx.safe,
                         nonce=str(tx.nonce), chain=str(tx.chain_id)))
    if len(signatures) < threshold:
        raise ApprovalError(f"Safe {tx.safe} needs {threshold} owners' signatures, "
                            f"{len(signatures)} given", needed=threshold, given=len(signatures),
                            says=msg("error.safe.too_few_signatures", safe=tx.safe,
                                     threshold=int(threshold), given=len(signatures)))


# ---------------------------------------------------------------------- events

CONFIGURATION_CHANGES = frozenset({
    "added_owner", "removed_owner", "changed_threshold", "enabled_module",
    "disabled_module", "changed_guard", "changed_fallback_handler"})
"""Event kinds that change who or what controls the Safe: each deserves an alarm unless a
policy change approved it. A module moving funds (``module_transaction``,
``module_execution_*``) and an owner approving a hash on chain (``approve_hash``, a
signature in its own right) do too: kinko's Safes have no modules and sign off chain."""


@dataclass(frozen=True)
class SafeEvent:
    """One decoded Safe event; ``fields`` by kind (addresses EIP-55, hashes 0x-hex):
    ``safe_tx_hash``/``payment`` for executions; ``owner``; ``threshold``; ``module``;
    ``guard``; ``handler``; ``sender``/``value`` for ETH received; the full SafeTx with
    ``signatures``, ``nonce``, ``executor`` and ``threshold`` for ``multisig_transaction``."""

    safe: str
    kind: str
    block: int
    tx_hash: str
    log_index: int
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingExecution:
    """An ``execTransaction`` call to a Safe waiting in the mempool: who sent it, what it
    would do (``to``, ``value``, whether it calls the Safe itself) and the SafeTx hashes it
    may execute (one per Safe nonce it could be mined at: the Safe's nonce now, and the next
    ones while other executions of the same Safe wait before it)."""

    safe: str
    tx_hash: str
    sender: str
    to: str
    value: int
    operation: int
    selector: str  # the first 4 bytes of the inner call's data, 0x-hex ("0x": none)
    safe_tx_hashes: tuple[str, ...]  # lower-case 0x-hex, best guess first
    safe_nonce: int  # the Safe's nonce now (the first it may execute at)
