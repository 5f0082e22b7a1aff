"""The trace pages through the app (server side): a theft on the in-process chain, its
incident's theft alert, a trace started from the dashboard and run in the background, its
graph, exposure and blacklist; refusals (role, CSRF, paths outside the trace's folder or the
data folder). The same in a real browser is in tests/e2e."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from dashboard_site import Site
from fastapi.testclient import TestClient

from kinko.chains.keystore import throwaway_signer
from kinko.domain.labels import tagpack_text
from kinko.domain.messages import msg, verbatim
from kinko.errors import BadInput
from kinko.i18n import ENGLISH
from kinko.i18n.catalogs import catalog
from kinko.services.artifacts import Artifacts
from kinko.services.incidents import Incidents
from kinko.services.labels import load_labels

E = 10**18
SCRIPT = "<script>alert(1)</script>"


@dataclass
class Theft:
    incident: str
    tx_hash: str
    block: int
    thief: str
    exchange: str
    hop: str


def send(site: Site, signer: object, to: str, value: int) -> str:
    chain = site.chain
    chain_id, price = chain.fee_params()
    raw = signer.sign_transfer(to=to, value=value,  # type: ignore[attr-defined]
                               nonce=chain.nonce(signer.address),  # type: ignore[attr-defined]
                               gas_price=price, chain_id=chain_id)
    return chain.send_raw(raw)


@pytest.fixture
def theft(site: Site, tmp_path: Path) -> Theft:
    """10 ETH stolen; the thief pays 4 ETH into Exchange A's deposit address (tagged, its
    label holding a script tag) and 3 ETH to another address of its own."""
    thief, exchange, hop = throwaway_signer(), throwaway_signer(), throwaway_signer()
    stolen = site.chain.fund(thief.address, 10 * E)
    receipt = site.chain.receipt(stolen)
    assert receipt is not None
    send(site, thief, exchange.address, 4 * E)
    send(site, thief, hop.address, 3 * E)
    tags = tmp_path / "tags.yaml"
    tags.write_text(tagpack_text(
        {"title": "exchanges", "creator": "test", "description": "deposit addresses",
         "lastmod": "2024-01-01", "currency": "ETH", "category": "exchange"},
        [{"address": exchange.address, "label": f"Exchange A {SCRIPT}"}]), encoding="utf-8")
    store = site.ledger.store
    load_labels(store, tags, "tags")
    with store.watch() as t:
        incident = t.put_incident({"state": "open", "title": msg("incident.title.outflow", wallet="eth-hot"),
                                   "asset": "ETH", "wallet": "eth-hot",
                                   "opened": site.clock.now(), "closed": None})
        t.put_alert({"key": "theft-1", "kind": "theft", "severity": "critical",
                     "state": "open", "chain_state": "final", "asset": "ETH",
                     "wallet": "eth-hot", "tx_hash": stolen, "amount": 10 * E,
                     "block": receipt.block, "detail": verbatim("10 ETH left eth-hot"),
                     "incident": incident, "raised": site.clock.now()})
    return Theft(incident, stolen, receipt.block, thief.address.lower(),
                 exchange.address.lower(), hop.address.lower())


def wait_done(client: TestClient, url: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        page = client.get(url)
        assert page.status_code == 200, page.text
        state = re.search(r'data-trace-state="(\w+)"', page.text)
        assert state
        if state.group(1) != "running":
            return page.text
        assert 'http-equiv="refresh"' in page.text  # the page reloads itself meanwhile
        assert time.monotonic() < deadline, "the trace did not finish"
        time.sleep(0.05)


def start(site: Site, client: TestClient, theft: Theft, **fields: str) -> str:
    form = site.csrf(client, f"/trace/new?incident={theft.incident}")
    r = client.post("/trace", data={"csrf": form, "incident": theft.incident,
                                    "seed_txs": theft.tx_hash, "policy": "haircut",
                                    **fields})
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/trace/trace-")
    return str(r.headers["location"])


def finished(site: Site, client: TestClient, theft: Theft) -> tuple[str, Path]:
    """A trace started from the form and run to its end: its page's URL and its folder."""
    url = start(site, client, theft)
    wait_done(client, url)
    found = re.search(r"/trace/(trace-[\w-]+)", url)
    assert found
    row = Artifacts(site.ledger.store, site.clock).get(found.group(1), ("trace",))
    return url, Path(row["folder"])


