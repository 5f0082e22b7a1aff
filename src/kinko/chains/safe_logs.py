"""Reading a Safe{Wallet} account from what a node shows without asking the Safe: its
events in the logs, and the ``execTransaction`` calls to it waiting in the mempool.

Kept apart from :mod:`kinko.chains.safe` (which sends and reads through a node) so that the
node adapter (:mod:`kinko.chains.evm`) can decode them itself for the watch
(``EvmChain.safe_events``, ``EvmChain.pending_executions``).

- :func:`decode_log` turns one log into a :class:`~kinko.domain.safe.SafeEvent` (executions,
  owner/threshold/module/guard/fallback-handler changes, ETH received, approved hashes,
  module transactions; the SafeL2 singleton's ``SafeMultiSigTransaction`` with the SafeTx,
  its signatures, the Safe's nonce and who sent it); :data:`EVENT_TOPICS` are their topics.
- :func:`decode_executions` turns pending ``execTransaction`` calls into
  :class:`~kinko.domain.safe.PendingExecution`, each with the SafeTx hashes it may execute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from kinko.domain.safe import PendingExecution, SafeEvent, SafeTx
from kinko.errors import SafeTxRefused

__all__ = ["EVENT_TOPICS", "EXEC_SELECTOR", "NONCE_CALL", "decode_executions", "decode_log"]

# event signature -> (kind, indexed field names, data field names and types)
_EVENT_SPECS: dict[str, tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "ExecutionSuccess(bytes32,uint256)":
        ("execution_success", ("safe_tx_hash",), (("payment", "uint256"),)),
    "ExecutionFailure(bytes32,uint256)":
        ("execution_failure", ("safe_tx_hash",), (("payment", "uint256"),)),
    "AddedOwner(address)": ("added_owner", ("owner",), ()),
    "RemovedOwner(address)": ("removed_owner", ("owner",), ()),
    "ChangedThreshold(uint256)": ("changed_threshold", (), (("threshold", "uint256"),)),
    "EnabledModule(address)": ("enabled_module", ("module",), ()),
    "DisabledModule(address)": ("disabled_module", ("module",), ()),
    "ChangedGuard(address)": ("changed_guard", ("guard",), ()),
    "ChangedFallbackHandler(address)": ("changed_fallback_handler", ("handler",), ()),
    "SafeReceived(address,uint256)": ("safe_received", ("sender",), (("value", "uint256"),)),
    "SafeSetup(address,address[],uint256,address,address)":
        ("safe_setup", ("initiator",), (("owners", "address[]"), ("threshold", "uint256"),
                                        ("initializer", "address"),
                                        ("fallback_handler", "address"))),
    "ApproveHash(bytes32,address)": ("approve_hash", ("approved_hash", "owner"), ()),
    "SignMsg(bytes32)": ("sign_msg", ("message_hash",), ()),
    "ExecutionFromModuleSuccess(address)": ("module_execution_success", ("module",), ()),
    "ExecutionFromModuleFailure(address)": ("module_execution_failure", ("module",), ()),
    "SafeMultiSigTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,"
    "address,bytes,bytes)":
        ("multisig_transaction", (), (("to", "address"), ("value", "uint256"),
                                      ("data", "bytes"), ("operation", "uint8"),
                                      ("safe_tx_gas", "uint256"), ("base_gas", "uint256"),
                                      ("gas_price", "uint256"), ("gas_token", "address"),
                                      ("refund_receiver", "address"),
                                      ("signatures", "bytes"), ("additional_info", "bytes"))),
    "SafeModuleTransaction(address,address,uint256,bytes,uint8)":
        ("module_transaction", (), (("module", "address"), ("to", "address"),
                                    ("value", "uint256"), ("data", "bytes"),
                                    ("operation", "uint8"))),
}
_BY_TOPIC = {keccak(text=sig): spec for sig, spec in _EVENT_SPECS.items()}
_INDEXED_TYPES = {"safe_tx_hash": "bytes32", "approved_hash": "bytes32",
                  "message_hash": "bytes32"}  # every other indexed field is an address

def _value(name: str, kind: str, value: Any) -> Any:
    if kind == "address":
        return str(to_checksum_address(value))
    if kind == "address[]":
        return tuple(str(to_checksum_address(v)) for v in value)
    if kind == "bytes32":
        return "0x" + bytes(value).hex()
    if kind == "bytes":
        return bytes(value)
    return int(value)


def decode_log(log: Mapping[str, Any]) -> SafeEvent | None:
    """The Safe event in ``log`` (as :meth:`EvmChain.logs` gives it), or None if it is not
    one (or malformed)."""
    topics = list(log["topics"])
    spec = _BY_TOPIC.get(bytes(topics[0])) if topics else None
    if spec is None:
        return None
    kind, indexed, data_fields = spec
    if len(topics) != 1 + len(indexed):
        return None
    out: dict[str, Any] = {}
    for name, topic in zip(indexed, topics[1:], strict=True):
        type_ = _INDEXED_TYPES.get(name, "address")
        out[name] = _value(name, type_, topic if type_ == "bytes32" else bytes(topic)[-20:])
    try:
        decoded = abi_decode([t for _, t in data_fields], bytes(log["data"]))
    except DecodingError:
        return None
    for (name, type_), value in zip(data_fields, decoded, strict=True):
        out[name] = _value(name, type_, value)
    if kind == "multisig_transaction":
        try:
            nonce, executor, threshold = abi_decode(["uint256", "address", "uint256"],
                                                    out.pop("additional_info"))
        except DecodingError:
            return None
        out.update(nonce=int(nonce), executor=str(to_checksum_address(executor)),
                   threshold=int(threshold))
    return SafeEvent(safe=str(to_checksum_address(log["address"])), kind=kind,
                     block=int(log["block"]), tx_hash=str(log["tx_hash"]),
                     log_index=int(log["log_index"]), fields=out)


EVENT_TOPICS = tuple("0x" + topic.hex() for topic in _BY_TOPIC)
"""The first topics of every Safe event :func:`decode_log` reads (an ``eth_getLogs`` filter)."""

_EXEC_SIGNATURE = ("execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,"
                   "address,address,bytes)")
EXEC_SELECTOR = keccak(text=_EXEC_SIGNATURE)[:4]
NONCE_CALL = keccak(text="nonce()")[:4]
"""The call data of a Safe's ``nonce()`` (its answer: one uint256)."""


