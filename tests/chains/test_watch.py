"""The watch on a real chain (in-process and anvil): approved movements never alarm and are
closed at finality; a transfer signed with the stolen hot key alarms once, opens an incident,
trips the breaker and prepares the emergency sweep; deposits from listed addresses alarm;
the webhook is signed and retried."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_store
from eth_account import Account

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import throwaway_signer
from kinko.chains.wallets import KeyWallet
from kinko.domain.approvals import preauthorisation, public_key_hex, sign_proposal
from kinko.domain.chain import Block
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.errors import BadInput
from kinko.i18n import ENGLISH
from kinko.ports import FixedClock
from kinko.render.incident import incident_html
from kinko.services.custody import Custody
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger
from kinko.services.notify import Webhook, verify_webhook
from kinko.services.watch import Watch
from kinko.services.withdrawals import Withdrawals
from kinko.store import SqlStore

E = 10**18
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob", "carol")}


def send(chain: EvmChain, signer: Any, to: str, value: int, *, gas_price: int | None = None
         ) -> str:
    chain_id, price = chain.fee_params()
    raw = signer.sign_transfer(to=to, value=value, nonce=chain.nonce(signer.address),
                               gas_price=gas_price or price, chain_id=chain_id)
    tx_hash = chain.send_raw(raw)
    deadline = time.monotonic() + 30
    while chain.receipt(tx_hash) is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return tx_hash


class Env:
    def __init__(self, chain: EvmChain, tmp_path: Path, watch_toml: str = "") -> None:
        self.store: SqlStore = migrated_store(tmp_path / "k.db")
        self.chain = chain
        self.clock = FixedClock()
        self.ledger = Ledger(self.store, self.clock, AssetRegistry.default())
        self.hot = throwaway_signer()
        self.cold, self.fresh = Account.create(), Account.create()
        self.ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (self.hot.address,)))
        self.ledger.add_wallet(Wallet("eth-cold", "ETH", "cold",
                                      (self.cold.address, self.fresh.address)))
        chain.fund(self.hot.address, 100 * E)
        chain.fund(self.cold.address, 900 * E)
        self.ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                                  Posting("wallet:eth-cold", "ETH", 900 * E),
                                  Posting("customer:C1", "ETH", -500 * E),
                                  Posting("customer:C2", "ETH", -500 * E)], source="opening")
        approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                            for n, k in KEYS.items())
        (tmp_path / "p.toml").write_text(
            f"version = 1\nquorum = 2\n{approvers}\n[assets.ETH]\nmax_hot_ratio = \"0.5\"\n"
            f'cold_wallet = "eth-cold"\nemergency_address = "{self.fresh.address}"\n'
            f"[[screening.rules]]\nkind = \"deny_list\"\naction = \"block\"\n"
            f'reason = "listed"\n{watch_toml}')
        self.custody = Custody(self.ledger, chain=chain, spender_for=lambda _w: KeyWallet(chain, self.hot),
                               confirmations=2)
        self.custody.load_policy(tmp_path / "p.toml", "ops")
        self.withdrawals = Withdrawals(self.custody)
        self.watch = Watch(self.withdrawals, chain, confirmations=2,
                           start_block=chain.head() + 1)
        self.incidents = Incidents(self.store, self.clock)


@pytest.fixture
def env(chain: EvmChain, tmp_path: Path) -> Iterator[Env]:
    e = Env(chain, tmp_path)
    yield e
    e.store.close()


def test_approved_withdrawal_never_alarms_and_is_closed_at_finality(env: Env) -> None:
    dest = Account.create().address
    assert env.withdrawals.request("W1", "C1", "ETH", 2 * E, dest).state == "allowed"
    env.withdrawals.send("W1")
    report = env.watch.poll()
    assert report.alerts == [] and report.matched == 1
    assert env.withdrawals.get("W1").state == "sent"
    env.chain.mine(1)
    report = env.watch.poll()
    assert report.closed == ["withdrawal:W1"] and report.alerts == []
    assert env.withdrawals.get("W1").state == "confirmed"
    assert env.ledger.balance("customer:C1", "ETH") == 498 * E
    assert env.incidents.alerts() == []


def test_theft_with_the_stolen_key_alarms_once(env: Env) -> None:
    attacker = Account.create().address
    send(env.chain, env.hot, attacker, 10 * E)  # the thief signs himself
    report = env.watch.poll()
    (alert,) = report.alerts
    assert alert["kind"] == "theft" and alert["severity"] == "critical"
    assert alert["amount"] == 10 * E and alert["chain_state"] == "mined"
    assert env.withdrawals.breaker().keys() == {"ETH"}
    (incident,) = env.incidents.incidents("open")
    view = env.incidents.incident(incident["id"])
    kinds = [e["kind"] for e in view.timeline]
    assert kinds[:4] == ["opened", "alert", "breaker", "sweep"]
    assert "may empty the wallet first" in ENGLISH.text(view.timeline[3]["detail"])
    sweep = [p for p in env.custody.proposals("pending") if p.proposal.payload.get("emergency")]
    assert len(sweep) == 1 and sweep[0].proposal.payload["to_address"] == \
        env.fresh.address.lower()  # the cold wallet's address, kept in canonical form
    # a second theft joins the incident; the first never alerts again
    send(env.chain, env.hot, attacker, 5 * E)
    env.chain.mine(3)
    report = env.watch.poll()
    assert [a["amount"] for a in report.alerts] == [5 * E]
    assert len(env.incidents.incidents()) == 1
    assert env.watch.poll().alerts == []
    first = env.incidents.alert(alert["id"])
    assert first["chain_state"] == "final"
    # nothing is paid from a wallet whose key leaked: a new withdrawal is refused (and
    # reserves nothing there), with the incident named
    refused = env.withdrawals.request("W2", "C1", "ETH", 1 * E, Account.create().address)
    assert refused.state == "blocked"
    hits = {h.kind: h for h in refused.decision.hits}
    assert incident["id"] in ENGLISH.text(hits["compromised"].detail) and "breaker" in hits
    assert env.ledger.balances(account="customer:C1")[0].state.pending_debit == 0
    # a fresh hot wallet (a new key) registered during the incident pays instead; the breaker
    # still holds the request for review
    fresh = Account.create()
    env.ledger.add_wallet(Wallet("eth-hot-2", "ETH", "hot", (fresh.address,)))
    env.ledger.post("refill", [Posting("wallet:eth-hot-2", "ETH", 5 * E),
                               Posting("wallet:eth-cold", "ETH", -5 * E)], source="refill")
    again = env.withdrawals.request("W3", "C1", "ETH", 1 * E, Account.create().address)
    assert again.state == "review" and again.wallet == "eth-hot-2"
    assert "compromised" not in {h.kind for h in again.decision.hits}
    acked = env.incidents.ack(alert["id"], "duty officer", "calling the bank")
    assert acked["state"] == "acked" and acked["acked_by"] == "duty officer"


def test_a_failure_while_containing_leaves_the_theft_unseen_and_the_next_poll_alarms(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    class Crash(Exception):
        pass

    def crash(*_a: Any, **_k: Any) -> bool:
        raise Crash

    attacker = Account.create().address
    send(env.chain, env.hot, attacker, 10 * E)
    with monkeypatch.context() as patch:  # the process dies while tripping the breaker
        patch.setattr(Withdrawals, "trip", crash)
        with pytest.raises(Crash):
            env.watch.poll()
    # nothing of that round stands: no observation (so the block is not "seen"), no alert
    with env.store.watch(write=False) as tables:
        assert tables.observations(env.chain.name) == []
    assert env.incidents.alerts() == [] and env.incidents.incidents() == []
    report = env.watch.poll()  # the block is read again: alarmed and contained at last
    (alert,) = report.alerts
    assert alert["kind"] == "theft" and env.withdrawals.breaker().keys() == {"ETH"}
    (incident,) = env.incidents.incidents("open")
    kinds = [e["kind"] for e in env.incidents.incident(incident["id"]).timeline]
    assert kinds[:4] == ["opened", "alert", "breaker", "sweep"]


def test_preauthorised_emergency_sweep_is_sent_and_does_not_alarm(chain: EvmChain,
                                                                  tmp_path: Path) -> None:
    env = Env(chain, tmp_path, '[watch]\nemergency_sweep = "auto"\n')
    send(chain, env.hot, Account.create().address, 30 * E)
    report = env.watch.poll()
    assert [a["kind"] for a in report.alerts] == ["theft"]
    (sweep,) = [p for p in env.custody.proposals() if p.proposal.payload.get("emergency")]
    assert sweep.state == "sent"
    # approved by the policy's clause, recorded as the co-signer and the reports read it
    assert [a.approver for a in sweep.approvals] == ["policy: v1 emergency_sweep=auto"]
    assert preauthorisation(sweep.approvals[0].approver) == (1, "emergency_sweep=auto")
    deadline = time.monotonic() + 30
    while chain.receipt(str(sweep.tx_hash)) is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    saved = chain.balances([env.fresh.address])[env.fresh.address]
    assert saved == int(str(sweep.proposal.payload["amount"])) > 69 * E
    assert chain.balances([env.hot.address])[env.hot.address] < E // 100  # only dust
    chain.mine(2)
    report = env.watch.poll()
    assert report.alerts == []  # the sweep is ours
    assert f"proposal:{sweep.proposal.id}" in report.closed
    assert env.custody.proposal(sweep.proposal.id).state == "executed"  # type: ignore[union-attr]
    env.store.close()


def test_what_the_chain_holds_beyond_the_ledger_stays_and_the_timeline_says_why(
        chain: EvmChain, tmp_path: Path) -> None:
    """The sweep moves what the ledger books to the wallet; coins on chain beyond it (a
    deposit not credited) stay, and the timeline says so: not as gas, nor as reserved."""
    env = Env(chain, tmp_path, '[watch]\nemergency_sweep = "auto"\n')
    chain.fund(env.hot.address, 50 * E)  # on chain: 150 ETH; in the ledger: 100
    send(chain, env.hot, Account.create().address, 30 * E)
    (alert,) = env.watch.poll().alerts
    (sweep,) = [p for p in env.custody.proposals() if p.proposal.payload.get("emergency")]
    assert 99 * E < int(str(sweep.proposal.payload["amount"])) < 100 * E  # the ledger's 100
    timeline = [ENGLISH.text(e["detail"]) for e in env.incidents.incident(
        str(alert["incident"])).timeline]
    # the 120 left on chain (less the theft's gas) beyond the ledger's 100, which still
    # counts the 30 stolen
    assert re.search(r"19\.99\d* ETH stay in eth-hot: on chain, but not booked to the "
                     r"wallet in the ledger", " ".join(timeline))
    assert not any("gas of the sweeps" in t or "reserved for" in t for t in timeline)
    env.store.close()


def test_a_transaction_the_node_still_lists_once_mined_is_matched_once(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node may still list in its mempool a transaction it has just mined: the round
    then sees it twice (the mempool is read before the head), and counts it once."""
    dest = Account.create().address
    assert env.withdrawals.request("W1", "C1", "ETH", 2 * E, dest).state == "allowed"
    tx_hash = str(env.withdrawals.send("W1").tx_hash)
    # anvil under load may answer the broadcast before it has mined the block
    receipt = env.chain.wait_for(tx_hash, "the withdrawal")
    mined = env.chain.block(int(receipt["blockNumber"]))
    listed = [dataclasses.replace(t, block=-1, tx_index=-1) for t in mined.transfers
              if t.tx_hash == tx_hash]
    assert listed
    monkeypatch.setattr(env.chain, "mempool", lambda: Block(-1, "", "", 0, tuple(listed)))
    report = env.watch.poll()
    assert (report.pending, report.matched, report.alerts) == (1, 1, [])
    assert report.observed == 2  # seen in the mempool and in its block


