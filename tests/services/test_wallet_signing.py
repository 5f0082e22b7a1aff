"""How each wallet is signed, where its keys live and the co-signer's refusals, in the
custody report (table, JSON, HTML; English and Japanese): one key in a file or offline, a
cold Safe of the approvers' keys, a co-signed hot Safe whose co-signer refused twice (the
refusals read from kinko's alerts, as the co-signer inserts them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from dbtemplate import migrated_sqlite

from kinko.domain.custody import Multisig, Wallet, wallet_signing
from kinko.domain.money import AssetRegistry
from kinko.i18n import ENGLISH
from kinko.ports import FixedClock
from kinko.render.custody import render_custody
from kinko.services.custody import Custody, custody_report
from kinko.services.ledger import Ledger
from kinko.store import open_store
from kinko.store.cosign_view import KinkoAlertSink

OPS, COSIGNER, RECOVERY = "0x" + "1" * 40, "0x" + "2" * 40, "0x" + "3" * 40
SAFE, COLD_SAFE, KEY = "0x" + "a" * 40, "0x" + "b" * 40, "0x" + "c" * 40
APPROVERS = ("0x" + "4" * 40, "0x" + "5" * 40, "0x" + "6" * 40)


def _wallets() -> list[Wallet]:
    cosigned = Multisig((OPS, COSIGNER, RECOVERY), 2, operator=OPS, cosigner=COSIGNER)
    return [Wallet("eth-hot", "ETH", "hot", (SAFE,), kind="multisig", multisig=cosigned),
            Wallet("eth-cold", "ETH", "cold", (COLD_SAFE,), kind="multisig",
                   multisig=Multisig(APPROVERS, 2)),
            Wallet("eth-ops", "ETH", "hot", (KEY,)),
            Wallet("eth-vault", "ETH", "cold", ("0x" + "d" * 40,))]


def test_each_kind_of_wallet_says_how_it_is_signed() -> None:
    where = {"eth-hot": "hsm", "eth-cold": None, "eth-ops": "file", "eth-vault": None}
    clock = FixedClock()
    found = {w.wallet: w for w in wallet_signing(_wallets(), where, {
        "eth-hot": [(clock.now(), "no_such_request", "A-1"),
                    (clock.now() + timedelta(minutes=1), "over_limit", "A-2")]})}
    hot, cold, key, offline = (found[n] for n in ("eth-hot", "eth-cold", "eth-ops",
                                                  "eth-vault"))
    assert (hot.signing, hot.threshold, hot.owners, hot.keys, hot.offline) == \
        ("cosigned", 2, 3, "hsm", 1)
    assert hot.refusals == 2 and hot.latest_refusal is not None
    assert hot.latest_refusal[1:] == ("over_limit", "A-2")  # the latest, not the first
    assert (cold.signing, cold.keys, cold.offline, cold.refusals) == ("multisig", "offline", 3, 0)
    assert (key.signing, key.keys, key.offline) == ("single_key", "file", 0)
    assert (offline.signing, offline.keys, offline.offline) == ("single_key", "offline", 1)
    unknown = {w.wallet: w.keys for w in wallet_signing(_wallets(), None)}
    assert unknown == {"eth-hot": "unknown", "eth-cold": "offline", "eth-ops": "unknown",
                       "eth-vault": "offline"}


@pytest.fixture
def custody(tmp_path: Path) -> Iterator[Custody]:
    url = migrated_sqlite(tmp_path / "kinko.db")
    store = open_store(url)
    clock = FixedClock()
    ledger = Ledger(store, clock, AssetRegistry.default())
    ledger.sync_assets()
    for w in _wallets():
        ledger.add_wallet(w)
    sink = KinkoAlertSink(url)
    for record, reason in ((3, "no_such_request"), (7, "forbidden_tx")):
        sink.deliver({"cosigner": COSIGNER, "record": record, "severity": "critical",
                      "reason": reason, "request": f"withdrawal:W-{record}", "safe": SAFE,
                      "asset": "ETH", "caller": "in-process",
                      "at": (clock.now() + timedelta(seconds=record)).isoformat(),
                      "log_head": {"seq": record, "hash": "00" * 32}})
    sink.deliver({"cosigner": COSIGNER, "record": 9, "severity": "critical",  # another Safe
                  "reason": "unknown_safe", "request": "withdrawal:W-9", "safe": "0x" + "e" * 40,
                  "asset": "ETH", "caller": "in-process", "at": clock.now().isoformat(),
                  "log_head": {"seq": 9, "hash": "00" * 32}})
    sink.close()
    yield Custody(ledger, key_location=lambda w: "hsm" if w.tier == "hot" else None)
    store.close()


def test_the_custody_report_states_signing_keys_and_refusals(custody: Custody) -> None:
    report = custody_report(custody, reconcile=False)
    hot = next(w for w in report.wallets if w.wallet == "eth-hot")
    assert hot.refusals == 2 and hot.latest_refusal is not None
    assert hot.latest_refusal[1] == "forbidden_tx"  # the later of the Safe's two refusals
    data = json.loads(render_custody(report, "json"))
    rows = {w["wallet"]: w for w in data["wallets"]}
    assert rows["eth-hot"]["signing"] == "cosigned" and rows["eth-hot"]["keys"] == "hsm"
    assert rows["eth-hot"]["cosigner_refusals"] == 2
    assert rows["eth-hot"]["latest_refusal"]["reason"] == "forbidden_tx"
    assert rows["eth-cold"]["signing"] == "multisig" and rows["eth-cold"]["offline_keys"] == 3
    table = render_custody(report, "table", "en")
    assert "co-signed Safe 2-of-3" in table and "Safe 2-of-3" in table
    assert "kinko's operations key: HSM" in table and "all 3 owners' keys offline" in table
    assert "2 (latest" in table and "A-cosign-22222222-7" in table
    html = render_custody(report, "html", "ja")
    assert "共同署名 Safe（3 者中 2 者の署名" in html and "単一鍵" in html
    assert "オフライン（kinko は鍵を保持しない）" in html and "2 件（最新" in html


def test_refusals_open_an_incident_that_marks_no_key_as_leaked(custody: Custody) -> None:
    """The co-signer's refusals escalated: one incident, both alerts on it and its timeline,
    a reverted transaction written beside them; the Safe's withdrawals are not held (the
    refused tries moved nothing); an unknown alert, or one on an incident already, is
    refused and nothing is written."""
    from kinko.errors import BadInput
    from kinko.services.incidents import Incidents
    from kinko.services.timeline import active_incidents

    store = custody.ledger.store
    incidents = Incidents(store, custody.clock)
    refused = [a["id"] for a in incidents.alerts(kind="cosign_refused")
               if a["detail"].params["safe"] == SAFE]
    assert len(refused) == 2
    with pytest.raises(BadInput, match="unknown alert"):
        incidents.escalate([*refused, "A-nope"], "kinko", wallet="eth-hot")
    assert incidents.incidents() == []
    incident = incidents.escalate(refused, "kinko", wallet="eth-hot", asset="ETH")
    incidents.chain_refused(incident, "0x" + "ab" * 32, 12, SAFE, "GS020", "kinko")
    view = incidents.incident(incident)
    assert [e["kind"] for e in view.timeline] == ["opened", "alert", "alert", "chain"]
    assert sorted(a["id"] for a in view.alerts) == sorted(refused)
    assert "eth-hot" in ENGLISH.text(view.incident["title"]) and view.incident["wallet"] is None
    assert "GS020" in ENGLISH.text(view.timeline[-1]["detail"])
    assert not any(i.get("wallet") for i in active_incidents(store))
    with pytest.raises(BadInput, match="already"):
        incidents.escalate(refused[:1], "kinko", wallet="eth-hot")


def test_refusals_join_the_incident_the_watch_opened(custody: Custody) -> None:
    from kinko.errors import BadInput
    from kinko.services.incidents import Incidents

    incidents = Incidents(custody.ledger.store, custody.clock)
    refused = [a["id"] for a in incidents.alerts(kind="cosign_refused")
               if a["detail"].params["safe"] == SAFE]
    with pytest.raises(BadInput, match="unknown incident"):
        incidents.escalate(refused, "kinko", wallet="eth-hot", incident="INC-20180126-1")
    assert all(a["incident"] is None for a in incidents.alerts(kind="cosign_refused"))
    opened = incidents.open("owner key used", "kinko:watch", asset="ETH", wallet="eth-hot")
    assert incidents.escalate(refused, "kinko", wallet="eth-hot", incident=opened) == opened
    view = incidents.incident(opened)
    assert [e["kind"] for e in view.timeline] == ["opened", "alert", "alert"]  # not reopened
    assert len(incidents.incidents()) == 1
