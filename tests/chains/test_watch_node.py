"""The watch against a real anvil node that reorganises (``anvil_reorg``), restarts and
holds transactions in its mempool: no false alarm, no missed alarm, no duplicate, no block
skipped."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anvilnode
import pytest
from eth_account import Account
from test_watch import Env, send

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner
from kinko.chains.retry import Retrying
from kinko.errors import ChainUnavailable
from kinko.i18n import ENGLISH

E = 10**18

pytestmark = pytest.mark.slow  # each test starts its own anvil node (see tests/fastloop.py)


@pytest.fixture
def node() -> Iterator[anvilnode.AnvilNode]:
    n = anvilnode.start()
    yield n
    n.stop()


def rpc(chain: EvmChain, method: str, *params: Any) -> Any:
    answer = chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def signed(chain: EvmChain, signer: KeystoreSigner, to: str, value: int) -> bytes:
    chain_id, price = chain.fee_params()
    return signer.sign_transfer(to=to, value=value, nonce=chain.nonce(signer.address),
                                gas_price=price, chain_id=chain_id)


def test_reorg_of_a_matched_withdrawal_raises_nothing(node: anvilnode.AnvilNode,
                                                      tmp_path: Path) -> None:
    chain = EvmChain.connect(node.url)
    env = Env(chain, tmp_path)
    dest = Account.create().address
    env.withdrawals.request("W1", "C1", "ETH", 2 * E, dest)
    sent = env.withdrawals.send("W1")
    with env.store.screening(write=False) as tables:
        assert tables.withdrawal("W1")["tx_hash"] == sent.tx_hash  # type: ignore[index]
    time.sleep(0.1)
    first = env.watch.poll()
    assert first.matched == 1 and first.alerts == []
    block = chain.receipt(str(sent.tx_hash)).block  # type: ignore[union-attr]
    raw = "0x" + bytes(chain.w3.eth.get_raw_transaction(str(sent.tx_hash))).hex()
    chain.mine(1)
    # replace the block that held it; the same transaction lands one block later
    depth = chain.head() - block + 1
    rpc(chain, "anvil_reorg", depth, [[raw, 1]])
    assert chain.receipt(str(sent.tx_hash)).block == block + 1  # type: ignore[union-attr]
    report = env.watch.poll()
    assert report.reorgs and report.alerts == []
    chain.mine(2)
    report = env.watch.poll()
    assert report.closed == ["withdrawal:W1"] and report.alerts == []
    assert env.withdrawals.get("W1").state == "confirmed"
    assert env.incidents.alerts() == []
    assert env.ledger.balance("customer:C1", "ETH") == 498 * E
    env.store.close()


def test_reorg_of_a_theft_neither_misses_nor_doubles_the_alarm(node: anvilnode.AnvilNode,
                                                               tmp_path: Path) -> None:
    chain = EvmChain.connect(node.url)
    env = Env(chain, tmp_path)
    raw = signed(chain, env.hot, Account.create().address, 7 * E)
    tx = chain.send_raw(raw)
    time.sleep(0.1)
    (alert,) = env.watch.poll().alerts
    block = chain.receipt(tx).block  # type: ignore[union-attr]
    assert alert["block"] == block
    # the block goes away with the theft in it: the alert stays, marked retracted
    rpc(chain, "anvil_reorg", chain.head() - block + 1, [])
    report = env.watch.poll()
    assert report.reorgs and report.alerts == []
    assert env.incidents.alert(alert["id"])["chain_state"] == "retracted"
    # the thief sends it again and it is mined in the new branch: the same alert, re-confirmed
    rpc(chain, "anvil_reorg", 1, [["0x" + raw.hex(), 0]])
    report = env.watch.poll()
    assert report.alerts == []
    again = env.incidents.alert(alert["id"])
    assert again["chain_state"] == "mined" and again["block"] == chain.receipt(tx).block  # type: ignore[union-attr]
    assert len(env.incidents.alerts()) == 1
    (incident,) = env.incidents.incidents()
    details = [ENGLISH.text(e["detail"]) for e in env.incidents.incident(incident["id"]).timeline]
    assert any("left the chain" in d for d in details)
    assert any("again after a reorganisation" in d for d in details)
    # a theft that exists only in the new branch is not missed
    other = signed(chain, env.hot, Account.create().address, 3 * E)
    chain.mine(2)
    assert env.watch.poll().alerts == []
    rpc(chain, "anvil_reorg", 2, [["0x" + other.hex(), 1]])
    report = env.watch.poll()
    assert [a["amount"] for a in report.alerts] == [3 * E]
    assert len(env.incidents.alerts()) == 2
    env.store.close()


def test_node_restart_during_a_theft_alarms_once_and_skips_no_block(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    node = anvilnode.start(state=state)
    port = node.port
    try:
        chain = EvmChain.connect(node.url)
        env = Env(chain, tmp_path)
        env.watch.chain = Retrying(chain, attempts=2, sleep=lambda _s: None)
        env.watch.poll()
        send(chain, env.hot, Account.create().address, 10 * E)  # the first theft
        chain.mine(2)
        node.stop()  # the node dies before the watch saw it
        with anvilnode.port_held(port), pytest.raises(ChainUnavailable):
            env.watch.poll()
        node = anvilnode.start(port=port, state=state)
        report = env.watch.poll()
        # restarted from a dump, the node keeps no state of the blocks before it: the
        # theft's transfer alarms, and the blocks the state watch could not check are said
        assert [a["kind"] for a in report.alerts] == ["theft", "state_gap"]
        send(chain, env.hot, Account.create().address, 1 * E)  # and it goes on
        report = env.watch.poll()
        assert [a["amount"] for a in report.alerts] == [1 * E]
        assert env.watch.poll().alerts == []
        with env.store.watch(write=False) as tables:
            last = tables.last_block(chain.name)
            seen = [tables.block_hash(chain.name, n) for n in
                    range(env.watch.start_block, (last or 0) + 1)]
        assert last == chain.head() and all(seen)  # every block read, none skipped
        assert len(env.incidents.alerts()) == 3
    finally:
        node.stop()


def test_mempool_theft_alarms_before_it_is_mined(node: anvilnode.AnvilNode,
                                                 tmp_path: Path) -> None:
    chain = EvmChain.connect(node.url)
    env = Env(chain, tmp_path)
    rpc(chain, "evm_setAutomine", False)
    try:
        # an approved withdrawal waiting in the mempool is not an alarm
        env.withdrawals.request("W1", "C1", "ETH", 1 * E, Account.create().address)
        env.withdrawals.send("W1")
        report = env.watch.poll()
        assert report.pending == 1 and report.matched == 1 and report.alerts == []
        tx = chain.send_raw(signed(chain, env.hot, Account.create().address, 9 * E))
        report = env.watch.poll()
        (alert,) = report.alerts
        assert alert["chain_state"] == "pending" and alert["block"] is None
        assert chain.receipt(tx) is None  # not mined yet
        assert env.withdrawals.breaker().keys() == {"ETH"}
        rpc(chain, "evm_mine")
        report = env.watch.poll()
        assert report.alerts == []  # the same theft, now mined: no second alert
        mined = env.incidents.alert(alert["id"])
        assert mined["chain_state"] == "mined" and mined["block"] == chain.receipt(tx).block  # type: ignore[union-attr]
    finally:
        rpc(chain, "evm_setAutomine", True)
    env.store.close()
