"""The demo's NEM act on its own (``kinko demo`` runs it between the replay and the trace):
the 2018 hot account as a 2-of-3 NEM multisig account, the thief holding the operations
key; nothing leaves, every attempt alarms or is refused, and the act is fast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kinko.cli.demo_nem import nem_act


def test_the_thief_with_one_cosignatory_key_takes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = nem_act(tmp_path)
    out = capsys.readouterr().out
    assert run["customer_xem_micro"] == 523_000_000 * 10**6
    assert run["taken_micro"] == 0
    transfer, ask, takeover = run["attempts"]
    assert transfer["outcome"] == takeover["outcome"] == "waits for a second cosignature"
    assert ask["outcome"] == "refused (no_such_request)" and ask["record"] == 1
    assert [(a["kind"], a["seen"], a["tx"]) for a in run["alarms"]] == [
        ("theft", "pending", transfer["tx"]), ("unknown_tx", "pending", takeover["tx"])]
    assert run["alarms"][0]["amount_micro"] == 523_000_000 * 10**6 - 10**6
    assert sorted(run["dropped"]) == sorted([transfer["tx"], takeover["tx"]])
    assert run["cosign_alerts_delivered"] == 1
    assert "XEM taken: 0 of 523000000" in out
    json.dumps(run)  # what goes into replay.json