def test_refill_signed_offline_matches_by_its_fields(env: Env) -> None:
    payload = {"asset": "ETH", "amount": str(50 * E), "from_wallet": "eth-cold",
               "to_wallet": "eth-hot", "from_address": env.cold.address,
               "to_address": env.hot.address}
    view = env.custody.propose("refill", payload, "ops", "refill")
    for name in ("alice", "bob"):
        env.custody.approve(view.proposal.id, name, sign_proposal(view.proposal, KEYS[name]))
    assert env.custody.execute(view.proposal.id).state == "requested"

    class Cold:
        address = env.cold.address

        def sign_transfer(self, **kw: Any) -> bytes:
            tx = {"to": kw["to"], "value": kw["value"], "nonce": kw["nonce"], "gas": 21000,
                  "gasPrice": kw["gas_price"], "chainId": kw["chain_id"]}
            return bytes(env.cold.sign_transaction(tx).raw_transaction)

    send(env.chain, Cold(), env.hot.address, 50 * E)
    report = env.watch.poll()
    assert report.alerts == [] and report.matched == 1
    env.chain.mine(1)
    report = env.watch.poll()
    assert report.closed == [f"proposal:{view.proposal.id}"]
    assert env.ledger.balance("wallet:eth-hot", "ETH") == 150 * E
    # a second, unapproved transfer from cold storage is a theft
    send(env.chain, Cold(), Account.create().address, 1 * E)
    assert [a["wallet"] for a in env.watch.poll().alerts] == ["eth-cold"]


