"""Safe{Wallet} 1.4.1 accounts on an Ethereum chain: deploy, create, read, sign, execute, watch.

A Safe account is a small proxy contract that runs the shared *singleton* code with its own
storage: its owners, its threshold, its nonce, its modules, its guard and its fallback
handler. It moves ETH or tokens only through ``execTransaction`` with at least *threshold*
owners' signatures over the transaction's EIP-712 hash (:class:`~kinko.domain.safe.SafeTx`).
Whoever sends ``execTransaction`` only pays the gas: a thief holding one owner key of a
2-of-3 Safe can move nothing.

**Which contracts.** The audited 1.4.1 release as compiled in the npm package
``@safe-global/safe-contracts`` 1.4.1, shipped with kinko in ``safe_contracts.json``
(``safe_contracts.md`` gives its source and what its LGPL-3.0 licence means): the singleton
**SafeL2**, the **SafeProxyFactory** and the **CompatibilityFallbackHandler**. kinko uses
SafeL2 rather than the plain Safe singleton: SafeL2 also emits ``SafeMultiSigTransaction``
with every field, the signatures and the nonce of each executed transaction (and
``SafeModuleTransaction`` for module calls), so the watch sees what any execution did — an
execution kinko did not approve included — from the logs every node serves, where the plain
Safe would need a tracing node. It costs some gas per execution (measured in
``benchmarks/RESULTS.md``). MultiSend is not used: it is called by DELEGATECALL, which kinko
never signs.

**Where.** On public chains the contracts are used at their canonical addresses
(:data:`CANONICAL`), where the Safe singleton factory put them with CREATE2; kinko compares
the code found there with the shipped code hash before using an address
(:func:`check_deployment`). On development nodes :func:`deploy_safe_contracts` deploys them:
on anvil through the singleton factory, so at the same canonical addresses; on the
in-process chain (which cannot place the factory) by plain CREATE from the node's account.

**What kinko signs** is checked before anything is signed (:meth:`SafeTx.check`): CALL only
(DELEGATECALL refused), no gas refunds, never a call to the Safe itself. Before sending,
:func:`execute` checks what the chain will check (chain id, the Safe's nonce, every signature
its owner's, the threshold) and refuses with the reason instead of paying for a transaction
that reverts.

    deployment = deploy_safe_contracts(chain)                  # development nodes
    safe = create_safe(chain, operations, deployment, owners=[a, b, c], threshold=2)
    tx = token_transfer(chain, safe.address, token, to=cold, amount=5_000_000)
    signatures = {a_signer.address: sign_safe_tx(a_signer, tx),
                  b_signer.address: sign_safe_tx(b_signer, tx)}
    tx_hash = execute(chain, operations, tx, signatures)

**Watching.** :func:`safe_events` decodes a Safe's events from the logs (executions,
owner/threshold/module/guard/fallback-handler changes, ETH received, approved hashes);
:data:`CONFIGURATION_CHANGES` are the kinds that change who controls the Safe.

**Proof of control** (EIP-1271): the Safe itself vouches for a 32-byte hash when its owners
have signed the *SafeMessage* hash of it (:func:`sign_safe_message`); anyone can ask the
chain with :func:`is_valid_signature`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any
from weakref import WeakKeyDictionary

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from kinko.chains.erc20 import transfer_call
from kinko.chains.evm import EvmChain, EvmKey, EvmNode, node_says
from kinko.chains.safe_logs import EVENT_TOPICS, decode_log
from kinko.domain.messages import N_, Message, joined, msg
from kinko.domain.safe import (
    CONFIGURATION_CHANGES,
    ZERO_ADDRESS,
    SafeEvent,
    SafeTx,
    check_owners,
    check_signatures,
    pack_signatures,
    recover_owner,
    safe_message_hash,
)
from kinko.errors import ApprovalError, ChainRejected, SafeTxRefused
from kinko.ports import DigestSigner

__all__ = [
    "CANONICAL",
    "CONFIGURATION_CHANGES",
    "EIP1271_MAGIC",
    "RECEIVE_GAS",
    "SINGLETON_FACTORY",
    "VERSION",
    "DigestSigner",
    "SafeDeployment",
    "SafeEvent",
    "SafeInfo",
    "canonical_deployment",
    "check_deployment",
    "check_safe",
    "create_safe",
    "decode_log",
    "deploy_safe_contracts",
    "encode_call",
    "eth_transfer",
    "exec_transaction_data",
    "execute",
    "is_valid_signature",
    "predict_safe_address",
    "read_safe",
    "safe_artifacts",
    "safe_events",
    "safe_transaction",
    "setup_data",
    "sign_safe_message",
    "sign_safe_tx",
    "token_transfer",
]

VERSION = "1.4.1"
SINGLETON_FACTORY = "0x914d7Fec6aaC8cd542e72Bca78B30650d45643d7"  # Safe's CREATE2 deployer
_CREATE2_PROXY = "0x4e59b44847b379578588920cA78FbF26c0B4956C"  # anvil's built-in, same code
SENTINEL = "0x0000000000000000000000000000000000000001"
EIP1271_MAGIC = bytes.fromhex("1626ba7e")  # isValidSignature(bytes32,bytes) said yes
_GUARD_SLOT = keccak(text="guard_manager.guard.address")
_FALLBACK_SLOT = keccak(text="fallback_manager.handler.address")
_GAS_MARGIN = 1.2  # on top of the node's estimate; unused gas is not charged
RECEIVE_GAS = 40_000
"""Gas for sending ETH *to* a Safe: its proxy forwards to the singleton, which emits
``SafeReceived`` (about 27,300 gas in all), so a plain 21,000-gas transfer into a Safe fails.
Anything that pays a Safe (a sweep, a refill, a deposit) must give at least this much."""


@dataclass(frozen=True)
class SafeDeployment:
    """Where the three contracts are on one chain."""

    singleton: str
    proxy_factory: str
    fallback_handler: str


CANONICAL = SafeDeployment(singleton="0x29fcB43b46531BcA003ddC8FCB67FFE91900C762",
                           proxy_factory="0x4e1DCf7AD4e460CfD30791CCC4F9c8a4f820ec67",
                           fallback_handler="0xfd0732Dc9E303f09fCEf3a7388Ad10A83459Ec99")
_CONTRACTS = {"singleton": "SafeL2", "proxy_factory": "SafeProxyFactory",
              "fallback_handler": "CompatibilityFallbackHandler"}


@cache
def safe_artifacts() -> dict[str, Any]:
    """The shipped contracts: ``{"package", "version", "license", "contracts": {name:
    {"source", "abi", "bytecode", "codeHash"}}}``."""
    text = files("kinko.chains").joinpath("safe_contracts.json").read_text(encoding="utf-8")
    artifacts: dict[str, Any] = json.loads(text)
    return artifacts


# ---------------------------------------------------------------------- ABI


def _types(signature: str) -> list[str]:
    inner = signature[signature.index("(") + 1 : -1]
    return inner.split(",") if inner else []


def encode_call(signature: str, *args: Any) -> bytes:
    """Call data of ``signature`` (e.g. ``"addOwnerWithThreshold(address,uint256)"``) with
    ``args``: its 4-byte selector and the ABI-encoded arguments."""
    return keccak(text=signature)[:4] + abi_encode(_types(signature), list(args))


def _read(chain: EvmNode, to: str, signature: str, returns: list[str], *args: Any,
          block: int | None = None) -> tuple[Any, ...]:
    answer = chain.call(to, encode_call(signature, *args), block)
    try:
        return tuple(abi_decode(returns, answer))
    except DecodingError:
        raise ChainRejected(f"{to} on {chain.label} did not answer {signature} as a Safe "
                            f"{VERSION} contract does",
                            says=msg("error.safe.chain.not_answered", contract=to[:100],
                                     node=node_says(chain), call=signature,
                                     version=VERSION)) from None


# ---------------------------------------------------------------------- deployment


def check_deployment(chain: EvmNode, deployment: SafeDeployment) -> None:
    """Every address of ``deployment`` holds exactly the shipped contract's code;
    :class:`~kinko.errors.ChainRejected` naming the first that does not."""
    contracts = safe_artifacts()["contracts"]
    for role, name in _CONTRACTS.items():
        address = getattr(deployment, role)
        code = chain.code(address)
        if not code:
            raise ChainRejected(f"no {name} at {address} on {chain.label}",
                                says=msg("error.safe.chain.no_contract", name=name,
                                         address=str(address)[:100], node=node_says(chain)))
        if "0x" + keccak(code).hex() != contracts[name]["codeHash"]:
            raise ChainRejected(f"the code at {address} on {chain.label} is not {name} "
                                f"{VERSION}",
                                says=msg("error.safe.chain.other_code", name=name,
                                         address=str(address)[:100], node=node_says(chain),
                                         version=VERSION))


def canonical_deployment(chain: EvmNode) -> SafeDeployment:
    """The contracts at their canonical addresses, as on every public chain Safe supports,
    after checking their code; :class:`~kinko.errors.ChainRejected` if this chain does not
    have them (a development node: :func:`deploy_safe_contracts`)."""
    try:
        check_deployment(chain, CANONICAL)
    except ChainRejected as exc:
        raise ChainRejected(f"{exc.message}: Safe {VERSION} is not deployed at its canonical "
                            f"addresses on {chain.label}",
                            says=msg("error.safe.chain.not_canonical", problem=exc.said(),
                                     version=VERSION, node=node_says(chain))) from None
    return CANONICAL


def deploy_safe_contracts(chain: EvmChain) -> SafeDeployment:
    """The Safe contracts on a development node (test and demo nodes only), deployed if
    they are not there yet: at the canonical addresses where the node lets the singleton
    factory be placed (anvil), by plain CREATE otherwise (the in-process chain; once per
    chain object, whose deployment is remembered)."""
    contracts = safe_artifacts()["contracts"]
    if all(chain.code(getattr(CANONICAL, role)) for role in _CONTRACTS):
        check_deployment(chain, CANONICAL)
        return CANONICAL
    if _singleton_factory(chain):
        for role, name in _CONTRACTS.items():
            if not chain.code(getattr(CANONICAL, role)):
                chain.dev_transact({"to": SINGLETON_FACTORY,
                                    "data": "0x" + "00" * 32 + contracts[name]["bytecode"][2:]},
                                   f"deploying {name}",
                                   msg("error.safe.chain.deploying", name=name))
        check_deployment(chain, CANONICAL)
        return CANONICAL
    known = _CREATED.get(chain)
    if known is not None:
        check_deployment(chain, known)
        return known
    addresses = {}
    for role, name in _CONTRACTS.items():
        _, receipt = chain.dev_transact({"data": contracts[name]["bytecode"]},
                                        f"deploying {name}",
                                        msg("error.safe.chain.deploying", name=name))
        addresses[role] = str(to_checksum_address(receipt["contractAddress"]))
    deployment = SafeDeployment(**addresses)
    check_deployment(chain, deployment)
    _CREATED[chain] = deployment
    return deployment


_CREATED: WeakKeyDictionary[EvmChain, SafeDeployment] = WeakKeyDictionary()
"""Deployments made by plain CREATE (not findable from the chain alone), per chain."""


def _singleton_factory(chain: EvmChain) -> bool:
    """Whether the Safe singleton factory is (or could be put) on this development node: a
    node with ``anvil_setCode`` gets the CREATE2 proxy's code at the factory's address."""
    if chain.code(SINGLETON_FACTORY):
        return True
    proxy = chain.code(_CREATE2_PROXY)
    if not proxy:
        return False
    provider: Any = chain.w3.provider
    answer = provider.make_request("anvil_setCode", [SINGLETON_FACTORY, "0x" + proxy.hex()])
    return isinstance(answer, dict) and answer.get("error") is None \
        and bool(chain.code(SINGLETON_FACTORY))


# ---------------------------------------------------------------------- creating a Safe


def setup_data(owners: Sequence[str], threshold: int, fallback_handler: str) -> bytes:
    """The ``setup`` call a new Safe proxy is initialised with: owners, threshold and the
    fallback handler; no module set-up call, no payment."""
    return encode_call("setup(address[],uint256,address,bytes,address,address,uint256,address)",
                       list(owners), threshold, ZERO_ADDRESS, b"", fallback_handler,
                       ZERO_ADDRESS, 0, ZERO_ADDRESS)


def predict_safe_address(chain: EvmNode, deployment: SafeDeployment, owners: Sequence[str],
                         threshold: int, salt_nonce: int = 0) -> str:
    """The address ``createProxyWithNonce`` will give the Safe (CREATE2 from the factory):
    known, and registrable, before the Safe exists."""
    owners = check_owners(owners, threshold)
    initializer = setup_data(owners, threshold, deployment.fallback_handler)
    (creation,) = _read(chain, deployment.proxy_factory, "proxyCreationCode()", ["bytes"])
    salt = keccak(keccak(initializer) + salt_nonce.to_bytes(32, "big"))
    init_code = bytes(creation) + abi_encode(["address"], [deployment.singleton])
    factory = bytes.fromhex(deployment.proxy_factory[2:])
    return str(to_checksum_address(keccak(b"\xff" + factory + salt + keccak(init_code))[12:]))


def create_safe(chain: EvmNode, sender: EvmKey, deployment: SafeDeployment,
                owners: Sequence[str], threshold: int, salt_nonce: int = 0,
                timeout: float = 120.0) -> SafeInfo:
    """Create a Safe proxy owned by ``owners`` with ``threshold`` (``sender`` pays the gas),
    wait until it is mined and return it as read back from the chain."""
    owners = check_owners(owners, threshold)
    check_deployment(chain, deployment)
    address = predict_safe_address(chain, deployment, owners, threshold, salt_nonce)
    if chain.code(address):
        raise ChainRejected(f"a Safe with these owners, threshold and salt nonce {salt_nonce} "
                            f"already exists at {address}",
                            says=msg("error.safe.chain.exists", salt=str(salt_nonce),
                                     address=address))
    data = encode_call("createProxyWithNonce(address,bytes,uint256)", deployment.singleton,
                       setup_data(owners, threshold, deployment.fallback_handler), salt_nonce)
    tx_hash = _send(chain, sender, deployment.proxy_factory, data, "creating a Safe")
    receipt = chain.wait_for(tx_hash, "creating a Safe", timeout)
    if int(receipt["status"]) != 1:
        raise ChainRejected(f"{chain.label} mined Safe creation {tx_hash}, which failed",
                            says=msg("error.safe.chain.creation_failed", node=node_says(chain),
                                     tx=str(tx_hash)[:100]))
    info = read_safe(chain, address)
    check_safe(info, deployment, owners=owners, threshold=threshold)
    return info


def _send(chain: EvmNode, sender: EvmKey, to: str, data: bytes, what: str,
          gas: int | None = None) -> str:
    chain_id, gas_price = chain.fee_params()
    if gas is None:
        gas = int(chain.estimate_gas(sender.address, to, data) * _GAS_MARGIN)
    raw = sender.sign_transfer(to=to, value=0, nonce=chain.nonce(sender.address),
                               gas_price=gas_price, chain_id=chain_id, gas=gas, data=data)
    return chain.send_raw(raw)


# ---------------------------------------------------------------------- reading a Safe


@dataclass(frozen=True)
class SafeInfo:
    """A Safe as the chain has it now (or at the block it was read at)."""

    address: str
    version: str
    singleton: str
    owners: tuple[str, ...]
    threshold: int
    nonce: int
    modules: tuple[str, ...]
    guard: str
    fallback_handler: str


_STATE_READS: tuple[tuple[str, list[str], tuple[Any, ...]], ...] = (
    ("VERSION()", ["string"], ()),
    ("getOwners()", ["address[]"], ()),
    ("getThreshold()", ["uint256"], ()),
    ("nonce()", ["uint256"], ()),
    ("getModulesPaginated(address,uint256)", ["address[]", "address"], (SENTINEL, 100)),
    ("getStorageAt(uint256,uint256)", ["bytes"], (0, 1)),  # the singleton
    ("getStorageAt(uint256,uint256)", ["bytes"], (int.from_bytes(_GUARD_SLOT, "big"), 1)),
    ("getStorageAt(uint256,uint256)", ["bytes"], (int.from_bytes(_FALLBACK_SLOT, "big"), 1)),
)


def read_safe(chain: EvmNode, address: str, block: int | None = None) -> SafeInfo:
    """Owners, threshold, nonce, modules, guard, fallback handler, singleton and version of
    the Safe at ``address`` (over a node: one batched request, one round trip);
    :class:`~kinko.errors.ChainRejected` if it is not a Safe."""
    safe = str(to_checksum_address(address))
    try:
        answers = chain.calls([(safe, encode_call(sig, *args)) for sig, _r, args in
                               _STATE_READS], block, f"the state of Safe {safe}")
        decoded = [tuple(abi_decode(returns, answer))
                   for (_s, returns, _a), answer in zip(_STATE_READS, answers, strict=True)]
    except (ChainRejected, DecodingError):
        if not chain.code(safe, block):
            raise ChainRejected(f"no Safe at {safe} on {chain.label}: the address has no "
                                "code", says=msg("error.safe.chain.no_code", address=safe,
                                                 node=node_says(chain))) from None
        raise ChainRejected(f"the contract at {safe} on {chain.label} is not a Safe",
                            says=msg("error.safe.chain.not_a_safe", address=safe,
                                     node=node_says(chain))) from None
    (version,), (owners,), (threshold,), (nonce,), (modules, _next), *slots = decoded

    def slot(word: tuple[Any, ...]) -> str:
        return str(to_checksum_address(bytes(word[0])[-20:]))

    return SafeInfo(
        address=safe, version=str(version), singleton=slot(slots[0]),
        owners=tuple(str(to_checksum_address(o)) for o in owners), threshold=int(threshold),
        nonce=int(nonce), modules=tuple(str(to_checksum_address(m)) for m in modules),
        guard=slot(slots[1]), fallback_handler=slot(slots[2]))


def check_safe(info: SafeInfo, deployment: SafeDeployment, *,
               owners: Sequence[str] | None = None, threshold: int | None = None) -> None:
    """The Safe is one kinko can rely on: version 1.4.1 on the expected singleton, the
    expected fallback handler, no module and no guard (each could move funds or block them
    without the owners), and — when given — exactly these owners and this threshold.
    :class:`~kinko.errors.ChainRejected` naming every difference."""
    problems: list[str] = []
    said: list[Message] = []  # the same, as catalog messages
    if info.version != VERSION:
        problems.append(f"version {info.version}, not {VERSION}")
        said.append(msg("error.safe.check.version", found=info.version[:80], expected=VERSION))
    if info.singleton != deployment.singleton:
        problems.append(f"singleton {info.singleton}, not {deployment.singleton}")
        said.append(msg("error.safe.check.singleton", found=info.singleton,
                        expected=deployment.singleton))
    if info.fallback_handler != deployment.fallback_handler:
        problems.append(f"fallback handler {info.fallback_handler}, not "
                        f"{deployment.fallback_handler}")
        said.append(msg("error.safe.check.fallback_handler", found=info.fallback_handler,
                        expected=deployment.fallback_handler))
    if info.modules:
        problems.append(f"modules enabled: {', '.join(info.modules)}")
        said.append(msg("error.safe.check.modules", modules=_listed(info.modules)))
    if info.guard != ZERO_ADDRESS:
        problems.append(f"guard {info.guard}")
        said.append(msg("error.safe.check.guard", guard=info.guard))
    if owners is not None:
        expected = {str(to_checksum_address(o)) for o in owners}
        if set(info.owners) != expected:
            missing = sorted(expected - set(info.owners))
            extra = sorted(set(info.owners) - expected)
            problems.append("owners differ" + (f"; missing {', '.join(missing)}" if missing
                                                else "")
                            + (f"; not expected {', '.join(extra)}" if extra else ""))
            said.append(_owners_differ(missing, extra))
    if threshold is not None and info.threshold != threshold:
        problems.append(f"threshold {info.threshold}, not {threshold}")
        said.append(msg("error.safe.check.threshold", found=info.threshold,
                        expected=int(threshold)))
    if problems:
        raise ChainRejected(f"Safe {info.address}: " + "; ".join(problems),
                            safe=info.address, problems=problems,
                            says=msg("error.safe.check.differs", safe=info.address,
                                     problems=joined(said)))


def _listed(addresses: Sequence[str]) -> str:
    """Addresses for a message, the list cut to 500 characters (a hostile Safe may name
    many)."""
    text = ", ".join(addresses)
    return text if len(text) <= 500 else text[:497] + "..."


def _owners_differ(missing: Sequence[str], extra: Sequence[str]) -> Message:
    """"owners differ; missing ...; not expected ..." as a catalog message."""
    if missing and extra:
        return msg("error.safe.check.owners_both", missing=_listed(missing),
                   extra=_listed(extra))
    if missing:
        return msg("error.safe.check.owners_missing", missing=_listed(missing))
    return msg("error.safe.check.owners_extra", extra=_listed(extra))


# ---------------------------------------------------------------------- transactions


def safe_transaction(chain: EvmNode, safe: str, to: str, value: int, data: bytes = b"",
                     nonce: int | None = None) -> SafeTx:
    """A CALL from ``safe`` on this chain (its chain id), at the Safe's current nonce
    unless ``nonce`` is given; checked against kinko's rules."""
    chain_id = chain.fee_params()[0]
    if nonce is None:
        nonce = read_safe(chain, safe).nonce
    tx = SafeTx(safe=safe, chain_id=chain_id, to=to, value=value, data=data, nonce=nonce)
    tx.check()
    return tx


