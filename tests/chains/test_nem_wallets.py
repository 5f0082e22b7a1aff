"""NEM wallets that sign, through kinko's services, on the NIS1 adapter and its double: a
2-of-3 multisig hot account (the operations key initiates, the policy co-signer cosigns,
an offline recovery key) pays a withdrawal that settles; with one cosignature nothing is
sent, and the thief's own attempt with the operations key waits and expires; the co-signer
refuses a transfer that does not match, field by field, once per request, into kinko's
alerts, and its log verifies; bad input is named."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_sqlite, migrated_store
from nis1double import PRIVATE, Nis1Double

from kinko.chains import nem, nem_multisig, registry
from kinko.chains.keys import KeyRing
from kinko.chains.keystore import throwaway_signer
from kinko.chains.nem_wallets import NemAccounts, NemMultisigWallet
from kinko.chains.nis1 import NisChain
from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.cosign import CosignPolicy, SafeLimit
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.errors import ApprovalError, BadInput, ConfigError, CosignRefused
from kinko.ports import Payment, SystemClock
from kinko.services.cosign import AlertDelivery, CosignService, verify_log
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.services.wallets import register_multisig
from kinko.services.watch import Watch
from kinko.services.withdrawals import Withdrawals
from kinko.store import open_store
from kinko.store.cosign_sql import open_cosign_log
from kinko.store.cosign_view import KinkoAlertSink, SqlKinkoView

CHAIN = "nem"
ACCOUNT, OPS, COSIGNER, RECOVERY, CUSTOMER = (nem.NemKey(k, CHAIN) for k in PRIVATE)
COLD = nem.NemKey("7A3B" * 16, CHAIN)  # an address of the cold wallet (its key stays offline)
APPROVER = Ed25519PrivateKey.generate()
XEM = 1_000_000


class _NoSafes:
    """The co-signer's Safe reader: a NEM co-signer reads no Safe."""

    def chain_id(self) -> int:
        raise AssertionError("a NEM request reads no Safe")

    def safe_state(self, address: str) -> object:
        raise AssertionError("a NEM request reads no Safe")


class Env:
    def __init__(self, tmp_path: Path, *, cosigned: bool = True) -> None:
        self.node = Nis1Double(CHAIN)
        self.node.fund(ACCOUNT.address, 10_000 * XEM)
        self.chain = NisChain(self.node.url, name=CHAIN, accounts=[ACCOUNT.address])
        convert = nem.modification(CHAIN, account_public_key=ACCOUNT.public_key,
                                   timestamp=nem.network_time(CHAIN, datetime.now(UTC)),
                                   add=[k.public_key for k in (OPS, COSIGNER, RECOVERY)],
                                   min_change=2)
        self.announce(ACCOUNT.sign(convert))
        self.node.mine()
        url = migrated_sqlite(tmp_path / "k.db")
        self.store = open_store(url)
        self.ledger = Ledger(self.store, SystemClock(), AssetRegistry.default())
        self.ledger.sync_assets()  # the co-signer reads the assets kinko registers
        self.wallet = register_multisig(
            self.ledger, NemAccounts(self.chain), "xem-hot", "XEM", "hot", ACCOUNT.address,
            [OPS.address, COSIGNER.address, RECOVERY.address], 2, operator=OPS.address,
            cosigner=COSIGNER.address if cosigned else None)
        held = self.chain.balances([ACCOUNT.address])[ACCOUNT.address]  # less the conversion
        self.ledger.post("open", [Posting("wallet:xem-hot", "XEM", held),
                                  Posting("own", "XEM", 10_000 * XEM - held),
                                  Posting("customer:C1", "XEM", -10_000 * XEM)],
                         source="opening")
        (tmp_path / "ops.nem").write_text(PRIVATE[1] + "\n")
        self.keys = KeyRing(tmp_path, {"xem-hot": ("file", str(tmp_path / "ops.nem"))})
        self.log = open_cosign_log(f"sqlite:///{tmp_path / 'cosign.db'}")
        limit = SafeLimit(ACCOUNT.address.lower(), "XEM", 1_000 * XEM, timedelta(days=1))
        self.cosigner = CosignService(
            policy=CosignPolicy(CHAIN, {ACCOUNT.address.lower(): {"XEM": limit}},
                                cold={"XEM": frozenset({COLD.address.lower()})}),
            kinko=SqlKinkoView(url), chain=_NoSafes(), log=self.log,  # type: ignore[arg-type]
            signer=throwaway_signer(), clock=SystemClock(), nem_key=COSIGNER,
            nem_chain=self.chain)
        self.alerts = AlertDelivery(self.log, {"kinko": KinkoAlertSink(url)}, SystemClock())
        (tmp_path / "p.toml").write_text(
            "version = 1\nquorum = 1\n[[approvers]]\nname = \"a\"\npublic_key = \""
            + public_key_hex(APPROVER) + "\"\n[assets.XEM]\nmax_hot_ratio = \"1\"\n")
        self.ledger.add_wallet(Wallet("xem-cold", "XEM", "cold", (COLD.address,)))
        self.custody = Custody(self.ledger, chain=self.chain, confirmations=1,
                               spender_for=lambda w: registry.spender_for(
                                   self.chain, "nis1", w, self.keys, self.cosigner))
        self.custody.load_policy(tmp_path / "p.toml", "ops")
        self.withdrawals = Withdrawals(self.custody)

    def announce(self, *signed: nem.Signed) -> None:
        bodies = [s.announce() for s in signed]
        self.chain.send_raw(json.dumps(bodies[0] if len(bodies) == 1 else bodies).encode())

    def transfer(self, to: str, micro: int, *, hours: float = 1) -> nem_multisig.MultisigTransfer:
        now = nem.network_time(CHAIN, datetime.now(UTC))
        return nem_multisig.prepare(CHAIN, account_public_key=ACCOUNT.public_key,
                                    initiator_public_key=OPS.public_key, to=to, amount=micro,
                                    timestamp=now, deadline=now + int(hours * 3600))

    def refused(self, request: str, tx: nem_multisig.MultisigTransfer, reason: str) -> str:
        with pytest.raises(CosignRefused) as caught:
            self.cosigner.cosign_nem("withdrawal", request, CHAIN, nem_multisig.inner_data(tx))
        assert caught.value.reason == reason, caught.value.message
        return caught.value.message


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.keys.close()
    e.node.close()
    e.store.close()