def test_a_transaction_of_the_hot_key_moving_nothing_alarms(env: Env) -> None:
    send(env.chain, env.hot, Account.create().address, 0)
    (alert,) = env.watch.poll().alerts
    assert alert["kind"] == "unknown_tx" and "Someone else holds" in ENGLISH.text(alert["detail"])


def test_deposit_from_a_listed_address_alarms(env: Env, tmp_path: Path) -> None:
    listed = Account.create()
    deny = tmp_path / "deny.csv"
    deny.write_text(f"banned_address,wallet_tag,data_source\n{listed.address.lower()},"
                    "Exploiter 7,test list\n")
    env.withdrawals.load_deny_list(deny)
    env.chain.fund(listed.address, 5 * E)

    class Listed:
        address = listed.address

        def sign_transfer(self, **kw: Any) -> bytes:
            tx = {"to": kw["to"], "value": kw["value"], "nonce": kw["nonce"], "gas": 21000,
                  "gasPrice": kw["gas_price"], "chainId": kw["chain_id"]}
            return bytes(listed.sign_transaction(tx).raw_transaction)

    send(env.chain, Listed(), env.hot.address, 1 * E)
    (alert,) = env.watch.poll().alerts
    assert alert["kind"] == "denied_deposit" and "Exploiter 7" in ENGLISH.text(alert["detail"])
    assert env.withdrawals.breaker() == {}  # not a theft


