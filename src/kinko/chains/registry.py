"""Where chain adapters and wallet kinds plug in: one table each.

:data:`ADAPTERS` maps an adapter kind (the ``chains`` setting's ``NAME=ADAPTER:URL``) to the
function that connects to a node of that kind and returns its :class:`~kinko.ports.Chain`
(retried with backoff). :data:`WALLET_KINDS` maps (adapter kind, wallet kind) to the function
that builds the :class:`~kinko.ports.Spender` of a registered wallet from its record, the
keys it may use (:class:`Keys`) and the co-signer. A new chain (Bitcoin) is a module
with its ``Chain`` and its wallet kinds, and one line in each table here; services, the
watch and the command line do not change. NEM is read through its NIS1 node (adapter kind
``nis1``, :mod:`kinko.chains.nis1`: blocks, balances, receipts, announcing a signed
transaction) and sends from its two wallet kinds (:mod:`kinko.chains.nem_wallets`): an
account of one NEM key, and a multisig account whose transfers kinko's operations key
initiates and the policy co-signer cosigns (the :class:`~kinko.ports.NemCosigner` port);
its keys are NEM key files (``Keys.nem_key``)::

    chain = connect("ethereum", "evm", "http://127.0.0.1:8545", attempts=5)
    spender = spender_for(chain, "evm", wallet, keys, cosigner=None)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from eth_utils.address import to_checksum_address

from kinko.chains.evm import EvmChain, EvmKey, EvmNode
from kinko.chains.retry import Retrying
from kinko.chains.safe import canonical_deployment, deploy_safe_contracts, is_valid_signature
from kinko.chains.wallets import (
    CosignerOwner,
    KeyOwner,
    KeyWallet,
    SafeAccounts,
    SafeWallet,
    request_says,
)
from kinko.domain.addresses import address_key, canonical_address
from kinko.domain.custody import Wallet
from kinko.domain.messages import msg
from kinko.domain.safe import SafeTx
from kinko.errors import ConfigError
from kinko.ports import (
    Chain,
    CoSignature,
    Cosigner,
    Multisigs,
    NemCoSignature,
    SafeOwner,
    Spender,
)

if TYPE_CHECKING:
    from kinko.chains.nem import NemKey

__all__ = ["ADAPTERS", "CONTRACT_PROOFS", "MULTISIGS", "WALLET_KINDS", "Keys", "connect",
           "contract_check", "multisigs_for", "spender_for"]


class Keys(Protocol):
    """The keys a process may sign with, by name (see the ``keys`` setting): ``key(name)``
    opens it (an HSM key or a keystore file) and ``relayer()`` is the key that sends
    multisig transactions."""

    def key(self, name: str) -> EvmKey: ...
    def relayer(self) -> EvmKey: ...
    def nem_key(self, name: str, chain: str) -> NemKey: ...


def _evm(name: str, url: str, attempts: int, accounts: Sequence[str] = ()) -> Chain:
    return Retrying(EvmChain.connect(url, name=name), attempts=attempts)


def _nis1(name: str, url: str, attempts: int, accounts: Sequence[str] = ()) -> Chain:
    from kinko.chains.nis1 import connect as connect_nis1  # the NEM SDK: on first use

    return connect_nis1(name, url, attempts, accounts=accounts)


ADAPTERS: dict[str, Callable[[str, str, int, Sequence[str]], Chain]] = {
    "evm": _evm, "nis1": _nis1}


def connect(name: str, adapter: str, url: str, *, attempts: int = 5,
            accounts: Sequence[str] = ()) -> Chain:
    """The ``Chain`` of chain ``name`` through its adapter kind; ``accounts`` are the
    exchange's hot accounts, for a node without a whole mempool to show (NIS1 lists
    unconfirmed transactions per account)."""
    make = ADAPTERS.get(adapter)
    if make is None:
        raise ConfigError(f"chain {name}: no adapter {adapter!r} (known: "
                          f"{', '.join(sorted(ADAPTERS))})", setting="chains",
                          says=msg("error.registry.adapter", chain=name[:80],
                                   adapter=adapter[:80], known=", ".join(sorted(ADAPTERS))))
    return make(name, url, attempts, accounts)


def _evm_key(chain: Any, wallet: Wallet, keys: Keys, cosigner: Cosigner | None) -> Spender:
    key = keys.key(wallet.name)
    if wallet.addresses and address_key(key.address) not in {address_key(a)
                                                             for a in wallet.addresses}:
        raise ConfigError(f"the key {wallet.name} signs for {key.address}, which is not an "
                          f"address of wallet {wallet.name}",
                          says=msg("error.registry.key_address", key=wallet.name,
                                   address=str(key.address), wallet=wallet.name))
    return KeyWallet(chain, key)


class _NoCosigner:
    """Stands for the co-signer of a co-signed wallet when none is configured: asking it
    is a clear error naming the setting, never a silent "too few signatures"."""

    def __init__(self, wallet: str, address: str) -> None:
        self.wallet, self.address = wallet, address

    def cosign(self, kind: str, request_id: str, tx: SafeTx) -> CoSignature:
        raise ConfigError(f"wallet {self.wallet} is co-signed by {self.address}: set "
                          "cosigner_url (KINKO_COSIGNER_URL) to the co-signer's address and "
                          f"KINKO_COSIGN_TOKEN to its token to send {kind} {request_id}",
                          setting="cosigner_url",
                          says=msg("error.registry.no_cosigner", wallet=self.wallet,
                                   address=self.address, request=request_says(kind, request_id)))


def _evm_safe(chain: Any, wallet: Wallet, keys: Keys, cosigner: Cosigner | None) -> Spender:
    multisig = wallet.multisig
    assert multisig is not None  # a multisig wallet always has its set-up (Wallet checks)
    owners: list[SafeOwner] = []
    if multisig.operator is not None:
        key = keys.key(wallet.name)
        if address_key(key.address) != address_key(multisig.operator):
            raise ConfigError(f"the operations key {wallet.name} is {key.address}; wallet "
                              f"{wallet.name} registered {multisig.operator} as its operator",
                              says=msg("error.registry.operator", key=wallet.name,
                                       address=str(key.address), wallet=wallet.name,
                                       operator=multisig.operator))
        owners.append(KeyOwner(key))
    if multisig.cosigner is not None:
        owners.append(CosignerOwner(cosigner or _NoCosigner(wallet.name, multisig.cosigner),
                                    str(to_checksum_address(multisig.cosigner))))
    node: EvmNode = chain
    return SafeWallet(node, wallet.addresses[0], multisig, keys.relayer(), owners)


def _nis1_key(chain: Any, wallet: Wallet, keys: Keys, cosigner: Cosigner | None) -> Spender:
    from kinko.chains.nem_wallets import NemKeyWallet

    key = keys.nem_key(wallet.name, chain.name)
    if wallet.addresses and key.address not in {canonical_address(a, chain.name)
                                                for a in wallet.addresses}:
        raise ConfigError(f"the key {wallet.name} signs for {key.address}, which is not an "
                          f"address of wallet {wallet.name}",
                          says=msg("error.registry.key_address", key=wallet.name,
                                   address=str(key.address), wallet=wallet.name))
    return NemKeyWallet(chain, key)


class _NoNemCosigner:
    """The co-signer of a co-signed NEM account when none that cosigns NEM is configured."""

    def __init__(self, wallet: str, address: str) -> None:
        self.wallet, self.address = wallet, address

    def cosign_nem(self, kind: str, request_id: str, chain: str,
                   transfer: str) -> NemCoSignature:
        raise ConfigError(f"NEM account {self.wallet} is co-signed by {self.address}: set "
                          "cosigner_url (KINKO_COSIGNER_URL) to that co-signer and "
                          f"KINKO_COSIGN_TOKEN to its token to send {kind} {request_id}",
                          setting="cosigner_url",
                          says=msg("error.registry.no_nem_cosigner", wallet=self.wallet,
                                   address=self.address, request=request_says(kind, request_id)))


def _nis1_multisig(chain: Any, wallet: Wallet, keys: Keys,
                   cosigner: Cosigner | None) -> Spender:
    from kinko.chains.nem_wallets import NemCosignerOwner, NemMultisigWallet

    multisig = wallet.multisig
    assert multisig is not None  # a multisig wallet always has its set-up (Wallet checks)
    if multisig.operator is None:
        raise ConfigError(f"NEM account {wallet.name} names no operator: kinko's operations "
                          "key initiates its transfers (register it with --operator)",
                          says=msg("error.registry.nem_operator", wallet=wallet.name))
    owner = None
    if multisig.cosigner is not None:
        asks = cosigner if hasattr(cosigner, "cosign_nem") else None
        owner = NemCosignerOwner(asks or _NoNemCosigner(wallet.name, multisig.cosigner),  # type: ignore[arg-type]
                                 multisig.cosigner)
    return NemMultisigWallet(chain, wallet.addresses[0], multisig,
                             keys.nem_key(wallet.name, chain.name), owner)


WALLET_KINDS: dict[tuple[str, str], Callable[[Any, Wallet, Keys, Cosigner | None], Spender]] = {
    ("evm", "key"): _evm_key,
    ("evm", "multisig"): _evm_safe,
    ("nis1", "key"): _nis1_key,
    ("nis1", "multisig"): _nis1_multisig,
}


def spender_for(chain: Chain, adapter: str, wallet: Wallet, keys: Keys,
                cosigner: Cosigner | None = None) -> Spender:
    """The :class:`~kinko.ports.Spender` of ``wallet`` on ``chain`` (of adapter kind
    ``adapter``), by the wallet's kind."""
    make = WALLET_KINDS.get((adapter, wallet.kind))
    if make is None:
        raise ConfigError(f"wallet {wallet.name}: no {wallet.kind} wallets on {adapter} chains",
                          says=msg("error.registry.wallet_kind", wallet=wallet.name,
                                   kind=wallet.kind[:40], adapter=adapter[:80]))
    return make(chain, wallet, keys, cosigner)


