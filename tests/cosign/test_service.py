"""The policy co-signer in process, against real kinko data and real 2-of-3 Safes on the
in-process chain: what matches an approved request is co-signed and executes; forged,
replayed and altered requests, a tripped breaker, a closed hold and an over-limit amount are
refused, recorded and alerted into kinko's alerts table; the emergency sweep to cold passes
the breaker; a restart gives the same answer; an unreadable kinko database refuses; the log
verifies and names tampering."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cosignworld import ETH, XEM, Exchange, build, cosign_config, fresh

from kinko.chains import safe as S
from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner, throwaway_signer
from kinko.chains.safe_reader import ChainSafes
from kinko.domain.cosign import parse_cosign_policy
from kinko.domain.messages import verbatim
from kinko.domain.safe import DELEGATECALL, SafeTx
from kinko.errors import ApprovalError, CosignRefused
from kinko.i18n import ENGLISH
from kinko.services.cosign import AlertDelivery, CosignService, verify_log
from kinko.settings import load_cosign_settings
from kinko.store.cosign_sql import SqlCosignLog, open_cosign_log
from kinko.store.cosign_view import KinkoAlertSink, SqlKinkoView

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cosign-service")]


@dataclass
class Rig:
    ex: Exchange
    key: KeystoreSigner
    service: CosignService
    log: SqlCosignLog
    delivery: AlertDelivery
    folder: Path

    def service_again(self, kinko_url: str | None = None,
                      chain: EvmChain | None = None) -> CosignService:
        """A second co-signer process over the same database (a restart)."""
        return CosignService(policy=self.service.policy,
                             kinko=SqlKinkoView(kinko_url or self.ex.store_url),
                             chain=ChainSafes(chain or self.ex.chain, attempts=1),
                             log=self.log, signer=self.key, clock=self.ex.clock,
                             sinks=("kinko",))

    def refused(self, kind: str, rid: str, tx: SafeTx, reason: str,
                service: CosignService | None = None) -> CosignRefused:
        with pytest.raises(CosignRefused) as caught:
            (service or self.service).cosign(kind, rid, tx)
        assert caught.value.reason == reason, caught.value.message
        assert caught.value.details["record"] > 0
        return caught.value

    def alerts(self) -> list[dict[str, object]]:
        self.delivery.deliver_due()
        with self.ex.store.watch(write=False) as tables:
            return [a for a in tables.alerts() if a["kind"] == "cosign_refused"]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    folder = tmp_path_factory.mktemp("cosign")
    key = throwaway_signer()
    ex = build(EvmChain.in_process(), folder, key.address)
    bootstrap = ex.custody.policy()
    assert bootstrap is not None
    settings = load_cosign_settings(cosign_config(ex, folder, rpc_url="http://unused",
                                                  policy_anchor=bootstrap.digest), env={})
    policy = parse_cosign_policy(settings.tables, settings.registry, settings.path, policy_anchor=settings.policy_anchor)
    assert policy.policy_anchor == bootstrap.digest
    log = open_cosign_log(settings.database_url)
    service = CosignService(policy=policy, kinko=SqlKinkoView(ex.store_url),
                            chain=ChainSafes(ex.chain), log=log, signer=key, clock=ex.clock,
                            sinks=("kinko",))
    delivery = AlertDelivery(log, {"kinko": KinkoAlertSink(ex.store_url)}, ex.clock)
    yield Rig(ex, key, service, log, delivery, folder)
    ex.close()


@pytest.fixture(autouse=True)
def _a_new_day(rig: Rig) -> None:
    """Each test starts a day after the one before: what it co-signed is out of the
    Safes' rolling limit window, whatever order the tests run in."""
    rig.ex.clock.advance(hours=25)


def test_matching_withdrawals_are_cosigned_and_execute(rig: Rig) -> None:
    ex = rig.ex
    to = fresh()
    assert ex.request("W-1", "ETH", 1 * ETH, to).state == "allowed"
    tx = ex.eth_tx(to, 1 * ETH)
    first = rig.service.cosign("withdrawal", "W-1", tx)
    assert first.signer == rig.key.address and not first.repeated
    again = rig.service.cosign("withdrawal", "W-1", tx)  # a lost answer, asked again
    assert again.repeated and again.signature == first.signature and again.record > first.record
    with pytest.raises(ApprovalError, match="needs 2 owners' signatures, 1 given"):
        S.execute(ex.chain, ex.ops, tx, {ex.ops.address: S.sign_safe_tx(ex.ops, tx)})
    assert ex.execute(tx, first)
    assert ex.chain.balances([to])[to] == 1 * ETH
    ex.request("W-2", "XEM", 500 * XEM, to)
    xtx = ex.xem_tx(to, 500 * XEM)
    assert ex.execute(xtx, rig.service.cosign("withdrawal", "W-2", xtx))
    assert ex.chain.balances([to], token=ex.token)[to] == 500 * XEM


