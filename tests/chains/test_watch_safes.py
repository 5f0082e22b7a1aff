"""The watch over co-signed Safes, on anvil with the real Safe 1.4.1 contracts: a withdrawal
kinko approved and the co-signer signed raises nothing (its SafeTx hash is what kinko
recorded when it signed); an execution made with the owners' keys without kinko, an owner
change, a threshold change and a transaction sent from the operations key's own address
(the key has leaked) each raise one critical alarm, keyed by their transaction (from the
mempool where they wait there), and open an incident whose containment trips the breaker and
sweeps the Safe through the co-signer (its own execution, approved, raises nothing); with
the thief's execution pending, the co-signed sweep takes the Safe nonce it was signed for
at a higher fee, and his execution fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_account import Account
from safeworld import E, World, X, build
from softhsm import SoftHsm

from kinko.chains import safe as S
from kinko.chains.evm import EvmChain
from kinko.chains.hsm import HsmToken
from kinko.chains.keystore import KeystoreSigner, throwaway_signer
from kinko.chains.retry import Retrying
from kinko.domain.safe import SafeTx
from kinko.i18n import ENGLISH
from kinko.services.watch import Watch

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("watch_safes")]


@pytest.fixture(scope="module")
def ops_key(hsm: SoftHsm) -> Iterator[Any]:
    token_name, pin = next(iter(hsm.pins.items()))
    with HsmToken.open(hsm.module, token_name, pin) as token:
        yield token.generate_key(f"ops-{Account.create().address[2:10]}")


@pytest.fixture(scope="module")
def world(anvil: Any, ops_key: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    w = build(EvmChain.connect(anvil.url), ops_key, tmp_path_factory.mktemp("watch-safes"))
    yield w
    w.store.close()


@pytest.fixture(scope="module")
def watch(world: World) -> Watch:
    """The watch as `kinko watch` runs it: on the node wrapped in its retries."""
    return Watch(world.withdrawals, Retrying(world.chain), confirmations=2,
                 start_block=world.chain.head() + 1)


@pytest.fixture(scope="module")
def thief(world: World) -> KeystoreSigner:
    """An outsider with gas money who copied the owners' keys (or found them signing)."""
    key = throwaway_signer()
    world.chain.fund(key.address, E)
    return key


def alerts(w: World) -> list[dict[str, Any]]:
    with w.store.watch(write=False) as tables:
        return tables.alerts()


def caught_up(watch: Watch) -> list[dict[str, Any]]:
    """Poll until the watch has read the head; the alerts raised."""
    raised: list[dict[str, Any]] = []
    while True:
        report = watch.poll()
        raised += report.alerts
        if report.blocks == 0:
            return raised


def new_incident(w: World) -> None:
    """Close the open incidents (people dealt with them): the next alarm opens its own."""
    with w.store.watch() as tables:
        for incident in tables.incidents("open"):
            tables.update_incident(incident["id"], state="resolved")


def force(w: World, sender: Any, data: bytes, *, to: str | None = None, value: int = 0,
          signers: tuple[Any, ...] | None = None, wait: bool = True) -> str:
    """Execute a SafeTx on the hot Safe signed by the owners' keys directly (the operations
    key and the recovery key, past kinko and its co-signer), sent by ``sender``; the hash
    of its transaction, mined."""
    safe = w.hot.addresses[0]
    chain_id, gas_price = w.chain.fee_params()
    tx = SafeTx(safe=safe, chain_id=chain_id, to=to or safe, value=value, data=data,
                nonce=S.read_safe(w.chain, safe).nonce)
    signatures = {o.address: o.sign_digest(tx.hash) for o in signers or (w.owners[0],
                                                                          w.recovery)}
    raw = sender.sign_transfer(to=safe, value=0, gas=500_000, gas_price=gas_price,
                               chain_id=chain_id, nonce=w.chain.nonce(sender.address),
                               data=S.exec_transaction_data(tx, signatures))
    tx_hash = w.chain.send_raw(raw)
    if wait:
        assert int(w.chain.wait_for(tx_hash, "a forced Safe transaction")["status"]) == 1
    return tx_hash


@contextmanager
def held(w: World) -> Iterator[None]:
    """Transactions wait in the mempool until the test mines them."""
    provider: Any = w.chain.w3.provider
    provider.make_request("evm_setAutomine", [False])
    try:
        yield
    finally:
        provider.make_request("evm_setAutomine", [True])


