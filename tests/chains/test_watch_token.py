"""The token path end to end (an ERC-20 standing for XEM, 6 decimals): deposits credited
from Transfer events, a token withdrawal sent, matched and closed with its gas booked in ETH,
a token theft alarmed, the emergency sweep moving the tokens left, and reconciliation of
token balances."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_store
from eth_account import Account

from kinko.chains.erc20 import TOKEN_GAS, deploy_token, fund_token
from kinko.chains.erc20 import transfer_call as transfer_data
from kinko.chains.evm import EvmChain
from kinko.chains.keystore import throwaway_signer
from kinko.chains.wallets import KeyWallet
from kinko.domain.approvals import public_key_hex
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import Asset, AssetRegistry
from kinko.i18n import ENGLISH
from kinko.ports import FixedClock
from kinko.services.custody import Custody
from kinko.services.deposits import Deposits
from kinko.services.ledger import Ledger
from kinko.services.watch import Watch
from kinko.services.withdrawals import Withdrawals

X = 10**6  # one XEM in micro-XEM
E = 10**18
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob")}


class TokenEnv:
    def __init__(self, chain: EvmChain, tmp_path: Path) -> None:
        self.chain = chain
        self.token = deploy_token(chain, name="NEM (replay)", symbol="XEM", decimals=6,
                                  supply=9_000_000_000 * X)
        self.store = migrated_store(tmp_path / "k.db")
        self.ledger = Ledger(self.store, FixedClock(), AssetRegistry.default(
            [Asset("XEM", "ethereum", 6, self.token)]))
        self.ledger.sync_assets()
        self.hot = throwaway_signer()
        self.cold, self.fresh = Account.create(), Account.create()
        for w in (Wallet("xem-hot", "XEM", "hot", (self.hot.address,)),
                  Wallet("eth-hot", "ETH", "hot", (self.hot.address,)),
                  Wallet("xem-cold", "XEM", "cold", (self.cold.address, self.fresh.address))):
            self.ledger.add_wallet(w)
        chain.fund(self.hot.address, 10 * E)  # gas
        fund_token(chain, self.token, self.hot.address, 1_000 * X)
        fund_token(chain, self.token, self.cold.address, 19_000 * X)
        self.ledger.post("open", [Posting("wallet:xem-hot", "XEM", 1_000 * X),
                                  Posting("wallet:xem-cold", "XEM", 19_000 * X),
                                  Posting("wallet:eth-hot", "ETH", 10 * E),
                                  Posting("own", "ETH", -10 * E),
                                  Posting("customer:C1", "XEM", -20_000 * X)], source="opening")
        approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                            for n, k in KEYS.items())
        (tmp_path / "p.toml").write_text(
            f"version = 1\nquorum = 2\n{approvers}\n[assets.XEM]\nmax_hot_ratio = \"0.5\"\n"
            f'cold_wallet = "xem-cold"\nemergency_address = "{self.fresh.address}"\n'
            '[watch]\nemergency_sweep = "auto"\n')
        self.custody = Custody(self.ledger, chain=chain, spender_for=lambda _w: KeyWallet(chain, self.hot),
                               confirmations=2)
        self.custody.load_policy(tmp_path / "p.toml", "ops")
        self.withdrawals = Withdrawals(self.custody)
        self.watch = Watch(self.withdrawals, chain, confirmations=2,
                           start_block=chain.head() + 1)

    def xem(self, address: str) -> int:
        return self.chain.balances([address], token=self.token)[address]

    def wait(self, tx_hash: str) -> None:
        deadline = time.monotonic() + 30
        while self.chain.receipt(tx_hash) is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)


@pytest.fixture
def env(chain: EvmChain, tmp_path: Path) -> Iterator[TokenEnv]:
    e = TokenEnv(chain, tmp_path)
    yield e
    e.store.close()


def problems(env: TokenEnv) -> set[tuple[str, str | None]]:
    return {(f.code, f.wallet) for f in env.custody.reconcile() if f.severity != "info"}


def test_token_withdrawal_is_matched_closed_and_its_gas_booked_in_eth(env: TokenEnv) -> None:
    assert problems(env) == set()
    dest = Account.create().address
    env.withdrawals.request("W1", "C1", "XEM", 250 * X, dest)
    sent = env.withdrawals.send("W1")
    env.wait(str(sent.tx_hash))
    report = env.watch.poll()
    assert report.alerts == [] and report.matched == 2  # the token event and the call itself
    env.chain.mine(1)
    assert env.watch.poll().closed == ["withdrawal:W1"]
    assert env.xem(dest) == 250 * X
    assert env.ledger.balance("customer:C1", "XEM") == 19_750 * X
    assert env.ledger.balance("wallet:xem-hot", "XEM") == 750 * X
    fee = env.ledger.balance("fees", "ETH")
    assert fee > 0 and env.ledger.balance("wallet:eth-hot", "ETH") == 10 * E - fee
    assert problems(env) == set()  # token and gas balances both agree with the chain


def test_token_deposit_is_credited_from_its_transfer_event(env: TokenEnv) -> None:
    depositor = Account.create().address
    deposits = Deposits(env.ledger, env.chain, confirmations=1,
                        start_block=env.chain.head() + 1)
    address = deposits.add_address("C9", "XEM", env.hot.address, "xem-hot")
    env.chain.fund(address, 10**15)  # ETH to the same address: not a XEM deposit
    fund_token(env.chain, env.token, depositor, 5 * X)
    fund_token(env.chain, env.token, address, 40 * X)
    report = deposits.scan()
    assert report.credited == 1
    assert env.ledger.balance("customer:C9", "XEM") == 40 * X
    del depositor


def test_token_theft_alarms_and_the_emergency_sweep_saves_the_rest(env: TokenEnv) -> None:
    thief = Account.create().address
    chain_id, gas_price = env.chain.fee_params()
    raw = env.hot.sign_transfer(to=env.token, value=0, nonce=env.chain.nonce(env.hot.address),
                                gas_price=gas_price, chain_id=chain_id, gas=TOKEN_GAS,
                                data=transfer_data(thief, 10 * X))  # the 10-XEM test transfer
    env.wait(env.chain.send_raw(raw))
    report = env.watch.poll()
    kinds = sorted((a["kind"], a["asset"], a["amount"]) for a in report.alerts)
    assert kinds == [("theft", "XEM", 10 * X)]
    # the leaked key also signs for the ETH hot wallet: both are contained
    assert env.withdrawals.breaker().keys() == {"XEM", "ETH"}
    sweeps = {p.proposal.payload["asset"]: p for p in env.custody.proposals()
              if p.proposal.payload.get("emergency")}
    sweep = sweeps["XEM"]
    assert sweep.state == "sent" and "ETH" not in sweeps
    with env.store.watch(write=False) as tables:
        (incident,) = tables.incidents()
        details = [ENGLISH.text(e["detail"]) for e in tables.events(incident["id"])]
    assert any("cold address for ETH" in d for d in details)  # none registered here
    env.wait(str(sweep.tx_hash))
    assert env.xem(env.fresh.address) == 990 * X and env.xem(env.hot.address) == 0
    env.chain.mine(2)
    report = env.watch.poll()
    assert report.alerts == [] and f"proposal:{sweep.proposal.id}" in report.closed
    assert env.ledger.balance("wallet:xem-cold", "XEM") == 19_990 * X
    # the ledger still says 10 XEM are hot: reconciliation shows the theft as a shortfall
    assert ("wallet_short", "xem-hot") in problems(env)