def test_a_withdrawal_held_for_review_needs_the_quorum(rig: Rig) -> None:
    ex = rig.ex
    to = fresh()
    assert ex.request("W-3", "ETH", 20 * ETH, to, customer="C2").state == "review"
    tx = ex.eth_tx(to, 20 * ETH)
    rig.refused("withdrawal", "W-3", tx, "request_state")
    assert ex.approve("W-3", "alice").state == "review"
    rig.refused("withdrawal", "W-3", tx, "request_state")
    assert ex.approve("W-3", "bob").state == "approved"
    assert ex.execute(tx, rig.service.cosign("withdrawal", "W-3", tx))


def test_forged_replayed_and_altered_requests_are_refused_and_alarmed(rig: Rig) -> None:
    ex = rig.ex
    thief = fresh()
    before = (ex.chain.balances([ex.eth_safe, thief]),
              ex.chain.balances([ex.xem_safe, thief], token=ex.token), ex.nonce(ex.eth_safe))
    alerts = len(rig.alerts())
    to = fresh()
    ex.request("W-4a", "ETH", 1 * ETH, to)  # co-signed and executed: then replayed
    done = ex.eth_tx(to, 1 * ETH)
    assert ex.execute(done, rig.service.cosign("withdrawal", "W-4a", done))
    ex.request("W-4", "ETH", 2 * ETH, to)
    good = ex.eth_tx(to, 2 * ETH)
    cases: list[tuple[str, str, SafeTx, str]] = [
        ("forged: no such withdrawal", "W-404", ex.eth_tx(thief, 2 * ETH), "no_such_request"),
        ("to", "W-4", replace(good, to=thief), "mismatch"),
        ("value", "W-4", replace(good, value=3 * ETH), "mismatch"),
        ("data", "W-4", replace(good, data=b"\x01"), "mismatch"),
        ("operation", "W-4", replace(good, operation=DELEGATECALL), "forbidden_tx"),
        ("gas token", "W-4", replace(good, gas_token=ex.token), "forbidden_tx"),
        ("refund receiver", "W-4", replace(good, refund_receiver=thief), "forbidden_tx"),
        ("another of our Safes", "W-4", replace(good, safe=ex.xem_safe), "wrong_wallet"),
        ("a Safe nobody listed", "W-4", replace(good, safe=fresh()), "unknown_safe"),
        ("other chain", "W-4", replace(good, chain_id=1), "wrong_chain"),
        ("replayed: an executed request", "W-4a", ex.eth_tx(fresh(), 1 * ETH),
         "already_signed"),
        ("replayed: old nonce", "W-4", replace(good, nonce=done.nonce), "nonce_used"),
        ("a withdrawal asked for as a proposal", "W-4", good, "no_such_request"),
    ]
    for name, rid, tx, reason in cases:
        kind = "proposal" if name.startswith("a withdrawal asked") else "withdrawal"
        rig.refused(kind, rid, tx, reason)
    # W-4a's own SafeTx again, after it executed: its nonce is used, nothing is given again
    rig.refused("withdrawal", "W-4a", done, "nonce_used")
    assert ex.executed.count("withdrawal:W-4a") == 1
    # the same Safe nonce for a second request, while the first is signed and unsent
    signed = rig.service.cosign("withdrawal", "W-4", good)
    ex.request("W-5", "ETH", 2 * ETH, to)
    rig.refused("withdrawal", "W-5", ex.eth_tx(to, 2 * ETH), "nonce_used")
    assert ex.execute(good, signed)
    assert (ex.chain.balances([thief]), ex.chain.balances([thief], token=ex.token)) == \
        ({thief: 0}, {thief: 0})
    assert ex.chain.balances([ex.eth_safe])[ex.eth_safe] == \
        before[0][ex.eth_safe] - 3 * ETH and ex.nonce(ex.eth_safe) == before[2] + 2
    raised = rig.alerts()
    assert len(raised) - alerts == len(cases) + 2
    latest = next(a for a in raised if "withdrawal:W-5" in ENGLISH.text(a["detail"]))
    assert latest["severity"] == "critical" and latest["state"] == "open"
    assert "[nonce_used]" in ENGLISH.text(latest["detail"]) and "log head" in ENGLISH.text(latest["detail"])
    assert rig.alerts() == raised  # delivered once


