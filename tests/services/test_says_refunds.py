"""The refusals of refund plans and of the FSA report say their specifics (the price, the
file and line, the plan, the proposal, the yen short) in Japanese too, not only in English:
compliance staff read them. Each ``raise`` of a KinkoError in those modules carries
``says``; the English words stay as they were."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from csvquotes import OPEN_QUOTE_JA
from dbtemplate import migrated_store
from saying import said as _said

from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.custody import Wallet
from kinko.domain.fsa import parse_refund_plan
from kinko.domain.ledger import Hold, Posting
from kinko.domain.messages import Time, id_shown, msg, verbatim
from kinko.domain.money import AssetRegistry
from kinko.domain.refunds import (
    PriceBasis,
    build_plan,
    compute_vwap,
    parse_plan_document,
    parse_price,
    parse_refunds_csv,
    parse_trades,
    refund_amounts,
)
from kinko.errors import (
    ApprovalError,
    BadInput,
    InputFileError,
    InvalidAmount,
    KinkoError,
    UnknownAsset,
)
from kinko.i18n import Localizer
from kinko.ports import FixedClock
from kinko.services.custody import Custody
from kinko.services.fsa import fsa_report, read_refund_plan, read_trace
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger
from kinko.services.refunds import Refunds, read_trades

JA, EN = Localizer("ja"), Localizer("en")
ASSETS = AssetRegistry.default()
XEM, JPY = ASSETS["XEM"], ASSETS["JPY"]
SNAP = datetime(2018, 1, 25, 16, 2, tzinfo=UTC)
HELD = {"C1": 1_520_250_001, "C2": 500_000, "C3": 5_646_000}  # 135,159 yen at 88.549, floor




def _english(exc: KinkoError) -> str:
    """The error's English words as the catalog says them: without Python's repr quotes."""
    return exc.message.replace("'", "")


# ---------------------------------------------------------------------------- domain/refunds

def test_a_price_names_itself_and_what_is_wrong_with_it() -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_price("-3")
    assert _said(caught.value) == ("価格 -3 は 0 より大きい値にしてください",
                                   "price -3 must be above 0")
    with pytest.raises(InvalidAmount) as caught:
        parse_price("1e3")
    ja, en = _said(caught.value)
    assert ja.startswith("価格 1e3 は通常の 10 進数ではありません") and "exponent" not in ja
    assert en == caught.value.message.replace("'1e3'", "1e3")


def test_a_trades_file_names_its_file_line_and_problem() -> None:
    lines = ["time,price,amount\n", "2018-01-25T01:00:00,88,1\n", "2018-01-25T01:00:00Z,0,1\n"]
    with pytest.raises(InputFileError) as caught:
        parse_trades(lines, "trades.csv")
    assert caught.value.message.startswith("trades.csv: 2 problem(s)")
    ja, en = _said(caught.value)
    assert ja == ("trades.csv：取引ファイルに問題が 2 件あります。何も計画していません（最初の問題："
                  "trades.csv:2：日時 2018-01-25T01:00:00 にタイムゾーンがありません（+09:00 か Z "
                  "を付けてください））")
    assert en == _english(caught.value)
    with pytest.raises(InputFileError) as caught:
        parse_trades(["time,price,amount,venue\n", "2018-01-25T01:00:00Z,88,1,zaif,x\n"],
                     "t.csv")
    ja, en = _said(caught.value)
    assert "t.csv:2：項目が 5 個ありますが、ヘッダーは 4 個です" in ja
    with pytest.raises(InputFileError) as caught:
        parse_trades(["time,amount,venue\n"], "t.csv")
    assert _said(caught.value)[0] == "t.csv:1：ヘッダーに列 price がありません（あった列：time,amount,venue）"
    with pytest.raises(InputFileError) as caught:
        parse_trades([], "t.csv")
    assert _said(caught.value) == ("t.csv:1：取引ファイルが空です。ヘッダー time,price,amount が必要です",
                                   caught.value.message)


def test_a_vwap_window_and_a_plan_say_what_they_refuse() -> None:
    trades = parse_trades(["time,price,amount\n", "2018-01-26T00:00:00+09:00,88.4,1500\n"],
                          "trades.csv")
    start = datetime(2018, 1, 27, tzinfo=UTC)
    with pytest.raises(BadInput) as caught:
        compute_vwap(trades, start, start, name="trades.csv")
    ja, en = _said(caught.value)
    assert ja == ("VWAP の期間 [2018-01-27T00:00:00+00:00, 2018-01-27T00:00:00+00:00) が空です。"
                  "--from は --to より前にしてください")
    assert en == caught.value.message
    with pytest.raises(BadInput) as caught:
        compute_vwap(trades, start, start + timedelta(days=1), name="trades.csv")
    ja, en = _said(caught.value)
    assert ja.startswith("trades.csv：期間 [2018-01-27T00:00:00+00:00") and "2018-01-26T00:00" in ja
    assert en == caught.value.message
    with pytest.raises(BadInput) as caught:
        build_plan(incident="INC-1", asset=XEM, currency=XEM, rounding="floor", snapshot=SNAP,
                   snapshot_source="alert A-1", price=PriceBasis(Decimal("88.549"), "fixed"),
                   holdings=[("C1", 1)], bank=0, customers_owed=0, funds_as_of=SNAP)
    assert _said(caught.value) == ("XEM を XEM 自体で返金することはできません",
                                   caught.value.message)
    with pytest.raises(BadInput) as caught:
        refund_amounts([1], 1, 1, "ceiling")  # type: ignore[arg-type]
    assert _said(caught.value) == (
        "端数処理（rounding）は floor, half-up のいずれかにしてください（ceiling は使えません）",
        _english(caught.value))


def _plan_files(tmp_path: Path) -> tuple[Refunds, Ledger, str, Path]:
    """A small exchange whose refunds are 35,159 yen short, and its plan in ``plan/``."""
    store = migrated_store(tmp_path / "kinko.db")
    clock = FixedClock()
    ledger = Ledger(store, clock, ASSETS)
    ledger.sync_assets()
    ledger.add_wallet(Wallet("xem-hot", "XEM", "hot"))
    ledger.post("open-xem", [Posting("wallet:xem-hot", "XEM", sum(HELD.values())),
                             *(Posting(f"customer:{c}", "XEM", -u) for c, u in HELD.items())],
                source="opening")
    ledger.post("own-jpy", [Posting("bank:jpy-own", "JPY", 100_000),
                            Posting("own", "JPY", -100_000)], source="opening")
    opened = clock.advance(hours=1)
    with store.watch() as t:
        incident = t.put_incident({"state": "open", "title": verbatim("XEM stolen"),
                                   "asset": "XEM", "wallet": "xem-hot", "opened": opened,
                                   "closed": None})
        t.put_alert({"key": "theft-1", "kind": "theft", "severity": "critical",
                     "state": "open", "chain_state": "final", "asset": "XEM",
                     "wallet": "xem-hot", "tx_hash": None, "amount": 10, "block": 1,
                     "detail": verbatim("theft"), "incident": incident,
                     "raised": opened + timedelta(minutes=2)})
    clock.advance(minutes=5)
    refunds = Refunds(ledger, Incidents(store, clock))
    refunds.write_plan(refunds.plan(incident, "XEM", price=Decimal("88.549")),
                       tmp_path / "plan")
    return refunds, ledger, incident, tmp_path / "plan"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Refunds, Ledger, str, Path]]:
    refunds, ledger, incident, folder = _plan_files(tmp_path)
    yield refunds, ledger, incident, folder
    ledger.store.close()


def test_a_plan_read_back_names_what_was_altered(world: tuple[Refunds, Ledger, str, Path]
                                                 ) -> None:
    _, _, _, folder = world
    doc = json.loads((folder / "plan.json").read_text())
    with pytest.raises(InputFileError) as caught:
        parse_plan_document({**doc, "incident": "INC-other"}, "plan.json")
    ja, en = _said(caught.value)
    assert ja == (f"plan.json：計画は書き出された後に改変されています。内容が plan_id "
                  f"{doc['plan_id']} と一致しません")
    assert en == caught.value.message
    with pytest.raises(InputFileError) as caught:
        parse_plan_document({"format": "v0"}, "plan.json")
    assert _said(caught.value)[0] == ("plan.json：kinko の返金計画ではありません（format は "
                                      "kinko-refund-plan-v1 である必要があります）")
    data = (folder / "refunds.csv").read_bytes().replace(b",499\n", b",498\n")
    with pytest.raises(InputFileError) as caught:
        parse_refunds_csv(data, "refunds.csv", doc, XEM)
    ja, en = _said(caught.value)
    assert ja == ("refunds.csv:4：返金額 498 が、5.646 × 88.549 を切り捨てで丸めた 499 と"
                  "一致しません")
    assert en == caught.value.message


# ---------------------------------------------------------------------------- services/refunds

def test_planning_refusals_name_the_asset_incident_and_file(
        world: tuple[Refunds, Ledger, str, Path], tmp_path: Path) -> None:
    refunds, _, incident, _ = world
    with pytest.raises(BadInput) as caught:
        refunds.plan(incident, "ETH", price=Decimal("88.549"))
    ja, en = _said(caught.value)
    assert ja == (f"{incident} のスナップショット（2018-01-25T16:02:00+00:00、アラート A-1）の時点で "
                  "ETH を保有していた顧客はいません。返金するものはありません")
    assert en == caught.value.message
    with pytest.raises(BadInput) as caught:
        refunds.plan(incident, "XEM", price=Decimal("88.549"), currency="ETH")
    assert _said(caught.value) == ("--currency ETH は法定通貨（JPY など）ではありません",
                                   caught.value.message)
    with pytest.raises(InvalidAmount) as caught:
        refunds.plan(incident, "XEM", price=Decimal(0))
    assert _said(caught.value) == ("価格 0 は 0 より大きい値にしてください", caught.value.message)
    with pytest.raises(InputFileError) as caught:
        refunds.read_plan(tmp_path / "nowhere")
    ja, en = _said(caught.value)
    assert ja == (f"{tmp_path / 'nowhere' / 'plan.json'}：ファイルがありません（`kinko refunds "
                  "plan ... --out DIR` で計画を書き出してください）")
    assert en == caught.value.message
    trades = tmp_path / "trades.csv"
    trades.write_bytes(b"time,price,amount\n2018-01-25T01:00:00Z,\xff,1\n")
    with pytest.raises(InputFileError) as caught:
        read_trades(trades)
    ja, en = _said(caught.value)
    assert ja == f"{trades} は UTF-8 のテキストではありません（invalid start byte）"
    assert en == caught.value.message


def test_a_plan_is_not_paid_while_a_hold_reserves_a_refunded_customers_coins(
        world: tuple[Refunds, Ledger, str, Path]) -> None:
    """A withdrawal still waiting reserves coins the refund would take as the claim: its
    entry overdrew (said in minor units, naming no withdrawal). Refused before anything is
    posted, naming the hold and what to do."""
    refunds, ledger, _, folder = world
    ledger.open_hold("h-W-2", Hold("W-2", "customer:C2", "wallet:xem-hot", "XEM", 150_000),
                     source="req:W-2")
    plan_id = refunds.read_plan(folder).plan_id
    entries = len(ledger.entries())
    with pytest.raises(BadInput) as caught:
        refunds.execute(folder)
    ja, en = _said(caught.value)
    assert ja == (f"返金計画 {plan_id} は支払われていません：対象の顧客のうち 1 人の XEM が保留中の"
                  "ホールドで確保されています（最初：customer:C2 の W-2、0.15 XEM）。顧客に返金する前"
                  "に、それぞれを却下または取り消してください（`kinko withdrawals reject ID --by "
                  "NAME --reason ...`）。何も記帳していません")
    assert en == caught.value.message.replace("'", "")
    assert len(ledger.entries()) == entries
    ledger.void_hold("v-W-2", "W-2", source="reject:W-2")
    with pytest.raises(BadInput, match="short"):  # the funds check, as before
        refunds.execute(folder)


def test_paying_refusals_name_the_plan_the_yen_and_the_proposal(
        world: tuple[Refunds, Ledger, str, Path], tmp_path: Path) -> None:
    refunds, ledger, _, folder = world
    with pytest.raises(BadInput) as caught:
        refunds.execute(folder)
    plan_id = refunds.read_plan(folder).plan_id
    ja, en = _said(caught.value)
    assert ja.startswith(f"返金計画 {plan_id} は支払われていません：資金の確認で不足が出ています"
                         "（35,159 JPY 不足）。何も記帳していません")
    assert en == caught.value.message.replace("35159", "35,159")
    with pytest.raises(BadInput) as caught:
        refunds.execute(folder, batch_size=0)
    assert _said(caught.value)[0] == "バッチの件数は 1 以上にしてください"
    with pytest.raises(ApprovalError) as caught:
        refunds.execute(folder, override_proposal="refund-nope")
    assert _said(caught.value) == ("提案 refund-nope はありません", "unknown proposal refund-nope")
    keys = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob", "carol")}
    policy = tmp_path / "policy.toml"
    policy.write_text("version = 1\nquorum = 2\n" + "".join(
        f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
        for n, k in keys.items()))
    Custody(ledger).load_policy(policy, "carol")
    view = refunds.propose_override(folder, "carol")
    refunds.custody.approve(view.proposal.id, "alice",
                            sign_proposal(view.proposal, keys["alice"]))
    with pytest.raises(ApprovalError) as caught:
        refunds.execute(folder, override_proposal=view.proposal.id)
    ja, en = _said(caught.value)
    assert ja == (f"提案 {view.proposal.id} は「承認待ち」です（承認 2 件中 1 件）。不足を認めるのは"
                  "定足数の承認を得た例外処理だけです")
    assert en == caught.value.message
    (folder / "refunds.csv").write_bytes(b"tampered\n")
    with pytest.raises(InputFileError) as caught:
        refunds.execute(folder)
    ja, _ = _said(caught.value)
    assert ja.startswith(f"{folder / 'refunds.csv'}：SHA-256 ") and "改変されています" in ja


def test_a_huge_override_id_is_quoted_short(world: tuple[Refunds, Ledger, str, Path]) -> None:
    """An override's id of 10,000 characters from the command line comes back at most 80
    characters long, in the English words and in the message's parameters."""
    refunds, _, _, folder = world
    huge = "R" * 10_000
    with pytest.raises(ApprovalError) as caught:
        refunds.execute(folder, override_proposal=huge)
    assert caught.value.said() == msg("error.unknown_proposal", id=id_shown(huge))
    assert caught.value.message == f"unknown proposal {id_shown(huge)!r}"
    assert len(_said(caught.value)[0]) < 200