def test_a_co_signed_withdrawal_is_sent_and_settles(env: Env) -> None:
    assert env.withdrawals.request("W1", "C1", "XEM", 250 * XEM,
                                   CUSTOMER.address.lower()).state == "allowed"
    before = env.chain.balances([ACCOUNT.address])[ACCOUNT.address]  # less the conversion
    sent = env.withdrawals.send("W1")
    assert sent.state == "sent"
    (waiting,) = env.node.unconfirmed  # the operations key's transfer and the cosignature
    assert len(waiting.cosigners) == 1 and waiting.signed.hash.lower() == sent.tx_hash
    env.node.mine()
    assert env.chain.balances([CUSTOMER.address])[CUSTOMER.address] == 250 * XEM
    assert env.withdrawals.confirm("W1").state == "confirmed"  # type: ignore[union-attr]
    fee = before - 250 * XEM - env.chain.balances([ACCOUNT.address])[ACCOUNT.address]
    assert fee == 50_000 + 150_000 + 150_000  # the transfer, the wrapper, one cosignature
    assert env.ledger.balance("wallet:xem-hot", "XEM") == before - 250 * XEM - fee
    assert env.ledger.balance("fees", "XEM") == fee
    report = verify_log(env.log)
    assert report.ok and report.records == 1  # the cosignature verified as the co-signer's


def test_with_one_cosignature_nothing_is_sent_and_the_thiefs_transfer_expires(
        tmp_path: Path) -> None:
    env = Env(tmp_path, cosigned=False)  # 2-of-3, kinko holds only the operations key
    try:
        env.withdrawals.request("W1", "C1", "XEM", 5 * XEM, CUSTOMER.address)
        with pytest.raises(ApprovalError, match=r"needs 2 cosignatories' signatures; kinko "
                                                r"has 1") as caught:
            env.withdrawals.send("W1")
        assert caught.value.details == {"needed": 2, "given": 1}
        assert env.withdrawals.get("W1").state == "allowed" and env.node.unconfirmed == []
        # the thief holds the operations key, as in 2018, and tries by himself
        watch = Watch(env.withdrawals, env.chain, confirmations=1,
                      start_block=env.chain.head() + 1)
        held = env.chain.balances([ACCOUNT.address])[ACCOUNT.address]
        theft = env.transfer(RECOVERY.address, 9_000 * XEM)
        env.announce(nem_multisig.initiate(theft, OPS))
        (alert,) = watch.poll().alerts
        assert alert["kind"] == "theft" and alert["amount"] == 9_000 * XEM
        env.node.mine()
        assert env.chain.balances([ACCOUNT.address])[ACCOUNT.address] == held
        assert env.node.expire(theft.deadline + 1) == [
            nem_multisig.initiate(theft, OPS).hash.lower()]
        env.node.mine()
        assert env.chain.balances([RECOVERY.address])[RECOVERY.address] == 0
    finally:
        env.keys.close()
        env.node.close()
        env.store.close()


