"""A refill (cold → hot) is a request to the offline signers: kinko books it only when it
sees exactly the approved transfer on chain, confirmed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_store
from eth_account import Account

from kinko.chains.evm import EvmChain
from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.errors import ApprovalError
from kinko.ports import FixedClock
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger

E = 10**18


def test_refill_is_booked_only_for_the_approved_transfer(chain: EvmChain, tmp_path: Path) -> None:
    store = migrated_store(tmp_path / "k.db")
    ledger = Ledger(store, FixedClock(), AssetRegistry.default())
    hot, cold = Account.create(), Account.create()  # the test plays the offline cold signer
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (hot.address,)))
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (cold.address,)))
    chain.fund(hot.address, 1 * E)
    chain.fund(cold.address, 999 * E)
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 1 * E),
                         Posting("wallet:eth-cold", "ETH", 999 * E),
                         Posting("customer:C1", "ETH", -900 * E),
                         Posting("own", "ETH", -100 * E)], source="opening")
    keys = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob")}
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                        for n, k in keys.items())
    (tmp_path / "p.toml").write_text(f"version = 1\nquorum = 2\n{approvers}\n[assets.ETH]\n"
                                     'max_hot_ratio = "0.05"\nhot_min = "20"\n')
    custody = Custody(ledger, chain=chain, confirmations=2)
    custody.load_policy(tmp_path / "p.toml", "ops")
    (view,) = custody.propose_rebalance("ops")
    p = view.proposal
    assert p.kind == "refill" and int(p.payload["amount"]) == 19 * E
    for name, key in keys.items():
        custody.approve(p.id, name, sign_proposal(p, key))
    assert custody.execute(p.id).state == "requested"
    chain_id, gas_price = chain.fee_params()

    def cold_send(value: int) -> str:
        tx = {"to": hot.address, "value": value, "nonce": chain.nonce(cold.address), "gas": 21000,
              "gasPrice": gas_price, "chainId": chain_id}
        tx_hash = chain.send_raw(bytes(cold.sign_transaction(tx).raw_transaction))
        deadline = time.monotonic() + 30
        while chain.receipt(tx_hash) is None:  # a loaded node mines a moment after accepting
            assert time.monotonic() < deadline, "the node did not mine the refill"
            time.sleep(0.05)
        return tx_hash

    wrong = cold_send(18 * E)
    with pytest.raises(ApprovalError, match="not the approved refill"):
        custody.settle(p.id, wrong)
    right = cold_send(19 * E)
    assert custody.settle(p.id, right) is None  # one confirmation so far
    chain.mine(1)
    entry = custody.settle(p.id)
    assert entry is not None
    assert ledger.balance("wallet:eth-hot", "ETH") == 20 * E
    # the wrong transfer was not booked: reconciliation shows it as unbooked on the hot wallet
    codes = {(f.code, f.asset) for f in custody.reconcile()}
    assert ("wallet_unbooked", "ETH") in codes
    store.close()
