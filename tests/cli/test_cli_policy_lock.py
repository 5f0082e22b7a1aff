"""`kinko policy list/show/veto` and `kinko approvers sign-veto`, as an operator types them:
a version that loosens waits after its quorum (the real clock: 48 hours), one that only
tightens is in force at once, and one approver's veto stops a waiting one."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clirun import CliRun, cli_runner

from kinko.store import open_store


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> CliRun:
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                      KINKO_APPROVER_KEY_PASSWORD="correct horse battery")


def _policy(version: int, keys: dict[str, str], amount: str, quorum: int = 2) -> str:
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{k}"\n'
                        for n, k in keys.items())
    return (f"version = {version}\nquorum = {quorum}\n{approvers}\n[[screening.rules]]\n"
            f'kind = "max_amount"\nasset = "ETH"\namount = "{amount}"\naction = "review"\n')


def _propose(cli: CliRun, tmp_path: Path, text: str, version: int) -> None:
    (tmp_path / f"v{version}.toml").write_text(text)
    code, out, err = cli("policy", "load", f"v{version}.toml", "--by", "carol")
    assert code == 0, err
    pid = re.search(r"proposed as (\S+):", out)
    assert pid and "48 hours" in out
    for name in ("alice", "bob"):
        code, out, err = cli("proposals", "approve", pid.group(1), "--approver", name,
                             "--key", f"{name}.key")
        assert code == 0, err


def test_loosening_waits_tightening_is_immediate_and_a_veto_stops_it(cli: CliRun,
                                                                      tmp_path: Path) -> None:
    keys = {}
    for name in ("alice", "bob", "carol"):
        code, out, _ = cli("approvers", "keygen", "--out", f"{name}.key")
        keys[name] = out.strip()
    (tmp_path / "v1.toml").write_text(_policy(1, keys, "10"))
    assert cli("policy", "load", "v1.toml", "--by", "carol")[0] == 0

    _propose(cli, tmp_path, _policy(2, keys, "5"), 2)  # tighter: in force at once
    shown = json.loads(cli("policy", "show")[1])
    assert shown["effective"]["version"] == 2 and shown["pending"] == []
    assert json.loads(cli("alerts", "list", "--format", "json")[1]) == []  # nothing to veto

    _propose(cli, tmp_path, _policy(3, keys, "50"), 3)  # looser: waits
    shown = json.loads(cli("policy", "show")[1])
    assert shown["effective"]["version"] == 2
    (pending,) = shown["pending"]
    assert pending["version"] == 3 and pending["loosens"] == [
        "screening.rules.max_amount-1.amount: 5 → 50 (loosens)"]
    (alert,) = json.loads(cli("alerts", "list", "--format", "json")[1])
    assert (alert["kind"], alert["severity"]) == ("policy_loosening", "warning")
    # the same alert waits in the webhook's outbox, as the watch's alerts do
    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    with store.watch(write=False) as tables:
        queued = tables.due_notifications(datetime.now(UTC) + timedelta(minutes=1))
    store.close()
    (body,) = [json.loads(row["body"]) for row in queued]
    assert body["type"] == "kinko.alert" and body["alert"]["kind"] == "policy_loosening"
    assert body["alert"]["id"] == alert["id"] and "5 → 50" in body["alert"]["detail"]
    # and `kinko check` says so, with when it takes effect
    code, out, _ = cli("check", "--format", "json")
    (finding,) = [f for f in json.loads(out) if f["code"] == "policy_loosening_pending"]
    assert finding["severity"] == "warning" and "unless an approver vetoes it" in \
        finding["finding"] and "5 → 50" in finding["finding"]
    assert pending["effective_at"][:10] in finding["finding"]  # when it takes effect
    code, out, _ = cli("policy", "list", "--format", "json")
    states = [(row["version"], row["state"]) for row in json.loads(out)]
    assert states == [(3, "pending"), (2, "effective"), (1, "superseded")]

    code, out, err = cli("policy", "veto", "3", "--approver", "carol", "--signature", "00" * 64)
    assert code != 0 and "does not verify" in err and "Traceback" not in err
    code, signature, _ = cli("approvers", "sign-veto", "3", "--key", "carol.key")
    assert code == 0
    code, out, err = cli("policy", "veto", "3", "--approver", "carol", "--signature",
                         signature.strip(), "--reason", "not agreed")
    assert code == 0 and "vetoed" in out, err
    code, out, _ = cli("policy", "list", "--format", "json")
    assert json.loads(out)[0]["state"] == "vetoed"
    code, out, _ = cli("check", "--format", "json")
    assert "policy_loosening_pending" not in out  # vetoed: nothing waits any more
    assert cli("policy", "veto", "3", "--approver", "bob", "--key", "bob.key")[0] != 0


def test_policy_show_reads_in_whole_units_and_plain_percentages(cli: CliRun,
                                                                tmp_path: Path) -> None:
    code, key, _ = cli("approvers", "keygen", "--out", "alice.key")
    (tmp_path / "p.toml").write_text(
        f'version = 1\nquorum = 1\n[[approvers]]\nname = "alice"\npublic_key = "{key.strip()}"\n'
        '[assets.XEM]\nmax_hot_ratio = "0.050"\ntarget_hot_ratio = "0.03"\n'
        'hot_min = "1000000"\nhot_max = "25000000.5"\ncold_wallet = "xem-cold"\n'
        '[watch]\nbalance_drop_percent = "20"\n')
    assert cli("wallets", "add", "xem-cold", "--asset", "XEM", "--tier", "cold")[0] == 0
    code, _, err = cli("policy", "load", "p.toml", "--by", "alice")
    assert code == 0, err
    body = json.loads(cli("policy", "show")[1])["effective"]["body"]
    assert body["assets"]["XEM"]["hot_min"] == "1,000,000 XEM"
    assert body["assets"]["XEM"]["hot_max"] == "25,000,000.5 XEM"
    assert body["assets"]["XEM"]["max_hot_ratio"] == "0.05"
    assert body["watch"]["balance_drop_percent"] == "20"  # never 2E+1
    exact = json.loads(cli("policy", "show", "--canonical")[1])["effective"]["body"]
    assert exact["assets"]["XEM"]["hot_min"] == "1000000000000"  # micro-XEM, as hashed