def test_an_override_older_than_the_policy_allows_has_expired(
        world: tuple[Refunds, Ledger, str, Path], tmp_path: Path) -> None:
    """An approved override stored with an expiry a century away (as an earlier kinko, or a
    policy version granting longer, could write it) allows no shortfall once it is older
    than the policy in force allows, as an approval or an execution would refuse it."""
    refunds, ledger, _, folder = world
    keys = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob")}
    policy = tmp_path / "policy.toml"
    policy.write_text("version = 1\nquorum = 2\nproposal_ttl_hours = 24\n" + "".join(
        f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
        for n, k in keys.items()))
    Custody(ledger).load_policy(policy, "carol")
    made = refunds.propose_override(folder, "carol").proposal
    p = replace(made, id="refund-long-lived",
                expires_at=made.created_at + timedelta(days=36500))
    with ledger.store.custody() as (_, tables):
        tables.put_proposal(p, verbatim("stored long ago"))
    for name, key in keys.items():
        refunds.custody.approve(p.id, name, sign_proposal(p, key))
    ledger.clock.advance(hours=25)  # type: ignore[attr-defined]
    with pytest.raises(ApprovalError) as caught:
        refunds.execute(folder, override_proposal=p.id)
    lapsed = p.created_at + timedelta(hours=24)  # not the stored expiry
    assert caught.value.said() == msg("error.refunds.override_expired", id=p.id,
                                      at=Time(lapsed))
    assert _said(caught.value)[0].startswith(f"例外処理 {p.id} は ")
    assert lapsed.isoformat() in caught.value.message
    view = refunds.custody.proposal(p.id)
    assert view is not None and view.state == "approved"  # nothing was paid with it


