"""A co-signed exchange on real Safes, for the tests of Safe wallets and of the watch over
them: the Safe 1.4.1 contracts deployed on the chain; a 2-of-3 hot Safe for ETH and the
demo's XEM token (owners: the operations key, in SoftHSM2; the policy co-signer, its rules
and log in process; an offline recovery key), sent by a relayer that owns nothing and pays
the gas; a cold Safe owned by the approvers' Ethereum keys; kinko's database with them
registered, a customer's opening balances and a policy (quorum 2 of three Ed25519
approvers, the emergency sweep pre-authorised)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_sqlite
from eth_account import Account

from kinko.chains import safe as S
from kinko.chains.erc20 import deploy_token, fund_token
from kinko.chains.evm import EvmChain, EvmKey
from kinko.chains.keystore import KeystoreSigner, throwaway_signer
from kinko.chains.registry import spender_for
from kinko.chains.safe_reader import ChainSafes
from kinko.chains.wallets import SafeAccounts
from kinko.domain.approvals import public_key_hex
from kinko.domain.cosign import CosignPolicy, SafeLimit
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import Asset, AssetRegistry
from kinko.ports import FixedClock, Spender
from kinko.services.cosign import CosignService
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.services.wallets import create_multisig, register_multisig
from kinko.services.withdrawals import Withdrawals
from kinko.store import SqlStore, open_store
from kinko.store.cosign_sql import open_cosign_log
from kinko.store.cosign_view import SqlKinkoView

E = 10**18
X = 10**6
APPROVERS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob", "carol")}


class Keys:
    """The keys kinko's process holds: the hot Safe's operations key (HSM) and the relayer."""

    def __init__(self, keys: dict[str, EvmKey], relayer: EvmKey) -> None:
        self.keys, self._relayer = keys, relayer

    def key(self, name: str) -> EvmKey:
        return self.keys[name]

    def relayer(self) -> EvmKey:
        return self._relayer


@dataclass
class World:
    chain: EvmChain
    store: SqlStore
    ledger: Ledger
    custody: Custody
    withdrawals: Withdrawals
    cosigner: CosignService
    safes: SafeAccounts
    relayer: KeystoreSigner
    hot: Wallet
    cold: Wallet
    recovery: KeystoreSigner
    owners: list[Any]  # the hot Safe's: operations (HSM), co-signer, recovery
    cold_owners: list[KeystoreSigner]  # the approvers' Ethereum keys
    cold_accounts: list[Any]  # the same, as a hardware wallet would hold them

    def spender(self, wallet: Wallet) -> Spender:
        return self.custody.spender(wallet)

    def decisions(self) -> list[tuple[str, str]]:
        """The co-signer's log: (request, outcome or refusal reason) per record."""
        with self.cosigner.log.transaction(write=False) as tables:
            return [(d.request, d.reason or d.outcome) for d in tables.records()]



def build(chain: EvmChain, ops_key: Any, folder: Path) -> World:
    """The co-signed exchange on ``chain``, kinko's database in ``folder``; ``ops_key``
    is the operations key (an HSM key)."""
    deployment = S.deploy_safe_contracts(chain)
    token = deploy_token(chain, name="XEM", symbol="XEM", decimals=6, supply=10**9 * X)
    assets = AssetRegistry.default([Asset("XEM", "ethereum", 6, token)])
    url = migrated_sqlite(folder / "k.db")
    store = open_store(url)
    clock = FixedClock()
    ledger = Ledger(store, clock, assets)
    ledger.sync_assets()
    relayer = throwaway_signer()
    chain.fund(relayer.address, 2 * E)
    cosigner_key, recovery = throwaway_signer(), throwaway_signer()
    cold_accounts = [Account.create() for _ in range(3)]  # the approvers' Ethereum keys
    approver_keys = [KeystoreSigner(a) for a in cold_accounts]
    safes = SafeAccounts(chain, deployment, relayer)
    hot = create_multisig(ledger, safes, "eth-hot", "ETH", "hot",
                          [ops_key.address, cosigner_key.address, recovery.address], 2,
                          operator=ops_key.address, cosigner=cosigner_key.address)
    register_multisig(ledger, safes, "xem-hot", "XEM", "hot", hot.addresses[0],
                      [ops_key.address, cosigner_key.address, recovery.address], 2,
                      operator=ops_key.address, cosigner=cosigner_key.address)
    cold = create_multisig(ledger, safes, "eth-cold", "ETH", "cold",
                           [k.address for k in approver_keys], 2)
    ledger.add_wallet(Wallet("eth-relayer", "ETH", "hot", (relayer.address,)))
    chain.fund(hot.addresses[0], 10 * E)
    fund_token(chain, token, hot.addresses[0], 1_000 * X)
    gas = chain.balances([relayer.address])[relayer.address]  # less what creating cost
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 10 * E),
                         Posting("wallet:xem-hot", "XEM", 1_000 * X),
                         Posting("wallet:eth-relayer", "ETH", gas),
                         Posting("customer:C1", "ETH", -10 * E),
                         Posting("customer:C1", "XEM", -1_000 * X),
                         Posting("own", "ETH", -gas)], source="opening")
    safe, day = hot.addresses[0], timedelta(days=1)
    cosigner = CosignService(  # the real co-signer's rules, log and alerts, in process
        policy=CosignPolicy("ethereum", {safe.lower(): {
            "ETH": SafeLimit(safe, "ETH", 5 * E, day),
            "XEM": SafeLimit(safe, "XEM", 500 * X, day, token)}},
            cold={"ETH": frozenset({cold.addresses[0].lower()})}),
        kinko=SqlKinkoView(url), chain=ChainSafes(chain),
        log=open_cosign_log(f"sqlite:///{folder / 'cosign.db'}"), signer=cosigner_key,
        clock=clock)
    keys = Keys({"eth-hot": ops_key, "xem-hot": ops_key, "eth-odd": ops_key}, relayer)
    custody = Custody(ledger, chain=chain, confirmations=2,
                      spender_for=lambda w: spender_for(chain, "evm", w, keys, cosigner))
    policy = folder / "policy.toml"
    policy.write_text("version = 1\nquorum = 2\n" + "".join(
        f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
        for n, k in APPROVERS.items()) + '[assets.ETH]\ncold_wallet = "eth-cold"\n'
        '[watch]\nemergency_sweep = "auto"\n', encoding="utf-8")
    custody.load_policy(policy, "ops")
    return World(chain, store, ledger, custody, Withdrawals(custody), cosigner, safes, relayer,
                 hot, cold, recovery, [ops_key, cosigner_key, recovery], approver_keys,
                 cold_accounts)


