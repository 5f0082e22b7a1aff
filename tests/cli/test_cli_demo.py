"""``kinko demo`` end to end, at a small size: exact totals and a verified ledger."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kinko.cli import main


def _demo(folder: Path) -> str:
    """``kinko demo`` at 300 customers in a process of its own: it makes its own SoftHSM2
    token directory, which a process that loaded the PKCS#11 module already cannot see."""
    # as in a pipe: no configured database, tables at their natural width
    env = {k: v for k, v in os.environ.items()
           if k not in ("KINKO_DATABASE_URL", "COLUMNS", "LINES")}
    done = subprocess.run([sys.executable, "-m", "kinko", "demo", "--customers", "300",
                           "--dir", "d"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_demo_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KINKO_DATABASE_URL", raising=False)
    out = _demo(tmp_path)
    assert "ledger verify: OK" in out
    assert "│       523,000,000 │" in out  # Coincheck's customer XEM, exactly
    assert "hot_ratio_breach" in out  # ETH starts 30% hot ...
    assert "cannot approve it" in out  # ... the proposer may not approve her own sweep ...
    assert "confirmations: executed" in out  # ... two others do; it is sent and booked
    assert "The legal requirements and the custody policy's limits are met." in out
    screened = "\n".join(line for line in out.splitlines() if "D-" in line)
    assert "│ to a TagPack-listed address │ D-listed  │ C0000005 │   1 │ blocked  │" in out, \
        screened
    assert "│ large, after alice and bob  │ D-large   │ C0000004 │  80 │ approved │" in out, \
        screened
    assert "breaker tripped for: ETH" in out
    assert "コールドウォレット" in (tmp_path / "d" / "custody-report.ja.html").read_text()
    # act 6: the Coincheck thief against the 2018 setup and against kinko
    assert "6. The Coincheck theft, replayed" in out
    assert "nobody watched the chain" in out and "5 of 5 stopped: 5 refused (the paying wallet's key leaked)" in out
    replay = json.loads((tmp_path / "d" / "replay.json").read_text())
    old, new, signed = replay["runs"]
    assert old["taken_micro"] == old["customer_xem_micro"] == 523_000_000 * 10**6
    assert old["alarm_seconds"] is None and len(old["thefts"]) == 9
    assert new["exposed_micro"] == 523_000_000 * 10**6 * 4 // 100  # 4% hot
    assert new["taken_micro"] == 10 * 10**6  # only the test transfer went through
    assert new["alarm_blocks"] == 0 and 0 < new["alarm_seconds"] < 30
    assert new["swept_micro"] == new["exposed_micro"] - new["taken_micro"]
    assert new["breaker"] == ["ETH", "XEM"] and new["withdrawals_stopped"] == 5
    # act 6b: the same thief against the 2018 account as a NEM multisig account
    assert "6b. The same thief against the 2018 hot account as a NEM multisig" in out
    nem = replay["nem_multisig"]
    assert nem["taken_micro"] == 0 and nem["customer_xem_micro"] == 523_000_000 * 10**6
    assert [a["kind"] for a in nem["alarms"]] == ["theft", "unknown_tx"]
    _cosigned(tmp_path, out, signed, monkeypatch, capsys)
    # act 7: the 2018 thief's coins traced into the other exchanges
    assert "7. The 2018 thief moves" in out and "exchange-a" in out
    summary = json.loads((tmp_path / "d" / "trace" / "haircut" / "summary.json").read_text())
    assert summary["conservation"]["holds"] is True
    assert summary["totals"]["seeded"] == 523_000_000 * 10**6
    assert 0 < summary["totals"]["absorbed"] < summary["totals"]["seeded"]
    # act 8: the 2018 exchange's refund plan, short of yen until its own yen are recorded
    short = json.loads((tmp_path / "d" / "refunds-2018-unfunded" / "plan.json").read_text())
    funded = json.loads((tmp_path / "d" / "refunds-2018" / "plan.json").read_text())
    assert short["price"]["value"] == funded["price"]["value"] == "88.549"
    assert short["customers"] == funded["customers"] == 300
    assert short["funds"]["confirmed"] is False and funded["funds"]["confirmed"] is True
    assert short["funds"]["shortfall_yen"] == short["total_yen"]
    assert "funds confirmed" in out and "SHORT by" in out
    # act 9: the FSA reports, in Japanese
    import pypdfium2 as pdfium

    for report in ("fsa", "fsa-2018"):
        pdf = pdfium.PdfDocument(str(tmp_path / "d" / report / "fsa-report.ja.pdf"))
        text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
        assert "ホットウォレット" in text and "不正送金" in text, report
    now = (tmp_path / "d" / "fsa" / "fsa-report.ja.html").read_text()
    assert "単一鍵" in now and "鍵ファイル" in now  # how its wallets are signed, keys kept
    then = (tmp_path / "d" / "fsa-2018" / "fsa-report.ja.html").read_text()
    assert "88.549" in then
    # the 2018 exchange fails the law (the guarantee, 5% online): red; kinko's does not.
    # Its reserves held before the theft (the customers' ETH cold, their XEM all hot)
    assert 'class="verdict bad"' in then and "内閣府令第27条（オンライン管理5%以下）" in then
    assert "資金決済法第63条の11の2（履行保証暗号資産）" in then
    assert "資金決済法第63条の11（分別管理）" not in then
    assert 'class="verdict bad"' not in (tmp_path / "d" / "fsa" / "fsa-report.ja.html"
                                         ).read_text()
    # act 10: proof of liabilities, checked by the customer with the standalone verifier
    assert "OK: customer \"C0000001\" is counted in root" in out
    root = json.loads((tmp_path / "d" / "reserves" / "root.json").read_text())
    assert len(list((tmp_path / "d" / "reserves" / "proofs").iterdir())) == 300
    assert root["root_hash"] in out
    blacklist = (tmp_path / "d" / "trace" / "blacklist.yaml").read_text()
    assert blacklist.count("- address:") == 7 and "category: black_list" in blacklist
    monkeypatch.setenv("KINKO_DATABASE_URL", f"sqlite:///{tmp_path / 'd' / 'kinko-demo.db'}")
    assert main(["balances", "--kind", "customer", "--asset", "XEM", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 300
    assert main(["denylist", "load", str(tmp_path / "d" / "trace" / "blacklist.yaml")]) == 0
    assert "7 labels read" in capsys.readouterr().out  # other exchanges load it as it is
    assert main(["incidents", "show", new["incident"], "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    kinds = [e["kind"] for e in shown["timeline"]]
    assert kinds[:3] == ["opened", "alert", "breaker"] and "sweep" in kinds
    assert main(["alerts", "list", "--format", "csv"]) == 0
    assert ",theft,critical,open,final,xem-hot,10,XEM," in capsys.readouterr().out
    _dashboard(tmp_path, out, new["incident"], monkeypatch, capsys)
    total = sum(int(r["balance"].replace(".", "")) if "." in r["balance"] else
                int(r["balance"]) * 10**6 for r in rows if r["balance"])
    assert total > 0
    # the same seed gives the same exchange: the book the demo wrote in its process is the
    # one the seed gives in this one (another process: another hash seed)
    from kinko.services.demo import generate_customers

    written = (tmp_path / "d" / "customers.csv").read_bytes()
    for again in (tmp_path / "again-1.csv", tmp_path / "again-2.csv"):
        generate_customers(again, 300, 2018)
        assert again.read_bytes() == written


def _cosigned(tmp_path: Path, out: str, signed: dict[str, object],
              monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The third column: co-signed Safes with HSM keys; the thief with the operations key
    takes nothing, each try is refused by the chain or the co-signer and is on the incident's
    timeline; the insider with an operator key takes at most the co-signer's limit."""
    assert "kinko co-signed (2-of-3 Safe, HSM keys)" in out
    assert "co-signed" in str(signed["label"]) and signed["taken_micro"] == 0
    # 4% online, less what the insider took before the thief came
    assert signed["exposed_micro"] == 523_000_000 * 10**6 * 4 // 100 - 270_000 * 10**6
    assert signed["left_hot_micro"] == signed["exposed_micro"] and signed["thefts"] == []
    assert signed["incident"] and signed["breaker"] == ["XEM"]  # the watch's alarm
    assert 0 < float(signed["alarm_seconds"]) < 30  # type: ignore[arg-type]
    tries = {a["try"]: a for a in signed["attempts"]}  # type: ignore[attr-defined]
    assert {t: a["refused_by"] for t, a in tries.items()} == {
        "owner_address": "chain", "one_signature": "chain", "cosigner_forged": "co-signer",
        "owner_change_cosigner": "co-signer", "owner_change_chain": "chain"}
    assert tries["one_signature"]["reason"].startswith("GS020")
    assert tries["owner_change_chain"]["reason"].startswith("GS020")
    assert tries["cosigner_forged"]["reason"] == "no_such_request"
    assert tries["owner_change_cosigner"]["reason"] == "forbidden_tx"
    insider = signed["insider"]
    assert isinstance(insider, dict)
    outcomes = [w["outcome"] for w in insider["withdrawals"]]
    assert outcomes.count("confirmed") == 3 and "refused_by_cosigner" in outcomes
    assert outcomes.count("held") == 3  # screening: large, or too much to one address
    left = sum(w["micro_xem"] for w in insider["withdrawals"] if w["outcome"] == "confirmed")
    assert insider["left_micro"] == left == 270_000 * 10**6
    assert left <= insider["cosigner_limit_micro"] < insider["requested_micro"]
    # the incident in the co-signed exchange's database: the co-signer's alarms and the
    # chain's refusals on its timeline
    monkeypatch.setenv("KINKO_DATABASE_URL",
                       f"sqlite:///{tmp_path / 'd' / 'kinko-cosigned.db'}")
    assert main(["incidents", "show", str(signed["incident"]), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    kinds = [e["kind"] for e in shown["timeline"]]
    # the watch: the operations key sent a transaction of its own (the first try): alarm,
    # breaker, waiting withdrawals rejected, the emergency sweep proposed to the quorum;
    # then the co-signer's two refusals of the thief and the chain's three refusals
    assert kinds[:3] == ["opened", "alert", "breaker"] and "sweep" in kinds
    assert kinds.count("alert") == 3 and kinds.count("chain") >= 3
    alarm = next(a for a in shown["alerts"] if a["id"] == signed["alarm"])
    assert alarm["kind"] == "owner_key" and alarm["severity"] == "critical"
    assert main(["alerts", "list", "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("cosign_refused,critical") == 4  # 2 thief, 2 insider
    # the co-signer's own log holds every decision and verifies
    assert main(["cosign", "verify", "--config", str(tmp_path / "d" / "cosign.toml")]) == 0
    assert "co-signer log OK: 7 records, 3 signed" in capsys.readouterr().out
    monkeypatch.delenv("KINKO_DATABASE_URL")


def test_changed_asset_decimals_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KINKO_DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    assert main(["--assets", "USDT:ethereum:6", "init"]) == 0
    capsys.readouterr()
    assert main(["--assets", "USDT:ethereum:8", "balances"]) == 2
    assert "would change meaning" in capsys.readouterr().err
    assert main(["assets", "list", "--format", "csv"]) == 0  # USDT stays known from the database
    assert "USDT,ethereum,6" in capsys.readouterr().out


def _dashboard(tmp_path: Path, out: str, incident: str, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> None:
    """The demo ends with how to open the dashboard on each database, with working keys; what
    it wrote is indexed in the database each belongs to; the trace's transfers re-run."""
    from fastapi.testclient import TestClient

    from kinko.api import create_app
    from kinko.domain.money import AssetRegistry
    from kinko.ports import SystemClock
    from kinko.services.access import Access
    from kinko.services.artifacts import Artifacts
    from kinko.services.custody import Custody
    from kinko.services.ledger import Ledger
    from kinko.store import open_store

    tail = out[out.index("The operators' dashboard on the demo's data"):]
    commands = re.findall(r"KINKO_DATABASE_URL=(\S+) KINKO_DATA_DIR=(\S+) (\S*kinko) serve "
                          r"--port (\d+)", tail)
    assert [(url, data, port) for url, data, _, port in commands] == [
        ("sqlite:///d/kinko-demo.db", "d", "8000"), ("sqlite:///d/coincheck-2018.db", "d", "8001"),
        ("sqlite:///d/kinko-cosigned.db", "d", "8002")]
    keys = re.findall(r"sign in with the admin key (\S+) \(auditor: (\S+)\)", tail)
    assert len(keys) == 3 and incident in tail
    kinds = {}
    for (url, _data, _kinko, _port), (admin, auditor) in zip(commands, keys, strict=True):
        store = open_store(url)  # relative to the demo's folder, as printed
        ledger = Ledger(store, SystemClock(), AssetRegistry.default())
        ledger.sync_assets()
        app = create_app(functools.partial(Custody, ledger),
                         functools.partial(Access, store, SystemClock()),
                         dashboard=tmp_path / "d")
        with TestClient(app, follow_redirects=False) as client:
            for token in (admin, auditor):
                r = client.post("/login", data={"api_key": token, "next": "/"})
                assert r.status_code == 303, r.text
                page = client.get("/")
                assert page.status_code == 200 and "XEM" in page.text
            if url.endswith("kinko-cosigned.db"):  # how its Safe is signed, its refusals
                custody = client.get("/custody?lang=en").text
                assert '<tr data-wallet="xem-hot" data-signing="cosigned"' in custody
                assert 'data-refusals="4"' in custody
        kinds[url] = sorted(a["kind"] for a in Artifacts(store, SystemClock()).find())
        store.close()
    assert kinds == {"sqlite:///d/kinko-demo.db": ["fsa", "reserves"],
                     "sqlite:///d/kinko-cosigned.db": [],
                     "sqlite:///d/coincheck-2018.db": ["fsa", "refunds", "refunds", "trace",
                                                       "trace"]}
    # the trace runs again from the CSV of the transfers it read, to the same exposure
    store = open_store("sqlite:///d/coincheck-2018.db")
    trace = Artifacts(store, SystemClock()).find("trace")
    store.close()
    haircut = next(a for a in trace if a["detail"]["policy"] == "haircut")
    assert haircut["folder"] == (tmp_path / "d" / "trace" / "haircut").resolve()
    seeds = [arg for tx in haircut["detail"]["seeds"] for arg in ("--seed-tx", tx)]
    assert main(["trace", "run", "--transfers", haircut["detail"]["transfers"], "--format",
                 "csv", "--policy", "haircut", *seeds, "--tags", "d/exchanges.yaml",
                 "--out", "d/rerun"]) == 0
    capsys.readouterr()
    again = json.loads((tmp_path / "d" / "rerun" / "summary.json").read_text())
    first = json.loads((tmp_path / "d" / "trace" / "haircut" / "summary.json").read_text())
    assert again["totals"] == first["totals"]