def test_a_trace_from_an_incident_shows_graph_exposure_and_blacklist(
        site: Site, theft: Theft) -> None:
    ops = site.client("ops")
    form = ops.get(f"/trace/new?incident={theft.incident}").text
    assert 'data-form="trace"' in form and 'name="policy"' in form
    seeds = re.search(r'<textarea name="seed_txs"[^>]*>([^<]*)</textarea>', form)
    assert seeds and seeds.group(1).split() == [theft.tx_hash.lower()]
    assert f'name="from_block" value="{theft.block}"' in form

    url = start(site, ops, theft)
    page = wait_done(ops, url)
    assert 'data-trace-state="done"' in page, page
    assert "<svg data-graph" in page and "data-panel" in page
    assert '<script src="/static/graph.js"' in page
    trace_id = url.rsplit("/", 1)[1]
    assert re.search(r'data-field="seeded">\s*10\s*<', page)
    assert re.search(r'data-field="absorbed">\s*4\s*<', page)
    assert re.search(r'data-field="held">\s*6\s*<', page)
    assert 'data-holds="yes"' in page

    # the exposure table: one row per exchange; the label is text, never markup
    shown = "Exchange A &lt;script&gt;alert(1)&lt;/script&gt;"
    row = re.search(rf'<tr data-entity="{re.escape(shown)}">.*?</tr>', page, re.S)
    assert row and re.search(r'data-field="taint">\s*4\s*<', row.group(0))
    assert f">{shown}</th>" in row.group(0) and SCRIPT not in page

    graph = ops.get(f"{url}/graph.json")
    assert graph.status_code == 200
    data = graph.json()
    nodes = {n["address"]: n for n in data["nodes"]}
    assert {theft.thief, theft.exchange, theft.hop} <= set(nodes)
    ex = nodes[theft.exchange]
    assert ex["stop"] and ex["category"] == "exchange" and ex["label"] == f"Exchange A {SCRIPT}"
    assert ex["taint_received"] == str(4 * E) and ex["taint_received_shown"] == "4"
    assert nodes[theft.thief]["hops"] == 1 and nodes[theft.hop]["hops"] == 2
    assert nodes[theft.hop]["held"] == str(3 * E)
    flows = {(data["nodes"][e["from"]]["address"], data["nodes"][e["to"]]["address"]):
             e["flow"] for e in data["edges"]}
    assert flows[(theft.thief, theft.exchange)] == str(4 * E)
    # the wallet the coins were stolen from is drawn at hop 0, its edge to the thief
    (origin,) = [n for n in data["nodes"] if n["hops"] == 0]
    assert origin["x"] == 0 and flows[(origin["address"], theft.thief)] == str(10 * E)
    # the file the renderer wrote has the same graph, amounts as exact strings
    folder = site.data_dir / "traces" / trace_id
    written = json.loads((folder / "graph.json").read_text())
    assert '<html lang="en">' in (folder / "graph.html").read_text()  # the operator's language
    assert [n["address"] for n in written["nodes"]] == [n["address"] for n in data["nodes"]]

    # the blacklist: a TagPack of the tainted addresses, never the exchange
    link = re.search(r'<a href="([^"]+)" data-action="blacklist"', page)
    assert link and link.group(1) == f"{url}/blacklist.yaml"
    r = ops.get(link.group(1))
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    pack = yaml.safe_load(r.text)
    listed = {t["address"] for t in pack["tags"]}
    assert pack["category"] == "black_list" and pack["currency"] == "ETH"
    assert {theft.thief, theft.hop} <= listed and theft.exchange not in listed

    for name in ("addresses.csv", "flows.csv", "exposure.csv"):
        assert f'data-file="{name}"' in page
        r = ops.get(f"{url}/{name}")
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert f"Exchange A {SCRIPT},exchange," in ops.get(f"{url}/exposure.csv").text

    # indexed, listed, and on the incident's timeline
    (row_a,) = Artifacts(site.ledger.store, site.clock).find("trace", theft.incident)
    assert row_a["id"] == trace_id and row_a["state"] == "done"
    assert row_a["folder"] == folder.resolve()
    assert f'data-trace="{trace_id}"' in ops.get("/trace").text
    events = Incidents(site.ledger.store, site.clock).incident(theft.incident).timeline
    (event,) = [e for e in events if e["kind"] == "trace"]
    assert trace_id in ENGLISH.text(event["detail"]) and event["actor"] == "ops"
    assert any(a["action"] == "trace.start" and a["target"] == trace_id
               for a in site.access.audit_log())

    # an auditor sees it all (and the Japanese words) but cannot start one
    audit = site.client("audit")
    ja = audit.get(f"{url}?lang=ja").text
    assert "取引所へのエクスポージャー" in ja and "ブラックリスト" in ja and "追跡" in ja
    assert audit.get(f"{url}/graph.json").status_code == 200