def eth_transfer(chain: EvmNode, safe: str, to: str, value: int,
                 nonce: int | None = None) -> SafeTx:
    """``value`` wei from ``safe`` to ``to``."""
    return safe_transaction(chain, safe, to, value, b"", nonce)


def token_transfer(chain: EvmNode, safe: str, token: str, to: str, amount: int,
                   nonce: int | None = None) -> SafeTx:
    """``amount`` (minor units) of the ERC-20 ``token`` from ``safe`` to ``to``: a call of
    the token's ``transfer``."""
    return safe_transaction(chain, safe, token, 0, transfer_call(to, amount), nonce)


def sign_safe_tx(signer: DigestSigner, tx: SafeTx) -> bytes:
    """``signer``'s signature of ``tx`` (65 bytes), made only if the SafeTx passes kinko's
    rules (CALL only, no refunds, not to the Safe itself)."""
    tx.check()
    signature = signer.sign_digest(tx.hash)
    if recover_owner(tx.hash, signature) != signer.address:
        raise ApprovalError(f"the signature made by {signer.address} does not recover to it",
                            says=msg("error.safe.own_signature", signer=signer.address))
    return signature


def exec_transaction_data(tx: SafeTx, signatures: Mapping[str, bytes]) -> bytes:
    """The ``execTransaction`` call of ``tx`` with the owners' signatures (owner address →
    65 bytes) in the order the Safe requires."""
    return encode_call(
        "execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,"
        "bytes)", tx.to, tx.value, tx.data, tx.operation, tx.safe_tx_gas, tx.base_gas,
        tx.gas_price, tx.gas_token, tx.refund_receiver, pack_signatures(signatures))