def test_breaker_hold_and_limit_refuse_and_the_emergency_sweep_passes(rig: Rig) -> None:
    ex = rig.ex
    to = fresh()
    # the rolling limit: 25 ETH a day. A new day (what other tests signed is out of the
    # window), then 9 + 9 + 5 co-signed; a sweep to cold is not counted
    ex.clock.advance(hours=25)
    for rid, customer, amount in (("W-6a", "C1", 9), ("W-6b", "C2", 9), ("W-6c", "C1", 5)):
        ex.request(rid, "ETH", amount * ETH, to, customer=customer)
        tx = ex.eth_tx(to, amount * ETH)
        assert ex.execute(tx, rig.service.cosign("withdrawal", rid, tx))
    ex.request("W-6", "ETH", 3 * ETH, to, customer="C2")
    refusal = rig.refused("withdrawal", "W-6", ex.eth_tx(to, 3 * ETH), "over_limit")
    assert "23 co-signed in the window" in refusal.message
    sweep = ex.sweep("ETH", 3 * ETH)
    tx = ex.eth_tx(ex.eth_cold, 3 * ETH)
    assert ex.execute(tx, rig.service.cosign("proposal", sweep.proposal.id, tx))
    # a hold voided or run out behind the withdrawal's back
    ex.request("W-7", "ETH", 1 * ETH, to)
    ex.ledger.void_hold("void:withdrawal:W-7", "withdrawal:W-7", source="test")
    rig.refused("withdrawal", "W-7", ex.eth_tx(to, 1 * ETH), "hold_closed")
    ex.request("W-8", "XEM", 10 * XEM, to)
    xtx = ex.xem_tx(to, 10 * XEM)
    # the breaker: nothing but the emergency sweep to cold
    ex.withdrawals.trip("XEM", "ops", "drill")
    rig.refused("withdrawal", "W-8", xtx, "breaker_tripped")
    incident = ex.incident(wallet="xem-hot")
    emergency = ex.sweep("XEM", 1_000 * XEM, emergency=incident)
    cold = ex.xem_tx(ex.xem_cold, 1_000 * XEM)
    assert ex.execute(cold, rig.service.cosign("proposal", emergency.proposal.id, cold))
    assert ex.chain.balances([ex.xem_cold], token=ex.token)[ex.xem_cold] == 1_000 * XEM
    thief = fresh()
    grab = ex.sweep("XEM", 1_000 * XEM, emergency=incident, to=thief)
    rig.refused("proposal", grab.proposal.id, ex.xem_tx(thief, 1_000 * XEM), "mismatch")
    ex.clock.advance(hours=25)  # W-8's hold runs out
    rig.refused("withdrawal", "W-8", xtx, "hold_closed")


def test_a_restart_gives_the_same_answer(rig: Rig) -> None:
    ex = rig.ex
    to = fresh()
    ex.request("W-9", "ETH", 1 * ETH, to)
    tx = ex.eth_tx(to, 1 * ETH)
    first = rig.service.cosign("withdrawal", "W-9", tx)
    restarted = rig.service_again()
    again = restarted.cosign("withdrawal", "W-9", tx)
    assert again.repeated and again.signature == first.signature
    rig.refused("withdrawal", "W-9", replace(tx, nonce=tx.nonce + 1), "already_signed",
                service=restarted)
    assert ex.execute(tx, again)


def test_an_unreachable_node_is_refused(rig: Rig) -> None:
    ex = rig.ex
    to = fresh()
    ex.request("W-11", "ETH", 1 * ETH, to)
    tx = ex.eth_tx(to, 1 * ETH)
    dead = rig.service_again(chain=EvmChain.connect("http://127.0.0.1:9", timeout=1))
    refusal = rig.refused("withdrawal", "W-11", tx, "chain_unreachable", service=dead)
    assert "cannot read the chain" in refusal.message
    assert ex.execute(tx, rig.service.cosign("withdrawal", "W-11", tx))


def test_an_unreadable_kinko_database_is_refused(rig: Rig) -> None:
    ex = rig.ex
    blind = rig.service_again(f"sqlite:///{rig.folder / 'gone' / 'kinko.db'}")
    refusal = rig.refused("withdrawal", "W-10", ex.eth_tx(fresh(), ETH), "kinko_unreachable",
                          service=blind)
    assert "cannot read kinko's database" in refusal.message
    assert any(a["severity"] == "warning" and "kinko_unreachable" in ENGLISH.text(a["detail"])
               for a in rig.alerts())