def test_only_files_inside_the_trace_folder_are_served(site: Site, theft: Theft) -> None:
    ops = site.client("ops")
    url = start(site, ops, theft)
    wait_done(ops, url)
    (site.data_dir / "secret.txt").write_text("not yours")
    for name in ("..%2Fsecret.txt", "..%2F..%2Fsecret.txt", "%2e%2e", ".hidden", "nope.csv",
                 "..%5Csecret.txt"):
        r = ops.get(f"{url}/{name}")
        assert r.status_code == 404, name
        assert "not yours" not in r.text
    assert ops.get(f"{url}/../../secret.txt").status_code == 404
    assert ops.get(f"{url}/{'x' * 256}").status_code == 404  # too long for a file name: 500
    assert ops.get("/trace/trace-nope").status_code == 404
    assert ops.get("/trace/trace-nope/graph.json").status_code == 404


def test_a_trace_folder_written_over_by_someone_else_is_not_a_crash(site: Site,
                                                                     theft: Theft) -> None:
    """graph.json and summary.json are read within bounds: 80,000 brackets are a 404 and a
    page without a summary, not a dead server."""
    ops = site.client("ops")
    url, folder = finished(site, ops, theft)
    for name in ("graph.json", "summary.json"):
        (folder / name).write_text("[" * 80_000 + "]" * 80_000)
    # a field past the CSV reader's limit: the exposure is not shown, the page is
    (folder / "exposure.csv").write_text("entity,category,taint_received,addresses\n"
                                         + "x" * 200_000 + ",exchange,1,1\n")
    assert ops.get(f"{url}/graph.json").status_code == 404
    assert ops.get(url).status_code == 200


def test_a_trace_whose_exposure_cannot_be_read_says_so(site: Site, theft: Theft) -> None:
    """An exposure.csv with a quote left open before its last row (a folder written over,
    or from another machine) answered 500; one the page could not read otherwise showed
    "The taint reached no labelled exchange". The page says the exposure cannot be shown,
    and why, on the line where the quote opens."""
    ops = site.client("ops")
    url, folder = finished(site, ops, theft)
    (folder / "exposure.csv").write_text("entity,category,taint_received,addresses\n"
                                         "A,exchange,5,1\n\"B,exchange,3,1\nC,exchange,2,1\n")
    page = ops.get(url)
    assert page.status_code == 200
    assert 'data-empty="exposure"' not in page.text and "no labelled exchange" not in page.text
    shown = re.search(r'data-unreadable="exposure">([^<]*)<', page.text)
    assert shown and shown.group(1) == (
        "The exposure cannot be shown: exposure.csv:3: unterminated quoted field: the double "
        "quote that opens it here is not closed before the end of the file")
    ja = ops.get(f"{url}?lang=ja").text
    assert "エクスポージャーを表示できません：exposure.csv:3：引用符で囲まれたフィールドが閉じていません" in ja
    (folder / "exposure.csv").unlink()
    shown = re.search(r'data-unreadable="exposure">([^<]*)<', ops.get(f"{url}?lang=en").text)
    assert shown and shown.group(1).startswith("The exposure cannot be shown: exposure.csv: "
                                               "cannot read: ")


