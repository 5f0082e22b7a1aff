"""The Coincheck theft replayed a third time: the same customers, their online XEM in a
co-signed Safe, the keys in an HSM; an insider with a valid operator API key, then the thief.

The exchange (:func:`open_cosigned`) imports the demo's customers and keeps 4% of their
XEM online, as the kinko exchange does, but in a Safe{Wallet} 2-of-3 registered as
``xem-hot``: the operations key (kinko's, in the HSM), the policy co-signer's key (in its
own HSM token) and a recovery key kept offline (kinko holds only its address). Neither
kinko's server nor the co-signer alone can move anything.

The insider (:func:`insider`) comes first. He has an operator's API key: he may request
withdrawals, not approve them. He requests customers' XEM to his own address; screening
holds what is large or too much to one destination for the quorum, and the co-signer
refuses what would take the Safe over its own rolling limit: what leaves is what the chain
shows at his address.

Then the thief (:func:`attack`) holds the operations key exactly as the 2018 thief held the
hot key: malware on the server signs whatever he asks through the HSM's session. He tries
what that key allows, with real transactions on the chain and the real Safe bytecode
(:class:`Thief`), while the watch follows every block (as in the kinko column):

1. a transfer from the operations key's own address: it holds nothing (and kinko never
   sends from it: the watch alarms, the key has leaked);
2. ``execTransaction`` taking all the Safe's XEM with his one signature: the chain refuses
   (fewer signatures than the threshold);
3. the co-signer asked to sign the same transfer as a withdrawal: kinko has no such
   request; refused, recorded and alerted;
4. a change of owners (himself, threshold 1): the co-signer refuses a transaction to the
   Safe itself, and the chain refuses it with his one signature.

The co-signer's refusals are alerts in kinko's alerts table; they join the watch's incident
(or, without a watch, the first critical one opens one:
:meth:`~kinko.services.incidents.Incidents.escalate`), and the chain's refusals are written
on its timeline beside them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kinko.domain.approvals import public_key_hex
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting, normal_balance
from kinko.domain.safe import SafeTx
from kinko.errors import ApprovalError, CosignerUnavailable, CosignRefused
from kinko.ports import AlertNotice, Clock, Cosigner, Multisigs, Receipt
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.customers import import_customers
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger
from kinko.services.replay import DevChain, ReplayRun, Theft
from kinko.services.wallets import create_multisig
from kinko.services.watch import Watch
from kinko.services.withdrawals import Withdrawals

__all__ = ["LABEL", "Attempt", "CosignedExchange", "CosignedRun", "InsiderRun", "InsiderStep",
           "Thief", "attack", "insider", "open_cosigned"]

LABEL = "kinko co-signed (2-of-3 Safe: operations key, co-signer, offline recovery; HSM keys)"
X = 10**6  # micro-XEM per XEM
HOT_PERCENT = 4  # as the kinko exchange: 4% of the customers' XEM online
INSIDER_PLAN = (90_000, 90_000, 90_000, 90_000, 90_000, 90_000, 90_000, 250_000)
"""The insider's withdrawals, whole XEM: small ones to stay under the review threshold,
then one large (from the richest customer; a customer holding less is passed over)."""


class Sent(Protocol):
    """A transaction the thief sent (:class:`kinko.chains.safe_attacks.Sent`)."""

    @property
    def receipt(self) -> Receipt: ...
    @property
    def reason(self) -> str: ...


class Thief(Protocol):
    """The thief with the operations key (:class:`kinko.chains.safe_attacks.SafeThief`)."""

    def send_from_owner(self, token: str, to: str, amount: int) -> Sent: ...
    def transfer_tx(self, safe: str, token: str, to: str, amount: int) -> SafeTx: ...
    def sign(self, tx: SafeTx) -> bytes: ...
    def execute(self, tx: SafeTx, signatures: Mapping[str, bytes]) -> Sent: ...
    def owner_change(self, safe: str, new_owner: str, nonce: int) -> SafeTx: ...


@dataclass(frozen=True)
class CosignedExchange:
    ledger: Ledger
    hot: Wallet  # the Safe
    cold: Wallet
    token: str
    customer_xem: int
    exposed: int  # customer XEM in the Safe
    policy_path: Path
    operator: str
    cosigner: str
    recovery: str


@dataclass(frozen=True)
class Attempt:
    what: str  # owner_address, one_signature, cosigner_forged, owner_change_cosigner, ...
    refused_by: str  # "chain" or "co-signer" ("" if it went through)
    reason: str  # the Safe's error, or the co-signer's reason code
    tx_hash: str | None = None
    block: int | None = None
    to: str | None = None  # what the transaction called
    record: int | None = None  # the co-signer's decision record


@dataclass(frozen=True)
class InsiderStep:
    withdrawal: str
    customer: str
    amount: int
    screening: str  # the state screening gave it
    outcome: str  # confirmed, held, refused_by_cosigner, ...
    reason: str = ""


@dataclass
class InsiderRun:
    key: str  # the operator key's name
    destination: str
    steps: list[InsiderStep] = field(default_factory=list)
    left: int = 0  # XEM at the insider's address afterwards (the chain's figure)
    limit: int = 0  # the co-signer's rolling limit for the Safe

    @property
    def requested(self) -> int:
        return sum(s.amount for s in self.steps)


@dataclass
class CosignedRun:
    run: ReplayRun
    attempts: list[Attempt]
    insider: InsiderRun | None = None

    @property
    def alarm_by(self) -> str:
        """Who raised the first alarm: ``watch`` or ``co-signer`` (or "")."""
        alarm = self.run.alarm_id or ""
        return "co-signer" if alarm.startswith("A-cosign-") else "watch" if alarm else ""


def open_cosigned(ledger: Ledger, csv_path: Path, folder: Path, chain: DevChain,
                  safes: Multisigs, *, operator: str, cosigner: str, recovery: str,
                  cold: tuple[str, ...], fund_xem: Callable[[str, int], object],
                  batch_size: int = 5000,
                  progress: Callable[[int, int], None] | None = None) -> CosignedExchange:
    """The co-signed exchange in ``ledger`` (an empty, initialised store whose XEM is a
    token on ``chain``): its Safe created on chain by ``safes``, the customers of
    ``csv_path`` imported, 4% of their XEM in the Safe and the rest cold, and its policy
    (three approvers, quorum 2; screening holds large withdrawals and too much to one
    destination) in force."""
    xem = ledger.assets["XEM"]
    assert xem.token is not None
    hot = create_multisig(ledger, safes, "xem-hot", "XEM", "hot",
                          [operator, cosigner, recovery], 2, operator=operator,
                          cosigner=cosigner)
    cold_wallet = ledger.add_wallet(Wallet("xem-cold", "XEM", "cold", cold))
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", cold))
    import_customers(ledger, csv_path, batch_size=batch_size, progress=progress)
    owed = {asset: sum(normal_balance(r.account, r.state)
                       for r in ledger.balances(kind="customer", asset=asset))
            for asset in ("XEM", "ETH", "JPY")}
    total = owed["XEM"]
    online = total * HOT_PERCENT // 100
    own = total * 5 // 100  # the exchange's own XEM, held cold: the performance guarantee
    fund_xem(hot.addresses[0], online)
    fund_xem(cold[0], total - online + own)
    chain.fund(cold[0], owed["ETH"])
    ledger.post("demo:holdings", [Posting("wallet:xem-hot", "XEM", online),
                                  Posting("wallet:xem-cold", "XEM", total - online + own),
                                  Posting("wallet:eth-cold", "ETH", owed["ETH"]),
                                  Posting("bank:jpy-trust", "JPY", owed["JPY"]),
                                  Posting("clearing:opening", "XEM", -total),
                                  Posting("clearing:opening", "ETH", -owed["ETH"]),
                                  Posting("clearing:opening", "JPY", -owed["JPY"]),
                                  Posting("own", "XEM", -own)],
                source="demo:opening", memo="customer XEM: 4% in the co-signed Safe, the "
                "rest cold with the exchange's own; customer ETH cold; yen in trust")
    approvers = {name: Ed25519PrivateKey.generate() for name in ("alice", "bob", "carol")}
    policy = folder / "policy-cosigned.toml"
    policy.write_text(_policy_toml(approvers), encoding="utf-8")
    Custody(ledger, chain=chain).load_policy(policy, "carol")
    return CosignedExchange(ledger, hot, cold_wallet, xem.token, total, online, policy,
                            operator, cosigner, recovery)


def _policy_toml(approvers: Mapping[str, Ed25519PrivateKey]) -> str:
    lines = ["# the co-signed exchange's policy: 2 of 3 approvers move funds or change it",
             "version = 1", "quorum = 2", "proposal_ttl_hours = 24", ""]
    for name, key in approvers.items():
        lines += ["[[approvers]]", f'name = "{name}"', f'public_key = "{public_key_hex(key)}"',
                  ""]
    lines += ["[assets.XEM]", 'max_hot_ratio = "0.05"', 'target_hot_ratio = "0.04"',
              'cold_wallet = "xem-cold"', "",
              "[assets.ETH]", 'max_hot_ratio = "0.05"', 'target_hot_ratio = "0"',
              'cold_wallet = "eth-cold"', "",
              "[[screening.rules]]", 'kind = "max_amount"', 'asset = "XEM"',
              'amount = "100000"', 'action = "review"', 'reason = "large withdrawal"', "",
              "[[screening.rules]]", 'kind = "window"', 'asset = "XEM"',
              'scope = "destination"', 'duration = "24h"', 'max_amount = "500000"',
              'action = "review"', 'reason = "much to one destination in a day"', ""]
    return "\n".join(lines)


def attack(ex: CosignedExchange, chain: DevChain, thief: Thief, thief_address: str,
           cosigner: Cosigner, deliver_alerts: Callable[[], object], clock: Clock, *,
           customers: int, watch: Watch | None = None) -> CosignedRun:
    """The thief's four tries (see the module docstring); the co-signer's alerts delivered
    into kinko's alerts table, the first critical one opening an incident, the chain's
    refusals written on its timeline. What was taken is what the chain shows moved to the
    thief."""
    safe = ex.hot.addresses[0]
    run = ReplayRun(LABEL, customers, ex.customer_xem,  # online when the thief starts
                    chain.balances([safe], None, token=ex.token)[safe])
    incidents = Incidents(ex.ledger.store, clock, ex.ledger)
    earlier = {a["id"] for a in incidents.alerts(kind="cosign_refused", limit=100_000)}
    before = _xem(chain, ex, thief_address)
    attempts: list[Attempt] = []

    seen: list[tuple[float, AlertNotice]] = []

    def sent(what: str, to: str, out: Sent) -> None:
        attempts.append(Attempt(what, "chain" if not out.receipt.ok else "",
                                out.reason, out.receipt.tx_hash, out.receipt.block, to))
        if watch is not None:  # the watch follows every block, as in the kinko column
            report = watch.poll()
            now = time.perf_counter()
            seen.extend((now, a) for a in report.alerts if a["severity"] == "critical")

    def asked(what: str, kind: str, request: str, tx: SafeTx) -> None:
        try:
            cosigner.cosign(kind, request, tx)
        except CosignRefused as exc:
            record = exc.details.get("record")
            attempts.append(Attempt(what, "co-signer", exc.reason,
                                    record=int(record) if record is not None else None))
            return
        attempts.append(Attempt(what, "", "signed"))  # never expected: the table shows it

    started = time.perf_counter()
    # 1. the operations key's own address holds nothing (the thief pays its gas)
    sent("owner_address", ex.token, thief.send_from_owner(ex.token, thief_address,
                                                          run.exposed))
    # 2. everything the Safe holds, with the one signature he has
    take = thief.transfer_tx(safe, ex.token, thief_address, run.exposed)
    sent("one_signature", safe, thief.execute(take, {ex.operator: thief.sign(take)}))
    # 3. the co-signer asked for it as a withdrawal kinko never saw
    asked("cosigner_forged", "withdrawal", "W-urgent-0126", take)
    # 4. himself as an owner, threshold 1: the co-signer, then the chain
    change = thief.owner_change(safe, thief_address, take.nonce)
    asked("owner_change_cosigner", "proposal", "owner-rotation", change)
    sent("owner_change_chain", safe, thief.execute(change, {ex.operator: thief.sign(change)}))
    deliver_alerts()
    alarmed = time.perf_counter()
    taken = _xem(chain, ex, thief_address) - before
    if taken > 0:  # never expected: the table shows it
        run.thefts.append(Theft("", chain.head(), taken, started))
    run.left_hot = chain.balances([safe], None, token=ex.token)[safe]
    refused = [a for a in incidents.alerts(kind="cosign_refused", limit=100_000)
               if a["severity"] == "critical" and a["incident"] is None
               and a["id"] not in earlier]  # the thief's, not refusals made before
    if seen:  # the watch's alarm came first: the co-signer's refusals join its incident
        alarm_at, alert = seen[0]
        run.alarm_id, run.incident = str(alert["id"]), str(alert["incident"])
        run.alarm_seconds = alarm_at - started
        run.breaker = sorted(watch.withdrawals.breaker()) if watch is not None else []
        for sweep in watch.custody.proposals() if watch is not None else []:
            if sweep.proposal.payload.get("emergency") == run.incident:
                run.sweep_note = f"{sweep.proposal.id}: {sweep.state}"
    if refused:
        incident = incidents.escalate([a["id"] for a in refused], "kinko", wallet="xem-hot",
                                      asset="XEM", incident=run.incident)
        for a in attempts:
            if a.refused_by == "chain" and a.tx_hash is not None:
                incidents.chain_refused(incident, a.tx_hash, a.block, a.to or safe,
                                        a.reason.split(" (")[0], "kinko")
        if not seen:
            run.incident, run.alarm_id = incident, str(refused[0]["id"])
            run.alarm_seconds = alarmed - started  # no block: the co-signer alarms at once
    return CosignedRun(run, attempts)


def _xem(chain: DevChain, ex: CosignedExchange, address: str) -> int:
    return chain.balances([address], None, token=ex.token)[address]


def insider(ex: CosignedExchange, withdrawals: Withdrawals, access: Access, chain: DevChain,
            *, destination: str, limit: int, confirmations: int) -> InsiderRun:
    """An operator's API key requests the richest customers' XEM to ``destination`` (the
    insider's own address), and sends what screening allowed; see the module docstring."""
    _key, token = access.create_key("ops-night-shift", "operator")
    key = access.authenticate(token)  # what the API does with his Authorization header
    key.require("operate")
    out = InsiderRun(key.name, destination, limit=limit)
    richest = [(r.account.split(":", 1)[1], normal_balance(r.account, r.state))
               for r in ex.ledger.balances(kind="customer", asset="XEM")]
    richest.sort(key=lambda c: -c[1])
    plan = sorted(enumerate(INSIDER_PLAN), key=lambda p: -p[1])  # the largest first
    chosen: dict[int, str] = {}
    for (i, whole), (customer, held) in zip(plan, richest, strict=False):
        if held >= whole * X:
            chosen[i] = customer
    sent: list[tuple[str, str, int, str]] = []
    for i, whole in enumerate(INSIDER_PLAN):
        if i not in chosen:
            continue
        customer = chosen[i]
        wid = f"W-insider-{i + 1}"
        view = withdrawals.request(wid, customer, "XEM", whole * X, destination,
                                   actor=f"api:{key.name}")
        if view.state not in ("allowed", "approved"):
            out.steps.append(InsiderStep(wid, customer, whole * X, view.state, "held"))
            continue
        try:
            withdrawals.send(wid)
            sent.append((wid, customer, whole * X, view.state))
        except CosignRefused as exc:
            out.steps.append(InsiderStep(wid, customer, whole * X, view.state,
                                         "refused_by_cosigner", exc.reason))
        except (ApprovalError, CosignerUnavailable) as exc:
            out.steps.append(InsiderStep(wid, customer, whole * X, view.state, "not_sent",
                                         exc.message))
    chain.mine(confirmations)
    for wid, customer, amount, state in sent:
        done = withdrawals.confirm(wid)
        out.steps.append(InsiderStep(wid, customer, amount, state,
                                     done.state if done is not None else "sent"))
    out.steps.sort(key=lambda s: int(s.withdrawal.rsplit("-", 1)[1]))
    out.left = _xem(chain, ex, destination)
    return out

