"""NEM through kinko's services, on the NIS1 adapter and its double: deposits credited after
confirmations; a deposit from an address on a deny list (a TagPack of XEM, written with
dashes in lower case) or from an account holding a tag mosaic is frozen; a withdrawal to a
listed NEM address is blocked; the watch alarms on an outgoing transfer nobody approved."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbtemplate import migrated_store
from nis1double import PRIVATE, Nis1Double

from kinko.chains import nem
from kinko.chains.nis1 import NisChain
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.messages import decode
from kinko.domain.money import AssetRegistry
from kinko.errors import BadInput
from kinko.i18n import ENGLISH, Localizer
from kinko.ports import FixedClock
from kinko.services.custody import Custody
from kinko.services.deposits import Deposits
from kinko.services.ledger import Ledger
from kinko.services.watch import Watch
from kinko.services.withdrawals import Withdrawals

CHAIN = "nem"
HOT, DEPOSIT, PAYER, THIEF, TAGGED = (nem.NemKey(k, CHAIN) for k in PRIVATE)
TAG = "tags.coincheck_2018:stolen"
XEM = 1_000_000


def dashed(address: str) -> str:
    return "-".join(address[i:i + 6] for i in range(0, 40, 6)).lower()


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.node = Nis1Double(CHAIN)
        self.node.definitions[TAG] = (1_000_000, 0)
        for key in (PAYER, THIEF, TAGGED):
            self.node.fund(key.address, 1_000 * XEM)
        self.node.fund(HOT.address, 10_000 * XEM)
        self.node.give_mosaic(TAGGED.address, TAG, 1)
        self.chain = NisChain(self.node.url, name=CHAIN, accounts=[HOT.address])
        self.store = migrated_store(tmp_path / "k.db")
        self.ledger = Ledger(self.store, FixedClock(), AssetRegistry.default())
        self.ledger.add_wallet(Wallet("xem-hot", "XEM", "hot", (dashed(HOT.address),)))
        self.ledger.post("open", [Posting("wallet:xem-hot", "XEM", 10_000 * XEM),
                                  Posting("customer:C1", "XEM", -10_000 * XEM)],
                         source="opening")
        self.deposits = Deposits(self.ledger, self.chain, confirmations=2,
                                 start_block=self.chain.head() + 1, tag_tokens=[TAG.upper()])
        self.address = self.deposits.add_address("C2", "XEM", dashed(DEPOSIT.address),
                                                 "xem-hot")
        (tmp_path / "p.toml").write_text(
            "version = 1\nquorum = 1\n[[approvers]]\nname = \"a\"\npublic_key = \""
            + "11" * 32 + "\"\n[assets.XEM]\nmax_hot_ratio = \"1\"\n"
            "[[screening.rules]]\nkind = \"deny_list\"\naction = \"block\"\n"
            "reason = \"listed\"\n")
        self.custody = Custody(self.ledger, chain=self.chain, confirmations=2)
        self.custody.load_policy(tmp_path / "p.toml", "ops")
        self.withdrawals = Withdrawals(self.custody)
        self.watch = Watch(self.withdrawals, self.chain, confirmations=2,
                           start_block=self.chain.head() + 1, tag_tokens=[TAG])

    def pay(self, key: nem.NemKey, to: str, micro: int, *, at: int = 100) -> str:
        signed = key.sign(nem.transfer(CHAIN, signer_public_key=key.public_key, recipient=to,
                                       amount=micro, timestamp=at))
        return self.chain.send_raw(json.dumps(signed.announce()).encode())


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.node.close()
    e.store.close()


def test_a_nem_deposit_is_credited_after_confirmations(env: Env) -> None:
    assert env.address == DEPOSIT.address  # kept in the canonical form
    env.pay(PAYER, DEPOSIT.address, 12 * XEM)
    env.node.mine()
    assert env.deposits.scan().credited == 0  # one confirmation
    env.node.mine()
    assert env.deposits.scan().credited == 1
    env.node.mine()
    assert env.deposits.scan().credited == 0  # exactly once
    assert env.ledger.balance("customer:C2", "XEM") == 12 * XEM


def test_deposits_from_a_listed_or_a_tagged_account_are_frozen(env: Env, tmp_path: Path
                                                                ) -> None:
    pack = tmp_path / "stolen-xem.yaml"
    pack.write_text("title: Coincheck theft, receiving accounts\ncreator: test\n"
                    "label: Coincheck hacker\ncategory: perpetrator\nsource: test\n"
                    f"tags:\n- address: {dashed(THIEF.address)}\n  currency: XEM\n")
    env.withdrawals.load_deny_list(pack)
    env.pay(THIEF, DEPOSIT.address, 5 * XEM, at=100)
    env.pay(TAGGED, DEPOSIT.address, 7 * XEM, at=101)
    env.pay(PAYER, DEPOSIT.address, 1 * XEM, at=102)
    for _ in range(3):
        env.node.mine()
    assert env.deposits.scan().credited == 3
    assert env.ledger.balance("customer:C2", "XEM") == 1 * XEM
    assert env.ledger.balance("clearing:frozen", "XEM") == -12 * XEM
    with env.store.deposits(write=False) as tables:
        states = sorted((d["amount"], d["state"]) for d in tables.deposits(CHAIN))
    assert states == [(1 * XEM, "credited"), (5 * XEM, "frozen"), (7 * XEM, "frozen")]
    said = [ENGLISH.text(decode(e.memo)) for e in env.ledger.entries() if e.memo]
    memos = [m for m in said if "FROZEN" in m]  # kinko's words, stored as messages
    assert any(f"holds the tag mosaic {TAG}" in m for m in memos)
    assert any("Coincheck hacker" in m for m in memos)
    # the memo is read in Japanese too: the tag's label is a message, not an English phrase
    ja = [Localizer("ja").text(decode(e.memo)) for e in env.ledger.entries() if e.memo]
    assert any(f"タグモザイク {TAG} を保有" in m for m in ja)
    assert not any("holds the tag mosaic" in m for m in ja)


def test_the_watch_alarms_on_payments_from_tagged_accounts(env: Env) -> None:
    env.pay(TAGGED, HOT.address, 7 * XEM, at=101)
    env.pay(PAYER, HOT.address, 1 * XEM, at=102)
    (alert,) = env.watch.poll().alerts  # the tagged one, not the clean one
    assert (alert["kind"], alert["amount"]) == ("denied_deposit", 7 * XEM)
    assert f"holds the tag mosaic {TAG}" in ENGLISH.text(alert["detail"])
    japanese = Localizer("ja").text(alert["detail"])
    assert f"タグモザイク {TAG} を保有" in japanese and "holds" not in japanese
    env.node.mine()
    assert env.watch.poll().alerts == []  # once


def test_a_withdrawal_to_a_listed_nem_address_is_blocked(env: Env, tmp_path: Path) -> None:
    listed = tmp_path / "deny.csv"
    listed.write_text(f"banned_address,wallet_tag,data_source\n{dashed(THIEF.address)},"
                      "Thief,test\n")
    env.withdrawals.load_deny_list(listed)
    assert env.withdrawals.request("W1", "C1", "XEM", 5 * XEM, THIEF.address).state == \
        "blocked"
    assert env.withdrawals.request("W2", "C1", "XEM", 5 * XEM,
                                   PAYER.address.lower()).state == "allowed"
    bad = THIEF.address[:-1] + ("A" if THIEF.address[-1] != "A" else "B")
    with pytest.raises(BadInput, match=rf"{bad}.*checksum"):
        env.withdrawals.request("W3", "C1", "XEM", 5 * XEM, bad)


def test_the_watch_alarms_on_an_outgoing_transfer_nobody_approved(env: Env) -> None:
    key = nem.NemKey(PRIVATE[0], CHAIN)  # the thief holds the hot account's key
    tx_hash = env.pay(key, THIEF.address, 9_000 * XEM)
    report = env.watch.poll()  # seen while unconfirmed
    (alert,) = report.alerts
    assert alert["kind"] == "theft" and alert["amount"] == 9_000 * XEM
    assert alert["chain_state"] == "pending"
    env.node.mine()
    report = env.watch.poll()
    assert report.alerts == []  # the same transfer, now in a block, alarms once
    with env.store.watch(write=False) as tables:
        (stored,) = tables.alerts()
    assert tx_hash in ENGLISH.text(stored["detail"]) and stored["severity"] == "critical"


def test_the_tag_mosaic_and_mosaic_asset_settings() -> None:
    from kinko.errors import ConfigError
    from kinko.settings import load_settings

    loaded = load_settings(env={"KINKO_NEM_TAG_MOSAICS": f"{TAG.upper()}, {TAG}",
                                "KINKO_ASSETS": "TAG:nem:0:Kinko.Tags:Stolen"},
                           config_path=None)
    assert loaded.nem_tag_mosaics == (TAG,)
    assert loaded.assets[0].token == "kinko.tags:stolen"
    with pytest.raises(ConfigError, match=r"nem_tag_mosaics = 'stolen': mosaic 'stolen' is "
                                          r"not namespace:name"):
        load_settings(env={"KINKO_NEM_TAG_MOSAICS": "stolen"}, config_path=None)


def test_a_multisig_modification_of_the_hot_account_nobody_approved_alarms(env: Env) -> None:
    """The hot account is a multisig account; a cosignatory's key (stolen) starts removing
    the others: the watch alarms while it waits for cosignatures."""
    env.node.multisig[HOT.address] = 2
    change = nem.modification(CHAIN, account_public_key=HOT.public_key, timestamp=500,
                              remove=[PAYER.public_key], add=[THIEF.public_key])
    wrapped = DEPOSIT.sign(nem.multisig(CHAIN, change, cosignatory_public_key=DEPOSIT.public_key,
                                        timestamp=500))
    env.chain.send_raw(json.dumps(wrapped.announce()).encode())
    (alert,) = env.watch.poll().alerts
    assert alert["kind"] == "unknown_tx" and alert["wallet"] == "xem-hot"
    detail = ENGLISH.text(alert["detail"])
    assert wrapped.hash.lower() in detail and "not made by kinko" in detail


def test_the_hot_account_reconciles_with_the_chain(env: Env) -> None:
    assert [f for f in env.custody.reconcile() if f.wallet == "xem-hot"] == []
    env.node.fund(HOT.address, -3 * XEM)  # gone from the chain, not from the books
    env.node.mine()
    (finding,) = [f for f in env.custody.reconcile() if f.wallet == "xem-hot"]
    assert finding.severity == "critical" and finding.amount == 3 * XEM
