"""Every page of the dashboard and every report, in Japanese, after a theft: no word of
English is left outside identifiers (addresses, hashes, ids, tickers, names of wallets,
rules and people), no message id is missing from the catalog (the tests run the catalog
strict: a missing id raises), no placeholder is left unfilled.

The exchange is the FSA report's (tests/render/test_fsa_report.py): the watch saw two
transfers signed with the stolen hot key, opened the incident, tripped the breaker and
prepared the emergency sweep; a person noted the cause (in English: what people write is
quoted as written, and is allowed below). On top: a withdrawal waiting in the hot wallet when
the key leaked (the containment rejected it: its page says why), an emergency sweep the
chain could not be surveyed for (the timeline says why), and a withdrawal held for review.
The watch's lines for the terminal and the trace's flow graph file are Japanese too.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import cli_runner
from fastapi.testclient import TestClient
from test_fsa_report import CAUSE, KEYS, Exchange

from kinko.api import create_app
from kinko.api.v1.withdrawals import shape
from kinko.cli.watch import report_lines
from kinko.cli.withdrawals import closed_line
from kinko.domain.messages import Message, decode, msg
from kinko.i18n import ENGLISH, Localizer
from kinko.render.custody import render_custody
from kinko.render.fsa import render_html, render_markdown, write_fsa
from kinko.render.incident import incident_html
from kinko.services.access import Access
from kinko.services.containment import Containment, Survey
from kinko.services.custody import custody_report
from kinko.services.fsa import fsa_report
from kinko.services.withdrawals import Withdrawals

E = 10**18
DEST = "0x52908400098527886E0F7030069857D2E4169EE7"

# what the exchange and its people named or wrote, shown as written in any language
NAMES = {"eth-hot", "eth-cold", "big", "window-3", "deny_list-1", "listed", "large withdrawal",
         "many", "ops", "audit", "W-held", "W-leak", "exchange-a", "exchange-b", "duty officer", "alice", "bob", "carol", *KEYS, CAUSE,
         "kinko:watch", "kinko", "circuit-breaker", "compromised-wallet"}
# words that are no English sentence: product and format names, units, zones
ALLOWED = {"kinko", "Safe", "SafeTx", "ETH", "XEM", "BTC", "JPY", "JST", "UTC", "PDF", "HTML",
           "CSV", "JSON", "PNG", "YAML", "Ed25519", "of", "txpool", "Web3", "Secret", "Storage",
           "m-of-n", "Asia", "Tokyo", "ID", "API", "FSA", "Merkle", "verify_proof", "py",
           "DELEGATECALL", "safeTxHash", "CSP", "Pango", "IPAexGothic", "EVM", "KINKO_PRICES",
           "KINKO_EVM_RPC_URL", "fsa", "csv", "positions", "alerts", "timeline", "png", "md",
           "pdf", "html", "ja", "en", "English", "JA", "EN", "HMAC-SHA256", "ethereum",
           "FIFO", "LIFO", "TIHO", "ethereum-etl", "mftracer", "Parquet", "parquet", "Ethereum",
           "ETL", "MFTracer", "NEM", "NIS1"}


def english_left(text: str, *, cut: bool = False) -> list[str]:
    """The English words of ``text`` (its markup, identifiers and names taken out).
    ``cut``: text from a PDF, where a table cell breaks an identifier or a name over lines:
    hex fragments and the words of the names are identifiers too."""
    text = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", text, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    text = html.unescape(text)
    for name in sorted(NAMES, key=len, reverse=True):
        text = text.replace(name, " ")
    text = re.sub(r"\b0x[0-9a-fA-F]+(?:…[0-9a-fA-F]+)?|\b[0-9a-f]{16,}", " ", text)  # hashes
    text = re.sub(r"[\w.-]+\.(?:csv|png|pdf|md|json|yaml|py|html)\b", " ", text)  # files
    text = re.sub(r"\b[a-z]+:[\w:-]+", " ", text)  # ledger accounts (loss:INC-1), actors
    text = re.sub(r"\b[A-Za-z]+(?:[-_][A-Za-z0-9]+)*[-_][0-9][\w-]*\b", " ", text)  # ids
    text = re.sub(r"\b(?:INC|W|A|P)-?[\w-]*\d[\w-]*\b", " ", text)
    if cut:
        text = re.sub(r"(?<![A-Za-z0-9])(?:[0-9a-f]*[0-9][0-9a-f]*|[a-f]{1,8})(?![A-Za-z0-9])",
                      " ", text)
        parts = {p for name in NAMES for p in re.split(r"[\s:-]+", name) if p}
        parts |= {p for name in NAMES for p in re.split(r"[\s_:-]+", name) if p}
        parts |= {"INC", "SHA", "HMAC", "sweep", "refill", "office", "officer"}
        # a table cell cuts a name anywhere ("duty offic" / "er"): its pieces are the name's
        parts |= {p[:k] for p in list(parts) for k in range(3, len(p))}
        parts |= {p[k:] for p in list(parts) for k in range(1, len(p) - 1)}
        text = re.sub(r"[A-Za-z_]+", lambda m: " " if m.group(0) in parts else m.group(0),
                      text)
    words = re.findall(r"[A-Za-z][A-Za-z0-9'_-]*[A-Za-z0-9]", text)
    return sorted({w for w in words if w not in ALLOWED and len(w) > 2})


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    ex = Exchange(tmp_path_factory.mktemp("ja"), waiting="W-leak")
    # a sweep the node could not be surveyed for (what it left unread is said on the timeline)
    Containment(Withdrawals(ex.custody), ex.chain).prepare_sweep(ex.incident, "eth-hot",
                                                                 Survey())
    Withdrawals(ex.custody).request("W-held", "C1", "ETH", 21 * E, DEST)
    yield ex
    ex.store.close()


@pytest.fixture(scope="module")
def client(exchange: Exchange, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[TestClient]:
    access = Access(exchange.store, exchange.clock)
    token = access.create_key("ops", "operator")[1]
    app = create_app(lambda: exchange.custody, lambda: access,
                     dashboard=tmp_path_factory.mktemp("data"), clock=exchange.clock)
    with TestClient(app, raise_server_exceptions=True, follow_redirects=False) as c:
        r = c.post("/login", data={"api_key": token, "next": "/", "zone": "Asia/Tokyo"})
        assert r.status_code == 303, r.text
        assert c.get("/?lang=ja").status_code == 200
        yield c


def _pages(client: TestClient, exchange: Exchange) -> list[str]:
    alert = re.search(r'href="/alerts/([^"?]+)"', client.get("/alerts").text)
    proposal = re.search(r'href="/proposals/([^"?]+)"', client.get("/proposals").text)
    assert alert and proposal
    return ["/", "/withdrawals", "/withdrawals?state=all", "/withdrawals/W-held",
            "/withdrawals/W-leak", "/alerts",
            f"/alerts/{alert.group(1)}", "/incidents", f"/incidents/{exchange.incident}",
            f"/incidents/{exchange.incident}/report.html", "/breaker", "/custody",
            "/reports", "/reserves", "/trace", f"/trace/new?incident={exchange.incident}",
            "/proposals", f"/proposals/{proposal.group(1)}"]


def test_every_page_in_japanese(client: TestClient, exchange: Exchange) -> None:
    assert client.get("/?lang=ja").status_code == 200  # the session's language from now on
    found = {}
    for url in _pages(client, exchange):
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:500])
        assert "%(" not in r.text, url  # a placeholder left unfilled
        left = english_left(r.text)
        if left:
            found[url] = left
    assert not found, "\n".join(f"{url}: {words}" for url, words in found.items())


def test_every_report_in_japanese(exchange: Exchange) -> None:
    report = fsa_report(exchange.custody, incident=exchange.incident,
                        refund_plan=exchange.plan, trace=exchange.trace, confirmations=2)
    view = exchange.incidents.incident(exchange.incident)
    documents = {
        "fsa.html": render_html(report, "ja"),
        "fsa.md": render_markdown(report, "ja", {}),
        "custody.html": render_custody(custody_report(exchange.custody), "html", "ja"),
        "custody.table": render_custody(custody_report(exchange.custody), "table", "ja"),
        "incident.html": incident_html(view, "ja"),
    }
    found = {name: english_left(text) for name, text in documents.items()}
    assert not any(found.values()), found
    for text in documents.values():
        assert "%(" not in text


def test_the_containments_rejection_is_a_message_read_in_each_language(
        client: TestClient, exchange: Exchange) -> None:
    """Why kinko rejected a withdrawal waiting in the leaked wallet is kept as a message (the
    ledger's memo, the audit record) and read in the reader's language: the withdrawal's
    page, the API in English and as the message, the command line in English."""
    why = msg("wd.reason.key_leaked", wallet="eth-hot", incident=exchange.incident)
    view = Withdrawals(exchange.custody).get("W-leak")
    assert (view.state, view.closed_by, view.closed_why) == ("rejected", "kinko:watch", why)
    page = client.get("/withdrawals/W-leak").text
    assert html.escape(Localizer("ja").text(why)) in page
    assert "the funds stay yours" not in page
    assert "the funds stay yours" in client.get("/withdrawals/W-leak?lang=en").text
    client.get("/?lang=ja")
    (void,) = [e for e in exchange.ledger.entries() if e.key == "void:withdrawal:W-leak"]
    assert decode(void.memo) == why and void.source == "rejected by kinko:watch"
    (audit,) = [a for a in Access(exchange.store, exchange.clock).audit_log()
                if a["action"] == "withdrawal.reject" and a["target"] == "W-leak"]
    detail = json.loads(audit["detail"])
    assert detail == {"reason": ENGLISH.text(why), "reason_message": why.to_data()}
    w = Withdrawals(exchange.custody)
    closed = shape(w, view).closed  # the API: English words and the message
    assert closed is not None and closed.reason_message == why.to_data()
    assert closed.by == "kinko:watch" and "the funds stay yours" in closed.reason
    assert closed_line(view).startswith("rejected by kinko:watch: the key of eth-hot leaked")


def test_the_watchs_lines_are_messages(exchange: Exchange) -> None:
    """What ``kinko watch --lang ja`` prints of a reorganisation is Japanese: the watch
    reports messages, not English sentences."""
    chain, watch = exchange.chain, exchange.watch
    snap = chain.snapshot()
    chain.mine(1)
    watch.poll()
    chain.revert(snap)  # the block the watch read is replaced by another
    chain.fund("0x" + "5a" * 20, 1)
    chain.mine(1)
    report = watch.poll()
    said = report.reorgs + report.problems + report.sweeps
    assert report.reorgs and all(isinstance(m, Message) for m in said)
    lines = report_lines(report, Localizer("ja"))
    assert lines and [english_left(line) for line in lines] == [[] for _ in lines], lines
    assert "reorganised" in report_lines(report, ENGLISH)[0]


def test_the_trace_graph_file_follows_the_language(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``kinko trace run --lang ja`` writes graph.html in Japanese (title, legend,
    tooltips), ``--lang en`` in English."""
    kinko = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                       init=False)
    x, a, b = ("0x" + c * 40 for c in "cab")
    (tmp_path / "t.csv").write_text(
        "tx_hash,block,tx_index,log_index,from,to,value,fee\n"
        f"0x01,1,0,0,{'0x' + 'd' * 40},{x},30,0\n0x02,2,0,0,{'0x' + 'e' * 40},{x},70,0\n"
        f"0x03,3,0,0,{x},{a},30,0\n0x04,4,0,0,{x},{b},70,0\n")
    pages = {}
    for lang in ("ja", "en"):
        code, _out, err = kinko("trace", "run", "--transfers", "t.csv", "--policy", "haircut",
                                "--seed-tx", "0x01", "--out", lang, "--lang", lang)
        assert code == 0, err
        pages[lang] = (tmp_path / lang / "graph.html").read_text(encoding="utf-8")
        assert (tmp_path / lang / "graph.png").stat().st_size > 0
    assert '<html lang="ja">' in pages["ja"] and "ヘアカット" in pages["ja"]
    assert english_left(pages["ja"]) == [] and "%(" not in pages["ja"]
    assert '<html lang="en">' in pages["en"] and "taint received" in pages["en"]


