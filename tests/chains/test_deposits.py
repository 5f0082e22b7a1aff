"""Deposits are credited after N confirmations, exactly once; a reorganisation never leaves
a credit behind; a node outage mid-scan loses and doubles nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dbtemplate import migrated_store
from eth_account import Account

from kinko.chains.evm import EvmChain
from kinko.chains.retry import Retrying
from kinko.domain.chain import Block, Transfer
from kinko.domain.custody import Wallet
from kinko.domain.money import AssetRegistry
from kinko.errors import ChainUnavailable
from kinko.i18n import ENGLISH
from kinko.ports import FixedClock
from kinko.services.deposits import Deposits
from kinko.services.ledger import Ledger

E = 10**18


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:  # a SQLite ledger with one hot wallet
    store = migrated_store(tmp_path / "k.db")
    led = Ledger(store, FixedClock(), AssetRegistry.default())
    led.add_wallet(Wallet("eth-hot", "ETH", "hot", (str(Account.create().address),)))
    return led


def setup(ledger: Ledger, chain: EvmChain, confirmations: int) -> tuple[Deposits, str]:
    deposits = Deposits(ledger, chain, confirmations=confirmations, start_block=chain.head() + 1)
    address = deposits.add_address("C1", "ETH", str(Account.create().address), "eth-hot")
    return deposits, address


def test_credited_after_confirmations_exactly_once(ledger: Ledger, chain: EvmChain) -> None:
    deposits, address = setup(ledger, chain, confirmations=3)
    chain.fund(address, 2 * E)
    assert deposits.scan().credited == 0  # 1 confirmation
    chain.mine(1)
    assert deposits.scan().credited == 0  # 2 confirmations
    chain.mine(1)
    assert deposits.scan().credited == 1
    chain.mine(5)
    assert deposits.scan().credited == 0
    assert ledger.balance("customer:C1", "ETH") == 2 * E
    assert ledger.balance("wallet:eth-hot", "ETH") == 2 * E


def test_shallow_reorg_never_reaches_the_ledger(ledger: Ledger, chain: EvmChain) -> None:
    deposits, address = setup(ledger, chain, confirmations=3)
    snap = chain.snapshot()
    chain.fund(address, 2 * E)
    chain.mine(1)
    assert deposits.scan().credited == 0
    chain.revert(snap)  # the deposit's block is replaced
    chain.mine(6)
    report = deposits.scan()
    assert report.credited == 0 and report.reverted == 0
    assert ledger.balance("customer:C1", "ETH") == 0


def test_deep_reorg_reverses_the_credit(ledger: Ledger, chain: EvmChain) -> None:
    deposits, address = setup(ledger, chain, confirmations=1)
    snap = chain.snapshot()
    chain.fund(address, 2 * E)
    assert deposits.scan().credited == 1
    assert ledger.balance("customer:C1", "ETH") == 2 * E
    chain.revert(snap)
    chain.mine(3)
    report = deposits.scan()
    assert report.reverted == 1 and report.findings[0].code == "deep_reorg"
    assert ledger.balance("customer:C1", "ETH") == 0
    assert ledger.verify().ok


class _Repeating:
    """A node (wrong, or hostile) that also reports, in one later block, a transfer of an
    earlier block: the same transaction twice in the chain."""

    def __init__(self, chain: EvmChain, into: int, transfer: Transfer) -> None:
        self.chain, self.into, self.transfer = chain, into, transfer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chain, name)

    def block(self, number: int) -> Block:
        block = self.chain.block(number)
        if number != self.into:
            return block
        return replace(block, transfers=(*block.transfers, self.transfer))


def test_a_transfer_reported_in_two_blocks_is_credited_once(ledger: Ledger,
                                                             chain: EvmChain) -> None:
    deposits, address = setup(ledger, chain, confirmations=1)
    chain.fund(address, 2 * E)
    assert deposits.scan().credited == 1
    first = chain.head()
    paid = next(t for t in chain.block(first).transfers if t.to == address)
    chain.mine(1)
    repeating = Deposits(ledger, _Repeating(chain, first + 1, paid),  # type: ignore[arg-type]
                         confirmations=1, start_block=deposits.start_block)
    report = repeating.scan()
    assert report.credited == 0
    assert [(f.code, f.severity, f.amount) for f in report.findings] == [
        ("deposit_twice", "critical", 2 * E)]
    text = ENGLISH.text(report.findings[0].message)
    assert paid.tx_hash in text and f"block {first}" in text and str(first + 1) in text
    assert ledger.balance("customer:C1", "ETH") == 2 * E
    assert repeating.scan().findings == []  # the block is kept: nothing reported again
    assert ledger.verify().ok


@pytest.mark.slow
def test_node_restart_mid_scan_loses_and_doubles_nothing(ledger: Ledger,
                                                         tmp_path: Path) -> None:
    import anvilnode

    state = tmp_path / "anvil-state.json"
    node = anvilnode.start(state=state)
    port = node.port
    try:
        chain = EvmChain.connect(node.url)
        deposits, address = setup(ledger, chain, confirmations=2)
        for _ in range(6):
            chain.fund(address, E)  # one deposit per block
        chain.mine(2)
        flaky = Deposits(ledger, Retrying(chain, attempts=2, sleep=lambda _s: None),
                         confirmations=2, start_block=deposits.start_block)
        assert flaky.scan(max_blocks=3).credited == 3
        node.stop()  # the node goes away mid-run
        with anvilnode.port_held(port), pytest.raises(ChainUnavailable):
            flaky.scan()
        node = anvilnode.start(port=port, state=state)  # and comes back with its chain
        report = flaky.scan()
        assert report.credited == 3 and report.reverted == 0
        assert ledger.balance("customer:C1", "ETH") == 6 * E
        assert flaky.scan().credited == 0
        assert ledger.verify().ok
    finally:
        node.stop()
