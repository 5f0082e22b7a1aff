"""Mosaic levies, NIS1's semantics, exactly: an absolute levy is its fee per transfer, a
percentile one ``quantity × fee / 10,000`` rounded down, in the levy's own mosaic, paid by
the sender to the levy's recipient. What a transfer costs says so; the adapter's blocks and
a trace's rows carry the levy as value moved to its recipient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbtemplate import migrated_store
from nis1double import PRIVATE, Nis1Double, nis_json

from kinko.chains import nem
from kinko.chains.nem_wallets import NemKeyWallet
from kinko.chains.nis1 import NisChain
from kinko.chains.tracefiles.nem import nem_rows
from kinko.domain.money import Asset
from kinko.domain.nem import Levy, MosaicDefinition
from kinko.errors import BadInput
from kinko.ports import Payment

CHAIN = "nem"
HOT, LEVY, CUSTOMER, OTHER, _ = (nem.NemKey(k, CHAIN) for k in PRIVATE)
PEG = "kinko.levied:peg"  # a percentile levy in XEM: 1% of the quantity, in micro-XEM
FIX = "kinko.levied:fix"  # an absolute levy in itself: 5 units per transfer
XEM = 1_000_000


def test_levies_are_exact_in_the_levied_mosaics_smallest_unit() -> None:
    percent = Levy(2, LEVY.address, "NEM:XEM", 150)  # 1.5 %
    assert percent.mosaic == "nem:xem"
    assert percent.amount(12_345) == 185  # 185.175, rounded down as NIS1 does
    assert percent.amount(66) == 0  # nothing due: no levy moves
    assert MosaicDefinition(PEG, 1_000, 2, percent).levies(66) == ()
    peg = Levy(2, LEVY.address, "nem:xem", 10_000 * XEM // 10)  # 1 XEM per 10 units
    assert [peg.amount(q) for q in (200, 555, 800)] == [20 * XEM, 55_500_000, 80 * XEM]
    assert Levy(1, LEVY.address, FIX, 5).amount(1) == Levy(1, LEVY.address, FIX, 5).amount(10**12) == 5
    big = 10**30  # beyond int64: still exact
    assert Levy(2, LEVY.address, PEG, 3).amount(big) == big * 3 // 10_000
    with pytest.raises(BadInput, match="levy type 3"):
        Levy(3, LEVY.address, PEG, 1)
    with pytest.raises(BadInput, match="mosaic 'peg'"):
        Levy(1, LEVY.address, "peg", 1)


@pytest.fixture
def node() -> Iterator[Nis1Double]:
    n = Nis1Double(CHAIN)
    n.fund(HOT.address, 1_000 * XEM)
    n.definitions[PEG] = (1_000_000, 2)
    n.levies[PEG] = {"type": 2, "recipient": LEVY.address, "fee": 100,
                     "mosaicId": {"namespaceId": "nem", "name": "xem"}}
    n.definitions[FIX] = (1_000, 0)
    n.levies[FIX] = {"type": 1, "recipient": LEVY.address, "fee": 5,
                     "mosaicId": {"namespaceId": "kinko.levied", "name": "fix"}}
    n.give_mosaic(HOT.address, PEG, 100_000)
    n.give_mosaic(HOT.address, FIX, 100)
    yield n
    n.close()


def test_what_a_transfer_costs_names_its_levy_and_the_chain_moves_it(node: Nis1Double) -> None:
    chain = NisChain(node.url, name=CHAIN, accounts=[HOT.address])
    wallet = NemKeyWallet(chain, HOT)
    peg = Asset("PEG", CHAIN, 2, PEG)
    assert chain.mosaic(PEG).levy == Levy(2, LEVY.address, "nem:xem", 100)
    cost = wallet.fee(peg, CUSTOMER.address, 12_345)  # what the withdrawal costs, exactly
    assert cost.levies == (("nem:xem", LEVY.address, 123),) and cost.payer == HOT.address
    most = wallet.fee(peg)  # at most, whatever the amount: NIS1's fee grows with it
    assert most.levies == () and most.amount >= cost.amount
    assert wallet.fee(Asset("XEM", CHAIN, 6)).amount == 1_250_000  # NIS1's cap for XEM
    assert wallet.fee(Asset("XEM", CHAIN, 6), OTHER.address, 12 * XEM).amount == 50_000
    prepared = wallet.prepare(Payment(peg, CUSTOMER.address, 12_345, ("withdrawal", "W1")))
    assert prepared.fee == cost
    assert prepared.fee.levies == (("nem:xem", LEVY.address, 123),)  # 1 % of 123.45 PEG
    assert prepared.fee.payer == HOT.address and prepared.fee.amount > 0
    out = wallet.sign(prepared)
    assert chain.send_raw(out.raw) == out.tx_hash
    height = node.mine()
    moved = {(t.sender, t.to, t.value, t.token) for t in chain.block(height).transfers}
    assert (HOT.address, CUSTOMER.address, 12_345, PEG) in moved
    assert (HOT.address, LEVY.address, 123, None) in moved  # the levy, in micro-XEM
    assert chain.balances([LEVY.address])[LEVY.address] == 123
    fixed = wallet.prepare(Payment(Asset("FIX", CHAIN, 0, FIX), OTHER.address, 7,
                                   ("withdrawal", "W2")))
    assert fixed.fee.levies == ((FIX, LEVY.address, 5),)  # 7 sent, 12 leave the account
    chain.send_raw(wallet.sign(fixed).raw)
    height = node.mine()
    assert (HOT.address, LEVY.address, 5, FIX) in {
        (t.sender, t.to, t.value, t.token) for t in chain.block(height).transfers}
    assert chain.balances([HOT.address], token=FIX)[HOT.address] == 100 - 7 - 5
    with pytest.raises(BadInput, match="registered with 0 decimals"):
        wallet.fee(Asset("PEG0", CHAIN, 0, PEG))


def test_a_trace_of_nem_listings_moves_the_levy_to_its_recipient(tmp_path: Path) -> None:
    tx = nem.transfer(CHAIN, signer_public_key=HOT.public_key, recipient=CUSTOMER.address,
                      mosaics=[(PEG, 12_345)], mosaic_info={PEG: (1_000_000, 2)},
                      timestamp=100)
    signed = HOT.sign(tx)
    listing = {"data": [{"meta": {"innerHash": {}, "id": 1, "height": 10,
                                  "hash": {"data": signed.hash.lower()}},
                         "transaction": nis_json(tx, signed.signature)}]}
    folder = tmp_path / "listings"
    folder.mkdir()
    (folder / "hot.json").write_text(json.dumps(listing))
    rows, _ = nem_rows(folder)
    assert [r[4:] for r in rows if r[3] > 0] == [
        (HOT.address, CUSTOMER.address, 12_345, 0, PEG)]  # no definitions: no levy known
    (folder / "levied.json").write_text(json.dumps({"data": [{"meta": {"id": 1}, "mosaic": {
        "creator": HOT.public_key.lower(), "description": "",
        "id": {"namespaceId": "kinko.levied", "name": "peg"},
        "properties": [{"name": "divisibility", "value": "2"},
                       {"name": "initialSupply", "value": "1000000"}],
        "levy": {"type": 2, "recipient": LEVY.address, "fee": 100,
                 "mosaicId": {"namespaceId": "nem", "name": "xem"}}}}]}))
    rows, assets = nem_rows(folder)
    assert [r[4:] for r in rows if r[3] > 0] == [
        (HOT.address, CUSTOMER.address, 12_345, 0, PEG),
        (HOT.address, LEVY.address, 123, 0, "nem:xem")]
    assert assets == {"nem:xem", PEG}
    xem_row = next(r for r in rows if r[3] == 0)
    assert xem_row[6] == 0  # the transfer itself moves no XEM; its levy is its own row


def test_a_withdrawal_of_a_levied_mosaic_books_its_levy_and_does_not_alarm(
        node: Nis1Double, tmp_path: Path) -> None:
    """The hot account sends PEG; the chain also moves the levy, in XEM, to the levy's
    recipient: the watch explains it by kinko's own transaction (no theft alarm), and the
    confirmation books it, so the books still match the chain."""
    from kinko.chains.keys import KeyRing
    from kinko.chains.registry import spender_for
    from kinko.domain.custody import Wallet
    from kinko.domain.ledger import Posting
    from kinko.domain.money import AssetRegistry
    from kinko.ports import SystemClock
    from kinko.services.custody import Custody
    from kinko.services.ledger import Ledger
    from kinko.services.watch import Watch
    from kinko.services.withdrawals import Withdrawals

    chain = NisChain(node.url, name=CHAIN, accounts=[HOT.address])
    store = migrated_store(tmp_path / "k.db")
    try:
        ledger = Ledger(store, SystemClock(), AssetRegistry.default([Asset("PEG", CHAIN, 2,
                                                                            PEG)]))
        ledger.add_wallet(Wallet("xem-hot", "XEM", "hot", (HOT.address,)))
        ledger.add_wallet(Wallet("peg-hot", "PEG", "hot", (HOT.address,)))
        ledger.post("open", [Posting("wallet:xem-hot", "XEM", 1_000 * XEM),
                             Posting("customer:C1", "XEM", -1_000 * XEM),
                             Posting("wallet:peg-hot", "PEG", 100_000),
                             Posting("customer:C1", "PEG", -100_000)], source="opening")
        (tmp_path / "hot.nem").write_text(PRIVATE[0] + "\n")
        keys = KeyRing(tmp_path, {"peg-hot": ("file", str(tmp_path / "hot.nem"))})
        (tmp_path / "p.toml").write_text(
            "version = 1\nquorum = 1\n[[approvers]]\nname = \"a\"\npublic_key = \""
            + "11" * 32 + "\"\n[assets.XEM]\nmax_hot_ratio = \"1\"\n"
            "[assets.PEG]\nmax_hot_ratio = \"1\"\n")
        custody = Custody(ledger, chain=chain, confirmations=1,
                          spender_for=lambda w: spender_for(chain, "nis1", w, keys))
        custody.load_policy(tmp_path / "p.toml", "ops")
        withdrawals = Withdrawals(custody)
        watch = Watch(withdrawals, chain, confirmations=1, start_block=chain.head() + 1)
        withdrawals.request("W1", "C1", "PEG", 12_345, CUSTOMER.address)
        assert withdrawals.cost("W1").levies == (("nem:xem", LEVY.address, 123),)
        sent = withdrawals.send("W1")
        assert watch.poll().alerts == []  # seen unconfirmed: the levy is kinko's transaction's
        node.mine()
        assert watch.poll().alerts == []
        node.mine()
        watch.poll()
        assert withdrawals.get("W1").state == "confirmed"
        receipt = chain.receipt(str(sent.tx_hash))
        assert receipt is not None and receipt.levies == ((None, LEVY.address, 123),)
        on_chain = chain.balances([HOT.address])[HOT.address]
        assert ledger.balance("wallet:xem-hot", "XEM") == on_chain == \
            1_000 * XEM - receipt.fee - 123
        assert ledger.balance("wallet:peg-hot", "PEG") == 100_000 - 12_345
        keys.close()
    finally:
        store.close()