def test_the_detector_sees_english(exchange: Exchange) -> None:
    """The check above can fail: English beside identifiers is found."""
    assert english_left("<p>ETH 0xab12 INC-20180125-1 eth-hot 残高</p>") == []
    assert english_left("<p>残高 within policy</p>") == ["policy", "within"]
    assert english_left(f"<td>{html.escape(CAUSE)}</td><td>seen in block</td>") == [
        "block", "seen"]


def test_the_fsa_report_is_made_of_the_exchanges_data_only(exchange: Exchange) -> None:
    report = fsa_report(exchange.custody, incident=exchange.incident,
                        refund_plan=exchange.plan, trace=exchange.trace, confirmations=2)
    for lang in ("ja", "en"):
        text = render_html(report, lang) + render_markdown(report, lang, {})
        for bad in ("RESULTS.md", "benchmarks/", "/tmp/", str(Path.home()), "issue ",
                    "kinko report", "kinko trace run", "--trace", "make demo"):
            assert bad not in text, (lang, bad)


def test_the_asset_under_theft_is_never_within_policy(client: TestClient,
                                                      exchange: Exchange) -> None:
    """While the theft incident is open, the overview and the custody page name it beside
    ETH, and neither calls ETH within policy."""
    for url in ("/?lang=en", "/custody"):
        page = client.get(url).text
        row = re.search(r'<tr data-asset="ETH".*?</tr>', page, re.S)
        assert row, url
        assert f'data-incident="{exchange.incident}"' in row.group(0), url
        assert "within policy" not in row.group(0) and "within the legal" not in row.group(0)
        assert f'href="/incidents/{exchange.incident}"' in row.group(0), url


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "reports"