def execute(chain: EvmNode, sender: EvmKey, tx: SafeTx, signatures: Mapping[str, bytes],
            gas: int | None = None) -> str:
    """Send ``tx`` with ``signatures`` from ``sender`` (who pays the gas and needs no other
    right); the transaction hash, not waited for. Refused before sending if the chain would
    refuse it: kinko's rules, another chain, a nonce already used or not yet reached,
    a signature that is not its owner's over this SafeTx, fewer than the threshold."""
    tx.check()
    chain_id = chain.fee_params()[0]
    if tx.chain_id != chain_id:
        raise SafeTxRefused(f"the SafeTx is for chain {tx.chain_id}; {chain.label} is chain "
                            f"{chain_id}", field="chain_id",
                            says=msg("error.safe.other_chain", tx_chain=str(tx.chain_id),
                                     node=node_says(chain), chain=str(chain_id)))
    info = read_safe(chain, tx.safe)
    if tx.nonce != info.nonce:
        state = "already used" if tx.nonce < info.nonce else "not reached yet"
        said = N_("error.safe.nonce_used") if tx.nonce < info.nonce else \
            N_("error.safe.nonce_ahead")
        raise ApprovalError(f"SafeTx nonce {tx.nonce} of Safe {tx.safe} is {state} (the "
                            f"Safe is at nonce {info.nonce})", nonce=tx.nonce,
                            says=msg(said, nonce=str(tx.nonce), safe=tx.safe,
                                     current=str(info.nonce)))
    check_signatures(tx, signatures, info.owners, info.threshold)
    return _send(chain, sender, tx.safe, exec_transaction_data(tx, signatures),
                 "a Safe transaction", gas)


