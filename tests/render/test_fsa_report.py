"""The FSA report: its figures are the ledger's, the Japanese PDF renders real glyphs, the
English Markdown and HTML read right, bad input is refused by name.

:class:`Exchange` builds a small complete exchange on the in-process chain (wallets,
customers, yen in the bank, a quorum policy with screening rules), lets a thief take ETH
twice with the hot key while the watch runs, and books the losses; ``tests/cli`` uses it
too.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_account import Account
from PIL import Image

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import throwaway_signer
from kinko.chains.wallets import KeyWallet
from kinko.domain.approvals import public_key_hex
from kinko.domain.csvcells import csv_writer
from kinko.domain.custody import Wallet
from kinko.domain.fsa import FsaReport, TimelineEvent
from kinko.domain.ledger import Posting, normal_balance
from kinko.domain.messages import verbatim
from kinko.domain.money import AssetRegistry, format_units
from kinko.domain.refunds import plan_digest, refund_postings
from kinko.errors import BadInput, InputFileError
from kinko.ports import FixedClock
from kinko.prices import FixedPrices
from kinko.render.fsa import render_html, render_markdown, write_fsa
from kinko.services.custody import Custody
from kinko.services.fsa import fsa_report, read_refund_plan, read_trace
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger
from kinko.services.watch import Watch
from kinko.services.withdrawals import Withdrawals
from kinko.store import open_store, upgrade

E = 10**18
ETH = AssetRegistry.default()["ETH"]
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob", "carol")}
CAUSE = "原因: the hot wallet's key was copied from a build server"


def send(chain: EvmChain, signer: Any, to: str, value: int) -> str:
    chain_id, price = chain.fee_params()
    raw = signer.sign_transfer(to=to, value=value, nonce=chain.nonce(signer.address),
                               gas_price=price, chain_id=chain_id)
    return chain.send_raw(raw)


class Exchange:
    """A small exchange after a theft: see the module docstring. ``waiting``: a withdrawal
    of 1 ETH allowed before the theft (the containment rejects it)."""

    def __init__(self, folder: Path, waiting: str | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.url = f"sqlite:///{folder / 'k.db'}"
        self.store = open_store(self.url)
        upgrade(self.store)
        self.chain = EvmChain.in_process()
        self.clock = FixedClock()
        self.ledger = Ledger(self.store, self.clock, AssetRegistry.default())
        self.ledger.sync_assets()
        self.hot = throwaway_signer()
        cold, fresh = Account.create(), Account.create()
        self.ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (self.hot.address,)))
        self.ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (cold.address, fresh.address)))
        self.chain.fund(self.hot.address, 30 * E)
        self.chain.fund(cold.address, 970 * E)
        self.ledger.post("open", [
            Posting("wallet:eth-hot", "ETH", 30 * E), Posting("wallet:eth-cold", "ETH", 970 * E),
            Posting("customer:C1", "ETH", -400 * E), Posting("customer:C2", "ETH", -350 * E),
            Posting("customer:C3", "ETH", -200 * E), Posting("own", "ETH", -50 * E),
            Posting("bank:mufg", "JPY", 1_000_000), Posting("customer:C1", "JPY", -200_000),
            Posting("own", "JPY", -800_000)], source="opening")
        approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                            for n, k in KEYS.items())
        (folder / "policy.toml").write_text(
            f"version = 1\nquorum = 2\n{approvers}\n[assets.ETH]\nmax_hot_ratio = \"0.05\"\n"
            f'target_hot_ratio = "0.03"\nhot_min = "1"\ncold_wallet = "eth-cold"\n'
            f'emergency_address = "{fresh.address}"\n'
            '[[screening.rules]]\nkind = "deny_list"\naction = "block"\nreason = "listed"\n'
            '[[screening.rules]]\nname = "big"\nkind = "max_amount"\nasset = "ETH"\n'
            'amount = "20.5"\naction = "review"\nreason = "large withdrawal"\n'
            '[[screening.rules]]\nkind = "window"\nasset = "ETH"\nscope = "customer"\n'
            'duration = "24h"\nmax_count = 5\naction = "review"\nreason = "many"\n',
            encoding="utf-8")
        self.custody = Custody(self.ledger, chain=self.chain, spender_for=lambda _w: KeyWallet(self.chain, self.hot),
                               prices=FixedPrices({"ETH": Decimal("500000")}), confirmations=2)
        self.custody.load_policy(folder / "policy.toml", "ops")
        self.watch = Watch(Withdrawals(self.custody), self.chain, confirmations=2,
                           start_block=self.chain.head() + 1)
        self.incidents = Incidents(self.store, self.clock, self.ledger)
        if waiting is not None:
            Withdrawals(self.custody).request(waiting, "C2", "ETH", E,
                                              Account.create().address)
        # the theft: two transfers signed with the stolen hot key, alarmed, then final
        attacker = Account.create().address
        send(self.chain, self.hot, attacker, 5 * E)
        self.clock.advance(seconds=40)
        self.watch.poll()
        send(self.chain, self.hot, attacker, 3 * E)
        self.chain.mine(3)
        self.clock.advance(seconds=20)
        self.watch.poll()
        (incident,) = self.incidents.incidents()
        self.incident: str = incident["id"]
        self.clock.advance(minutes=5)
        self.incidents.note(self.incident, "duty officer", CAUSE)
        self.incidents.record_losses(self.incident, "ops")
        self.plan = self._plan(folder / "plan")
        self.trace = self._trace(folder / "trace")

    def _plan(self, out: Path) -> Path:
        """A refund plan as ``kinko refunds plan`` writes it: 8 ETH at 500,000 JPY, short."""
        out.mkdir()
        (out / "refunds.csv").write_text("customer,units,refund_yen\nC1,3368421052631578947,"
                                         "1684210\n", encoding="utf-8")
        digest = hashlib.sha256((out / "refunds.csv").read_bytes()).hexdigest()
        document: dict[str, Any] = {
            "format": "kinko-refund-plan-v1", "plan_id": "",
            "incident": self.incident, "asset": "ETH", "decimals": 18, "currency": "JPY",
            "rounding": "floor", "snapshot": "2018-01-25T15:00:00Z",
            "snapshot_source": "alert A-1",
            "price": {"value": "500000", "method": "fixed", "trades_file": None},
            "customers": 3, "total_units": str(8 * E), "total_yen": "3999998",
            "exact_total_yen": "4000000", "remainder_yen": "2",
            "funds": {"as_of": "2018-01-25T15:06:00Z", "bank_yen": "1000000",
                      "customers_yen": "200000", "available_yen": "800000",
                      "required_yen": "3999998", "confirmed": False,
                      "shortfall_yen": "3199998"},
            "refunds_csv_sha256": digest}
        document["plan_id"] = plan_digest(document)
        (out / "plan.json").write_text(json.dumps(document), encoding="utf-8")
        return out

    @staticmethod
    def _trace(out: Path) -> Path:
        out.mkdir()
        (out / "summary.json").write_text(json.dumps({
            "policy": "haircut", "seeds": {"transactions": ["0xaa", "0xbb"], "addresses": []},
            "totals": {"seeded": 8 * E, "held": 2 * E, "burned": 0, "absorbed": 6 * E},
            "conservation": {"checked": True, "holds": True, "difference": 0},
            "counts": {"tainted_addresses": 4}}), encoding="utf-8")
        (out / "exposure.csv").write_text(
            f"entity,category,taint_received,addresses\nexchange-a,exchange,{5 * E},2\n"
            f"exchange-b,exchange,{E},1\n", encoding="utf-8")
        Image.new("RGB", (240, 80), (200, 60, 40)).save(out / "graph.png")
        (out.parent / "blacklist.csv").write_text("address,label\n0x01,stolen\n0x02,stolen\n",
                                                  encoding="utf-8")
        return out

    def report(self, **kw: Any) -> FsaReport:
        return fsa_report(self.custody, incident=self.incident, refund_plan=self.plan,
                          trace=self.trace, confirmations=2, **kw)


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    ex = Exchange(tmp_path_factory.mktemp("fsa"))
    yield ex
    ex.store.close()


def _units(text: str) -> int:
    whole, _, frac = text.replace(",", "").partition(".")
    return int(whole) * E + int(frac.ljust(18, "0") or 0)


def test_figures_equal_the_ledger(exchange: Exchange, tmp_path: Path) -> None:
    report = exchange.report()
    led = exchange.ledger
    customers = [r for r in led.balances(kind="customer", asset="ETH")]
    (row,) = [r for r in report.custody.rows if r.asset == "ETH"]
    assert row.liabilities == sum(normal_balance(r.account, r.state) for r in customers)
    assert row.liabilities == 950 * E and row.customers == 3
    hot, cold = led.balance("wallet:eth-hot", "ETH"), led.balance("wallet:eth-cold", "ETH")
    assert (row.hot, row.cold, row.warm) == (hot, cold, 0) == (22 * E, 970 * E, 0)
    assert row.own_funds == led.balance("own", "ETH") == 50 * E
    assert report.ratio_ok["ETH"] is (row.hot * 100 <= 5 * (row.hot + row.cold)) is True
    assert row.guarantee_required == 22 * E and row.guarantee_held == 42 * E
    assert row.online_jpy == 22 * 500_000 and row.cold_jpy == 970 * 500_000
    assert {w.name: w.balance for w in report.wallets} == {"eth-hot": hot, "eth-cold": cold}
    assert {w.name: w.keys for w in report.wallets} == {"eth-hot": "keystore_unchecked",
                                                         "eth-cold": "watch_only"}
    # the loss is visible: customers are still owed 950, the own funds absorb the 8 lost
    assert row.hot + row.cold == row.liabilities + row.own_funds - 8 * E
    i = report.incident
    assert i is not None and i.id == exchange.incident
    assert i.lost_by_alerts == {"ETH": 8 * E}
    assert i.lost_in_ledger == {"ETH": led.balance(f"loss:{exchange.incident}", "ETH")}
    assert [a.amount for a in i.alerts] == [5 * E, 3 * E]
    assert [e.detail for e in i.causes] == [verbatim(CAUSE)]  # a person's words, kept
    assert {"breaker", "sweep", "loss"} <= {e.kind for e in i.measures}
    assert not {"alert", "opened", "note"} & {e.kind for e in i.measures}
    assert i.customers_affected == 3 and i.customers_source == "plan"
    plan = report.refund_plan
    assert plan is not None and plan.csv_verified is True and not plan.funds_confirmed
    assert plan.shortfall_yen == 3_199_998 and plan.available_yen == 800_000
    assert [m.emergency for m in report.emergency_sweeps] == [exchange.incident]
    assert [e.scope for e in report.breaker_tripped] == ["ETH"]
    rules = {r.name: dict(r.params) for r in report.rules}
    assert rules["big"] == {"amount": "20.5 ETH"}
    assert rules["window-3"] == {"scope": "customer", "duration": "24h", "max_count": "5"}
    # the detection time is the incident's own, from what the watch recorded
    assert i.detection is not None and i.detection.alert == "A-1"
    assert i.detection.raised == i.alerts[0].raised
    assert [d.alert for d in report.watch.detections] == ["A-1", "A-2"]
    assert report.trace is not None and report.trace.asset == "ETH"
    assert report.trace.blacklisted == 2
    # the same figures in the written report and its CSV appendix
    paths = write_fsa(report, tmp_path, "md", "ja")
    text = (tmp_path / "fsa-report.ja.md").read_text(encoding="utf-8")
    for units in (row.liabilities, row.hot, row.cold, row.guarantee_required, 8 * E):
        assert format_units(units, ETH, group=True) in text
    assert "¥11,000,000" in text and "¥485,000,000" in text  # online and cold in yen
    assert "¥3,199,998" in text and "20.5 ETH" in text
    with (tmp_path / "fsa-positions.csv").open(encoding="utf-8") as fh:
        (line,) = [r for r in csv.DictReader(fh) if r["asset"] == "ETH"]
    assert _units(line["liabilities"]) == row.liabilities
    assert (_units(line["hot"]), _units(line["cold"])) == (hot, cold)
    assert line["within_limit"] == "yes"
    with (tmp_path / "fsa-alerts.csv").open(encoding="utf-8") as fh:
        alerts = list(csv.DictReader(fh))
    assert [a["amount"] for a in alerts] == ["5", "3"]
    assert all(a["raised"].endswith("+09:00") for a in alerts)
    timeline = (tmp_path / "fsa-timeline.csv").read_text(encoding="utf-8")
    assert CAUSE in timeline
    assert {p.name for p in paths} >= {"fsa-report.ja.md", "fsa-chart-custody.ja.png",
                                       "fsa-chart-timeline.ja.png", "fsa-chart-trace.ja.png"}


JA_HEADINGS = ("金融庁長官殿", "暗号資産の管理体制等及び不正送金事案に関する報告書", "目次", "分別管理", "ホットウォレット", "コールドウォレット",
               "履行保証暗号資産", "ウォレットの運用体制", "異常な送金依頼の検知", "不正送金",
               "サイバー攻撃への対応体制", "不正送金事案", "返金（補償）計画", "返金の原資の確認",
               "原資不足", "講じた措置")


def _font_of(page: Any, char: str) -> str:
    """The name of the font the first ``char`` on ``page`` is set in."""
    textpage = page.get_textpage()
    for i in range(pdfium_c.FPDFText_CountChars(textpage.raw)):
        if pdfium_c.FPDFText_GetUnicode(textpage.raw, i) == ord(char):
            size = pdfium_c.FPDFText_GetFontInfo(textpage.raw, i, None, 0, None)
            name = ctypes.create_string_buffer(size)
            pdfium_c.FPDFText_GetFontInfo(textpage.raw, i, name, size, None)
            return name.value.decode()
    return ""


def test_the_japanese_pdf_renders_real_glyphs(exchange: Exchange, tmp_path: Path) -> None:
    write_fsa(exchange.report(), tmp_path, "pdf", "ja")
    data = (tmp_path / "fsa-report.ja.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    doc = pdfium.PdfDocument(data)
    text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    flat = re.sub(r"\s+", "", text)
    for heading in JA_HEADINGS:
        assert heading in flat, heading
    assert "JST" in text and "¥3,199,998" in flat
    # the Japanese is set in a real CJK font (embedded), not drawn as missing-glyph boxes
    assert re.search(r"IPAexGothic|NotoSansCJK", _font_of(doc[0], "ホ")), _font_of(doc[0], "ホ")
    page = doc[0].render(scale=1.5).to_pil().convert("L")
    page.save(tmp_path / "page1.png")
    dark = sum(page.histogram()[:128])
    assert dark > page.width * page.height // 200  # ink: not a blank page
    doc.close()


def test_english_markdown_and_html(exchange: Exchange) -> None:
    report = exchange.report()
    md = render_markdown(report, "en", {"custody": "c.png"})
    for heading in ("To the Commissioner of the Financial Services Agency",
                    "# Report on the custody of customers' crypto-assets", "## Contents",
                    "## 1. Customer crypto-assets held online",
                    "## 2. How wallets are operated", "### 3.1 Detection of abnormal withdrawal",
                    "## 4. Response to cyberattacks", f"## 5. Unauthorized transfer incident "
                    f"{exchange.incident}", "### 5.5 Source of the refund funds"):
        assert heading in md, heading
    assert "![Hot, warm and cold share per asset (dashed: the limit)](c.png)" in md
    assert "funds short by ¥3,199,998" in md and "verified" in md
    assert "| eth-hot | ETH | hot |" in md
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST", md)
    assert "RESULTS.md" not in md and "kinko report" not in md  # the exchange's data only
    html = render_html(report, "en")
    assert '<html lang="en">' in html and "data:image/png;base64," in html
    assert "src=\"http" not in html and "<script" not in html
    assert "exchange-a" in html and "5 ETH" in html
    assert "&lt;" not in CAUSE and CAUSE.replace("'", "&#39;") in html


def test_without_an_incident_or_files(exchange: Exchange) -> None:
    report = fsa_report(exchange.custody)
    assert report.incident is None and report.refund_plan is None and report.trace is None
    assert report.incident is None  # the watch's record still lists every detection
    md = render_markdown(report, "ja")
    assert "## 5. 不正送金事案" not in md and "追跡結果を含めていない" in md
    assert "RESULTS.md" not in md and "ベンチマーク" not in md


def test_bad_input_is_refused(exchange: Exchange, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="unknown incident 'INC-NOPE'"):
        fsa_report(exchange.custody, incident="INC-NOPE")
    with pytest.raises(BadInput, match="refund plan of incident"):
        fsa_report(exchange.custody, incident="INC-OTHER", refund_plan=exchange.plan)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "plan.json").write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(InputFileError, match="not a kinko refund plan"):
        fsa_report(exchange.custody, refund_plan=bad)
    (bad / "plan.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"plan\.json:1"):
        fsa_report(exchange.custody, refund_plan=bad)
    with pytest.raises(InputFileError, match="not a trace folder"):
        fsa_report(exchange.custody, trace=bad)
    with pytest.raises(BadInput, match="--format"):
        write_fsa(fsa_report(exchange.custody), tmp_path, "docx")


def test_a_refund_plan_edited_after_it_was_written_is_refused(exchange: Exchange,
                                                              tmp_path: Path) -> None:
    plan = json.loads((exchange.plan / "plan.json").read_text(encoding="utf-8"))
    plan["total_yen"] = "1"  # a smaller bill, same id
    edited = tmp_path / "edited"
    edited.mkdir()
    (edited / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    with pytest.raises(InputFileError, match="altered"):
        read_refund_plan(edited)


def test_the_appendix_and_trace_files_cannot_run_formulas(exchange: Exchange,
                                                          tmp_path: Path) -> None:
    """An operator's note, an actor, an exchange's name from a TagPack: whatever begins
    like a formula reaches the CSV files as text, and kinko reads back what was meant."""
    hostile = '=HYPERLINK("http://evil.example","x")'
    report = exchange.report()
    i = report.incident
    assert i is not None
    note = TimelineEvent(i.timeline[-1].at, "note", "@mallory", hostile)
    write_fsa(replace(report, incident=replace(i, timeline=(*i.timeline, note))), tmp_path,
              "md", "en")
    with (tmp_path / "fsa-timeline.csv").open(encoding="utf-8", newline="") as fh:
        last = list(csv.reader(fh))[-1]
    assert last[2:] == ["'@mallory", "'" + hostile]
    trace = tmp_path / "trace"
    shutil.copytree(exchange.trace, trace)
    with (trace / "exposure.csv").open("w", encoding="utf-8", newline="") as fh:
        csv_writer(fh).writerows([["entity", "category", "taint_received", "addresses"],
                                  ["+evil exchange", "=exchange", E, 1]])
    assert (trace / "exposure.csv").read_text().splitlines()[1].startswith("'+evil")
    exposure = read_trace(trace, "ETH").exposure
    assert [(e.entity, e.category) for e in exposure] == [("+evil exchange", "=exchange")]


def test_a_loss_settled_by_refunds_is_still_reported_as_lost(tmp_path: Path) -> None:
    """Refunds credit the incident's loss account (the claim is settled in yen): the report
    to the regulator and the incident's page still say what was booked as lost."""
    ex = Exchange(tmp_path / "refunded")
    try:
        account = f"loss:{ex.incident}"
        assert ex.ledger.balance(account, "ETH") == 8 * E
        ex.ledger.post("refund-all", refund_postings(ex.incident, "ETH", "JPY", "C1", 8 * E,
                                                     4_000_000), source="refund-plan:test")
        assert ex.ledger.balance(account, "ETH") == 0
        i = ex.report().incident
        assert i is not None and i.lost_in_ledger == {"ETH": 8 * E}
        assert ex.incidents.losses(ex.incident) == {"ETH": 8 * E}
        assert "| ETH | 8 | 8 |" in render_markdown(ex.report(), "en")
    finally:
        ex.store.close()


