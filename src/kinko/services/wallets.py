"""Registering multisig wallets: created on chain by kinko, or existing ones checked first.

A multisig wallet (a Safe on an EVM chain) is registered with its owners, its threshold,
the contracts it runs on and two roles among its owners: ``operator`` (kinko's operations
key, in an HSM) and ``cosigner`` (the policy co-signer). A co-signed hot wallet is 2-of-3:
the operations key, the co-signer and an offline recovery key, so neither kinko's server
nor the co-signer alone can move anything. Warm and cold wallets have the approvers' keys
as owners, so the quorum kinko checks is also the chain's.

Everything given is checked before anything is sent or written: the name, asset and tier,
the owners (addresses of the asset's chain, none twice), the threshold, the roles. An
existing Safe is read back from the chain and refused, naming every difference, unless its
owners, threshold and contracts are exactly those given (and it has no module and no
guard); nothing is registered then::

    wallet = create_multisig(ledger, safes, "eth-hot", "ETH", "hot", [ops, cosigner, recovery],
                             2, operator=ops, cosigner=cosigner)
"""

from __future__ import annotations

from collections.abc import Sequence

from kinko.domain.addresses import canonical_address
from kinko.domain.custody import Multisig, Tier, Wallet
from kinko.domain.messages import msg
from kinko.errors import InvalidAccount
from kinko.ports import Multisigs
from kinko.services.ledger import Ledger

__all__ = ["create_multisig", "register_multisig"]


def _setup(ledger: Ledger, name: str, asset: str, tier: str, owners: Sequence[str],
           threshold: int, operator: str | None, cosigner: str | None,
           contracts: tuple[tuple[str, str], ...]) -> tuple[Wallet, str]:
    known = ledger.assets[asset]  # an asset not in the registry is refused, named
    chain = known.chain
    multisig = Multisig(tuple(canonical_address(o, chain) for o in owners), threshold,
                        contracts,
                        None if operator is None else canonical_address(operator, chain),
                        None if cosigner is None else canonical_address(cosigner, chain))
    placeholder = "0x" + "00" * 20  # the wallet's own checks, before the Safe exists
    wallet = Wallet(name, known.symbol, tier, (placeholder,),  # type: ignore[arg-type]
                    kind="multisig", multisig=multisig)
    if any(w.name == name for w in ledger.wallets()):
        raise InvalidAccount(f"wallet {name} is registered already", wallet=name,
                             says=msg("error.wallet.registered", wallet=name[:80]))
    return wallet, chain


def create_multisig(ledger: Ledger, accounts: Multisigs, name: str, asset: str, tier: Tier,
                    owners: Sequence[str], threshold: int, *, operator: str | None = None,
                    cosigner: str | None = None, actor: str = "") -> Wallet:
    """Create a multisig account on chain and register it as wallet ``name`` (audited
    under ``actor`` when given)."""
    wallet, _ = _setup(ledger, name, asset, tier, owners, threshold, operator, cosigner,
                       accounts.contracts())
    multisig = wallet.multisig
    assert multisig is not None
    address, created = accounts.create(multisig.owners, multisig.threshold,
                                       operator=multisig.operator, cosigner=multisig.cosigner)
    return ledger.add_wallet(Wallet(name, wallet.asset, wallet.tier, (address,),
                                    kind="multisig", multisig=created), actor=actor)


def register_multisig(ledger: Ledger, accounts: Multisigs, name: str, asset: str, tier: Tier,
                      address: str, owners: Sequence[str], threshold: int, *,
                      operator: str | None = None, cosigner: str | None = None,
                      actor: str = "") -> Wallet:
    """Register an existing multisig account after reading it back from the chain: refused,
    naming every difference, unless it is exactly what is given (audited under ``actor``
    when given)."""
    wallet, chain = _setup(ledger, name, asset, tier, owners, threshold, operator, cosigner,
                           accounts.contracts())
    assert wallet.multisig is not None
    address = canonical_address(address, chain)
    accounts.check(address, wallet.multisig)
    return ledger.add_wallet(Wallet(name, wallet.asset, wallet.tier, (address,),
                                    kind="multisig", multisig=wallet.multisig), actor=actor)