# ---------------------------------------------------------------------------- fsa

def test_the_fsa_report_names_the_plan_incident_asset_and_files(
        world: tuple[Refunds, Ledger, str, Path], tmp_path: Path) -> None:
    refunds, _, incident, folder = world
    custody = refunds.custody
    with pytest.raises(BadInput) as caught:
        fsa_report(custody, incident="INC-OTHER", refund_plan=folder)
    ja, en = _said(caught.value)
    assert ja == (f"{folder / 'plan.json'} はインシデント {incident} の返金計画で、INC-OTHER の"
                  "ものではありません")
    assert en == caught.value.message
    with pytest.raises(UnknownAsset) as caught:
        fsa_report(custody, trace_asset="DOGE")
    assert _said(caught.value) == ("資産 DOGE はありません", "unknown asset DOGE")
    with pytest.raises(InputFileError) as caught:
        read_trace(tmp_path / "no-trace")
    ja, en = _said(caught.value)
    assert ja == (f"{tmp_path / 'no-trace'}：追跡のフォルダーではありません（ファイルまたはフォルダーが"
                  f"ありません：{tmp_path / 'no-trace' / 'summary.json'}）")
    assert en == caught.value.message
    with pytest.raises(InputFileError) as caught:
        read_refund_plan(tmp_path / "nowhere.json")
    assert _said(caught.value)[0] == (f"{tmp_path / 'nowhere.json'}：返金計画を読み込めません"
                                      "（ファイルまたはフォルダーがありません）")