def one_alarm(w: World, watch: Watch, tx_hash: str, kind: str) -> dict[str, Any]:
    """The watch raises exactly one alert for ``tx_hash`` (critical, ``kind``), and it
    opens an incident."""
    before = {a["id"] for a in alerts(w)}
    caught_up(watch)
    caught_up(watch)  # a second round (the containment's own sweep) adds nothing
    fresh = [a for a in alerts(w) if a["id"] not in before]
    mine = [a for a in fresh if (a["tx_hash"] or "").lower() == tx_hash.lower()]
    assert len(mine) == 1, [(a["kind"], ENGLISH.text(a["detail"])) for a in fresh]
    assert [a["id"] for a in fresh] == [mine[0]["id"]], [ENGLISH.text(a["detail"])
                                                          for a in fresh]
    alert = mine[0]
    assert (alert["kind"], alert["severity"]) == (kind, "critical")
    assert alert["incident"] is not None and alert["chain_state"] in ("mined", "final")
    return alert


def test_an_approved_cosigned_withdrawal_raises_nothing(world: World, watch: Watch) -> None:
    w, dest = world, Account.create().address
    caught_up(watch)
    assert w.withdrawals.request("W1", "C1", "ETH", E, dest).state == "allowed"
    sent = w.withdrawals.send("W1")
    w.chain.wait_for(str(sent.tx_hash), "the withdrawal")
    assert w.withdrawals.request("W2", "C1", "XEM", 5 * X, dest).state == "allowed"
    w.chain.wait_for(str(w.withdrawals.send("W2").tx_hash), "the token withdrawal")
    w.chain.mine(2)
    assert caught_up(watch) == []
    assert alerts(w) == []
    assert {w.withdrawals.get(i).state for i in ("W1", "W2")} == {"confirmed"}  # closed


def test_an_execution_kinko_did_not_approve_alarms_once(world: World, watch: Watch,
                                                        thief: KeystoreSigner) -> None:
    w, safe = world, world.hot.addresses[0]
    caught_up(watch)
    before = w.chain.balances([safe])[safe]
    cold_before = w.chain.balances([w.cold.addresses[0]])[w.cold.addresses[0]]
    tx_hash = force(w, thief, b"", to=thief.address, value=E)
    alert = one_alarm(w, watch, tx_hash, "safe_execution")
    assert alert["amount"] == E and alert["asset"] == "ETH" and alert["wallet"] == "eth-hot"
    text = ENGLISH.text(alert["detail"])
    assert "did not approve" in text and thief.address in text
    assert "ETH" in w.withdrawals.breaker()  # contained as a theft
    # its emergency sweep is an ordinary co-signed execution to the cold Safe, approved by
    # kinko (no second alarm); the owners' keys that moved it can move it again, and the
    # timeline says the sweep races them on the Safe's nonce
    (sweep,) = [v for v in w.custody.proposals() if v.proposal.payload.get("emergency")]
    assert "nonce" not in sweep.proposal.payload and sweep.state in ("sent", "executed")
    assert sweep.proposal.payload["to_address"] == w.cold.addresses[0]
    cold = w.cold.addresses[0]
    assert w.chain.balances([safe])[safe] == 0
    assert w.chain.balances([cold])[cold] - cold_before == before - E
    with w.store.watch(write=False) as tables:
        timeline = [ENGLISH.text(e["detail"]) for e in tables.events(alert["incident"])]
    assert any("this sweep races them on the Safe's next nonce" in e for e in timeline), \
        timeline


def test_a_pending_execution_is_outraced_by_the_cosigned_sweep(
        world: World, watch: Watch, thief: KeystoreSigner) -> None:
    """Owners' keys in a thief's hands: his execution waits in the mempool; the watch
    alarms before it is mined, and the emergency sweep, co-signed, takes the Safe's nonce
    his signatures were made for, its relayer outbidding him: his execution fails."""
    w, safe, cold = world, world.hot.addresses[0], world.cold.addresses[0]
    new_incident(w)
    w.chain.fund(safe, 3 * E)
    caught_up(watch)
    chain_before = w.chain.balances([safe, cold, thief.address])
    with held(w):
        theft = force(w, thief, b"", to=thief.address, value=2 * E, wait=False)
        (alert,) = watch.poll().alerts
        assert (alert["kind"], alert["chain_state"], alert["tx_hash"]) == (
            "safe_execution", "pending", theft)
        (sweep,) = [v for v in w.custody.proposals()
                    if v.proposal.payload.get("emergency") == alert["incident"]]
        seen = w.chain.transaction(theft)
        assert seen is not None and sweep.state == "sent"
        assert int(str(sweep.proposal.payload["gas_price"])) > int(seen["gas_price"])
        w.chain.mine(1)
    stolen = w.chain.receipt(theft)
    assert stolen is not None and not stolen.ok  # the nonce it was signed for is used
    after = w.chain.balances([safe, cold, thief.address])
    swept = after[cold] - chain_before[cold]
    assert swept > 0 and chain_before[safe] - after[safe] == swept  # nothing else left
    assert after[thief.address] == chain_before[thief.address] - stolen.fee
    caught_up(watch)
    with w.store.watch(write=False) as tables:
        timeline = "\n".join(ENGLISH.text(e["detail"])
                             for e in tables.events(alert["incident"]))
        mined = tables.alert(alert["id"])
    assert "this sweep races them on the Safe's nonce" in timeline, timeline
    assert f"replacing {theft}" in timeline
    assert mined is not None and mined["amount"] == 0 and "reverted" in ENGLISH.text(
        mined["detail"])


