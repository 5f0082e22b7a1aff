"""Refund plans through the service (SQLite and PostgreSQL) and the command line (SQLite).

A small exchange: three customers hold XEM when the theft alarm is raised, one deposits
after it; customers hold yen in a trust account, the exchange its own yen in another. The
figures are worked by hand at 88.549 JPY/XEM:

    C1  1,520.250001 XEM → 134,616.617338549 → 134,616 floor / 134,617 half-up
    C2      0.5      XEM →      44.2745       →      44     /      44
    C3      5.646    XEM →     499.947654     →     499     /     500
    total 1,526.396001 XEM → 135,160.839492549 JPY exact; floor 135,159 (remainder 1.839492549)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from clirun import cli_runner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_store

from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.messages import msg, verbatim
from kinko.domain.money import AssetRegistry
from kinko.errors import ApprovalError, BadInput, InputFileError, InvalidAmount, UnknownAsset
from kinko.ports import FixedClock
from kinko.services.custody import Custody
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger
from kinko.services.refunds import Refunds
from kinko.store import SqlStore

XEM = 10**6
HELD = {"C1": 1_520_250_001, "C2": 500_000, "C3": 5_646_000}
FLOOR = {"C1": 134_616, "C2": 44, "C3": 499}
CUSTOMER_YEN = {"C1": 30_000, "C4": 5_000}
REQUIRED = 135_159


def exchange(ledger: Ledger, store: SqlStore, clock: FixedClock, *, own_yen: int,
             extra: dict[str, int] | None = None) -> str:
    """The exchange before, at and after the theft; returns the incident id."""
    held = {**HELD, **(extra or {})}
    ledger.post("open-xem", [Posting("wallet:xem-hot", "XEM", sum(held.values())),
                             *(Posting(f"customer:{c}", "XEM", -u) for c, u in held.items())],
                source="opening")
    ledger.post("open-jpy", [Posting("bank:jpy-trust", "JPY", sum(CUSTOMER_YEN.values())),
                             *(Posting(f"customer:{c}", "JPY", -y)
                               for c, y in CUSTOMER_YEN.items())], source="opening")
    ledger.post("own-jpy", [Posting("bank:jpy-own", "JPY", own_yen),
                            Posting("own", "JPY", -own_yen)], source="opening")
    opened = clock.advance(hours=1)
    with store.watch() as t:
        incident = t.put_incident({"state": "open", "title": msg("incident.title.outflow", wallet="xem-hot"),
                                   "asset": "XEM", "wallet": "xem-hot", "opened": opened,
                                   "closed": None})
        for n, minutes in ((1, 2), (2, 30)):  # the first alert, then a later one
            t.put_alert({"key": f"theft-{n}", "kind": "theft", "severity": "critical",
                         "state": "open", "chain_state": "final", "asset": "XEM",
                         "wallet": "xem-hot", "tx_hash": None, "amount": 10, "block": n,
                         "detail": verbatim("theft"), "incident": incident,
                         "raised": opened + timedelta(minutes=minutes)})
    clock.advance(minutes=2)  # the snapshot: entries up to and including this instant
    stolen = sum(held.values())
    ledger.post("theft", [Posting(f"loss:{incident}", "XEM", stolen),
                          Posting("wallet:xem-hot", "XEM", -stolen)], source="tx:0xbad")
    clock.advance(minutes=1)  # after the snapshot: a new customer and a top-up
    ledger.post("late", [Posting("wallet:xem-hot", "XEM", 9 * XEM),
                         Posting("customer:C5", "XEM", -7 * XEM),
                         Posting("customer:C1", "XEM", -2 * XEM)], source="tx:0xlate")
    return incident


@pytest.fixture
def refunds(ledger: Ledger, store: SqlStore, clock: FixedClock) -> Refunds:
    return Refunds(ledger, Incidents(store, clock))


def balances(ledger: Ledger, asset: str) -> dict[str, int]:
    return {r.account: -r.state.balance for r in ledger.balances(kind="customer", asset=asset)}


# ---------------------------------------------------------------------------- service


def test_plan_at_the_snapshot(refunds: Refunds, ledger: Ledger, store: SqlStore,
                              clock: FixedClock, tmp_path: Path) -> None:
    incident = exchange(ledger, store, clock, own_yen=200_000)
    when, source = refunds.snapshot(incident)
    assert source == "alert A-1" and when == datetime(2018, 1, 25, 16, 2, tzinfo=UTC)
    plan = refunds.plan(incident, "XEM", price=Decimal("88.549"))
    assert dict(zip(plan.customers, plan.units, strict=True)) == HELD  # not C5, not C1's top-up
    assert dict(zip(plan.customers, plan.refunds, strict=True)) == FLOOR
    assert plan.total_refund == REQUIRED and str(plan.remainder) == "1839492549/1000000000"
    assert (plan.funds.bank, plan.funds.customers, plan.funds.available) == (
        235_000, 35_000, 200_000)
    assert plan.funds.confirmed
    half = refunds.plan(incident, "XEM", price=Decimal("88.549"), rounding="half-up")
    assert half.refunds == (134_617, 44, 500) and half.total_refund == 135_161
    files = refunds.write_plan(plan, tmp_path / "plan")
    doc = json.loads(files.plan_json.read_text())
    assert {k: doc[k] for k in ("incident", "asset", "decimals", "currency", "rounding",
                                "snapshot", "customers", "total_units", "total_yen",
                                "exact_total_yen", "remainder_yen")} == {
        "incident": incident, "asset": "XEM", "decimals": 6, "currency": "JPY",
        "rounding": "floor", "snapshot": "2018-01-25T16:02:00.000000Z", "customers": 3,
        "total_units": "1526396001", "total_yen": "135159",
        "exact_total_yen": "135160.839492549", "remainder_yen": "1.839492549"}
    assert doc["funds"]["available_yen"] == "200000" and doc["funds"]["confirmed"] is True
    assert doc["plan_id"] == files.plan_id and doc["plan_id"].startswith("RP-")
    assert files.refunds_csv.read_text().splitlines()[1:] == [
        "C1,1520250001,1520.250001,134616", "C2,500000,0.5,44", "C3,5646000,5.646,499"]
    # the same plan again: the same id, the folder may be rewritten; another plan may not
    assert refunds.write_plan(refunds.plan(incident, "XEM", price=Decimal("88.549")),
                              tmp_path / "plan").plan_id == files.plan_id
    with pytest.raises(BadInput, match="already holds refund plan"):
        refunds.write_plan(half, tmp_path / "plan")


def test_an_incident_without_alerts_uses_its_opening(refunds: Refunds, ledger: Ledger,
                                                     store: SqlStore, clock: FixedClock) -> None:
    exchange(ledger, store, clock, own_yen=1)
    with store.watch() as t:
        bare = t.put_incident({"state": "open", "title": verbatim("by hand"), "asset": None,
                               "wallet": None, "opened": clock.now(), "closed": None})
    assert refunds.snapshot(bare) == (clock.now(), "incident opened")
    plan = refunds.plan(bare, "XEM", price=Decimal("1"))
    assert dict(zip(plan.customers, plan.units, strict=True)) == {
        **HELD, "C1": HELD["C1"] + 2 * XEM, "C5": 7 * XEM}


def test_vwap_plan(refunds: Refunds, ledger: Ledger, store: SqlStore, clock: FixedClock,
                   tmp_path: Path) -> None:
    incident = exchange(ledger, store, clock, own_yen=200_000)
    trades = tmp_path / "trades.csv"
    trades.write_text("time,price,amount\n2018-01-26T00:00:00+09:00,88.548,1\n"
                      "2018-01-26T00:30:00+09:00,88.549,1\n2018-01-26T02:00:00+09:00,1,1\n")
    window = (datetime(2018, 1, 25, 15, tzinfo=UTC), datetime(2018, 1, 25, 16, tzinfo=UTC))
    plan = refunds.plan(incident, "XEM", trades=trades, window=window)
    assert plan.price.value == Decimal("88.549") and plan.price.method == "vwap"
    assert plan.refunds == tuple(FLOOR.values())
    doc = refunds.write_plan(plan, tmp_path / "p").document
    assert doc["price"] == {
        "value": "88.549", "method": "vwap", "places": 3, "trades_file": "trades.csv",
        "from": "2018-01-25T15:00:00.000000Z", "to": "2018-01-25T16:00:00.000000Z",
        "trades": 2, "sum_price_volume": "177.097", "sum_volume": "2",
        "vwap_exact": "88.5485"}


def test_execute_twice_pays_once(refunds: Refunds, ledger: Ledger, store: SqlStore,
                                 clock: FixedClock, tmp_path: Path) -> None:
    incident = exchange(ledger, store, clock, own_yen=200_000)
    refunds.write_plan(refunds.plan(incident, "XEM", price=Decimal("88.549")), tmp_path)
    first = refunds.execute(tmp_path)
    assert (first.posted, first.replayed, first.customers) == (3, 0, 3)
    xem, jpy = balances(ledger, "XEM"), balances(ledger, "JPY")
    assert xem == {"customer:C1": 2 * XEM, "customer:C2": 0, "customer:C3": 0,
                   "customer:C5": 7 * XEM}
    assert jpy == {"customer:C1": 30_000 + FLOOR["C1"], "customer:C2": FLOOR["C2"],
                   "customer:C3": FLOOR["C3"], "customer:C4": 5_000}
    assert ledger.balance(f"loss:{incident}", "XEM") == 0  # the whole loss made good
    assert ledger.balance("own", "JPY") == 200_000 - REQUIRED
    head = ledger.head()
    again = refunds.execute(tmp_path)
    assert (again.posted, again.replayed) == (0, 3)
    assert ledger.head() == head and balances(ledger, "JPY") == jpy
    assert ledger.verify().ok


def test_interrupted_then_resumed_pays_each_customer_once(
        refunds: Refunds, ledger: Ledger, store: SqlStore, clock: FixedClock,
        tmp_path: Path) -> None:
    many = {f"D{i:03d}": (i + 1) * XEM // 3 for i in range(23)}
    incident = exchange(ledger, store, clock, own_yen=10_000_000, extra=many)
    plan = refunds.plan(incident, "XEM", price=Decimal("88.549"), rounding="half-up")
    refunds.write_plan(plan, tmp_path)

    class Crash(Exception):
        pass

    def crash_after(batches: int) -> Callable[[int, int], None]:
        def progress(done: int, total: int) -> None:
            if done >= batches * 4:
                raise Crash
        return progress

    with pytest.raises(Crash):
        refunds.execute(tmp_path, batch_size=4, progress=crash_after(2))
    paid = balances(ledger, "JPY")
    assert sum(1 for c in plan.customers if paid.get(f"customer:{c}", 0)
               > CUSTOMER_YEN.get(c, 0)) == 8
    report = refunds.execute(tmp_path, batch_size=4)
    assert (report.posted, report.replayed, report.batches) == (18, 8, 7)
    assert report.remaining_yen == sum(plan.refunds[8:])
    jpy = balances(ledger, "JPY")
    for c, r in zip(plan.customers, plan.refunds, strict=True):
        assert jpy.get(f"customer:{c}", 0) == CUSTOMER_YEN.get(c, 0) + r
    assert ledger.balance("own", "JPY") == 10_000_000 - plan.total_refund
    assert ledger.verify().ok


def approvers(ledger: Ledger, tmp_path: Path) -> dict[str, Ed25519PrivateKey]:
    keys = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob", "carol")}
    policy = tmp_path / "policy.toml"
    policy.write_text("version = 1\nquorum = 2\n" + "".join(
        f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
        for n, k in keys.items()))
    Custody(ledger).load_policy(policy, "carol")
    return keys


def test_a_short_plan_needs_an_approved_override(refunds: Refunds, ledger: Ledger,
                                                store: SqlStore, clock: FixedClock,
                                                tmp_path: Path) -> None:
    incident = exchange(ledger, store, clock, own_yen=100_000)
    plan = refunds.plan(incident, "XEM", price=Decimal("88.549"))
    assert not plan.funds.confirmed and plan.funds.shortfall == REQUIRED - 100_000  # 35,159
    folder = tmp_path / "short"
    refunds.write_plan(plan, folder)
    head = ledger.head()
    with pytest.raises(BadInput, match="short by 35159 JPY"):
        refunds.execute(folder)
    keys = approvers(ledger, tmp_path)
    with pytest.raises(ApprovalError, match="unknown proposal"):
        refunds.execute(folder, override_proposal="refund-nope")
    view = refunds.propose_override(folder, "carol")
    assert view.proposal.kind == "refund" and view.proposal.payload["shortfall"] == "35159"
    custody = refunds.custody
    custody.approve(view.proposal.id, "alice", sign_proposal(view.proposal, keys["alice"]))
    with pytest.raises(ApprovalError, match="1 of 2 approvals"):
        refunds.execute(folder, override_proposal=view.proposal.id)
    assert ledger.head() == head  # nothing posted by any refusal
    custody.approve(view.proposal.id, "bob", sign_proposal(view.proposal, keys["bob"]))
    report = refunds.execute(folder, override_proposal=view.proposal.id)
    assert report.posted == 3 and report.override == view.proposal.id
    assert ledger.balance("own", "JPY") == 100_000 - REQUIRED  # own funds went negative
    assert custody.proposal(view.proposal.id).state == "executed"  # type: ignore[union-attr]
    # a rerun with the used override completes (nothing left to pay)
    assert refunds.execute(folder, override_proposal=view.proposal.id).replayed == 3
    # an override of one plan does not cover another
    other = tmp_path / "other"
    refunds.write_plan(refunds.plan(incident, "XEM", price=Decimal("100")), other)
    with pytest.raises(ApprovalError, match="not an override for refund plan"):
        refunds.execute(other, override_proposal=view.proposal.id)


def test_funds_are_checked_again_when_paying(refunds: Refunds, ledger: Ledger,
                                             store: SqlStore, clock: FixedClock,
                                             tmp_path: Path) -> None:
    incident = exchange(ledger, store, clock, own_yen=200_000)
    refunds.write_plan(refunds.plan(incident, "XEM", price=Decimal("88.549")), tmp_path)
    ledger.post("dividend", [Posting("own", "JPY", 150_000),
                             Posting("bank:jpy-own", "JPY", -150_000)], source="board")
    with pytest.raises(BadInput, match="exceed the 50000 available now by 85159"):
        refunds.execute(tmp_path)
    keys = approvers(ledger, tmp_path)
    view = refunds.propose_override(tmp_path, "carol")
    assert view.proposal.payload["shortfall"] == "85159"
    for name in ("alice", "bob"):
        refunds.custody.approve(view.proposal.id, name, sign_proposal(view.proposal, keys[name]))
    # the quorum approved a shortfall of 85,159 yen, not more
    ledger.post("one-more", [Posting("own", "JPY", 1), Posting("bank:jpy-own", "JPY", -1)],
                source="board")
    with pytest.raises(ApprovalError, match="allows a shortfall of 85159 JPY; it is 85160 now"):
        refunds.execute(tmp_path, override_proposal=view.proposal.id)
    ledger.post("one-back", [Posting("bank:jpy-own", "JPY", 1), Posting("own", "JPY", -1)],
                source="board")
    assert refunds.execute(tmp_path, override_proposal=view.proposal.id).posted == 3


def test_bad_input_posts_nothing(refunds: Refunds, ledger: Ledger, store: SqlStore,
                                 clock: FixedClock, tmp_path: Path) -> None:
    incident = exchange(ledger, store, clock, own_yen=200_000)
    price = Decimal("88.549")
    with pytest.raises(BadInput, match="unknown incident"):
        refunds.plan("INC-nope", "XEM", price=price)
    with pytest.raises(UnknownAsset):
        refunds.plan(incident, "DOGE", price=price)
    with pytest.raises(BadInput, match="no customer held ETH"):
        refunds.plan(incident, "ETH", price=price)
    with pytest.raises(BadInput, match="not a fiat currency"):
        refunds.plan(incident, "XEM", price=price, currency="ETH")
    for bad in (Decimal(0), Decimal(-1), Decimal("NaN")):
        with pytest.raises(InvalidAmount):
            refunds.plan(incident, "XEM", price=bad)
    with pytest.raises(BadInput, match="either a fixed price"):
        refunds.plan(incident, "XEM")
    window = (datetime(2018, 1, 25, tzinfo=UTC), datetime(2018, 1, 26, tzinfo=UTC))
    trades = tmp_path / "trades.csv"
    trades.write_text("")
    with pytest.raises(InputFileError, match=r"trades\.csv:1: the trades file is empty"):
        refunds.plan(incident, "XEM", trades=trades, window=window)
    trades.write_text("time,price,amount\n2018-01-25T01:00:00Z,eighty,1\n")
    with pytest.raises(InputFileError, match=r"trades\.csv:2: price 'eighty'"):
        refunds.plan(incident, "XEM", trades=trades, window=window)
    trades.write_text("time,price,amount\n2019-01-25T01:00:00Z,88,1\n")
    with pytest.raises(BadInput, match="no trades in the window"):
        refunds.plan(incident, "XEM", trades=trades, window=window)
    with pytest.raises(InputFileError, match="cannot read"):
        refunds.plan(incident, "XEM", trades=tmp_path / "missing.csv", window=window)
    # a tampered plan is refused before anything is posted
    folder = tmp_path / "plan"
    refunds.write_plan(refunds.plan(incident, "XEM", price=price), folder)
    head = ledger.head()
    csv_path = folder / "refunds.csv"
    good = csv_path.read_bytes()
    csv_path.write_bytes(good.replace(b"C3,5646000,5.646,499", b"C3,5646000,5.646,4990"))
    with pytest.raises(InputFileError, match="refunds were altered"):
        refunds.execute(folder)
    csv_path.write_bytes(good)
    plan_path = folder / "plan.json"
    doc = json.loads(plan_path.read_text())
    plan_path.write_text(json.dumps({**doc, "incident": "INC-other"}))
    with pytest.raises(InputFileError, match="altered after it was written"):
        refunds.execute(folder)
    with pytest.raises(InputFileError, match="no such file"):
        refunds.execute(tmp_path / "nowhere")
    assert ledger.head() == head


# ---------------------------------------------------------------------------- command line


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    run = cli_runner(monkeypatch, capsys, tmp_path, url)
    return run


def cli_exchange(tmp_path: Path, own_yen: int) -> tuple[str, Ledger]:
    store = migrated_store(tmp_path / "k.db")
    clock = FixedClock()
    ledger = Ledger(store, clock, AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("xem-hot", "XEM", "hot"))
    return exchange(ledger, store, clock, own_yen=own_yen), ledger


def test_cli_plan_show_execute(cli: Callable[..., tuple[int, str, str]],
                               tmp_path: Path) -> None:
    incident, ledger = cli_exchange(tmp_path, 200_000)
    code, out, err = cli("refunds", "plan", incident, "--asset", "XEM", "--price", "88.549",
                         "--out", "plan")
    assert code == 0, err
    for text in ("customers", "1,526.396001 XEM", "88.549 JPY/XEM", "fixed",
                 "135,159 JPY", "1.839492549 JPY", "funds confirmed", "wrote plan"):
        assert text in out, (text, out)
    code, out, _ = cli("refunds", "show", "plan", "--format", "json")
    rows = {r["field"]: r["value"] for r in json.loads(out)}
    assert rows["total refund"] == "135,159 JPY" and rows["funds check"] == "funds confirmed"
    # in Japanese, a table's fields and words are; --format json keeps its English fields
    code, out, _ = cli("--lang", "ja", "refunds", "show", "plan")
    for text in ("返金計画（照合済み）", "返金額の合計", "135,159 JPY", "固定価格", "原資を確認済み",
                 "利用者ごとに切り捨て（JPY の整数単位）"):
        assert text in out, (text, out)
    # what fixed the snapshot, too: it was the plan file's English words in brackets
    assert "（アラート A-" in out or "（インシデントの起票時）" in out, out
    assert "(alert " not in out and "incident opened" not in out, out
    assert rows["snapshot"].endswith(")") and ("(alert A-" in rows["snapshot"]
                                               or "(incident opened)" in rows["snapshot"])
    code, out, _ = cli("--lang", "ja", "refunds", "show", "plan", "--format", "json")
    assert {r["field"]: r["value"] for r in json.loads(out)} == rows
    code, out, err = cli("refunds", "execute", "plan")
    assert code == 0 and "3 posted, 0 already posted" in out, err
    assert re.search(r"; [0-9,]+ JPY in total$", out.strip()), out  # the total's currency
    code, out, _ = cli("refunds", "execute", "plan")
    assert code == 0 and "0 posted, 3 already posted" in out
    assert ledger.balance("customer:C1", "JPY") == 30_000 + FLOOR["C1"]


def test_cli_vwap_short_and_bad_input(cli: Callable[..., tuple[int, str, str]],
                                      tmp_path: Path) -> None:
    incident, ledger = cli_exchange(tmp_path, 100_000)
    Path("trades.csv").write_text("time,price,amount,venue\n"
                                  "2018-01-26T00:00:00+09:00,88.548,1,a\n"
                                  "2018-01-26T00:30:00+09:00,88.549,1,b\n")
    code, out, err = cli("refunds", "plan", incident, "--asset", "XEM", "--vwap", "trades.csv",
                         "--from", "2018-01-26T00:00:00+09:00", "--to",
                         "2018-01-26T01:00:00+09:00", "--rounding", "half-up", "--out", "p")
    assert code == 1, err  # a shortfall is a finding
    assert "VWAP of 2 trades" in out and "88.5485" in out and "SHORT by 35,161 JPY" in out
    head = ledger.head()
    code, _, err = cli("refunds", "execute", "p")
    assert code == 2 and "short by 35161 JPY" in err
    cases = [
        (["INC-nope", "--price", "88.549"], "unknown incident"),
        ([incident, "--price", "0"], "must be above 0"),
        ([incident, "--price", "-5"], "must be above 0"),
        ([incident, "--vwap", "trades.csv", "--from", "2017-01-01T00:00:00Z", "--to",
          "2017-01-02T00:00:00Z"], "no trades in the window"),
        ([incident, "--vwap", "trades.csv"], "--vwap needs its window"),
        ([incident, "--price", "1", "--rounding", "up"], "--rounding must be one of"),
    ]
    for args, message in cases:
        code, _, err = cli("refunds", "plan", *args, "--asset", "XEM", "--out", "q")
        assert code == 2 and message in err, (args, err)
    code, _, err = cli("refunds", "plan", incident, "--asset", "DOGE", "--price", "1",
                       "--out", "q")
    assert code == 2 and "unknown asset" in err
    Path("empty.csv").write_text("")
    code, _, err = cli("refunds", "plan", incident, "--asset", "XEM", "--vwap", "empty.csv",
                       "--from", "2018-01-26T00:00:00Z", "--to", "2018-01-27T00:00:00Z",
                       "--out", "q")
    assert code == 2 and "empty.csv:1: the trades file is empty" in err
    data = Path("p/refunds.csv").read_text().replace(",44\n", ",45\n")
    Path("p/refunds.csv").write_text(data)
    code, _, err = cli("refunds", "show", "p")
    assert code == 2 and "refunds were altered" in err
    assert ledger.head() == head


def test_paying_a_plan_is_on_the_timeline_and_in_the_audit_log(
        cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    """Paying the refunds (yen out of the exchange's own funds) is an act with an author:
    on the incident's timeline (and so in the FSA report's measures) and in the audit log;
    a rerun that finds everything paid writes neither."""
    incident, _ledger = cli_exchange(tmp_path, 200_000)
    assert cli("refunds", "plan", incident, "--asset", "XEM", "--price", "88.549",
               "--out", "plan")[0] == 0
    code, out, err = cli("refunds", "execute", "plan", "--by", "controller")
    assert code == 0 and "3 posted" in out, err
    assert cli("refunds", "execute", "plan", "--by", "controller")[0] == 0
    code, out, _ = cli("incidents", "show", incident, "--format", "json")
    paid = [e for e in json.loads(out)["timeline"] if e["kind"] == "refund"]
    assert len(paid) == 1 and paid[0]["actor"] == "controller", paid
    assert "3 refunds posted" in paid[0]["detail"] and "¥135,159" in paid[0]["detail"], paid
    code, out, _ = cli("audit", "list", "--action", "refund.execute", "--format", "json")
    (record,) = json.loads(out)
    assert record["actor"] == "cli:controller", record
    code, out, _ = cli("--lang", "ja", "incidents", "show", incident)
    assert "返金計画" in out and "3 件の返金を記帳" in out, out


def test_a_paid_plan_is_not_planned_again_over_its_folder(
        cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    """Planning the same refunds again once they were paid would count the yen paid as
    the customers' and rewrite the paid plan's folder as short: refused, nothing written."""
    incident, _ledger = cli_exchange(tmp_path, 200_000)
    assert cli("refunds", "plan", incident, "--asset", "XEM", "--price", "88.549",
               "--out", "plan")[0] == 0
    paid = (tmp_path / "plan" / "plan.json").read_bytes()
    assert cli("refunds", "execute", "plan")[0] == 0
    for folder in ("plan", "again"):
        code, out, err = cli("refunds", "plan", incident, "--asset", "XEM", "--price",
                             "88.549", "--out", folder)
        assert code == 2 and "has been paid already (3 of 3 refunds posted)" in err, (out, err)
    assert (tmp_path / "plan" / "plan.json").read_bytes() == paid
    assert not (tmp_path / "again").exists()
    code, _, err = cli("--lang", "ja", "refunds", "plan", incident, "--asset", "XEM",
                       "--price", "88.549", "--out", "plan")
    assert code == 2 and "すでに支払われています（3 件中 3 件を記帳済み）" in err, err
    code, out, _ = cli("refunds", "show", "plan")
    assert code == 0 and "funds confirmed" in out


def test_a_loss_no_alert_saw_is_booked_from_the_command_line(
        cli: Callable[..., tuple[int, str, str]]) -> None:
    """An incident opened by hand (nobody watched the chain, as in 2018) gets its loss
    booked from the command line: once, on the timeline, in the audit log."""
    assert cli("wallets", "add", "eth-hot", "--asset", "ETH", "--tier", "hot", "--address",
               "0x" + "33" * 20)[0] == 0
    assert cli("ledger", "post", "--key", "open", "--source", "opening", "--debit",
               "wallet:eth-hot 5 ETH", "--credit", "customer:C1 5 ETH")[0] == 0
    code, out, err = cli("incidents", "open", "hot key leaked", "--by", "soc", "--asset",
                         "ETH", "--wallet", "eth-hot")
    assert code == 0, err
    incident = out.split()[-1]
    code, out, err = cli("incidents", "loss", incident, "--by", "controller", "--asset",
                         "ETH", "--wallet", "eth-hot")
    assert code == 2 and "--asset --wallet alone" in err, (out, err)
    for booked in ("1.25", "0"):  # the second run books nothing again
        code, out, err = cli("incidents", "loss", incident, "--by", "controller", "--asset",
                             "eth", "--wallet", "eth-hot", "--amount", "1.25", "--source",
                             "tx:0xabc")
        assert code == 0 and f"loss:{incident} 1.25 ETH (booked now: {booked})" in out, err
    code, out, _ = cli("balances", "--account", "wallet:eth-hot", "--format", "json")
    assert json.loads(out)[0]["balance"] == "3.75"
    code, out, _ = cli("incidents", "show", incident, "--format", "json")
    (line,) = [e for e in json.loads(out)["timeline"] if e["kind"] == "loss"]
    assert line["actor"] == "controller" and "1.25 ETH" in line["detail"], line
    code, out, _ = cli("audit", "list", "--action", "incident.loss", "--format", "json")
    (record,) = json.loads(out)
    assert record["actor"] == "cli:controller", record
    code, _, err = cli("--lang", "ja", "incidents", "loss", incident, "--by", "c",
                       "--amount", "1")
    assert code == 2 and "3 つ揃えて" in err, err