def test_a_transfers_file_must_lie_under_the_data_folder(site: Site, theft: Theft,
                                                         tmp_path: Path) -> None:
    ops = site.client("ops")
    outside = tmp_path / "outside.csv"
    rows = "tx_hash,block,tx_index,from,to,value\n0x01,1,0,0xaa,0xbb,10\n0x02,2,0,0xbb,0xcc,4\n"
    outside.write_text(rows)
    csrf = site.csrf(ops, "/trace")
    for name in (str(outside), "../outside.csv"):
        r = ops.post("/trace", data={"csrf": csrf, "seed_txs": "0x01", "policy": "haircut",
                                     "transfers": name, "format": "csv"})
        assert r.status_code == 400 and "under the data folder" in r.text
        assert 'data-form="trace"' in r.text  # the form again, with what was typed
    site.data_dir.mkdir(parents=True, exist_ok=True)
    # seeds past what the form takes are refused, not cut short (a hash cut in half)
    r = ops.post("/trace", data={"csrf": csrf, "seed_txs": "\n".join(["0x" + "ab" * 32] * 400),
                                 "policy": "haircut", "transfers": "t.csv", "format": "csv"})
    assert r.status_code == 400
    assert "Stolen transactions (one hash a line) is longer than 20,000 characters" in r.text
    # a name too long for the file system (a 500 before) is no transfers file
    for name in ("x" * 4_100, "y/" * 2_000):
        r = ops.post("/trace", data={"csrf": csrf, "seed_txs": "0x01", "policy": "haircut",
                                     "transfers": name, "format": "csv"})
        assert r.status_code == 400 and "no transfers file" in r.text, name[:9]
    (site.data_dir / "t.csv").write_text(rows)
    r = ops.post("/trace", data={"csrf": csrf, "seed_txs": "0x01", "policy": "poison",
                                 "transfers": "t.csv", "format": "csv"})
    assert r.status_code == 303, r.text
    page = wait_done(ops, r.headers["location"])
    assert 'data-trace-state="done"' in page and 'data-holds="na"' in page


def test_starting_needs_an_operator_and_the_csrf_token(site: Site, theft: Theft) -> None:
    audit = site.client("audit")
    assert audit.get(f"/trace/new?incident={theft.incident}").status_code == 403
    csrf = site.csrf(audit, "/trace")
    assert 'data-form="trace"' not in audit.get("/trace").text
    r = audit.post("/trace", data={"csrf": csrf, "seed_txs": theft.tx_hash,
                                   "incident": theft.incident, "policy": "haircut"})
    assert r.status_code == 403
    ops = site.client("ops")
    r = ops.post("/trace", data={"seed_txs": theft.tx_hash, "incident": theft.incident,
                                 "policy": "haircut"})
    assert r.status_code == 403
    assert Artifacts(site.ledger.store, site.clock).find("trace") == []


def test_bad_requests_are_named_and_failures_shown(site: Site, theft: Theft) -> None:
    ops = site.client("ops")
    csrf = site.csrf(ops, "/trace")
    base = {"csrf": csrf, "incident": theft.incident, "policy": "haircut"}
    for fields, message in (({"seed_txs": ""}, "at least one stolen transaction"),
                            ({"seed_txs": theft.tx_hash, "policy": "tiho"}, "policy must be"),
                            ({"seed_txs": theft.tx_hash, "from_block": "x"}, "whole number"),
                            # isdigit() is true of these, which int() refused: a 500
                            ({"seed_txs": theft.tx_hash, "from_block": "²"}, "whole number"),
                            ({"seed_txs": theft.tx_hash, "from_block": "1" * 5000},
                             "whole number"),
                            ({"seed_txs": theft.tx_hash, "max_hops": "²"}, "whole number"),
                            ({"seed_txs": theft.tx_hash, "max_hops": "٣"}, "whole number")):
        r = ops.post("/trace", data={**base, **fields})
        assert r.status_code == 400 and message in r.text, r.text
    # a seed the chain does not hold: the job fails and says why
    r = ops.post("/trace", data={**base, "seed_txs": "0x" + "ab" * 32})
    assert r.status_code == 303
    page = wait_done(ops, r.headers["location"])
    assert 'data-trace-state="failed"' in page and "is not in the transfers read" in page
    assert ops.get(r.headers["location"] + "/blacklist.yaml").status_code == 404
    # a file that is none of its format: named as the form named it, not by the server's
    # folders (which the message, and the library's words in it, quoted whole)
    site.data_dir.mkdir(parents=True, exist_ok=True)
    (site.data_dir / "bad.csv").write_text("not,a,transfers\n")
    r = ops.post("/trace", data={**base, "seed_txs": theft.tx_hash, "transfers": "bad.csv",
                                 "format": "parquet"})
    page = wait_done(ops, r.headers["location"])
    assert 'data-trace-state="failed"' in page and "bad.csv" in page
    assert str(site.data_dir.resolve()) not in page


