"""What an operator does to the policy and to incidents from the command line is in the
audit log, under ``cli:NAME``, with the change it records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import cli_runner

from kinko.ports import SystemClock
from kinko.services.access import Access
from kinko.store import open_store


def test_policy_and_incident_acts_are_audited(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    cli = cli_runner(monkeypatch, capsys, tmp_path, url,
                     KINKO_APPROVER_KEY_PASSWORD="approver key password")
    keys = {name: cli("approvers", "keygen", "--out", f"{name}.key")[1].strip()
            for name in ("alice", "bob")}
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{k}"\n'
                        for n, k in keys.items())
    for version, ratio in ((1, "0.05"), (2, "0.04")):
        Path(f"p{version}.toml").write_text(
            f"version = {version}\nquorum = 2\n{approvers}\n[assets.XEM]\n"
            f'max_hot_ratio = "{ratio}"\ntarget_hot_ratio = "0.03"\n')
        code, _, err = cli("policy", "load", f"p{version}.toml", "--by", "carol")
        assert code == 0, err
    code, out, err = cli("incidents", "open", "phishing report", "--by", "ciso")
    assert code == 0, err
    incident = out.split()[-1].rstrip(".")
    assert cli("incidents", "note", incident, "keys rotated", "--by", "ops")[0] == 0
    assert cli("incidents", "move", incident, "contained", "--by", "ciso",
               "--reason", "wallet emptied")[0] == 0
    store = open_store(url)
    try:
        log = [(a["actor"], a["action"], a["target"], json.loads(a["detail"]))
               for a in Access(store, SystemClock()).audit_log()]
    finally:
        store.close()
    assert [row[:3] for row in log] == [
        ("cli:carol", "policy.bootstrap", "policy-v1"),
        ("cli:carol", "policy.propose", "policy-v2"),
        ("cli:ciso", "incident.open", incident),
        ("cli:ops", "incident.note", incident),
        ("cli:ciso", "incident.move", incident)]
    assert len(log[0][3]["digest"]) == 64 and log[1][3]["proposal"].startswith("policy-")
    assert log[2][3]["title"] == "phishing report"
    assert log[3][3] == {"text": "keys rotated"}
    assert log[4][3] == {"from": "open", "to": "contained", "reason": "wallet emptied"}


def test_a_file_the_system_refuses_to_write_is_the_environment(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    """Exit 3 for a head that cannot be written beside the ledger's export that cannot
    (both outputs in a folder that is not there); an input path naming no file is 2."""
    cli = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    missing = tmp_path / "gone"
    for args in (("ledger", "verify", "--anchor", str(missing / "l.anchor")),
                 ("audit", "verify", "--anchor", str(missing / "a.anchor")),
                 ("ledger", "export", "--out", str(missing / "x.beancount"))):
        code, _, err = cli(*args)
        assert code == 3 and "No such file or directory" in err, (args, err)
    code, _, err = cli("customers", "import", str(missing / "c.csv"))
    assert code == 2 and "cannot read" in err, err


def test_a_command_in_a_folder_without_a_database_creates_none(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    """Refused as not initialised, as before, but the empty SQLite file it opened stayed."""
    database = tmp_path / "k.db"
    cli = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{database}", init=False)
    code, _, err = cli("balances")
    assert code == 3 and "is not initialised: run `kinko init`" in err, err
    assert not database.exists()
    assert cli("init")[0] == 0 and cli("balances")[0] == 0
