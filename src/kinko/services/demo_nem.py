"""The demo's NEM act: Coincheck's hot account of 2018 as a NEM multisig account would have
been, against the same thief.

In January 2018 the 523,000,000 customer XEM sat in one NEM account of one key; the thief
took the key and sent them away in eleven transfers. NEM has had multisig accounts since
2015: here the same account is a 2-of-3 multisig account (kinko's operations key, the
policy co-signer, an offline recovery key), and the thief holds the operations key, exactly
the key he held in 2018. He tries, on a NIS1 node (the recorded-shape double,
:mod:`kinko.chains.nis1_double`, stands in for it; the shell chooses):

1. a transfer of everything, initiated with the stolen key: NIS1 keeps it waiting for a
   second cosignature; the watch alarms on it while it waits; it is never included, and it
   is dropped at its deadline;
2. asking the policy co-signer to cosign it as a withdrawal: refused (kinko approved no such
   withdrawal), recorded in the co-signer's log, and alerted;
3. changing the account's cosignatories (his own key in, the others out): it waits for a
   cosignature as well, and alarms.

:func:`run_nem_act` runs the steps through kinko's services against what the shell gives it
(the chain, the thief's three attempts, mining and the node's clock); what it returns goes
into the demo's output and ``demo/replay.json``. It takes a second or two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kinko.errors import CosignRefused
from kinko.ports import Chain
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.services.watch import Watch
from kinko.services.withdrawals import Withdrawals

__all__ = ["NemAct", "NemThief", "run_nem_act"]

LABEL = ("the 2018 hot account as a NEM multisig account (2-of-3: operations key, policy "
         "co-signer, offline recovery key), the thief holding the operations key")


@dataclass(frozen=True)
class NemThief:
    """What the thief can do with the stolen operations key, as the shell wires it:
    ``transfer()`` announces a transfer of everything he initiated (its hash), ``ask()``
    asks the co-signer to cosign it (raises :class:`~kinko.errors.CosignRefused`),
    ``takeover()`` announces a change of cosignatories he initiated (its hash)."""

    transfer: Callable[[], str]
    ask: Callable[[], Any]
    takeover: Callable[[], str]


@dataclass
class NemAct:
    label: str
    account: str
    held_micro: int  # XEM in the account before
    taken_micro: int  # XEM that left it
    attempts: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # transfers NIS1 dropped at deadline

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "account": self.account,
                "customer_xem_micro": self.held_micro, "taken_micro": self.taken_micro,
                "attempts": self.attempts, "alarms": self.alarms, "dropped": self.dropped}


def run_nem_act(ledger: Ledger, chain: Chain, account: str, thief: NemThief, *,
                mine: Callable[[], int], expire: Callable[[], list[str]]) -> NemAct:
    """The act (see the module docstring) against ``ledger``, which registers ``account``
    as a hot multisig wallet of XEM on ``chain``."""
    withdrawals = Withdrawals(Custody(ledger, chain=chain, confirmations=1))
    watch = Watch(withdrawals, chain, confirmations=1, start_block=chain.head() + 1)
    held = chain.balances([account])[account]
    act = NemAct(LABEL, account, held, 0)

    tx = thief.transfer()
    act.attempts.append({"what": "transfer of everything, initiated with the stolen key",
                         "tx": tx, "outcome": "waits for a second cosignature"})
    try:
        thief.ask()
        act.attempts.append({"what": "ask the co-signer to cosign it", "outcome": "SIGNED"})
    except CosignRefused as refusal:
        act.attempts.append({"what": "ask the co-signer to cosign it",
                             "outcome": f"refused ({refusal.reason})",
                             "record": refusal.details.get("record")})
    change = thief.takeover()
    act.attempts.append({"what": "replace the cosignatories, initiated with the stolen key",
                         "tx": change, "outcome": "waits for a second cosignature"})
    for alert in watch.poll().alerts:
        act.alarms.append({"kind": alert["kind"], "tx": alert.get("tx_hash"),
                           "severity": alert.get("severity"),
                           "amount_micro": alert.get("amount"),
                           "seen": alert.get("chain_state")})
    mine()
    act.dropped = expire()
    mine()
    watch.poll()
    act.taken_micro = held - chain.balances([account])[account]
    return act
