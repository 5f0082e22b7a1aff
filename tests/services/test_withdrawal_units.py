"""Each withdrawal use case is one unit of work, on SQLite and PostgreSQL: a failure at any
step of a request leaves nothing (no hold without its withdrawal), a retry always gets the
first answer (also racing itself in threads, with a clock that moves), closing a withdrawal
closes its review's proposal with it, and the tier screening sees is the customer's."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.ledger import Posting
from kinko.domain.messages import decode, msg, stored, verbatim
from kinko.errors import ApprovalError, BadInput
from kinko.i18n import ENGLISH
from kinko.ports import FixedClock, SystemClock
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.customers import customer_tier, import_customers, set_tier
from kinko.services.ledger import Ledger
from kinko.services.withdrawals import Withdrawals, closing
from kinko.store import SqlStore
from kinko.store.custody_sql import SqlCustody
from kinko.store.screening_sql import SqlScreening

E = 10**18
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob")}
TO = "0x" + "12" * 20


class Crash(Exception):
    """Stands for the process dying at that point (the kill tests do it for real)."""


@pytest.fixture
def w(ledger: Ledger, tmp_path: Path) -> Withdrawals:
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                         Posting("customer:C1", "ETH", -60 * E),
                         Posting("customer:C2", "ETH", -40 * E)], source="opening")
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                        for n, k in KEYS.items())
    (tmp_path / "p.toml").write_text(
        f"version = 1\nquorum = 2\n{approvers}\n[screening]\ntiers = [\"vip\", \"new\"]\n"
        '[[screening.rules]]\nkind = "max_amount"\nasset = "ETH"\namount = "10"\n'
        'action = "review"\nreason = "large"\n'
        '[[screening.rules]]\nkind = "max_amount"\nasset = "ETH"\namount = "2"\n'
        'tier = "new"\naction = "block"\nreason = "new customers: 2 ETH at most"\n')
    custody = Custody(ledger)
    custody.load_policy(tmp_path / "p.toml", "ops")
    return Withdrawals(custody)


def nothing_written(w: Withdrawals, wid: str, head: tuple[int, str], audits: int) -> None:
    assert w.ledger.head() == head
    assert w.ledger.hold(f"withdrawal:{wid}") is None
    with w.store.unit(write=False) as u:
        assert u.screening.withdrawal(wid) is None
        assert u.custody.proposal(f"withdrawal-{wid}") is None
        assert u.access.audit_head()[0] == audits
    assert w.ledger.balances(account="customer:C1")[0].state.pending_debit == 0


def _crash(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> None:
    def boom(*_a: Any, **_k: Any) -> None:
        raise Crash(name)

    monkeypatch.setattr(cls, name, boom)


@pytest.mark.parametrize("where", ["put_withdrawal", "put_proposal", "audit"])
def test_a_request_failing_at_any_step_leaves_nothing(w: Withdrawals, clock: FixedClock,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      where: str) -> None:
    head = w.ledger.head()
    with monkeypatch.context() as patch:
        cls = {"put_withdrawal": SqlScreening, "put_proposal": SqlCustody,
               "audit": Access}[where]
        _crash(patch, cls, where)
        with pytest.raises(Crash):
            w.request("W1", "C1", "ETH", 20 * E, TO, actor="ops")  # held for review
    nothing_written(w, "W1", head, 1)  # the policy's bootstrap
    clock.advance(minutes=10)  # the retry comes later: the hold would differ in its expiry
    view = w.request("W1", "C1", "ETH", 20 * E, TO, actor="ops")
    assert view.state == "review" and (view.approvals, view.quorum) == (0, 2)
    assert w.ledger.hold("W1") is None and w.ledger.hold("withdrawal:W1") is not None
    assert w.ledger.balances(account="customer:C1")[0].state.pending_debit == 20 * E
    assert w.ledger.verify().ok
    assert [a["action"] for a in Access(w.store, clock).audit_log()] == [
        "policy.bootstrap", "withdrawal.request"]


def test_concurrent_identical_retries_get_the_first_answer(w: Withdrawals,
                                                           store: SqlStore) -> None:
    ledger = Ledger(store, SystemClock(), w.ledger.assets)  # every call at another time
    service = Withdrawals(Custody(ledger))
    start = threading.Barrier(8)

    def call(_: int) -> tuple[str, str, int]:
        start.wait()
        view = service.request("W-race", "C1", "ETH", 3 * E, TO, actor="ops")
        return view.id, view.state, view.amount

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, range(8)))
    assert answers == [("W-race", "allowed", 3 * E)] * 8
    assert ledger.balances(account="customer:C1")[0].state.pending_debit == 3 * E
    assert [e.key for e in ledger.entries()][1:] == ["withdrawal:W-race"]
    assert [a["action"] for a in Access(store, SystemClock()).audit_log()] == [
        "policy.bootstrap", "withdrawal.request"]


def _review(w: Withdrawals, wid: str) -> None:
    assert w.request(wid, "C1", "ETH", 20 * E, TO, actor="ops").state == "review"


def _pending(w: Withdrawals) -> list[str]:
    return [v.proposal.id for v in w.custody.proposals("pending")]


def test_rejecting_closes_the_review_in_the_same_unit(w: Withdrawals,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _review(w, "W2")
    _review(w, "W3")
    with monkeypatch.context() as patch:
        _crash(patch, SqlCustody, "close")
        with pytest.raises(Crash):
            w.reject("W2", "ops", "drill")
    assert w.get("W2").state == "review" and _pending(w) == ["withdrawal-W2", "withdrawal-W3"]
    assert w.ledger.hold("withdrawal:W2")[1] == "pending"  # type: ignore[index]
    assert w.reject("W2", "ops", "customer asked").state == "rejected"
    seen = w.get("W2")  # who and why, as written: a person's words
    assert (seen.closed_by, seen.closed_why) == ("ops", verbatim("customer asked"))
    assert w.ledger.hold("withdrawal:W2")[1] == "voided"  # type: ignore[index]
    assert _pending(w) == ["withdrawal-W3"]
    view = w.custody.proposal("withdrawal-W2")
    assert view is not None and view.state == "rejected"
    with pytest.raises(ApprovalError, match="rejected"):  # nobody signs for nothing
        w.approve("W2", "alice", sign_proposal(view.proposal, KEYS["alice"]))
    # containment's rejection of every withdrawal waiting in a wallet: the same
    assert [v.id for v in w.reject_open("eth-hot", "kinko:watch", "key leaked")] == ["W3"]
    assert _pending(w) == [] and w.ledger.verify().ok


def test_expiry_closes_the_review(w: Withdrawals, clock: FixedClock) -> None:
    _review(w, "W4")
    assert w.request("W5", "C2", "ETH", 1 * E, TO).state == "allowed"
    clock.advance(hours=25)
    assert sorted(w.expire()) == ["W4", "W5"]
    assert [w.get(i).state for i in ("W4", "W5")] == ["expired", "expired"]
    view = w.custody.proposal("withdrawal-W4")
    assert view is not None and view.state == "expired" and _pending(w) == []
    assert w.ledger.balances(account="customer:C1")[0].state.pending_debit == 0
    assert w.expire() == [] and w.ledger.verify().ok


def test_approval_at_quorum_executes_the_review(w: Withdrawals) -> None:
    _review(w, "W6")
    view = w.custody.proposal("withdrawal-W6")
    assert view is not None
    for name in ("alice", "bob"):
        w.approve("W6", name, sign_proposal(view.proposal, KEYS[name]), actor=name)
    assert w.get("W6").state == "approved"
    done = w.custody.proposal("withdrawal-W6")
    assert done is not None and done.state == "executed" and _pending(w) == []
    # a custody approval path cannot take a withdrawal's review: refused before recording
    _review(w, "W7")
    seven = w.custody.proposal("withdrawal-W7")
    assert seven is not None
    with pytest.raises(ApprovalError, match="withdrawals service"):
        w.custody.approve(seven.proposal.id, "alice", sign_proposal(seven.proposal,
                                                                     KEYS["alice"]))
    after = w.custody.proposal("withdrawal-W7")
    assert after is not None and after.approvals == []


def test_the_tier_is_the_customers_recorded_in_kinko(w: Withdrawals, clock: FixedClock) -> None:
    assert customer_tier(w.ledger, "C2")["tier"] == "standard"
    assert w.request("W8", "C2", "ETH", 3 * E, TO).state == "allowed"
    for wrong in ("NEW", "new ", "gold"):
        with pytest.raises(BadInput, match="not one of the policy's tiers"):
            set_tier(w.ledger, "C2", wrong, "alice")
    set_tier(w.ledger, "C2", "new", "alice", actor="cli:alice")
    assert customer_tier(w.ledger, "C2")["set_by"] == "alice"
    view = w.request("W9", "C2", "ETH", 3 * E, TO)
    assert view.state == "blocked" and "new customers" in ENGLISH.text(view.decision.hits[0].reason)
    # the retry of the first request still gets its first answer
    assert w.request("W8", "C2", "ETH", 3 * E, TO).state == "allowed"
    log = Access(w.store, clock).audit_log()
    assert [(a["actor"], a["action"], a["target"]) for a in log if a["action"] ==
            "customer.tier"] == [("cli:alice", "customer.tier", "C2")]


def test_an_import_records_tiers_with_its_batches(w: Withdrawals, tmp_path: Path,
                                                  clock: FixedClock) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,asset,balance,tier\nC7,ETH,1,vip\nC7,XEM,1,new\n"
                   "C8,ETH,1,VIP\n")
    with pytest.raises(BadInput) as refused:
        import_customers(w.ledger, bad, batch_size=10)
    problems = refused.value.details["problems"]
    assert any("bad.csv:3" in p and "tier 'new' here and 'vip' on line 2" in p for p in problems)
    assert any("bad.csv:4" in p and "not one of the policy's tiers" in p for p in problems)
    assert customer_tier(w.ledger, "C7")["tier"] == "standard"  # nothing was imported
    good = tmp_path / "good.csv"
    good.write_text("customer_id,asset,balance,tier\nC7,ETH,1,vip\nC7,XEM,1,vip\n"
                    "C8,ETH,0,new\nC9,ETH,2,\n")
    report = import_customers(w.ledger, good, batch_size=1)
    assert report.tiers == 2 and report.batches_written == 3
    assert [customer_tier(w.ledger, c)["tier"] for c in ("C7", "C8", "C9")] == [
        "vip", "new", "standard"]
    audits = [a for a in Access(w.store, clock).audit_log() if a["action"] == "customer.tier"]
    assert [a["target"] for a in audits] == ["import:good.csv"]
    assert '"customers": 2' in audits[0]["detail"]


def test_closed_reviews_stranded_before_are_closed_by_the_migration(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from alembic import command

    from kinko.store import open_store
    from kinko.store.migrate import _config

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:  # a database never migrated (the session's template is at the newest schema)
        pg = request.getfixturevalue("pg")
        url = pg.url(pg.create_database())
    store = open_store(url)
    try:
        cfg = _config()
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0008")
        rows: list[tuple[str, str]] = [("R1", "rejected"), ("R2", "expired"), ("R3", "review"),
                                       ("R4", "approved")]
        from sqlalchemy import text

        with store.engine.begin() as conn:
            for wid, state in rows:
                conn.execute(text(
                    "INSERT INTO withdrawals (id, customer, asset, amount, destination, wallet, "
                    "requested_us, requester, state, decision) VALUES (:id, 'C1', 'ETH', 1, "
                    "'0x', 'eth-hot', 0, 'ops', :state, '{}')"), {"id": wid, "state": state})
                conn.execute(text(
                    "INSERT INTO proposals (id, kind, canonical, state, detail) VALUES "
                    "(:id, 'withdrawal', '{}', :state, '')"),
                    {"id": f"withdrawal-{wid}",
                     "state": "executed" if state == "approved" else "pending"})
        from kinko.store import upgrade

        upgrade(store)
        with store.engine.connect() as conn:
            states = dict(conn.execute(text("SELECT id, state FROM proposals ORDER BY id")).all())
        assert states == {"withdrawal-R1": "rejected", "withdrawal-R2": "expired",
                          "withdrawal-R3": "pending", "withdrawal-R4": "executed"}
    finally:
        store.close()


def test_nothing_is_broadcast_from_inside_a_unit(w: Withdrawals) -> None:
    from kinko.ports import UnitError

    assert w.request("W10", "C1", "ETH", 1 * E, TO).state == "allowed"
    with w.store.unit(), pytest.raises(UnitError, match="outside a unit of work"):
        w.send("W10")  # its "sending" would not be committed before the broadcast
    assert w.get("W10").state == "allowed"


def test_why_a_withdrawal_was_closed_reads_back_from_the_ledger() -> None:
    """The void entry's memo keeps the reason as a message; entries earlier versions wrote
    (the reason in the source, in English; the hash chain keeps them as they are) read back
    into kinko's messages, and a person's words stay as written."""
    leaked = msg("wd.reason.key_leaked", wallet="eth-hot", incident="INC-1")
    assert closing("rejected by kinko:watch", stored(leaked)) == ("kinko:watch", leaked)
    assert closing("rejected by kinko:watch: the key of eth-hot leaked (INC-1); the funds "
                   "stay yours and are moved to cold storage: request again when "
                   "withdrawals resume", "") == ("kinko:watch", leaked)
    assert closing("rejected by bob: customer called", "") == ("bob",
                                                                verbatim("customer called"))
    assert closing("tx:0xab", "the transaction reverted; funds released") == (
        "", msg("wd.reason.reverted"))
    # a person's words that look like a message are still kept as written
    odd = verbatim('{"id":"wd.reason.reverted","args":{}}')
    assert decode(stored(odd)) == odd and stored(verbatim("drill")) == "drill"
