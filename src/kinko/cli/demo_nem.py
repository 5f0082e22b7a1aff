"""The shell of the demo's NEM act (:mod:`kinko.services.demo_nem`): a NIS1 node (the
recorded-shape double of :mod:`kinko.chains.nis1_double`, in this process), the 2018 hot
account converted to a 2-of-3 multisig account with fresh throwaway keys, a kinko ledger
(``DIR/nem-2018.db``) that registers it, the policy co-signer in process with its own log
(``DIR/nem-cosign.db``), and the thief's three attempts with the operations key. Called from
``kinko demo`` by one line; prints its lines and returns what goes into ``replay.json``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kinko.chains import nem, nem_multisig
from kinko.chains.keystore import throwaway_signer
from kinko.chains.nem_wallets import NemAccounts
from kinko.chains.nis1 import NisChain
from kinko.chains.nis1_double import Nis1Double
from kinko.cli.runtime import speech, word
from kinko.domain.cosign import CosignPolicy, SafeLimit
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry, format_units
from kinko.ports import SystemClock
from kinko.services.cosign import AlertDelivery, CosignService
from kinko.services.demo_nem import NemThief, run_nem_act
from kinko.services.ledger import Ledger
from kinko.services.wallets import register_multisig
from kinko.store import open_store, upgrade
from kinko.store.cosign_sql import open_cosign_log
from kinko.store.cosign_view import KinkoAlertSink, SqlKinkoView

__all__ = ["nem_act"]

CHAIN = "nem"
XEM_TOTAL = 523_000_000 * 10**6
CONVERSION_FEE = 500_000  # NIS1's fee of a multisig modification, paid by the account
ATTACKER_NEM = "NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OG"  # the 2018 attacker's NEM address


def _fresh(path: Path) -> str:
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def nem_act(folder: Path) -> dict[str, Any]:
    """Run the act (see the module docstring), print it, return its JSON."""
    account, ops, cosigner, recovery, thief = (nem.NemKey(os.urandom(32).hex(), CHAIN)
                                               for _ in range(5))
    node = Nis1Double(CHAIN)
    try:
        chain = NisChain(node.url, name=CHAIN, accounts=[account.address])
        node.fund(account.address, XEM_TOTAL + CONVERSION_FEE)  # the customers' XEM
        now = nem.network_time(CHAIN, datetime.now(UTC))
        chain.send_raw(json.dumps(account.sign(nem.modification(
            CHAIN, account_public_key=account.public_key, timestamp=now,
            add=[k.public_key for k in (ops, cosigner, recovery)],
            min_change=2)).announce()).encode())
        node.mine()
        url = _fresh(folder / "nem-2018.db")
        store = open_store(url)
        try:
            upgrade(store)
            ledger = Ledger(store, SystemClock(), AssetRegistry.default())
            ledger.sync_assets()
            register_multisig(ledger, NemAccounts(chain), "xem-hot", "XEM", "hot",
                              account.address, [ops.address, cosigner.address,
                                                recovery.address], 2,
                              operator=ops.address, cosigner=cosigner.address)
            held = chain.balances([account.address])[account.address]
            ledger.post("customers", [Posting("wallet:xem-hot", "XEM", held),
                                      Posting("customer:coincheck-2018", "XEM", -held)],
                        source="demo")
            log = open_cosign_log(_fresh(folder / "nem-cosign.db"))
            limit = SafeLimit(account.address.lower(), "XEM", 100_000 * 10**6,
                              timedelta(days=1))
            service = CosignService(
                policy=CosignPolicy(CHAIN, {account.address.lower(): {"XEM": limit}}),
                kinko=SqlKinkoView(url), chain=None, log=log, signer=throwaway_signer(),
                clock=SystemClock(), nem_key=cosigner, nem_chain=chain)
            tx = nem_multisig.prepare(CHAIN, account_public_key=account.public_key,
                                      initiator_public_key=ops.public_key, to=ATTACKER_NEM,
                                      amount=held - 1_000_000, timestamp=now,
                                      deadline=now + 3600)

            def transfer() -> str:
                signed = nem_multisig.initiate(tx, ops)
                return chain.send_raw(json.dumps(signed.announce()).encode())

            def takeover() -> str:
                change = nem.modification(CHAIN, account_public_key=account.public_key,
                                          timestamp=now, add=[thief.public_key],
                                          remove=[cosigner.public_key, recovery.public_key],
                                          min_change=-1, deadline=now + 3600)
                signed = ops.sign(nem.multisig(CHAIN, change,
                                               cosignatory_public_key=ops.public_key,
                                               timestamp=now, deadline=now + 3600))
                return chain.send_raw(json.dumps(signed.announce()).encode())

            act = run_nem_act(
                ledger, chain, account.address,
                NemThief(transfer=transfer, takeover=takeover,
                         ask=lambda: service.cosign_nem("withdrawal", "coincheck-2018", CHAIN,
                                                        nem_multisig.inner_data(tx))),
                mine=node.mine, expire=lambda: node.expire(now + 3601))
            delivered = AlertDelivery(log, {"kinko": KinkoAlertSink(url)},
                                      SystemClock()).deliver_due()
        finally:
            store.close()
    finally:
        node.close()
    xem = AssetRegistry.default()["XEM"]
    say = speech()
    print(say("cli.demo.nem"))
    for attempt in act.attempts:
        print(f"   {attempt['what']}: {attempt['outcome']}")
    for alarm in act.alarms:
        print(say("cli.demo.nem_alarm", kind=word(say, "al.kind", str(alarm["kind"])),
                  seen=str(alarm["seen"]), tx=str(alarm["tx"])))
    print(say("cli.demo.nem_delivered", count=str(delivered)))
    print(say("cli.demo.nem_dropped", count=str(len(act.dropped)),
              taken=format_units(act.taken_micro, xem), held=format_units(act.held_micro, xem),
              files=f"{folder / 'nem-2018.db'}, {folder / 'nem-cosign.db'}") + "\n")
    return {**act.to_json(), "cosign_alerts_delivered": delivered}