def test_without_a_node_or_file_the_form_says_so(site: Site, theft: Theft) -> None:
    from kinko.api.web import trace as trace_page
    from kinko.services.trace_jobs import TraceJobs, TraceRequest

    jobs = TraceJobs(site.ledger.store, site.clock, site.data_dir, chain=None,
                     assets=site.ledger.assets, load=trace_page._load, write=trace_page._write)
    with pytest.raises(BadInput, match="no chain node is configured"):
        jobs.start(TraceRequest((theft.tx_hash,), incident=theft.incident), by="ops")


def test_a_process_runs_at_most_two_traces_at_once(site: Site, theft: Theft,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Each trace holds its transfers in memory and takes a core: a third start while two
    run is refused (429, saying why, with when to try again), and a start once one has
    ended runs."""
    import threading

    from kinko.api.web import trace as trace_page
    from kinko.services.trace_jobs import MAX_RUNNING

    release = threading.Event()

    def held(path: Path, fmt: str) -> object:
        release.wait(30)
        raise BadInput("the file was not read", says=verbatim("not read"))

    monkeypatch.setattr(trace_page, "_load", held)
    site.data_dir.mkdir(parents=True, exist_ok=True)
    (site.data_dir / "held.csv").write_text("tx_hash,block\n")
    ops = site.client("ops")
    fields = {"transfers": "held.csv", "format": "csv"}
    running = [start(site, ops, theft, **fields) for _ in range(MAX_RUNNING)]
    csrf = site.csrf(ops, "/trace")
    refused = ops.post("/trace", data={"csrf": csrf, "incident": theft.incident,
                                       "seed_txs": theft.tx_hash, "policy": "haircut",
                                       **fields})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
    assert f"{MAX_RUNNING} traces are running already" in refused.text
    release.set()
    for url in running:
        assert 'data-trace-state="failed"' in wait_done(ops, url)
    wait_done(ops, start(site, ops, theft, **fields))  # those that ended are not counted


def test_trace_words_exist_in_both_languages() -> None:
    en, ja = catalog("en"), catalog("ja")
    found = {k: (v, ja.get(k)) for k, v in en.items() if k.startswith("tr.")}
    assert len(found) > 40 and all(en and ja for en, ja in found.values())


def test_a_cli_trace_with_incident_is_listed(site: Site, theft: Theft, tmp_path: Path
                                             ) -> None:
    """An artifact ``kinko trace run --incident`` indexed (its folder anywhere) shows, and
    its blacklist is made on demand."""
    from kinko.api.web.trace import _write
    from kinko.services.trace import account_transfers, run_trace

    records = [t for n in range(theft.block, site.chain.head() + 1)
               for t in site.chain.block(n).transfers if t.token is None and t.value > 0]
    report = run_trace(account_transfers(records), policy="fifo", seed_txs=[theft.tx_hash])
    folder = tmp_path / "cli-trace"
    _write(report, folder, None, "en")
    (folder / "blacklist.yaml").unlink()
    row = Artifacts(site.ledger.store, site.clock).record(
        "trace", msg("artifact.trace", policy=msg("tr.policy.fifo")), folder, by="kinko trace", incident=theft.incident,
        detail={"policy": "fifo", "asset": "ETH"})
    ops = site.client("ops")
    page = ops.get(f"/trace/{row['id']}").text
    assert 'data-trace-state="done"' in page and "data-graph" in page
    r = ops.get(f"/trace/{row['id']}/blacklist.yaml")
    assert r.status_code == 200 and theft.thief in r.text


def test_a_job_cut_short_by_a_stopped_server_is_marked_failed_at_the_next_start(
        site: Site) -> None:
    import os
    import socket
    import subprocess
    import sys

    from kinko.api import create_app
    from kinko.services.custody import Custody

    artifacts = Artifacts(site.ledger.store, site.clock)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    rows = {}
    for name, host, pid in (("dead", socket.gethostname(), int(dead.stdout)),
                            ("alive", socket.gethostname(), os.getppid()),
                            ("elsewhere", "another-host", int(dead.stdout))):
        row = artifacts.start_in("trace", verbatim(name), site.data_dir / "traces", by="ops")
        with site.ledger.store.watch() as tables:
            tables.update_artifact(row["id"], detail=json.dumps(
                {"runner": {"host": host, "pid": pid}}))
        rows[name] = row["id"]
    create_app(lambda: Custody(site.ledger, chain=site.chain), lambda: site.access,
               dashboard=site.data_dir, clock=site.clock)
    states = {name: artifacts.get(i)["state"] for name, i in rows.items()}
    assert states == {"dead": "failed", "alive": "running", "elsewhere": "running"}
    assert "interrupted" in artifacts.get(rows["dead"])["detail"]["error"]
    page = site.client("audit").get(f"/trace/{rows['dead']}").text
    assert 'data-trace-state="failed"' in page and "interrupted" in page


def test_stop_categories_and_the_hop_limit_reach_the_trace(site: Site, theft: Theft) -> None:
    ops = site.client("ops")
    page = wait_done(ops, start(site, ops, theft, stop_categories="sanctioned"))
    assert re.search(r'data-field="absorbed">\s*0\s*<', page)  # the exchange is no stop now
    assert re.search(r'data-field="seeded">\s*10\s*<', page)
    bad = ops.post("/trace", data={"csrf": site.csrf(ops, "/trace"), "seed_txs": theft.tx_hash,
                                   "incident": theft.incident, "policy": "haircut",
                                   "max_hops": "two"})
    assert bad.status_code == 400 and "hop limit" in bad.text
    audit = [a for a in site.access.audit_log() if a["action"] == "trace.start"]
    assert '"stop_categories": ["sanctioned"]' in audit[0]["detail"]


def test_nem_listings_are_a_format_the_form_offers_and_traces(site: Site, theft: Theft
                                                             ) -> None:
    from nemstory import write_listings

    ops = site.client("ops")
    form = ops.get("/trace/new?lang=ja").text
    assert '<option value="nem">NEM：NIS1 の送金一覧（JSON）</option>' in form
    form = ops.get("/trace/new?lang=en").text
    assert '<option value="nem">NEM: NIS1 transfer listings (JSON)</option>' in form
    site.data_dir.mkdir(parents=True, exist_ok=True)
    hashes = write_listings(site.data_dir / "nem-listings")
    csrf = site.csrf(ops, "/trace")
    r = ops.post("/trace", data={"csrf": csrf, "seed_txs": hashes["theft"],
                                 "policy": "haircut", "transfers": "nem-listings",
                                 "format": "nem"})
    assert r.status_code == 303, r.text
    page = wait_done(ops, r.headers["location"])
    assert 'data-trace-state="done"' in page, page


def test_the_pages_load_no_trace_engine_until_a_trace_runs() -> None:
    """A server process imports every page (and the command that serves them) without the
    trace engine's numba, DuckDB and Arrow: about 110 MB and 0.7 s of CPU a process, paid
    only by a process that runs or writes a trace (the form's job, a blacklist written)."""
    import subprocess
    import sys

    heavy = ("numba", "llvmlite", "duckdb", "pyarrow", "matplotlib")
    code = ("import importlib, sys\n"
            "import kinko.cli.serve\n"
            "from kinko.api.web import PAGES\n"
            "for name in PAGES: importlib.import_module(f'kinko.api.web.{name}')\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
            "from kinko.api.web.trace import _load\n"
            "from kinko.domain.trace import trace_account\n"
            "print('numba' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "True"], done.stdout + done.stderr
