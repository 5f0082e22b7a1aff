"""``kinko watch``, ``kinko alerts`` and ``kinko incidents`` through the command line, on
anvil: a withdrawal sent by kinko passes, a transfer signed with the leaked keystore key
alarms (exit 1), operators acknowledge and annotate, metrics are served."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from eth_account import Account

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner

E = 10**18


@pytest.fixture
def cli(node_cli, anvil, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KINKO_CONFIRMATIONS", "1")
    run = node_cli
    hot = run("wallets", "keygen", "eth-hot", "--asset", "ETH")[1].split(" at ")[1].split(";")[0]
    EvmChain.connect(anvil.url).fund(hot, 10 * E)
    run("ledger", "post", "--key", "open", "--source", "opening",
        "--debit", "wallet:eth-hot 10 ETH", "--credit", "customer:C1 10 ETH")
    keys = {n: run("approvers", "keygen", "--out", f"{n}.key")[1].strip()
            for n in ("alice", "bob")}
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{k}"\n'
                        for n, k in keys.items())
    Path("policy.toml").write_text(f"version = 1\nquorum = 2\n{approvers}")
    assert run("policy", "load", "--by", "ops")[0] == 0
    head = EvmChain.connect(anvil.url).head()
    code, out, err = run("watch", "--once", "--from-block", str(head + 1))
    assert code == 0 and "0 alert(s)" in out, err
    return run


def test_watch_alerts_and_incidents(cli, anvil) -> None:  # type: ignore[no-untyped-def]
    chain = EvmChain.connect(anvil.url)
    dest = str(Account.create().address)
    cli("withdrawals", "request", "W1", "--customer", "C1", "--asset", "ETH", "--amount", "1",
        "--to", dest)
    assert cli("withdrawals", "send", "W1")[0] == 0
    code, out, _ = cli("watch", "--once")  # final at once: one confirmation is enough here
    assert code == 0 and "1 matched, 0 alert(s)" in out and "closed withdrawal:W1" in out
    assert "confirmed" in cli("withdrawals", "show", "W1")[1]
    # the keystore leaked: someone signs with it outside kinko
    thief = KeystoreSigner.open(Path("keys/eth-hot.json"), "hot wallet password")
    chain_id, gas_price = chain.fee_params()
    chain.send_raw(thief.sign_transfer(to=str(Account.create().address), value=2 * E,
                                       nonce=chain.nonce(thief.address), gas_price=gas_price,
                                       chain_id=chain_id))
    time.sleep(0.2)
    code, out, _ = cli("watch", "--once")
    assert code == 1 and "ALERT A-1 [critical] theft" in out and "2 ETH left" in out
    assert cli("watch", "--once")[0] == 0  # the same theft never alerts twice
    code, out, _ = cli("alerts", "list", "--format", "json")
    (alert,) = json.loads(out)
    assert alert["kind"] == "theft" and alert["state"] == "open" and alert["amount"] == "2"
    # one alert in full says the amount as the list does (2 ETH, not 2000000000000000000 wei)
    code, out, _ = cli("alerts", "show", "A-1", "--format", "csv")
    assert code == 0 and "amount,2\n" in out and str(2 * E) not in out, out
    code, out, _ = cli("--lang", "ja", "alerts", "show", "A-1")  # and in the reader's words
    for said in ("識別キー", "チェーン上の状態", "不正送金", "重大", "未確認", "数量"):
        assert said in out, (said, out)
    for english in ("chain_state", "tx_hash", "theft", "critical"):
        assert english not in out, (english, out)
    code, out, _ = cli("breaker", "status")
    assert "ETH" in out
    code, out, _ = cli("alerts", "ack", "A-1", "--by", "duty officer", "--note", "paged CISO")
    assert code == 0 and "acknowledged by duty officer" in out
    code, out, _ = cli("audit", "list", "--action", "alert.ack", "--format", "json")
    (record,) = json.loads(out)  # audited as the dashboard's acknowledgement is
    assert (record["actor"], record["target"]) == ("cli:duty officer", "A-1")
    assert json.loads(record["detail"]) == {"note": "paged CISO"}
    code, _, err = cli("alerts", "ack", "A-1", "--by", "someone")
    assert code == 2 and "already" in err
    code, _, err = cli("alerts", "show", "A-9")
    assert code == 2 and "unknown alert" in err
    incident = alert["incident"]
    assert cli("incidents", "note", incident, "cause: keystore copied", "--by", "ciso")[0] == 0
    code, out, _ = cli("incidents", "show", incident, "--format", "json")
    timeline = json.loads(out)["timeline"]
    assert [e["kind"] for e in timeline] == ["opened", "alert", "breaker", "sweep", "ack",
                                             "note"]
    code, out, _ = cli("incidents", "list", "--format", "csv")
    assert f"{incident},open," in out
    code, out, err = cli("incidents", "loss", incident, "--by", "controller")
    assert code == 0 and f"loss:{incident} 2 ETH (booked now: 2)" in out, err
    assert "(booked now: 0)" in cli("incidents", "loss", incident, "--by", "controller")[1]
    code, out, err = cli("incidents", "move", incident, "contained", "--by", "ciso",
                         "--reason", "breaker tripped, hot wallet swept")
    assert code == 0 and "is contained" in out, err
    code, _, err = cli("incidents", "move", incident, "paused", "--by", "ciso", "--reason", "x")
    assert code == 2 and "can move to" in err
    code, out, _ = cli("incidents", "show", incident, "--format", "html", "--lang", "en",
                       "--out", "incident.html")
    page = Path("incident.html").read_text()
    assert code == 0 and "contained" in page and "cause: keystore copied" in page
    code, out, _ = cli("incidents", "open", "phishing of an approver reported", "--by", "soc",
                       "--asset", "ETH")
    assert code == 0 and out.startswith("opened INC-")


def test_watch_serves_metrics_and_stops_on_sigterm(cli, anvil) -> None:  # type: ignore[no-untyped-def]
    import anvilnode

    port = anvilnode.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from kinko.cli import main; sys.exit(main())",
         "--watch-interval-ms", "50", "watch", "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        deadline = time.monotonic() + 30
        while "kinko_watch_polls" not in body:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                            timeout=2) as answer:
                    body = answer.read().decode()
            except OSError:
                time.sleep(0.05)
        assert "# TYPE kinko_watch_head gauge" in body and "kinko_watch_blocks_read" in body
        proc.send_signal(signal.SIGTERM)  # as a service manager stops it
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "watching ethereum from block" in out
