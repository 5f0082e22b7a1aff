"""The refusals of incidents, tracing, proof of reserves and customers say their specifics
(the alert, incident, seed, file, column, snapshot) in Japanese too, not only in English: each
``raise`` of a KinkoError in those modules carries ``says``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbtemplate import migrated_store
from saying import said as _said

from kinko.domain.custody import Wallet
from kinko.domain.money import AssetRegistry
from kinko.domain.trace.model import UtxoTransactions
from kinko.errors import BadInput, InputFileError
from kinko.i18n import Localizer
from kinko.ports import FixedClock
from kinko.services import customers
from kinko.services.customers import import_customers, parse_customer_rows, set_tier
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger
from kinko.services.reserves import (
    chain_point,
    load_root,
    publish,
    publish_okx,
    read_json,
    snapshot,
)
from kinko.services.trace import (
    SeedAddress,
    account_transfers,
    parse_seed_address,
    resolve_seeds,
    run_trace,
    run_utxo_trace,
)

JA, EN = Localizer("ja"), Localizer("en")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger on SQLite only (these refusals do not depend on the database)."""
    store = migrated_store(tmp_path / "kinko.db")
    led = Ledger(store, FixedClock(), AssetRegistry.default())
    led.sync_assets()
    led.add_wallet(Wallet("xem-hot", "XEM", "hot"))
    yield led
    store.close()




def _theft(store: object, clock: FixedClock, incident: str | None) -> str:
    from kinko.domain.messages import verbatim

    with store.watch() as t:  # type: ignore[attr-defined]
        return str(t.put_alert({
            "key": f"k:{incident}", "kind": "theft", "severity": "critical", "state": "open",
            "chain_state": "final", "asset": "XEM", "wallet": "xem-hot", "tx_hash": "0x01",
            "amount": 5, "block": 1, "detail": verbatim("stolen"), "incident": incident,
            "raised": clock.now()}))


# ---------------------------------------------------------------------------- incidents

def test_incident_refusals_name_the_alert_and_the_incident(ledger: Ledger) -> None:
    clock = ledger.clock
    assert isinstance(clock, FixedClock)
    inc = Incidents(ledger.store, clock, ledger)
    with pytest.raises(BadInput) as caught:
        inc.alert("A-404")
    assert _said(caught.value) == ("アラート A-404 はありません", "unknown alert A-404")
    with pytest.raises(BadInput) as caught:
        inc.incident("I-77")
    ja, en = _said(caught.value)
    assert ja == "インシデント I-77 はありません" and en == "unknown incident I-77"
    with pytest.raises(BadInput) as caught:
        inc.alerts(offset=-1)
    ja, en = _said(caught.value)
    assert "0 以上" in ja and en == caught.value.message
    with pytest.raises(BadInput) as caught:
        inc.note("I-77", " ", "text")
    assert _said(caught.value)[1] == caught.value.message

    opened = inc.open("leaked key", "ops")
    alert = _theft(ledger.store, clock, opened)
    with pytest.raises(BadInput) as caught:
        inc.escalate([alert], "ops", wallet="xem-hot")
    ja, en = _said(caught.value)
    assert ja == f"アラート {alert} はすでにインシデント {opened} に含まれています"
    assert en == caught.value.message
    with pytest.raises(BadInput) as caught:
        inc.escalate(["A-999"], "ops", wallet="xem-hot")
    assert "A-999" in _said(caught.value)[0]
    with pytest.raises(BadInput) as caught:
        inc.move(opened, "opened", "ops", "why")
    ja, _en = _said(caught.value)
    assert opened in ja and "opened" in ja and "対応中" in ja
    with pytest.raises(BadInput) as caught:
        inc.book_loss(opened, "XEM", "xem-hot", -5, source="x", by="ops")
    ja, en = _said(caught.value)
    assert ja == "損失は正の値にしてください（-5 は使えません）"
    assert en == caught.value.message == "a loss must be positive, not -5"
    with pytest.raises(BadInput) as caught:
        Incidents(ledger.store, clock).record_losses(opened, "ops")
    assert _said(caught.value) == ("損失の計上には台帳が必要です",
                                   "booking losses needs the ledger")