def test_a_refund_plan_in_the_report_names_its_field() -> None:
    good = {"format": "kinko-refund-plan-v1", "plan_id": "P1", "incident": "INC-1",
            "asset": "XEM", "decimals": 6, "customers": 2, "total_units": 3_000_000,
            "total_yen": 265, "currency": "JPY",
            "price": {"value": "88.549", "method": "fixed"},
            "funds": {"available_yen": 300, "required_yen": 265, "confirmed": True,
                      "shortfall_yen": 0}}
    assert parse_refund_plan(good, "plan.json").total_yen == 265
    cases = [
        ({**good, "price": {"value": "eighty"}}, "plan.json：price.value eighty は数値ではありません"),
        ({**good, "price": {"value": "-1"}},
         "plan.json：price.value は 0 より大きい数値である必要があります"),
        ({**good, "incident": " "}, "plan.json：incident がありません"),
        ({**good, "funds": {**good["funds"], "confirmed": "yes"}},  # type: ignore[dict-item]
         "plan.json：funds.confirmed は true か false である必要があります"),
        ({**good, "customers": "two"}, "plan.json：customers = two は整数ではありません"),
        ({**good, "funds": {**good["funds"], "required_yen": None}},  # type: ignore[dict-item]
         "plan.json: funds：required_yen がないか、整数ではありません"),
        ({**good, "price": []}, "plan.json：price と funds は JSON のオブジェクトである必要があります"),
    ]
    for data, words in cases:
        with pytest.raises(InputFileError) as caught:
            parse_refund_plan(data, "plan.json")
        ja, en = _said(caught.value)
        assert ja == words, caught.value.message
        assert en == _english(caught.value)
    assert JA.text(msg("error.refunds.rounding.half_up")) == "四捨五入"