def test_booking_an_incidents_losses_is_in_the_audit_log(exchange: Exchange) -> None:
    """``record_losses`` moved the theft into ``loss:<incident>``: who did it is audited."""
    from kinko.services.access import Access

    (record,) = Access(exchange.store, exchange.clock).audit_log(action="incident.loss")
    assert record["actor"] == "ops" and record["target"] == exchange.incident
    assert json.loads(record["detail"])["booked"] == {"ETH": str(8 * E)}
    again = exchange.incidents.record_losses(exchange.incident, "ops", actor="cli:ops")
    assert again.booked == {}  # nothing booked now: nothing audited
    assert len(Access(exchange.store, exchange.clock).audit_log(action="incident.loss")) == 1


def test_the_loss_command_says_what_was_booked_after_refunds(tmp_path: Path) -> None:
    """``kinko incidents loss`` run again once refunds settled the claims says the loss
    booked, as the FSA report does, not the loss account's balance (zero)."""
    ex = Exchange(tmp_path / "again")
    try:
        ex.ledger.post("refund-all", refund_postings(ex.incident, "ETH", "JPY", "C1", 8 * E,
                                                     4_000_000), source="refund-plan:test")
        report = ex.incidents.record_losses(ex.incident, "ops")
        assert report.booked == {} and report.total == {"ETH": 8 * E}
    finally:
        ex.store.close()