# ---------------------------------------------------------------------- proof of control


def sign_safe_message(signer: DigestSigner, chain_id: int, safe: str, data_hash: bytes) -> bytes:
    """An owner's signature for the Safe to vouch for the 32-byte ``data_hash`` (EIP-1271:
    the SafeMessage hash of it, see :func:`~kinko.domain.safe.safe_message_hash`)."""
    if len(data_hash) != 32:
        raise ApprovalError("EIP-1271 proofs are over a 32-byte hash",
                            says=msg("error.safe.proof_hash"))
    return signer.sign_digest(safe_message_hash(chain_id, safe, data_hash))


def is_valid_signature(chain: EvmNode, safe: str, data_hash: bytes, signatures: bytes,
                       block: int | None = None) -> bool:
    """Whether the Safe says, on chain, that ``signatures`` (its owners', packed by
    :func:`~kinko.domain.safe.pack_signatures`) are valid for ``data_hash`` (EIP-1271
    ``isValidSignature(bytes32,bytes)`` through its fallback handler)."""
    try:
        answer = chain.call(safe, encode_call("isValidSignature(bytes32,bytes)", data_hash,
                                              signatures), block)
    except ChainRejected:  # the Safe reverts on signatures that are not enough owners'
        return False
    return len(answer) == 32 and answer[:4] == EIP1271_MAGIC


# ---------------------------------------------------------------------- events

def safe_events(chain: EvmNode, safes: Sequence[str], from_block: int,
                to_block: int) -> list[SafeEvent]:
    """Every Safe event the ``safes`` emitted in blocks ``from_block`` to ``to_block``, in
    chain order."""
    if not safes:
        return []
    logs = chain.logs(safes, from_block, to_block, topics=list(EVENT_TOPICS))
    return [event for log in logs if (event := decode_log(log)) is not None]