Payer = EvmKey | Callable[[], EvmKey] | None
"""The key that pays for creating a multisig account, or how to open it (opened only by a
chain whose multisig accounts kinko creates)."""


def _evm_safes(chain: Any, payer: Payer, deploy: bool) -> Multisigs:
    key = payer() if callable(payer) else payer
    if deploy:  # a development node: the contracts are deployed when they are missing
        node = chain.inner if isinstance(chain, Retrying) else chain
        if not isinstance(node, EvmChain):
            raise ConfigError("deploying the Safe contracts needs a development node",
                              says=msg("error.registry.deploy_needs_dev"))
        deployment = deploy_safe_contracts(node)
    else:
        deployment = canonical_deployment(chain)
    return SafeAccounts(chain, deployment, key)


def _nem_accounts(chain: Any, payer: Payer, deploy: bool) -> Multisigs:
    from kinko.chains.nem_wallets import NemAccounts

    return NemAccounts(chain)


MULTISIGS: dict[str, Callable[[Any, Payer, bool], Multisigs]] = {
    "evm": _evm_safes, "nis1": _nem_accounts}


def multisigs_for(chain: Chain, adapter: str, payer: Payer = None, *,
                  deploy: bool = False) -> Multisigs:
    """The multisig accounts of ``chain`` (Safes on an EVM chain, at their canonical
    deployment; with ``deploy``, on a development node, deployed first when missing);
    ``payer`` pays the gas of creating one."""
    make = MULTISIGS.get(adapter)
    if make is None:
        raise ConfigError(f"no multisig wallets on {adapter} chains",
                          says=msg("error.registry.no_multisigs", adapter=adapter[:80]))
    return make(chain, payer, deploy)


def _evm_contract_check(chain: Any) -> Callable[[str, bytes, bytes, int], bool]:
    def check(address: str, data_hash: bytes, signatures: bytes, block: int) -> bool:
        return is_valid_signature(chain, address, data_hash, signatures, block)

    return check


CONTRACT_PROOFS: dict[str, Callable[[Any], Callable[[str, bytes, bytes, int], bool]]] = {
    "evm": _evm_contract_check}


def contract_check(chain: Chain, adapter: str) -> Callable[[str, bytes, bytes, int], bool] | None:
    """How a multisig wallet's proof of control is checked on ``chain`` (a Safe's EIP-1271
    ``isValidSignature`` at a block), or None for a chain without multisig wallets."""
    make = CONTRACT_PROOFS.get(adapter)
    return None if make is None else make(chain)