def test_hot_balance_falling_without_a_transfer_alarms(chain: EvmChain, tmp_path: Path) -> None:
    env = Env(chain, tmp_path, '[watch]\nbalance_drop_percent = "0.01"\n')
    assert env.watch.poll().alerts == []  # the first sample
    # a zero-value call with a huge gas price: the balance falls by its fee alone
    send(chain, env.hot, Account.create().address, 0, gas_price=2_000 * 10**9)
    kinds = sorted(a["kind"] for a in env.watch.poll().alerts)
    assert kinds == ["balance_drop", "unknown_tx"]
    assert env.watch.poll().alerts == []  # one open balance_drop per wallet
    env.store.close()


class _Receiver(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_is_signed_retried_and_never_blocks(env: Env,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    _Receiver.answers, _Receiver.received = [503], []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    # a chat service's webhook carries its token in the path: never in a timeline or a log
    hook = Webhook(env.store, env.clock,
                   f"http://127.0.0.1:{server.server_port}/services/T0/B0/tok3n-in-path",
                   "s3cret-for-hmac")
    env.watch.notifiers.append(hook)
    send(env.chain, env.hot, Account.create().address, 1 * E)
    (alert,) = env.watch.poll().alerts
    deadline = time.monotonic() + 30
    def attempts() -> int:
        with env.store.watch(write=False) as tables:
            return int(tables.notifications()[0]["attempts"])

    while attempts() < 1:  # the 503 is answered and recorded, the retry scheduled
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert len(_Receiver.received) == 1
    env.clock.advance(seconds=5)  # past the backoff
    while len(_Receiver.received) < 2:
        assert time.monotonic() < deadline
        hook._wake.set()
        time.sleep(0.05)
    hook.close()
    server.shutdown()
    headers, body = _Receiver.received[-1]
    assert verify_webhook("s3cret-for-hmac", headers["X-Kinko-Timestamp"], body,
                          headers["X-Kinko-Signature"])
    assert not verify_webhook("wrong", headers["X-Kinko-Timestamp"], body,
                              headers["X-Kinko-Signature"])
    assert json.loads(body)["alert"]["id"] == alert["id"]
    with env.store.watch(write=False) as tables:
        (row,) = tables.notifications()
    assert row["state"] == "sent" and row["attempts"] == 2
    events = env.incidents.incident(str(alert["incident"])).timeline
    delivered = [ENGLISH.text(e["detail"]) for e in events
                 if e["kind"] == "notice" and "delivered" in ENGLISH.text(e["detail"])]
    assert delivered and all(f"http://127.0.0.1:{server.server_port}" in d for d in delivered)
    assert not any("tok3n" in ENGLISH.text(e["detail"]) for e in events)
    assert "s3cret" not in repr(hook) and "tok3n" not in repr(hook)
    assert "tok3n" not in caplog.text and f"127.0.0.1:{server.server_port}" in caplog.text


def test_incident_lifecycle_losses_and_timeline(env: Env) -> None:
    send(env.chain, env.hot, Account.create().address, 10 * E)
    (alert,) = env.watch.poll().alerts
    incident = str(alert["incident"])
    incidents = Incidents(env.store, env.clock, env.ledger)
    assert incidents.record_losses(incident, "ops").pending == 1  # not final yet: nothing
    assert env.ledger.balance(f"loss:{incident}", "ETH") == 0
    env.chain.mine(2)
    env.watch.poll()
    report = incidents.record_losses(incident, "ops")
    assert report.booked == {"ETH": 10 * E} and report.total == {"ETH": 10 * E}
    assert incidents.record_losses(incident, "ops").booked == {}  # once only
    assert env.ledger.balance("wallet:eth-hot", "ETH") == 90 * E
    assert env.ledger.balance("customer:C1", "ETH") == 500 * E  # still owed in full
    assert env.ledger.verify().ok
    # the quorum approves the emergency sweep: the timeline says so
    (sweep,) = [p for p in env.custody.proposals("pending") if p.proposal.payload.get("emergency")]
    env.custody.approve(sweep.proposal.id, "alice", sign_proposal(sweep.proposal, KEYS["alice"]))
    # the breaker is reset by the quorum: the timeline says so
    reset = env.withdrawals.propose_reset("ETH", "ops")
    for name in ("alice", "bob"):
        env.withdrawals.approve_reset(reset.proposal.id, name,
                                      sign_proposal(reset.proposal, KEYS[name]))
    with pytest.raises(BadInput, match="can move to"):
        incidents.move(incident, "open", "ciso", "nothing to reopen")
    incidents.note(incident, "ciso", "cause: <script>alert(1)</script> in the build server")
    assert incidents.move(incident, "contained", "ciso", "swept and tripped")["state"] == \
        "contained"
    resolved = incidents.move(incident, "resolved", "ciso", "customers refunded")
    assert resolved["state"] == "resolved" and resolved["closed"] is not None
    view = incidents.incident(incident)
    kinds = [e["kind"] for e in view.timeline]
    for kind in ("opened", "alert", "breaker", "sweep", "loss", "approval", "note", "state"):
        assert kind in kinds, kind
    assert any("reset by the quorum" in ENGLISH.text(e["detail"]) for e in view.timeline)
    page = incident_html(view, "ja")
    # the state moves in Japanese too (the timeline keeps them as words, not English)
    assert "対応中 → 封じ込め済み" in page and "解決済み" in page and "JST" in page
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_a_loss_waits_for_withdrawals_that_reserve_the_wallet(chain: EvmChain,
                                                              tmp_path: Path) -> None:
    env = Env(chain, tmp_path, '[watch]\ncompromised_withdrawals = "keep"\n')
    held = env.withdrawals.request("W9", "C1", "ETH", 95 * E, Account.create().address)
    assert held.state == "allowed"  # its hold reserves 95 ETH of the hot wallet's 100
    send(env.chain, env.hot, Account.create().address, 10 * E)
    (alert,) = env.watch.poll().alerts
    assert env.withdrawals.get("W9").state == "allowed"  # kept, as the policy says
    env.chain.mine(2)
    env.watch.poll()
    incidents = Incidents(env.store, env.clock, env.ledger)
    with pytest.raises(BadInput, match="reserved for withdrawals"):
        incidents.record_losses(str(alert["incident"]), "controller")
    env.withdrawals.reject("W9", "ops", "incident")
    assert incidents.record_losses(str(alert["incident"]), "controller").booked == \
        {"ETH": 10 * E}
    env.store.close()


@pytest.mark.parametrize("choice", ["reject", "keep"])
def test_withdrawals_waiting_in_a_leaked_wallet_are_rejected_so_the_sweep_takes_all(
        chain: EvmChain, tmp_path: Path, choice: str) -> None:
    env = Env(chain, tmp_path, '[watch]\nemergency_sweep = "auto"\n'
              + ("" if choice == "reject" else 'compromised_withdrawals = "keep"\n'))
    waiting = env.withdrawals.request("W1", "C1", "ETH", 40 * E, Account.create().address)
    assert waiting.state == "allowed"  # screened, reserved in eth-hot, not sent yet
    send(chain, env.hot, Account.create().address, 30 * E)
    (alert,) = env.watch.poll().alerts
    (sweep,) = [p for p in env.custody.proposals() if p.proposal.payload.get("emergency")]
    swept = int(str(sweep.proposal.payload["amount"]))
    timeline = " ".join(ENGLISH.text(e["detail"]) for e in env.incidents.incident(
        str(alert["incident"])).timeline)
    c1 = env.ledger.balances(account="customer:C1")[0].state
    if choice == "reject":
        assert env.withdrawals.get("W1").state == "rejected"
        assert c1.pending_debit == 0  # the reservation went back to the customer
        assert swept > 69 * E  # everything but the gas
        assert "1 withdrawal(s) waiting in eth-hot rejected (40 ETH released" in timeline
    else:
        assert env.withdrawals.get("W1").state == "allowed" and c1.pending_debit == 40 * E
        # the ledger still counts the 30 stolen (not booked yet): of its 100, 40 are
        # reserved, so 60 go and the rest of the 70 on chain stays within the attacker's reach
        assert 59 * E < swept <= 60 * E
        assert "stay in eth-hot: reserved for withdrawals" in timeline
    env.store.close()


def test_a_wallet_all_reserved_for_kept_withdrawals_is_not_swept(chain: EvmChain,
                                                                  tmp_path: Path) -> None:
    """Withdrawals the policy keeps reserve the whole wallet: their coins stay for them (a
    sweep of them could not be booked: the ledger may not take reserved funds), and the
    timeline says so, not that the wallet is empty."""
    env = Env(chain, tmp_path, '[watch]\nemergency_sweep = "auto"\n'
              'compromised_withdrawals = "keep"\n')
    held = env.withdrawals.request("W9", "C1", "ETH", 100 * E, Account.create().address)
    assert held.state == "allowed"  # its hold reserves all 100 ETH of the hot wallet
    send(chain, env.hot, Account.create().address, 10 * E)
    (alert,) = env.watch.poll().alerts
    assert not [p for p in env.custody.proposals() if p.proposal.payload.get("emergency")]
    timeline = " ".join(ENGLISH.text(e["detail"]) for e in env.incidents.incident(
        str(alert["incident"])).timeline)
    assert re.search(r"89\.99\d* ETH stay in eth-hot: reserved for withdrawals", timeline)
    assert "already empty" not in timeline
    env.store.close()