def test_a_trace_folder_whose_exposure_has_a_short_row_is_refused_by_name(
        tmp_path: Path) -> None:
    from kinko.services.fsa import read_trace

    (tmp_path / "summary.json").write_text('{"policy": "haircut", "totals": {}}')
    (tmp_path / "exposure.csv").write_text(
        "entity,category,taint_received,addresses\nExchange A,exchange,5\n")
    with pytest.raises(InputFileError) as caught:
        read_trace(tmp_path)
    assert caught.value.message.startswith(f"{tmp_path / 'exposure.csv'}: not a trace's "
                                           "exposure file")
    assert str(tmp_path / "exposure.csv") in JA.text(caught.value.said())


@pytest.mark.parametrize(("rows", "opened"), [
    # the rows after it read into one entity, the exchanges below it never named
    ('A,exchange,5,1\n"B,exchange,3,1\nC,exchange,2,1\n', 3),
    ('A,exchange,5,1\nC,exchange,2,"1', 3),  # read as 1 address, without a word
])
def test_a_trace_folder_whose_exposure_leaves_a_quote_open_is_refused_on_its_line(
        tmp_path: Path, rows: str, opened: int) -> None:
    """exposure.csv is kinko's, but a trace folder may come from another machine: a quote
    left open in it is refused on the line where it opens, not read on to the file's end."""
    (tmp_path / "summary.json").write_text('{"policy": "haircut", "totals": {}}')
    (tmp_path / "exposure.csv").write_text(
        "entity,category,taint_received,addresses\n" + rows)
    with pytest.raises(InputFileError) as caught:
        read_trace(tmp_path)
    assert caught.value.message == (f"{tmp_path / 'exposure.csv'}:{opened}: unterminated "
                                    "quoted field: the double quote that opens it here is "
                                    "not closed before the end of the file")
    assert JA.text(caught.value.said()).startswith(
        f"{tmp_path / 'exposure.csv'}:{opened}{OPEN_QUOTE_JA}")