def test_a_loss_the_wallet_cannot_cover_names_the_amount_and_wallet(ledger: Ledger) -> None:
    clock = ledger.clock
    assert isinstance(clock, FixedClock)
    inc = Incidents(ledger.store, clock, ledger)
    opened = inc.open("leaked key", "ops")
    try:
        inc.book_loss(opened, "XEM", "xem-hot", 1_500_000, source="report", by="ops")
    except BadInput as exc:
        ja, en = _said(exc)
        assert "xem-hot" in ja and "1.5" in ja and "XEM" in ja and "reserved" not in ja
        assert en.replace(",", "") == exc.message.replace(",", "")
    else:  # the ledger let the wallet go below zero: nothing refused to say
        pytest.skip("the ledger books a wallet below zero here")


# ---------------------------------------------------------------------------- trace

def test_trace_refusals_name_the_seed_and_the_policy() -> None:
    with pytest.raises(BadInput) as caught:
        parse_seed_address("0xabc=1.5")
    ja, en = _said(caught.value)
    assert ja == "--seed-address 0xabc=1.5：「=」の後の数量は最小単位の整数にしてください"
    assert en == caught.value.message.replace("'0xabc=1.5'", "0xabc=1.5")
    with pytest.raises(BadInput) as caught:
        parse_seed_address("0xabc@x")
    assert "0xabc@x" in _said(caught.value)[0]
    with pytest.raises(BadInput) as caught:
        parse_seed_address("@5")
    assert _said(caught.value)[0] == "--seed-address @5：アドレスがありません"

    empty = account_transfers([])
    with pytest.raises(BadInput) as caught:
        run_trace(empty, policy="sideways")  # type: ignore[arg-type]
    ja, en = _said(caught.value)
    assert "sideways" in ja and "haircut" in ja and "--policy" in ja
    assert en == caught.value.message.replace("'sideways'", "sideways")
    with pytest.raises(BadInput) as caught:
        run_trace(empty, policy="haircut", max_hops=0)
    assert _said(caught.value)[0] == "ホップ数の上限は 1 以上にしてください"
    with pytest.raises(BadInput) as caught:
        resolve_seeds(empty, [], [])
    assert "起点" in _said(caught.value)[0]
    with pytest.raises(BadInput) as caught:
        resolve_seeds(empty, [], [SeedAddress("0xfeed")])
    ja, en = _said(caught.value)
    assert ja == "起点のアドレス 0xfeed は読み込んだ送金の中にありません"
    assert en == caught.value.message
    with pytest.raises(BadInput) as caught:
        resolve_seeds(empty, ["0x" + "ab" * 32], [])
    assert "0x" + "ab" * 32 in _said(caught.value)[0]


def test_utxo_trace_refusals_say_the_policy() -> None:
    txs = UtxoTransactions.__new__(UtxoTransactions)  # not read: the policy is checked first
    with pytest.raises(BadInput) as caught:
        run_utxo_trace(txs, policy="lifo-ish")  # type: ignore[arg-type]
    ja, en = _said(caught.value)
    assert "lifo-ish" in ja and "--policy" in ja
    assert en == caught.value.message.replace("'lifo-ish'", "lifo-ish")


def test_a_seed_spec_from_outside_is_cut_in_the_message() -> None:
    with pytest.raises(BadInput) as caught:
        parse_seed_address("x" * 100_000 + "=y")
    assert len(JA.text(caught.value.said())) < 400


# ---------------------------------------------------------------------------- reserves