def test_the_emergency_sweep_without_a_policy_reads_as_one_sentence(exchange: Exchange) -> None:
    """No policy loaded: the sweep's paragraph says so once, without a doubled full stop
    ("Policy: No custody policy is loaded.." and "管理方針：管理方針が読み込まれていない。。")."""
    report = exchange.report()
    bare = replace(report, governance=replace(report.governance, watch=None))
    en, ja = render_markdown(bare, "en"), render_markdown(bare, "ja")
    assert "Policy: none, as no custody policy is loaded. The attacker" in en
    assert ".." not in en.replace("...", "")
    assert "管理方針：未設定（管理方針が読み込まれていない）。攻撃者" in ja and "。。" not in ja


def test_shares_and_prices_are_written_without_an_exponent(exchange: Exchange,
                                                            tmp_path: Path) -> None:
    """A small online share was written ``1.0036...E-7`` in the positions appendix (and the
    custody report's JSON and the API): a spreadsheet or a reader takes that for text, or
    misreads it. Plain decimals, exact."""
    import json
    from dataclasses import replace
    from decimal import Decimal

    from kinko.render.custody import render_custody
    from kinko.render.fsa import write_appendix

    share, price = Decimal(1) / Decimal(9_964_129), Decimal("1E+7")
    report = exchange.report()
    rows = [replace(r, online_share=share, price_jpy=price) if r.asset == "ETH" else r
            for r in report.custody.rows]
    report = replace(report, custody=replace(report.custody, rows=rows))
    write_appendix(report, tmp_path)
    with (tmp_path / "fsa-positions.csv").open(encoding="utf-8") as fh:
        (line,) = [r for r in csv.DictReader(fh) if r["asset"] == "ETH"]
    assert line["online_share"].startswith("0.0000001003") and "E" not in line["online_share"]
    assert Decimal(line["online_share"]) == share
    assert line["price_jpy"] == "10000000" and line["max_hot_ratio"] == "0.05"
    (eth,) = [r for r in json.loads(render_custody(report.custody, "json"))["assets"]
              if r["asset"] == "ETH"]
    assert Decimal(eth["online_share"]) == share and "E" not in eth["online_share"]
    assert eth["price_jpy"] == "10000000"


