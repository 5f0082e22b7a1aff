"""The Coincheck theft, replayed: the same thief against the 2018 setup and against kinko.

On 26 January 2018 someone holding the key of Coincheck's single XEM hot wallet sent a
10 XEM test transfer, then took the bulk in a few large transfers minutes apart, then
smaller ones: 523 million XEM, every customer's. Nothing raised an alarm; people noticed
about eight and a half hours later (00:02 to 11:25 JST).

:func:`thief` plays the attacker with the stolen hot key on a chain (XEM is an ERC-20 token
there): the same :data:`PLAN` of transfers, each capped at what the hot wallet still holds,
with blocks mined in between. :func:`replay` runs it against one exchange; with a
:class:`~kinko.services.watch.Watch` it polls after every block, as a follower subscribed to
new heads would, and measures (wall clock, and blocks) the time from the first theft
transaction's broadcast to the alarm. What the watch does then (breaker, emergency sweep)
is the real service's doing; nothing here is assumed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kinko.domain.money import Asset
from kinko.ports import AlertNotice, Chain, Payment, Receipt, Spender
from kinko.services.watch import Watch
from kinko.services.withdrawals import Withdrawals, WithdrawalView

__all__ = ["COINCHECK", "LAUNDRY", "PLAN", "DevChain", "ReplayRun", "Theft", "launder",
           "replay", "send_token", "thief"]

X = 10**6  # micro-XEM per XEM

# the thief's transfers (whole XEM; None: whatever is left) and the blocks mined after each
PLAN: tuple[tuple[int | None, int], ...] = (
    (10, 3),  # the test transfer
    (100_000_000, 2), (100_000_000, 2), (100_000_000, 2), (100_000_000, 2),
    (100_000_000, 2),  # the bulk, a few blocks apart
    (10_000_000, 1), (8_000_000, 1), (None, 1),  # then smaller ones
)

COINCHECK = {"detected_after_s": 30_180, "first_theft": "2018-01-26 00:02 JST",
             "detected": "2018-01-26 11:25 JST", "taken_xem": 523_000_000}


class DevChain(Chain, Protocol):
    """A development chain: the ``Chain`` port plus funding and mining on demand."""

    def fund(self, address: str, value: int) -> str: ...
    def mine(self, blocks: int = 1) -> None: ...


@dataclass(frozen=True)
class Theft:
    tx_hash: str
    block: int
    amount: int
    sent_at: float  # time.perf_counter() when broadcast


@dataclass
class ReplayRun:
    label: str
    customers: int
    customer_xem: int  # what the exchange owes its customers in XEM
    exposed: int  # customer XEM online (in hot wallets) when the thief started
    thefts: list[Theft] = field(default_factory=list)
    alarm_seconds: float | None = None  # first theft broadcast → first critical alert
    alarm_blocks: int | None = None  # blocks between the first theft's and the alarm's
    alarm_id: str | None = None
    incident: str | None = None
    breaker: list[str] = field(default_factory=list)
    stopped: list[WithdrawalView] = field(default_factory=list)  # asked after the alarm, not paid
    requested_after: int = 0
    swept: int = 0  # what the emergency sweep moved to cold storage
    sweep_note: str = ""
    left_hot: int = 0

    @property
    def taken(self) -> int:
        return sum(t.amount for t in self.thefts)


def thief(chain: DevChain, key: Spender, xem: Asset, to: str, *,
          after_block: Callable[[], None] = lambda: None) -> list[Theft]:
    """Send the :data:`PLAN` with the stolen ``key``; ``after_block`` runs after every block
    (the watch's turn). The thief pays the gas himself when the wallet has none left.
    Returns the transfers that took something."""
    assert xem.token is not None
    taken: list[Theft] = []
    for whole, gap in PLAN:
        left = chain.balances([key.address], None, token=xem.token)[key.address]
        amount = left if whole is None else min(whole * X, left)
        if amount > 0:
            if _gas(chain, key, xem):
                after_block()
            sent_at = time.perf_counter()
            receipt = send_token(chain, key, xem, to, amount)
            if receipt.ok:
                taken.append(Theft(receipt.tx_hash, receipt.block, amount, sent_at))
            after_block()
        for _ in range(gap):
            chain.mine(1)
            after_block()
    return taken


def _gas(chain: DevChain, key: Spender, xem: Asset) -> bool:
    """Give ``key`` the gas of one token transfer if it has less (True if it had to)."""
    fee = key.fee(xem).amount
    if chain.balances([key.address])[key.address] >= fee:
        return False
    chain.fund(key.address, fee)
    return True


def send_token(chain: Chain, key: Spender, xem: Asset, to: str, amount: int) -> Receipt:
    """Sign and send a token transfer from ``key``'s wallet; wait until it is mined."""
    assert xem.token is not None
    out = key.sign(key.prepare(Payment(xem, to, amount, ("theft", "replay"))))
    tx_hash = chain.send_raw(out.raw)
    receipt = chain.receipt(tx_hash)
    while receipt is None:
        time.sleep(0.01)
        receipt = chain.receipt(tx_hash)
    return receipt


# how the thief moves the coins on: (from, to, share of what "from" holds) in order; "Xn"
# are exchanges' deposit addresses, "hN" fresh addresses, "clean" a bystander's own coins
LAUNDRY: tuple[tuple[str, str, tuple[int, int]], ...] = (
    ("thief", "h1", (40, 100)), ("thief", "h2", (30, 100)), ("thief", "h3", (20, 100)),
    ("thief", "h4", (1, 1)),  # the rest stays one hop away
    ("clean", "h2", (5, 100)),  # a bystander pays into a tainted address
    ("h1", "X1", (1, 1)),
    ("h2", "h5", (1, 2)), ("h2", "X2", (1, 1)),
    ("clean", "X1", (5, 100)), ("clean", "X3", (5, 100)),  # clean deposits beside them
    ("h3", "h6", (3, 4)), ("h6", "X3", (1, 1)), ("h5", "X1", (1, 1)),
)


def launder(chain: DevChain, thief: Spender, xem: Asset, exchanges: Sequence[str],
            bystander: Spender, new_key: Callable[[], Spender]) -> list[str]:
    """Move the stolen XEM on through fresh addresses into exchanges' deposit addresses
    (``exchanges``: X1, X2, X3), mixed with a bystander's clean coins (:data:`LAUNDRY`).
    Returns the transactions, in order."""
    assert xem.token is not None
    keys: dict[str, Spender] = {"thief": thief, "clean": bystander}
    addresses = {f"X{i + 1}": a for i, a in enumerate(exchanges)}
    sent = []
    for source, target, (num, den) in LAUNDRY:
        if target not in addresses:
            keys.setdefault(target, new_key())
            addresses[target] = keys[target].address
        key = keys[source]
        held = chain.balances([key.address], None, token=xem.token)[key.address]
        amount = held * num // den
        if amount <= 0:
            continue
        _gas(chain, key, xem)
        sent.append(send_token(chain, key, xem, addresses[target], amount).tx_hash)
        chain.mine(1)
    return sent


def replay(label: str, *, chain: DevChain, key: Spender, xem: Asset, attacker: str,
           customers: int, customer_xem: int,
           watch: Watch | None = None, withdrawals: Withdrawals | None = None,
           customer_ids: tuple[str, ...] = (), destination: str = "") -> ReplayRun:
    """One run: the thief against an exchange; with ``watch``, kinko follows every block,
    and after the alarm the listed customers ask to withdraw (refused: nothing is paid from a
    wallet whose key leaked)."""
    assert xem.token is not None
    run = ReplayRun(label, customers, customer_xem,
                    chain.balances([key.address], None, token=xem.token)[key.address])
    seen: list[tuple[float, AlertNotice]] = []

    def watch_turn() -> None:
        if watch is None:
            return
        report = watch.poll()
        now = time.perf_counter()
        seen.extend((now, a) for a in report.alerts if a["severity"] == "critical")

    run.thefts = thief(chain, key, xem, attacker, after_block=watch_turn)
    run.left_hot = chain.balances([key.address], None, token=xem.token)[key.address]
    if watch is None or not seen or not run.thefts:
        return run
    first = run.thefts[0]
    alarm_at, alert = seen[0]
    run.alarm_seconds = alarm_at - first.sent_at
    run.alarm_blocks = (int(str(alert["block"])) - first.block
                        if alert.get("block") is not None else 0)
    run.alarm_id, run.incident = str(alert["id"]), str(alert["incident"])
    if withdrawals is not None:
        run.breaker = sorted(withdrawals.breaker())
        for i, customer in enumerate(customer_ids):
            view = withdrawals.request(f"after-alarm-{i}", customer, xem.symbol, 1 * X,
                                       destination)
            run.requested_after += 1
            if view.state in ("review", "blocked"):
                run.stopped.append(view)
    for sweep in watch.custody.proposals():
        if sweep.proposal.payload.get("emergency") == run.incident \
                and sweep.proposal.payload.get("asset") == xem.symbol:
            if sweep.state in ("sent", "executed"):
                run.swept += int(str(sweep.proposal.payload["amount"]))
            run.sweep_note = f"{sweep.proposal.id}: {sweep.state}"
    return run