def test_a_policy_written_into_kinkos_database_does_not_make_a_quorum(rig: Rig) -> None:
    """A thief who can write kinko's database adds a policy version naming his own
    approvers and approves a sweep to himself under it: the co-signer, anchored on the
    policy the exchange trusts, counts no quorum from it."""
    from datetime import timedelta

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kinko.domain.approvals import Approval, Proposal, public_key_hex, sign_proposal
    from kinko.domain.policy import Approver

    ex = rig.ex
    active = ex.custody.policy()
    assert active is not None
    mine = {n: Ed25519PrivateKey.generate() for n in ("mallory", "trudy")}
    forged = replace(active, version=active.version + 1, approvers=tuple(
        Approver(n, public_key_hex(k)) for n, k in mine.items()))
    now = ex.clock.now()
    thief = fresh()
    sweep = Proposal("sweep-forged", "sweep", {
        "asset": "ETH", "amount": str(ETH), "from_wallet": "eth-hot", "to_wallet": "eth-cold",
        "from_address": ex.eth_safe, "to_address": thief}, "eve", now,
        now + timedelta(hours=1), forged.version)
    with ex.store.custody() as (_ledger, tables):
        tables.put_policy(forged.version, forged.digest, forged.canonical(), now, "bootstrap")
        tables.put_proposal(sweep, verbatim("a sweep"))
        tables.set_state(sweep.id, "pending", "approved")
        for name, key in mine.items():
            tables.add_approval(sweep.id, Approval(name, sign_proposal(sweep, key), now))
    # to the thief's address, registered as one of the cold wallet's
    ex.ledger.add_wallet(replace(next(w for w in ex.ledger.wallets() if w.name == "eth-cold"),
                                 addresses=(ex.eth_cold, thief)))
    refusal = rig.refused("proposal", sweep.id, ex.eth_tx(thief, ETH), "not_approved")
    assert "does not descend from the policy the co-signer trusts" in refusal.message


def test_the_fsa_report_lists_the_cosigners_refusals(rig: Rig) -> None:
    from kinko.render.fsa import layout
    from kinko.services.fsa import fsa_report

    rig.refused("withdrawal", "W-fsa", rig.ex.eth_tx(fresh(), 1), "no_such_request")
    rig.alerts()  # delivered
    report = fsa_report(rig.ex.custody, reconcile=False)
    refused = [a for a in report.watch.alerts if a.kind == "cosign_refused"]
    assert refused and all(a.severity in ("critical", "warning") for a in refused)
    for lang, word in (("ja", "共同署名者による署名拒否"), ("en", "refused by the co-signer")):
        assert word in repr(layout(report, lang))


def test_the_log_verifies_and_names_tampering(rig: Rig) -> None:
    ex = rig.ex
    to = fresh()
    ex.request("W-12", "ETH", 1 * ETH, to)
    tx = ex.eth_tx(to, 1 * ETH)
    assert ex.execute(tx, rig.service.cosign("withdrawal", "W-12", tx))
    rig.refused("withdrawal", "W-12", replace(tx, value=2), "already_signed")
    report = verify_log(rig.log)
    assert report.ok, report.findings
    assert report.signed >= 1 and report.records > report.signed
    with rig.log.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE cosign_decisions SET amount = '1' WHERE seq = 1")
    broken = verify_log(rig.log, anchor=report.head)
    assert [(f.code, f.seq) for f in broken.findings][:1] == [("altered", 1)]


def test_a_signing_made_not_to_count_toward_the_limit_is_named(rig: Rig) -> None:
    """The rolling limit sums the exactly-once table, not the log: a signing made not to
    count there (SQLite keeps 'no' in a boolean column; the limit's WHERE reads it as
    false) or zeroed would let the co-signer sign past its limit. verify names the row
    (beside whatever an earlier test of this rig did to the log)."""
    ex = rig.ex
    to = fresh()
    ex.request("W-13", "ETH", 1 * ETH, to)
    tx = ex.eth_tx(to, 1 * ETH)
    assert ex.execute(tx, rig.service.cosign("withdrawal", "W-13", tx))
    before = verify_log(rig.log).findings
    where = "WHERE request = 'withdrawal:W-13'"
    for edit, field in (("counts = 'no'", "counts"), ("amount = '0'", "amount")):
        with rig.log.engine.begin() as conn:
            seq, counts, amount = conn.exec_driver_sql(
                f"SELECT record, counts, amount FROM cosign_signed {where}").one()
            conn.exec_driver_sql(f"UPDATE cosign_signed SET {edit} {where}")
        found = [f for f in verify_log(rig.log).findings if f not in before]
        assert [(f.code, f.seq) for f in found] == [("signed_table", seq)], found
        assert f"differs from record {seq} of the log in {field}" in found[0].message
        with rig.log.engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE cosign_signed SET counts = ?, amount = ? {where}",
                                 (counts, amount))
        assert verify_log(rig.log).findings == before