def test_a_loss_without_a_reference_price_is_valued_at_the_refund_plans(
        exchange: Exchange) -> None:
    """With no price feed for the stolen asset, §5.3 said "—" for the loss in yen, though
    the refund plan beside it prices that very asset: valued at the plan's price now, and
    said so."""
    from dataclasses import replace

    report = exchange.report()
    plan = report.refund_plan
    assert plan is not None and plan.asset == "ETH" and plan.currency == "JPY"
    assert "| ETH | 8 | 8 | ¥4,000,000 |" in render_markdown(report, "en")  # its own price
    rows = [replace(r, price_jpy=None) for r in report.custody.rows]
    unpriced = replace(report, custody=replace(report.custody, rows=rows))
    yen = 8 * plan.price
    assert yen == int(yen)
    md = render_markdown(unpriced, "en")
    assert f"| ETH | 8 | 8 | ¥{int(yen):,} |" in md
    assert f"valued in yen at the refund plan's price, {plan.price:f} JPY per ETH" in md
    ja = render_markdown(unpriced, "ja")
    assert f"¥{int(yen):,}" in ja and "返金計画の価格" in ja
    assert "refund plan's price" not in render_markdown(report, "en")


def test_an_asset_all_online_without_a_policy_is_not_within_the_limit(tmp_path: Path) -> None:
    """Without a policy the row's limit is the law's 5%: the appendix said "within_limit:
    yes" beside 100% online (only a policy's own limit was tested), as in the 2018 setup."""
    from kinko.render.fsa import write_appendix

    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        upgrade(store)
        ledger = Ledger(store, FixedClock(), AssetRegistry.default())
        ledger.sync_assets()
        ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", ("0x" + "11" * 20,)))
        ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", ("0x" + "22" * 20,)))
        ledger.post("open", [Posting("wallet:eth-hot", "ETH", 30 * E),
                             Posting("customer:C1", "ETH", -30 * E)], source="opening")
        report = fsa_report(Custody(ledger))
        (row,) = [r for r in report.custody.rows if r.asset == "ETH"]
        assert row.max_hot_ratio == Decimal("0.05") and row.within_limit is False
        assert report.ratio_ok == {"ETH": False}
        write_appendix(report, tmp_path)
        with (tmp_path / "fsa-positions.csv").open(encoding="utf-8") as fh:
            (line,) = [r for r in csv.DictReader(fh) if r["asset"] == "ETH"]
        assert (line["online_share"], line["max_hot_ratio"], line["within_limit"]) == \
            ("1", "0.05", "no")
        # exactly at the limit is within it; above by one minor unit is not
        ledger.post("cold", [Posting("wallet:eth-cold", "ETH", 570 * E),
                             Posting("customer:C2", "ETH", -570 * E)], source="opening")
        assert fsa_report(Custody(ledger)).ratio_ok == {"ETH": True}
        ledger.post("one", [Posting("wallet:eth-hot", "ETH", 1),
                            Posting("wallet:eth-cold", "ETH", -1)], source="move")
        assert fsa_report(Custody(ledger)).ratio_ok == {"ETH": False}
    finally:
        store.close()