def test_the_cosigner_refuses_a_transfer_that_does_not_match(env: Env) -> None:
    env.withdrawals.request("W2", "C1", "XEM", 5 * XEM, CUSTOMER.address)
    assert "transfer's to is" in env.refused("W2", env.transfer(RECOVERY.address, 5 * XEM),
                                             "mismatch")
    assert "transfer's xem is 6000000" in env.refused(
        "W2", env.transfer(CUSTOMER.address, 6 * XEM), "mismatch")
    assert "deadline" in env.refused("W2", env.transfer(CUSTOMER.address, 5 * XEM,
                                                         hours=30), "mismatch")
    env.refused("W-none", env.transfer(CUSTOMER.address, 5 * XEM), "no_such_request")
    good = env.transfer(CUSTOMER.address, 5 * XEM)
    first = env.cosigner.cosign_nem("withdrawal", "W2", CHAIN, nem_multisig.inner_data(good))
    again = env.cosigner.cosign_nem("withdrawal", "W2", CHAIN, nem_multisig.inner_data(good))
    assert again.repeated and (again.data, again.signature) == (first.data, first.signature)
    assert first.signer == COSIGNER.address
    env.refused("W2", env.transfer(CUSTOMER.address, 5 * XEM, hours=2), "already_signed")
    env.withdrawals.request("W3", "C1", "XEM", 2_000 * XEM, CUSTOMER.address)
    env.refused("W3", env.transfer(CUSTOMER.address, 2_000 * XEM), "over_limit")
    assert env.alerts.deliver_due() == 6  # every refusal is an alert in kinko
    with env.store.watch(write=False) as tables:
        kinds = [a["kind"] for a in tables.alerts()]
    assert kinds.count("cosign_refused") == 6
    assert verify_log(env.log).ok


def test_a_cosignature_is_checked_before_it_counts(env: Env) -> None:
    wallet = registry.spender_for(env.chain, "nis1", env.wallet, env.keys, env.cosigner)
    assert isinstance(wallet, NemMultisigWallet)
    payment = Payment(env.ledger.assets["XEM"], CUSTOMER.address, 5 * XEM, ("withdrawal", "W9"))
    wrong = nem_multisig.cosign(env.transfer(CUSTOMER.address, 6 * XEM), RECOVERY)  # another
    with pytest.raises(ApprovalError, match="not this transfer"):
        wallet.prepare(Payment(payment.asset, payment.to, payment.amount, payment.request,
                               signatures=((RECOVERY.address, json.dumps(
                                   wrong.announce()).encode()),)))
    with pytest.raises(ApprovalError, match="offline"):
        NemMultisigWallet(env.chain, ACCOUNT.address, env.wallet.multisig,  # type: ignore[arg-type]
                          env.keys.nem_key("xem-hot", CHAIN)).prepare(payment)
    env.node.cosignatories[ACCOUNT.address].remove(RECOVERY.public_key)  # changed on chain
    with pytest.raises(ConfigError, match=rf"registered cosignatories not on chain: "
                                          rf"{RECOVERY.address}"):
        wallet.prepare(payment)


def test_bad_nem_input_is_named(env: Env) -> None:
    bad = CUSTOMER.address[:-1] + ("A" if CUSTOMER.address[-1] != "A" else "B")
    with pytest.raises(BadInput, match=rf"{bad}.*checksum"):
        env.withdrawals.request("W5", "C1", "XEM", 5 * XEM, bad)
    testnet = nem.NemKey(PRIVATE[4], "nem-testnet").address
    with pytest.raises(BadInput, match=testnet):
        env.withdrawals.request("W6", "C1", "XEM", 5 * XEM, testnet)
    from kinko.domain.money import Asset

    unknown = Asset("TAG", CHAIN, 0, "kinko.tags:nothing")
    wallet = registry.spender_for(env.chain, "nis1", env.wallet, env.keys, env.cosigner)
    with pytest.raises(BadInput, match=r"unknown mosaic 'kinko\.tags:nothing'"):
        wallet.fee(unknown)
    with pytest.raises(CosignRefused, match=r"not a transfer|not a NEM transaction") as caught:
        env.cosigner.cosign_nem("withdrawal", "W5", CHAIN, "00" * 40)
    assert caught.value.reason == "malformed"