@pytest.mark.slow
def test_the_japanese_fsa_pdf_as_text(exchange: Exchange, tmp_path: Path) -> None:
    """The PDF as the inspector's tools read it (pdftotext): no path of this machine, no
    tracker word, no command to type, no English outside identifiers; its pages are also
    written as PNG (pdftoppm) to test-artifacts/reports/ to be looked at."""
    report = fsa_report(exchange.custody, incident=exchange.incident,
                        refund_plan=exchange.plan, trace=exchange.trace, confirmations=2)
    write_fsa(report, tmp_path, "pdf", "ja")
    pdf = tmp_path / "fsa-report.ja.pdf"
    text = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "金融庁長官" in text and "目次" in text and "別紙" in text
    for bad in (str(tmp_path), "/tmp/", "/work/", "/root/", "/home/", "RESULTS.md",
                "benchmarks", "make demo", "kinko report", "kinko trace", "--trace"):
        assert bad not in text, bad
    assert not re.search(r"\bissue\s*#?\d+", text, re.I)
    assert english_left(text, cut=True) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(ARTIFACTS / "fsa.ja")],
                   check=True)
    assert (ARTIFACTS / "fsa.ja-01.png").is_file() or (ARTIFACTS / "fsa.ja-1.png").is_file()


def _csrf(client: TestClient, url: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(url).text)
    assert found, url
    return found.group(1)


