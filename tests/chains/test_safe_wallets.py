"""Safe wallets through kinko's normal paths, with the real Safe 1.4.1 bytecode on the
in-process chain and on anvil: a co-signed 2-of-3 hot Safe (an operations key in SoftHSM2,
the policy co-signer's rules and log in process, an offline recovery key) pays withdrawals of ETH and of a token,
sent by a relayer that owns nothing and pays the gas, whose fee is booked to its own
wallet; a sweep goes from the hot Safe to a cold Safe owned by the approvers; a Safe whose
owners or threshold differ from what is registered, and an asset not in the registry, are
refused by name with nothing signed and nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import defunct_hash_message, encode_defunct
from safeworld import APPROVERS, E, World, X, build
from softhsm import SoftHsm

from kinko.chains import safe as S
from kinko.chains.evm import EvmChain
from kinko.chains.hsm import HsmToken
from kinko.chains.keystore import throwaway_signer
from kinko.chains.registry import contract_check
from kinko.chains.safe import RECEIVE_GAS
from kinko.chains.wallets import KeyOwner, KeyWallet, SafeWallet
from kinko.domain.approvals import sign_proposal
from kinko.domain.chain import AUTHORIZATION_GAS
from kinko.domain.custody import Multisig, Wallet
from kinko.domain.ledger import Posting
from kinko.domain.messages import verbatim
from kinko.domain.reserves_proof import SIGNED
from kinko.domain.safe import SafeTx
from kinko.domain.watch import Alert
from kinko.errors import ApprovalError, BadInput, ChainRejected, CosignRefused, UnknownAsset
from kinko.i18n import ENGLISH
from kinko.ports import Fee, Payment, RaceTerms
from kinko.services import reserves, reserves_chain
from kinko.services.containment import Containment
from kinko.services.custody import Custody
from kinko.services.deposits import Deposits
from kinko.services.wallets import create_multisig, register_multisig

pytestmark = pytest.mark.xdist_group("safe_wallets")  # one world per module, built once


@pytest.fixture(scope="module")
def ops_key(hsm: SoftHsm) -> Iterator[Any]:
    token_name, pin = next(iter(hsm.pins.items()))  # the session's token
    with HsmToken.open(hsm.module, token_name, pin) as token:
        yield token.generate_key(f"ops-{Account.create().address[2:10]}")


@pytest.fixture(scope="module", params=["inprocess",
                                        pytest.param("anvil", marks=pytest.mark.slow)])
def world(request: pytest.FixtureRequest, ops_key: Any,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    chain = (EvmChain.in_process() if request.param == "inprocess"
             else EvmChain.connect(request.getfixturevalue("anvil").url))
    w = build(chain, ops_key, tmp_path_factory.mktemp("safe-wallets"))
    yield w
    w.store.close()


def _balances(w: World) -> dict[str, int]:
    return {r.account: r.state.balance for r in w.ledger.balances(kind="wallet", asset="ETH")}


def _findings(w: World) -> list[Any]:
    """Reconciliation's findings, but for eth-odd (a Safe registered with the wrong
    threshold by the test that shows it refused)."""
    return [f for f in w.custody.reconcile() if f.severity != "info" and f.wallet != "eth-odd"]


def _confirm(w: World, withdrawal_id: str) -> Any:
    view = w.withdrawals.confirm(withdrawal_id)
    while view is None:
        w.chain.mine(1)
        view = w.withdrawals.confirm(withdrawal_id)
    return view


def test_a_withdrawal_from_a_cosigned_safe_is_sent_and_confirmed(world: World) -> None:
    w, dest = world, Account.create().address
    safe, relayer = w.hot.addresses[0], w.relayer.address
    chain_before = w.chain.balances([safe, relayer])
    booked = _balances(w)
    assert w.withdrawals.request("S1", "C1", "ETH", 1 * E, dest).state == "allowed"
    sent = w.withdrawals.send("S1")
    assert sent.state == "sent" and ("withdrawal:S1", "signed") in w.decisions()
    w.chain.wait_for(str(sent.tx_hash), "the withdrawal")  # a loaded anvil mines late
    receipt = w.chain.receipt(sent.tx_hash)  # type: ignore[arg-type]
    assert receipt is not None and receipt.ok and receipt.payer == relayer.lower()
    assert _confirm(w, "S1").state == "confirmed"
    chain_after = w.chain.balances([safe, relayer, dest])
    assert chain_after[dest] == 1 * E
    assert chain_before[safe] - chain_after[safe] == 1 * E  # the Safe pays no gas
    assert chain_before[relayer] - chain_after[relayer] == receipt.fee  # the relayer does
    after = _balances(w)
    assert booked["wallet:eth-hot"] - after["wallet:eth-hot"] == 1 * E
    assert booked["wallet:eth-relayer"] - after["wallet:eth-relayer"] == receipt.fee
    assert w.ledger.balance("fees", "ETH") >= receipt.fee > 0
    assert _findings(w) == []
    assert w.ledger.verify().ok


def test_a_token_withdrawal_from_the_same_safe(world: World) -> None:
    w, dest = world, Account.create().address
    token = w.ledger.assets["XEM"].token
    assert w.withdrawals.request("S2", "C1", "XEM", 25 * X, dest).state == "allowed"
    assert w.withdrawals.send("S2").state == "sent"
    assert _confirm(w, "S2").state == "confirmed"
    assert w.chain.balances([dest], token=token)[dest] == 25 * X
    assert w.ledger.balance("wallet:xem-hot", "XEM") == 975 * X
    assert _findings(w) == []


def test_a_sweep_from_the_hot_safe_to_the_cold_safe(world: World) -> None:
    w = world
    cold = w.cold.addresses[0]
    before = w.chain.balances([cold])[cold]
    view = w.custody.propose("sweep", {
        "asset": "ETH", "amount": str(2 * E), "from_wallet": "eth-hot", "to_wallet": "eth-cold",
        "from_address": w.hot.addresses[0], "to_address": cold}, "ops", "sweep to cold")
    for name in ("alice", "bob"):
        w.custody.approve(view.proposal.id, name, sign_proposal(view.proposal, APPROVERS[name]))
    sent = w.custody.execute(view.proposal.id)
    assert sent.state == "sent"
    assert (f"proposal:{view.proposal.id}", "signed") in w.decisions()
    w.chain.mine(2)
    entry = w.custody.settle(view.proposal.id)
    assert entry is not None
    assert w.chain.balances([cold])[cold] - before == 2 * E
    assert w.ledger.balance("wallet:eth-cold", "ETH") == 2 * E
    assert _findings(w) == []


def test_a_safe_that_differs_from_its_registration_is_refused(world: World) -> None:
    w = world
    safe = w.hot.addresses[0]
    owners = [o.address for o in w.owners]
    registered = w.ledger.wallets()
    with pytest.raises(ChainRejected, match="threshold 2, not 3"):
        register_multisig(w.ledger, w.safes, "eth-warm", "ETH", "warm", safe, owners, 3)
    stranger = Account.create().address
    with pytest.raises(ChainRejected) as differs:
        register_multisig(w.ledger, w.safes, "eth-warm", "ETH", "warm", safe,
                          [*owners[:2], stranger], 2)
    assert stranger in differs.value.message and owners[2] in differs.value.message
    assert w.ledger.wallets() == registered  # nothing written
    # a wallet whose record no longer matches the chain: nothing is signed or sent
    paid = w.chain.balances([w.relayer.address])[w.relayer.address]
    other, made = w.safes.create(owners, 2, operator=owners[0], cosigner=owners[1])
    paid -= w.chain.balances([w.relayer.address])[w.relayer.address]
    w.ledger.post("odd-safe-gas", [Posting("fees", "ETH", paid),
                                   Posting("wallet:eth-relayer", "ETH", -paid)], source="test")
    assert other != safe  # the same owners and threshold: the next free salt nonce
    odd = Multisig(made.owners, 1, made.contracts, operator=made.operator,
                   cosigner=made.cosigner)
    w.ledger.add_wallet(Wallet("eth-odd", "ETH", "warm", (other,), kind="multisig",
                               multisig=odd))
    view = w.custody.propose("sweep", {
        "asset": "ETH", "amount": str(E), "from_wallet": "eth-odd", "to_wallet": "eth-cold",
        "from_address": other, "to_address": w.cold.addresses[0]}, "ops", "odd")
    for name in ("alice", "bob"):
        w.custody.approve(view.proposal.id, name, sign_proposal(view.proposal, APPROVERS[name]))
    decisions = w.decisions()
    with pytest.raises(ChainRejected, match="threshold 2, not 1"):
        w.custody.execute(view.proposal.id)
    assert w.decisions() == decisions and S.read_safe(w.chain, other).nonce == 0
    assert w.custody.proposal(view.proposal.id).state == "approved"  # type: ignore[union-attr]


def test_an_asset_not_in_the_registry_is_refused_by_name(world: World) -> None:
    w = world
    registered, head = w.ledger.wallets(), w.chain.head()
    owners = [o.address for o in w.owners]
    with pytest.raises(UnknownAsset, match="USDC"):
        create_multisig(w.ledger, w.safes, "usdc-hot", "USDC", "hot", owners, 2)
    with pytest.raises(UnknownAsset, match="USDC"):
        w.withdrawals.request("S9", "C1", "USDC", 1, Account.create().address)
    assert w.ledger.wallets() == registered and w.chain.head() == head
    with pytest.raises(BadInput, match="unknown withdrawal"):
        w.withdrawals.get("S9")


def test_one_owner_alone_moves_nothing_and_the_cosigner_refuses_the_unapproved(
        world: World) -> None:
    w = world
    safe = w.hot.addresses[0]
    alone = SafeWallet(w.chain, safe, w.hot.multisig, w.relayer,  # type: ignore[arg-type]
                       [KeyOwner(w.owners[0])])
    eth = w.ledger.assets["ETH"]
    with pytest.raises(ApprovalError, match="needs 2 owners' signatures"):
        alone.prepare(Payment(eth, Account.create().address, E, ("withdrawal", "S1")))
    tx = SafeTx(safe=safe, chain_id=w.chain.fee_params()[0], to=Account.create().address,
                value=E, data=b"", nonce=S.read_safe(w.chain, safe).nonce)
    with pytest.raises(CosignRefused) as refused:
        w.cosigner.cosign("withdrawal", "never-requested", tx)
    assert refused.value.reason == "no_such_request"
    assert w.withdrawals.request("S3", "C1", "ETH", E, tx.to).state == "allowed"
    more = SafeTx(safe=safe, chain_id=tx.chain_id, to=tx.to, value=E + 1, data=b"",
                  nonce=tx.nonce)
    with pytest.raises(CosignRefused) as refused:
        w.cosigner.cosign("withdrawal", "S3", more)
    assert refused.value.reason == "mismatch"
    first = w.cosigner.cosign("withdrawal", "S3", tx)
    assert w.cosigner.cosign("withdrawal", "S3", tx).signature == first.signature
    with pytest.raises(CosignRefused) as refused:
        w.cosigner.cosign("withdrawal", "S3", SafeTx(safe=safe, chain_id=tx.chain_id,
                                                     to=tx.to, value=E, data=b"",
                                                     nonce=tx.nonce + 1))
    assert refused.value.reason == "already_signed"
    # the co-signer holds the Safe's nonce for S3 now: kinko's own sending of S3 builds
    # the same SafeTx and gets the same signature again
    assert w.withdrawals.send("S3").state == "sent"
    assert w.decisions()[-1] == ("withdrawal:S3", "repeated")
    assert _confirm(w, "S3").state == "confirmed"


def test_a_key_wallet_pays_a_safe_with_the_gas_its_receive_needs(world: World) -> None:
    w = world
    payer = KeyWallet(w.chain, w.relayer)
    eth = w.ledger.assets["ETH"]
    cold = w.cold.addresses[0]
    prepared = payer.prepare(Payment(eth, cold, 1, ("proposal", "test")))
    assert prepared.detail["gas"] == RECEIVE_GAS and prepared.fee.payer == payer.address
    assert payer.fee(eth, cold) == prepared.fee
    assert payer.fee(eth, Account.create().address).amount < prepared.fee.amount
    out = payer.sign(prepared)
    receipt = w.chain.wait_for(w.chain.send_raw(out.raw), "paying a Safe")
    assert int(receipt["status"]) == 1
    w.ledger.post("relayer-to-cold", [Posting("wallet:eth-cold", "ETH", 1),
                                      Posting("wallet:eth-relayer", "ETH", -1)],
                  source="test")
    r = w.chain.receipt(out.tx_hash)
    assert r is not None
    w.ledger.post("relayer-to-cold-fee", [Posting("fees", "ETH", r.fee),
                                          Posting("wallet:eth-relayer", "ETH", -r.fee)],
                  source="test")
    assert _findings(w) == []


def test_a_key_wallet_signs_at_a_race_s_terms_and_a_safe_refuses_to_race(
        world: World) -> None:
    """An emergency sweep racing a thief hands the wallet its nonce, gas price and
    delegation-clear: a key wallet signs at exactly those (the fee it names includes the
    authorization's gas); a Safe does not race, and refuses before asking any owner."""
    w = world
    payer = KeyWallet(w.chain, w.relayer)
    eth = w.ledger.assets["ETH"]
    to = Account.create().address
    nonce, price = w.chain.nonce(payer.address), 3 * w.chain.fee_params()[1] + 7
    racing = Payment(eth, to, 1, ("proposal", "race"),
                     race=RaceTerms(nonce, price, clear_delegation=True))
    cleared = payer.prepare(racing)
    assert (cleared.detail["nonce"], cleared.detail["gas_price"]) == (nonce, price)
    assert cleared.detail["clear_delegation"] is True
    assert cleared.fee == Fee(payer.address, (21_000 + AUTHORIZATION_GAS) * price,
                              21_000 + AUTHORIZATION_GAS)
    plain = payer.prepare(replace(racing, race=RaceTerms(nonce, price)))
    assert plain.fee == Fee(payer.address, 21_000 * price, 21_000)
    out = payer.sign(plain)
    w.chain.wait_for(w.chain.send_raw(out.raw), "a race's transfer")
    seen = w.chain.transaction(out.tx_hash)
    assert seen is not None and (seen["nonce"], seen["gas_price"]) == (nonce, price)
    r = w.chain.receipt(out.tx_hash)
    assert r is not None and r.ok
    w.ledger.post("race-out", [Posting("wallet:eth-relayer", "ETH", -1 - r.fee),
                               Posting("fees", "ETH", r.fee), Posting("own", "ETH", 1)],
                  source="test")
    with pytest.raises(ApprovalError, match="does not race"):
        w.spender(w.hot).prepare(replace(racing, to=w.cold.addresses[0]))
    assert _findings(w) == []


def test_check_says_how_wallets_sign(world: World, tmp_path: Path) -> None:
    w = world
    custody = Custody(w.ledger, chain=w.chain, key_location=lambda wallet: (
        None if wallet.kind == "key" and wallet.tier != "hot" else
        "file" if wallet.name == "eth-relayer" else "hsm" if wallet.kind == "multisig"
        and wallet.multisig is not None and wallet.multisig.operator else None))
    codes = {(f.code, f.wallet) for f in custody.check(reconcile=False).findings}
    assert ("key_in_file", "eth-relayer") in codes and ("single_key_hot", "eth-relayer") in codes
    assert not {c for c in codes if c[1] in ("eth-hot", "xem-hot", "eth-cold")}


def test_a_refill_from_the_cold_safe_with_its_owners_offline_signatures(world: World) -> None:
    w = world
    hot, cold = w.hot.addresses[0], w.cold.addresses[0]
    w.chain.fund(cold, E)
    w.ledger.post("cold-funds", [Posting("wallet:eth-cold", "ETH", E),
                                 Posting("own", "ETH", -E)], source="test")
    view = w.custody.propose("refill", {
        "asset": "ETH", "amount": str(E), "from_wallet": "eth-cold", "to_wallet": "eth-hot",
        "from_address": cold, "to_address": hot}, "ops", "refill from cold")
    with pytest.raises(ApprovalError, match="approved sweep or refill"):
        w.custody.owners_transaction(view.proposal.id)  # not approved yet: nothing to sign
    for name in ("alice", "bob"):
        w.custody.approve(view.proposal.id, name, sign_proposal(view.proposal, APPROVERS[name]))
    with pytest.raises(ApprovalError, match="needs 2 owners' signatures"):
        w.custody.execute(view.proposal.id)  # kinko holds no key of the cold Safe
    assert w.custody.proposal(view.proposal.id).state == "approved"  # type: ignore[union-attr]
    what = w.custody.owners_transaction(view.proposal.id)
    assert what["to"].lower() == hot and what["value"] == str(E) and what["operation"] == 0
    digest = bytes.fromhex(what["digest"][2:])
    first, second, outsider = w.cold_owners[0], w.cold_owners[1], throwaway_signer()
    with pytest.raises(ApprovalError, match="not an owner"):
        w.custody.add_owner_signature(view.proposal.id, outsider.address,
                                      outsider.sign_digest(digest))
    with pytest.raises(ApprovalError, match="sign it again"):  # someone else's signature
        w.custody.add_owner_signature(view.proposal.id, first.address,
                                      second.sign_digest(digest))
    assert w.custody.add_owner_signature(view.proposal.id, first.address,
                                         first.sign_digest(digest)) == 1
    # a hardware wallet signs the hash's 32 bytes as a message (eth_sign / personal_sign)
    pasted = bytes(w.cold_accounts[1].sign_message(encode_defunct(primitive=digest)).signature)
    assert w.custody.add_owner_signature(view.proposal.id, second.address, pasted) == 2
    before = w.chain.balances([hot])[hot]
    assert w.custody.execute(view.proposal.id).state == "sent"
    w.chain.mine(2)
    assert w.custody.settle(view.proposal.id) is not None
    assert w.chain.balances([hot])[hot] - before == E
    assert _findings(w) == []


def test_a_safe_proves_control_with_its_owners_signatures(world: World, tmp_path: Path) -> None:
    """kinko signs for the operations key; one owner short, the Safe itself (EIP-1271, at the
    committed block) does not vouch; the recovery owner's signature, made offline and
    imported, completes it; a stranger's is refused by name."""
    w = world
    safe, out = w.hot.addresses[0], tmp_path / "snap"
    reserves.publish(reserves.snapshot(w.ledger, min_height=2, chain=w.chain), out)

    def prover(wallet: Wallet) -> Any:
        return KeyWallet(w.chain, w.relayer) if wallet.kind == "key" else w.spender(wallet)

    signed = {r.wallet: r.status for r in reserves_chain.sign_hot(out, w.ledger.wallets(),
                                                                  prover)}
    assert signed["eth-hot"].startswith("missing (1 of 2 owners' signatures")
    check = contract_check(w.chain, "evm")

    def status(wallet: str) -> str:
        report = reserves_chain.build_report(out, w.ledger.wallets(), w.ledger.assets,
                                             w.chain, check)
        return next(r.status for a in report.assets for r in a.rows if r.wallet == wallet)

    assert status("eth-hot").startswith("invalid (the Safe does not accept")
    message = json.loads((out / "signatures.json").read_text())["messages"]["ethereum"] \
        .replace("<address>", safe)
    data_hash = bytes(defunct_hash_message(text=message))
    chain_id = w.chain.fee_params()[0]
    stranger = throwaway_signer()
    offline = out.parent / "owners.json"
    results = []
    for signer in (stranger, w.recovery):
        piece = S.sign_safe_message(signer, chain_id, safe, data_hash)
        offline.write_text(json.dumps({"signatures": [{"address": safe,
                                                       "signature": "0x" + piece.hex()}]}))
        results += reserves_chain.import_signatures(out, offline, w.ledger.wallets())
    assert results[0].status == f"invalid (recovers {stranger.address}, not an owner of the Safe)"
    assert results[1].status == SIGNED
    assert status("eth-hot") == SIGNED and status("xem-hot") == SIGNED


def test_deposits_to_the_hot_safe_are_credited(world: World) -> None:
    """A customer's ETH sent to the hot Safe (a plain transfer, with the gas a Safe's
    receive needs) is credited once final; the books still match the chain."""
    w = world
    safe = w.hot.addresses[0]
    deposits = Deposits(w.ledger, w.chain, confirmations=2, start_block=w.chain.head() + 1)
    deposits.add_address("C9", "ETH", safe, "eth-hot")
    customer = throwaway_signer()
    w.chain.fund(customer.address, E)
    eth = w.ledger.assets["ETH"]
    sent = KeyWallet(w.chain, customer).prepare(Payment(eth, safe, E // 2, ("deposit", "C9")))
    assert sent.detail["gas"] == RECEIVE_GAS
    w.chain.wait_for(w.chain.send_raw(KeyWallet(w.chain, customer).sign(sent).raw), "deposit")
    w.chain.mine(2)
    assert deposits.scan().credited == 1
    assert w.ledger.balance("customer:C9", "ETH") == E // 2  # owed to the customer
    assert _findings(w) == []


def events(w: World, incident: str) -> list[str]:
    with w.store.watch(write=False) as tables:
        return [ENGLISH.text(e["detail"]) for e in tables.events(incident)]


def test_an_emergency_sweep_of_the_hot_safe_is_cosigned_while_the_breaker_is_tripped(
        world: World) -> None:
    """A theft alarm on the hot Safe: containment trips the breakers and sends the
    pre-authorised emergency sweep through the normal path; the co-signer signs it (to a
    cold address in its own settings) though the breaker is tripped, and refuses a
    withdrawal meanwhile. (Last in this module: it leaves the breakers tripped.)"""
    w = world
    safe, cold = w.hot.addresses[0], w.cold.addresses[0]
    with w.store.watch() as tables:
        incident = tables.put_incident({"state": "open", "title": verbatim("theft drill"), "asset": "ETH",
                                        "wallet": "eth-hot", "opened": w.ledger.clock.now(),
                                        "closed": None})
    containment = Containment(w.withdrawals, w.chain)
    alert = Alert("drill", "theft", "critical", "ETH", "eth-hot", "theft drill",
                  tx_hash="0x" + "ab" * 32)
    before = w.chain.balances([safe, cold])
    sweeps = containment.contain(incident, alert, True, containment.survey(["eth-hot"]))
    assert [s.incident for s in sweeps] == [incident]
    containment.send(sweeps)
    (sweep,) = sweeps
    assert "nonce" not in w.custody.proposal(sweep.proposal).proposal.payload  # no race
    assert (f"proposal:{sweep.proposal}", "signed") in w.decisions(), events(w, incident)
    assert any("co-signed: the leaked key alone could not have moved the wallet" in e
               for e in events(w, incident))  # not "a race with the attacker"
    w.chain.mine(2)
    assert w.custody.settle(sweep.proposal) is not None
    after = w.chain.balances([safe, cold])
    assert after[cold] - before[cold] == before[safe] - after[safe] > 0
    dest = Account.create().address
    assert w.withdrawals.request("S-held", "C1", "ETH", 1, dest).state == "review"
    tx = SafeTx(safe=safe, chain_id=w.chain.fee_params()[0], to=dest, value=1, data=b"",
                nonce=S.read_safe(w.chain, safe).nonce)
    with pytest.raises(CosignRefused) as refused:
        w.cosigner.cosign("withdrawal", "S-held", tx)
    assert refused.value.reason == "request_state"  # held for review, not approved