@pytest.fixture
def over_http(env: Env) -> Iterator[str]:
    from cosignhttp import serve_cosigner

    url, stop = serve_cosigner(env.cosigner, "k" * 40)
    yield url
    stop()


def test_kinko_asks_the_cosigner_over_its_protocol(env: Env, over_http: str) -> None:
    from kinko.cosign.client import HttpCosigner

    client = HttpCosigner(over_http, "k" * 40, expected_signer=COSIGNER.address)
    env.custody.spender_for = lambda w: registry.spender_for(env.chain, "nis1", w, env.keys,
                                                             client)
    env.withdrawals.request("W7", "C1", "XEM", 3 * XEM, CUSTOMER.address)
    assert env.withdrawals.send("W7").state == "sent"
    env.node.mine()
    assert env.chain.balances([CUSTOMER.address])[CUSTOMER.address] == 3 * XEM
    with pytest.raises(CosignRefused) as caught:  # the thief's transfer, through the socket
        client.cosign_nem("withdrawal", "W7", CHAIN,
                          nem_multisig.inner_data(env.transfer(RECOVERY.address, 3 * XEM)))
    assert caught.value.reason == "already_signed"
    body = json.dumps({"kind": "withdrawal", "id": "W8", "inner_hash": "00" * 32,
                        "nem_transfer": {"chain": CHAIN, "data": nem_multisig.inner_data(
                            env.transfer(CUSTOMER.address, 1))}}).encode()
    ask = urllib.request.Request(over_http + "/v1/cosign", data=body, method="POST", headers={
        "Authorization": "Bearer " + "k" * 40, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(ask, timeout=5)
    assert "wrong_hash" in refused.value.read().decode()
    assert verify_log(env.log).ok


def test_a_nem_proof_of_control_names_its_signer_or_nothing() -> None:
    from kinko.domain.nem_tx import is_nem, message_signer
    from kinko.services.reserves_chain import SIGNED, status_of

    key, other = ACCOUNT, OPS
    proof = key.sign_message("kinko proof of reserves\nroot ab")
    assert message_signer("nem", "kinko proof of reserves\nroot ab", proof) == key.address
    assert message_signer("nem", "kinko proof of reserves\nroot ac", proof) is None
    assert message_signer("nem", "x", proof[:-2]) is None and message_signer("nem", "x", "") is None
    assert status_of("kinko proof of reserves\nroot ab", key.address, proof, "nem") == SIGNED
    assert status_of("kinko proof of reserves\nroot ab", other.address, proof,
                     "nem").startswith("invalid")
    assert is_nem("nem-testnet") and not is_nem("ethereum")


def test_a_theft_from_a_nem_key_hot_account_is_answered_by_the_emergency_sweep(
        tmp_path: Path) -> None:
    """A hot account of one NEM key (what Coincheck had) whose key leaked: the watch alarms
    on the thief's transfer while it is unconfirmed, and the pre-authorised emergency sweep
    moves what is left to the cold account through the NIS1 adapter; it does not alarm,
    and it settles."""
    from kinko.services.incidents import Incidents

    hot, cold, thief = ACCOUNT, RECOVERY, CUSTOMER
    node = Nis1Double(CHAIN)
    store = migrated_store(tmp_path / "k.db")
    try:
        node.fund(hot.address, 1_000 * XEM)
        chain = NisChain(node.url, name=CHAIN, accounts=[hot.address])
        ledger = Ledger(store, SystemClock(), AssetRegistry.default())
        ledger.add_wallet(Wallet("xem-hot", "XEM", "hot", (hot.address,)))
        ledger.add_wallet(Wallet("xem-cold", "XEM", "cold", (cold.address,)))
        ledger.post("open", [Posting("wallet:xem-hot", "XEM", 1_000 * XEM),
                             Posting("customer:C1", "XEM", -1_000 * XEM)], source="opening")
        (tmp_path / "hot.nem").write_text(PRIVATE[0] + "\n")
        keys = KeyRing(tmp_path, {"xem-hot": ("file", str(tmp_path / "hot.nem"))})
        (tmp_path / "p.toml").write_text(
            "version = 1\nquorum = 1\n[[approvers]]\nname = \"a\"\npublic_key = \""
            + "11" * 32 + "\"\n[assets.XEM]\nmax_hot_ratio = \"1\"\n"
            f'cold_wallet = "xem-cold"\nemergency_address = "{cold.address}"\n'
            '[watch]\nemergency_sweep = "auto"\n')
        custody = Custody(ledger, chain=chain, confirmations=1,
                          spender_for=lambda w: registry.spender_for(chain, "nis1", w, keys))
        custody.load_policy(tmp_path / "p.toml", "ops")
        watch = Watch(Withdrawals(custody), chain, confirmations=1,
                      start_block=chain.head() + 1)
        stolen = hot.sign(nem.transfer(CHAIN, signer_public_key=hot.public_key,
                                       recipient=thief.address, amount=300 * XEM,
                                       timestamp=nem.network_time(CHAIN, datetime.now(UTC))))
        chain.send_raw(json.dumps(stolen.announce()).encode())
        (alert,) = watch.poll().alerts
        assert alert["kind"] == "theft" and alert["chain_state"] == "pending"
        (sweep,) = [p for p in custody.proposals() if p.proposal.payload.get("emergency")]
        assert sweep.state == "sent" and sweep.tx_hash
        node.mine()
        saved = chain.balances([cold.address])[cold.address]
        assert saved == int(str(sweep.proposal.payload["amount"])) > 0
        assert saved + 300 * XEM + 2 * 50_000 <= 1_000 * XEM  # the thief's and the sweep's fees
        report = watch.poll()
        assert report.alerts == []  # the sweep is kinko's, the theft alarmed once
        node.mine()
        watch.poll()
        assert custody.proposal(sweep.proposal.id).state == "executed"  # type: ignore[union-attr]
        assert Incidents(store, SystemClock()).incidents()[0]["state"] == "open"
        keys.close()
    finally:
        node.close()
        store.close()


def test_the_cosigner_refuses_a_transfer_whose_fee_would_drain_the_account(env: Env) -> None:
    env.withdrawals.request("W10", "C1", "XEM", 5 * XEM, CUSTOMER.address)
    now = nem.network_time(CHAIN, datetime.now(UTC))
    inner = nem.transfer(CHAIN, signer_public_key=ACCOUNT.public_key,
                         recipient=CUSTOMER.address, amount=5 * XEM, timestamp=now,
                         deadline=now + 3600, fee=9_000 * XEM)  # to whoever harvests it
    tx = nem_multisig.MultisigTransfer(
        CHAIN, ACCOUNT.address, ACCOUNT.public_key, OPS.public_key, inner,
        nem.inner_hash(CHAIN, inner).lower(),
        nem.multisig(CHAIN, inner, cosignatory_public_key=OPS.public_key, timestamp=now),
        now, now + 3600)
    message = env.refused("W10", tx, "mismatch")
    assert "fee is 9000000000 micro-XEM, above the 50000" in message


def test_an_approved_sweep_to_cold_is_cosigned_and_settles(env: Env) -> None:
    view = env.custody.propose("sweep", {
        "asset": "XEM", "amount": str(4_000 * XEM), "from_wallet": "xem-hot",
        "to_wallet": "xem-cold", "from_address": ACCOUNT.address, "to_address": COLD.address},
        "ops", "sweep to cold")
    early = nem_multisig.inner_data(env.transfer(COLD.address, 4_000 * XEM))
    with pytest.raises(CosignRefused) as caught:  # asked before the quorum: refused
        env.cosigner.cosign_nem("proposal", view.proposal.id, CHAIN, early)
    assert caught.value.reason == "request_state"
    env.custody.approve(view.proposal.id, "a", sign_proposal(view.proposal, APPROVER))
    with pytest.raises(CosignRefused) as caught:  # approved, but not that much
        env.cosigner.cosign_nem("proposal", view.proposal.id, CHAIN, nem_multisig.inner_data(
            env.transfer(COLD.address, 5_000 * XEM)))
    assert caught.value.reason == "mismatch"
    assert env.custody.execute(view.proposal.id).state == "sent"
    env.node.mine()
    assert env.custody.settle(view.proposal.id) is not None
    assert env.chain.balances([COLD.address])[COLD.address] == 4_000 * XEM
    assert env.ledger.balance("wallet:xem-cold", "XEM") == 4_000 * XEM
    assert [f for f in env.custody.reconcile() if f.wallet in ("xem-hot", "xem-cold")] == []