def _no_english(page: str, where: str) -> None:
    assert "%(" not in page, where
    left = english_left(page)
    assert not left, f"{where}: {left}"


def test_errors_on_the_japanese_dashboard_and_in_its_timeline(
        client: TestClient, exchange: Exchange) -> None:
    """What the dashboard refuses (a page that is not there, a filter or a form it cannot
    take, a form from another site) and what fails behind it (a trace started from the
    dashboard, on the incident's timeline too) reads in Japanese: the errors' catalog
    messages, or their class's sentence, never their English words."""
    assert client.get("/?lang=ja").status_code == 200
    for url, status in (("/withdrawals/W-404", 404), ("/incidents/INC-404", 404),
                        ("/alerts/A-404", 404), ("/alerts?state=x9", 400),
                        ("/incidents?state=x9", 400), ("/proposals/P-404", 404),
                        ("/no-such-page", 404), ("/trace/new?incident=INC-404", 404)):
        r = client.get(url)
        assert r.status_code == status, (url, r.text[:300])
        _no_english(r.text, url)
    csrf = _csrf(client, "/trace/new")
    base = {"csrf": csrf, "incident": exchange.incident, "policy": "haircut"}
    seed = "0x" + "ab" * 32
    for fields, says in (({"seed_txs": ""}, "1 件以上"),
                         ({"seed_txs": seed, "from_block": "x"}, "開始ブロック には整数"),
                         ({"seed_txs": seed, "max_hops": "0"}, "1 以上にしてください"),
                         ({"seed_txs": seed, "policy": "x9"}, "伝播方式 x9 はありません")):
        r = client.post("/trace", data={**base, **fields})
        assert r.status_code == 400 and says in r.text, (fields, r.text[:300])
        _no_english(r.text, f"/trace {fields}")
    r = client.post("/trace", data={**base, "csrf": "forged", "seed_txs": "0x" + "ab" * 32})
    assert r.status_code == 403
    _no_english(r.text, "/trace with a forged CSRF token")
    r = client.post("/trace", data={**base, "seed_txs": "0x" + "ab" * 32},
                    headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    _no_english(r.text, "/trace from another site")
    # an operator's key approving, an incident moved where it cannot go, an alert unknown
    for url, data, status, says in (
            ("/withdrawals/W-held/approve", {"signature": "ab" * 64}, 403, "オペレーター"),
            (f"/incidents/{exchange.incident}/move", {"state": "x9", "reason": "x9"}, 400,
             "には移れません"),
            ("/alerts/A-404/ack", {}, 404, "アラート A-404 はありません")):
        r = client.post(url, data={"csrf": csrf, **data})
        assert r.status_code == status and says in r.text, (url, r.text[:300])
        _no_english(r.text, url)
    # a trace the chain cannot serve (its seed is on no block read) fails behind the page
    r = client.post("/trace", data={**base, "seed_txs": "0x" + "cd" * 32, "asset": "ETH",
                                    "from_block": "0"})
    assert r.status_code == 303, r.text[:300]
    url = r.headers["location"]
    for _ in range(2000):
        page = client.get(url).text
        if 'data-trace-state="running"' not in page:
            break
        time.sleep(0.05)
    assert 'data-trace-state="failed"' in page and "読み込んだ送金の中にありません" in page
    _no_english(page, url)
    _no_english(client.get("/reports").text, "/reports")
    timeline = client.get(f"/incidents/{exchange.incident}").text
    _no_english(timeline, "the incident's timeline")
    stored = [e["detail"] for e in exchange.incidents.incident(exchange.incident)
              .timeline if e["kind"] == "trace"]
    failed = [m for m in stored if m.id == "timeline.trace.failed"]
    assert failed and all(isinstance(m.params["reason"], Message) for m in failed)
    # an entry an older version wrote, with the English reason, still reads (as written)
    old = msg("timeline.trace.failed", policy=msg("tr.policy.haircut"), trace="T-1",
              reason="the node timed out")
    assert "the node timed out" in Localizer("ja").text(old)
    # the English reader keeps the English words (the CLI, the API and logs do too)
    english = client.get(url + "?lang=en").text
    client.get("/?lang=ja")
    assert "is not in the transfers read" in english and "入力" not in english