def test_an_owner_change_alarms_once(world: World, watch: Watch,
                                     thief: KeystoreSigner) -> None:
    w = world
    new_incident(w)
    stranger = Account.create().address
    tx_hash = force(w, thief, S.encode_call("addOwnerWithThreshold(address,uint256)",
                                            stranger, 2))
    alert = one_alarm(w, watch, tx_hash, "safe_change")
    assert f"owner {stranger} added" in ENGLISH.text(alert["detail"])


def test_a_threshold_change_alarms_from_the_mempool_once(world: World, watch: Watch,
                                                         thief: KeystoreSigner) -> None:
    w = world
    new_incident(w)
    caught_up(watch)
    before = {a["id"] for a in alerts(w)}
    with held(w):
        tx_hash = force(w, thief, S.encode_call("changeThreshold(uint256)", 1), wait=False)
        pending = watch.poll().alerts
        assert [(a["kind"], a["chain_state"], a["tx_hash"]) for a in pending] == [
            ("safe_change", "pending", tx_hash)]
        assert "calls the Safe itself" in ENGLISH.text(pending[0]["detail"])
        assert pending[0]["incident"] is not None
    w.chain.mine(1)
    caught_up(watch)
    fresh = [a for a in alerts(w) if a["id"] not in before]
    assert [a["id"] for a in fresh] == [pending[0]["id"]]
    assert fresh[0]["chain_state"] in ("mined", "final")  # the mined change: the same alert
    said = ENGLISH.text(fresh[0]["detail"])
    receipt = w.chain.receipt(tx_hash)
    assert receipt is not None
    if receipt.ok:  # it went through: the alert learnt from its events what it changed
        assert "threshold changed to 1" in said, said
        assert S.read_safe(w.chain, w.hot.addresses[0]).threshold == 1
    else:  # the Safe held money (an earlier test's), and its co-signed emergency sweep
        # took the nonce the thief's change was signed for: an attempt that changed nothing
        assert "reverted" in said and fresh[0]["amount"] == 0, said
        assert S.read_safe(w.chain, w.hot.addresses[0]).threshold == 2
        assert any(v.proposal.payload.get("emergency") == fresh[0]["incident"]
                   for v in w.custody.proposals())


def test_a_send_from_the_operations_key_alarms_from_the_mempool_once(
        world: World, watch: Watch) -> None:
    """The operations key (in the HSM) owns the Safe and signs SafeTx hashes; a transaction
    from its own address means someone else holds it. Seen pending first, then mined: one
    alert."""
    w, ops = world, world.owners[0]
    new_incident(w)
    caught_up(watch)
    w.chain.fund(ops.address, E // 10)
    caught_up(watch)
    before = {a["id"] for a in alerts(w)}
    chain_id, gas_price = w.chain.fee_params()
    with held(w):
        raw = ops.sign_transfer(to=Account.create().address, value=E // 100, gas=21_000,
                                gas_price=gas_price, chain_id=chain_id,
                                nonce=w.chain.nonce(ops.address), data=b"")
        tx_hash = w.chain.send_raw(raw)
        pending = watch.poll().alerts
        assert [(a["kind"], a["chain_state"]) for a in pending] == [("owner_key", "pending")]
    w.chain.mine(1)
    caught_up(watch)
    fresh = [a for a in alerts(w) if a["id"] not in before]
    assert [(a["id"], a["kind"], a["tx_hash"].lower()) for a in fresh] == [
        (pending[0]["id"], "owner_key", tx_hash.lower())]  # the mined one is the same
    alert = fresh[0]
    assert alert["chain_state"] in ("mined", "final") and alert["incident"] is not None
    assert "the key has leaked" in ENGLISH.text(alert["detail"])