def decode_executions(calls: Sequence[Mapping[str, Any]], chain_id: int,
                      nonces: Mapping[str, int]) -> list[PendingExecution]:
    """The ``execTransaction`` calls among ``calls`` (pending transactions to Safes, as
    ``EvmChain.pending_calls`` gives them), each with the SafeTx hashes it may execute: at
    the Safe's nonce now (``nonces``, by the Safe's address in lower case) or at one of the
    next ones while other executions of the same Safe wait. Other calls are left out."""
    by_safe: dict[str, list[tuple[Mapping[str, Any], tuple[Any, ...]]]] = {}
    for call in calls:
        data = bytes(call["data"])
        if data[:4] != EXEC_SELECTOR:
            continue
        try:
            args = tuple(abi_decode(["address", "uint256", "bytes", "uint8", "uint256",
                                     "uint256", "uint256", "address", "address", "bytes"],
                                    data[4:]))
        except DecodingError:
            continue
        by_safe.setdefault(str(call["to"]).lower(), []).append((call, args))
    out: list[PendingExecution] = []
    for safe, found in by_safe.items():
        nonce = nonces.get(safe)
        if nonce is None:
            continue
        for call, args in found:
            to, value, data, operation, safe_gas, base_gas, gas_price, gas_token, refund = \
                args[:9]
            try:
                hashes = tuple("0x" + SafeTx(
                    safe=safe, chain_id=chain_id, to=str(to), value=int(value),
                    data=bytes(data), nonce=n, operation=int(operation),
                    safe_tx_gas=int(safe_gas), base_gas=int(base_gas),
                    gas_price=int(gas_price), gas_token=str(gas_token),
                    refund_receiver=str(refund)).hash.hex()
                    for n in range(nonce, nonce + len(found)))
            except SafeTxRefused:  # an operation the contract would refuse anyway
                hashes = ()
            out.append(PendingExecution(
                safe=str(to_checksum_address(safe)), tx_hash=str(call["tx_hash"]),
                sender=str(call["sender"]), to=str(to_checksum_address(to)),
                value=int(value), operation=int(operation),
                selector="0x" + bytes(data)[:4].hex(), safe_tx_hashes=hashes,
                safe_nonce=nonce))
    return out
