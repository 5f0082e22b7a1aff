"""Judging a Safe's events (pure): an execution of an approved SafeTx hash is explained once,
wherever it was sent from; any other execution, any change of control and any send from an
owner key is one critical alert per transaction."""

from __future__ import annotations

from typing import Any

from kinko.domain.chain import Transfer
from kinko.domain.safe import PendingExecution, SafeEvent
from kinko.domain.watch_safe import OwnerKey, judge_pending, judge_safes, owner_key_alerts
from kinko.i18n import ENGLISH

SAFE = "0x" + "5a" * 20
TO = "0x" + "70" * 20
OPS = "0x" + "0b" * 20
HASH_A, HASH_B = "0x" + "aa" * 32, "0x" + "bb" * 32
TX1, TX2 = "0x" + "01" * 32, "0x" + "02" * 32
SAFES = {SAFE: ("eth-hot", "ETH")}


def event(kind: str, tx: str, index: int, **fields: Any) -> SafeEvent:
    return SafeEvent(safe=SAFE.upper().replace("0X", "0x"), kind=kind, block=7, tx_hash=tx,
                     log_index=index, fields=fields)


def execution(tx: str, safe_tx: str, value: int, *, index: int = 0, ok: bool = True,
              nonce: int = 3) -> list[SafeEvent]:
    return [event("multisig_transaction", tx, index, to=TO, value=value, data=b"",
                  operation=0, nonce=nonce, executor=OPS),
            event("execution_success" if ok else "execution_failure", tx, index + 1,
                  safe_tx_hash=safe_tx, payment=0)]


def judge(events: list[SafeEvent], approved: dict[str, str] | None = None,
          used: dict[str, str] | None = None) -> Any:
    return judge_safes(events, SAFES, approved or {}, used or {}, chain="ethereum",
                       native="ETH", decimals=18, block=7)


def test_an_approved_execution_is_explained_and_its_value_handed_back() -> None:
    verdict = judge(execution(TX1, HASH_A, 10**18), {HASH_A: "withdrawal:W1"})
    assert verdict.alerts == [] and verdict.matched == {TX1: "withdrawal:W1"}
    (moved,) = verdict.internal
    assert (moved.sender, moved.to, moved.value, moved.token) == (SAFE, TO, 10**18, None)


def test_an_approved_hash_used_by_another_transaction_explains_nothing_more() -> None:
    verdict = judge(execution(TX2, HASH_A, 10**18), {HASH_A: "withdrawal:W1"},
                    {"withdrawal:W1": TX1})
    (alert,) = verdict.alerts
    assert (alert.kind, alert.severity, alert.amount, alert.key) == (
        "safe_execution", "critical", 10**18, f"outflow:ethereum:{TX2}")


def test_an_unapproved_execution_that_failed_still_alarms_and_moves_nothing() -> None:
    verdict = judge(execution(TX1, HASH_B, 10**18, ok=False), {HASH_A: "withdrawal:W1"})
    (alert,) = verdict.alerts
    assert alert.kind == "safe_execution" and alert.amount == 0 and verdict.internal == []
    assert "failed inside the Safe" in ENGLISH.text(alert.detail)


def test_an_owner_change_by_execution_is_one_alert_naming_both() -> None:
    events = [*execution(TX1, HASH_B, 0)[:1],
              event("added_owner", TX1, 1, owner=TO),
              event("changed_threshold", TX1, 2, threshold=1),
              execution(TX1, HASH_B, 0)[1]]
    (alert,) = judge(events).alerts
    text = ENGLISH.text(alert.detail)
    assert alert.kind == "safe_change" and alert.key == f"outflow:ethereum:{TX1}"
    assert f"owner {TO} added" in text and "threshold changed to 1" in text
    assert "did not approve" in text


def test_modules_guards_handlers_and_hashes_approved_on_chain_alarm() -> None:
    for kind, fields in [("enabled_module", {"module": TO}), ("changed_guard", {"guard": TO}),
                         ("changed_fallback_handler", {"handler": TO}),
                         ("module_transaction", {"module": TO, "to": TO, "value": 1}),
                         ("approve_hash", {"approved_hash": HASH_A, "owner": TO})]:
        (alert,) = judge([event(kind, TX1, 0, **fields)]).alerts
        assert alert.kind == "safe_change" and TO in ENGLISH.text(alert.detail), kind


def test_deposits_and_other_safes_are_no_alarm() -> None:
    other = SafeEvent(safe="0x" + "99" * 20, kind="added_owner", block=7, tx_hash=TX1,
                      log_index=0, fields={"owner": TO})
    assert judge([event("safe_received", TX1, 0, sender=TO, value=5), other]).alerts == []


def test_a_send_from_an_owner_key_is_one_alert_keyed_like_a_theft() -> None:
    keys = {OPS: OwnerKey(OPS, "operator", "eth-hot", "ETH")}
    sent = Transfer(TX1, -1, -1, OPS, TO, 1, 0)
    token = Transfer(TX1, -1, -1, OPS, TO, 1, 0, token="0x" + "7e" * 20, log_index=-1)
    other = Transfer(TX2, -1, -1, TO, OPS, 1, 0)
    (alert,) = owner_key_alerts([sent, token, other], keys, chain="ethereum", block=None)
    assert (alert.kind, alert.severity, alert.key, alert.block) == (
        "owner_key", "critical", f"outflow:ethereum:{TX1}", None)
    assert "the key has leaked" in ENGLISH.text(alert.detail)
    cosigner = {TO: OwnerKey(TO, "cosigner", "eth-hot", "ETH")}
    (alert,) = owner_key_alerts([other], cosigner, chain="ethereum", block=7)
    assert alert.block == 7 and "the co-signer's key" in ENGLISH.text(alert.detail)


def test_a_pending_execution_alarms_unless_it_may_execute_an_approved_safetx() -> None:
    def pending(*hashes: str, to: str = TO, tx: str = TX1) -> PendingExecution:
        return PendingExecution(SAFE, tx, OPS, to, 10**18, 0, "0x", hashes, 3)

    approved = {HASH_B: "withdrawal:W1"}  # kinko's, queued behind another execution
    args: dict[str, Any] = {"chain": "ethereum", "native": "ETH", "decimals": 18}
    assert judge_pending([pending(HASH_A, HASH_B)], SAFES, approved, {}, **args) == []
    (taken,) = judge_pending([pending(HASH_A, HASH_B, tx=TX2)], SAFES, approved,
                             {"withdrawal:W1": TX1}, **args)  # its movement used already
    assert (taken.kind, taken.amount, taken.block) == ("safe_execution", 10**18, None)
    (change,) = judge_pending([pending(HASH_A, to=SAFE)], SAFES, approved, {}, **args)
    assert change.kind == "safe_change" and change.key == f"outflow:ethereum:{TX1}"