def test_reserves_refusals_name_the_block_file_folder_and_assets(ledger: Ledger,
                                                                 tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        chain_point(None, -3)  # type: ignore[arg-type]  # refused before the node is asked
    assert _said(caught.value) == ("ブロック -3 は負の値です", "block -3 is negative")
    with pytest.raises(BadInput) as caught:
        snapshot(ledger, block=7)
    assert "KINKO_EVM_RPC_URL" in _said(caught.value)[0]

    missing = tmp_path / "nowhere" / "root.json"
    with pytest.raises(InputFileError) as caught:
        read_json(missing, "root")
    assert _said(caught.value) == (f"{missing}：ルートファイルがありません",
                                   f"{missing}: no such root file")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "root.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(InputFileError) as caught:
        load_root(bad)
    ja, _en = _said(caught.value)
    assert ja.startswith(f"{bad / 'root.json'}：")

    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,asset,balance\nC1,XEM,1.5\n")
    import_customers(ledger, csv, batch_size=100)
    snap = snapshot(ledger)
    with pytest.raises(BadInput) as caught:
        publish(snap, tmp_path / "out", layout="tree")
    assert "tree" in _said(caught.value)[0]
    publish(snap, tmp_path / "out")
    with pytest.raises(BadInput) as caught:
        publish(snap, tmp_path / "out")
    ja, en = _said(caught.value)
    sid = snap.tree.snapshot_id.hex()
    assert ja.startswith(f"{tmp_path / 'out'} にはすでにスナップショット ")
    assert en == caught.value.message and (sid in ja) == (sid in en)
    with pytest.raises(BadInput) as caught:
        publish_okx(snap, tmp_path / "okx")
    ja, en = _said(caught.value)
    assert "XEM" in ja and "BTC" in ja and "--skip-other-assets" in ja
    assert en == caught.value.message


# ---------------------------------------------------------------------------- customers

def _rows_refused(text: str) -> InputFileError:
    with pytest.raises(InputFileError) as caught:
        parse_customer_rows(text.splitlines(True), "c.csv", AssetRegistry.default())
    return caught.value


def test_customer_file_refusals_name_the_file_columns_and_counts(tmp_path: Path) -> None:
    ja, en = _said(_rows_refused(""))
    assert ja == "c.csv:1：ファイルが空です。ヘッダー customer_id,asset,balance が必要です"
    assert en == "c.csv:1: the file is empty; expected a header customer_id,asset,balance"
    exc = _rows_refused("customer_id,amount\n")
    ja, en = _said(exc)
    assert ja == "c.csv:1：ヘッダーに列 asset, balance がありません（あった列：customer_id, amount）"
    assert en == exc.message
    exc = _rows_refused("customer_id,asset,balance,balance\n")
    ja, en = _said(exc)
    assert ja == "c.csv:1：ヘッダーに列 balance が二度あります（3 列目と 4 列目）"
    assert en == exc.message
    exc = _rows_refused("customer_id,asset,balance\nC1,XEM,-1\nC2,DOGE,1\n")
    assert _said(exc) == ("c.csv：問題が 2 件あります。何も取り込んでいません", exc.message)

    registry = AssetRegistry.default()
    latin = tmp_path / "latin.csv"
    latin.write_bytes("customer_id,asset,balance\nC\xe9,XEM,1\n".encode("latin-1"))
    with pytest.raises(InputFileError) as caught:
        customers.read_customer_csv(latin, registry)
    ja, en = _said(caught.value)
    assert ja.startswith(f"{latin} は UTF-8 のテキストではありません（")
    assert en == caught.value.message


def test_a_tier_outside_the_policy_and_a_second_import_are_named(ledger: Ledger,
                                                                tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        set_tier(ledger, "C1", "ゴールド", "ops")
    ja, en = _said(caught.value)
    assert ja == ("顧客区分 ゴールド はポリシーの顧客区分（standard）にありません（顧客区分はポリシーの "
                  "[screening] tiers で宣言し、`kinko policy load` で読み込みます）")
    assert en == ("tier ゴールド is not one of the policy's tiers: standard (a policy declares "
                  "its tiers under [screening] tiers; load it with `kinko policy load`)")
    with pytest.raises(BadInput) as caught:
        set_tier(ledger, "C1", "standard", " ")
    assert _said(caught.value)[0] == "顧客区分を設定する人を指定してください（--by）"
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("customer_id,asset,balance\nC1,XEM,1\n")
    second.write_text("customer_id,asset,balance\nC1,XEM,2\n")
    import_customers(ledger, first, batch_size=100)
    with pytest.raises(InputFileError) as caught:
        import_customers(ledger, second, batch_size=100)
    ja, en = _said(caught.value)
    assert ja == f"{second}：1 行はすでに取り込まれています。何も取り込んでいません"
    assert en == caught.value.message
