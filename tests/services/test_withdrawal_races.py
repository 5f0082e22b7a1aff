"""A withdrawal request reads the customer's history, allow list and tier before the writers'
lock and checks them under it: a writer that changes any of them in between (another request
of the same customer, an allow-list entry, a tier, a retry of the same id) is seen, so the
decision is the one a request read wholly under the lock would get, on SQLite and PostgreSQL.

Each test runs the racing writer in another thread at the one moment that matters (after the
request's reads, before its lock), so the race happens every time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kinko.domain.ledger import Posting
from kinko.errors import Overdraft
from kinko.ports import FixedClock
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.customers import set_tier
from kinko.services.ledger import Ledger
from kinko.services.withdrawals import Withdrawals, WithdrawalView

E = 10**18
TO = "0x" + "12" * 20
OTHER = "0x" + "34" * 20
POLICY = """version = 1
quorum = 1
[[approvers]]
name = "alice"
public_key = "{key}"
[screening]
tiers = ["new"]
[[screening.rules]]
name = "daily"
kind = "window"
scope = "customer"
duration = "24h"
asset = "ETH"
max_amount = "5"
action = "block"
[[screening.rules]]
name = "first-time"
kind = "new_destination"
action = "review"
[[screening.rules]]
name = "allowed"
kind = "allow_list"
cooling_off = "1h"
action = "review"
[[screening.rules]]
name = "newcomers"
kind = "max_amount"
asset = "ETH"
amount = "2"
tier = "new"
action = "block"
"""


@pytest.fixture
def w(ledger: Ledger, tmp_path: Path) -> Withdrawals:
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 65 * E),
                         Posting("customer:C1", "ETH", -60 * E),
                         Posting("customer:C2", "ETH", -5 * E)], source="opening")
    (tmp_path / "p.toml").write_text(POLICY.format(key="ab" * 32))
    custody = Custody(ledger)
    custody.load_policy(tmp_path / "p.toml", "ops")
    return Withdrawals(custody)


@pytest.fixture
def racing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], None]]:
    """``racing(writer)``: the next request runs ``writer`` (in another thread, to its end)
    right after its reads before the writers' lock."""
    original = Withdrawals._inputs
    pending: list[Callable[[], Any]] = []
    failures: list[BaseException] = []

    def hooked(self: Withdrawals, *args: Any) -> Any:
        out = original(self, *args)
        if pending:
            writer = pending.pop()

            def run() -> None:
                try:
                    writer()
                except BaseException as exc:  # handed to the test
                    failures.append(exc)

            thread = threading.Thread(target=run)
            thread.start()
            thread.join(timeout=60)
            assert not thread.is_alive()
        return out

    monkeypatch.setattr(Withdrawals, "_inputs", hooked)
    yield pending.append
    assert not pending, "the writer never ran: the request read nothing before its lock"
    if failures:
        raise failures[0]


def rules(view: WithdrawalView) -> set[str]:
    return {h.rule for h in view.decision.hits}


def allow(w: Withdrawals, customer: str, address: str, clock: FixedClock) -> None:
    with w.store.screening() as tables:  # allowed two days ago: past the cooling-off
        tables.allow(customer, address, clock.now() - timedelta(days=2))


def test_a_racing_request_counts_in_the_window(w: Withdrawals, clock: FixedClock,
                                               racing: Callable[[Callable[[], Any]], None]
                                               ) -> None:
    allow(w, "C1", TO, clock)
    allow(w, "C1", OTHER, clock)
    racing(lambda: w.request("B", "C1", "ETH", 3 * E, OTHER))
    view = w.request("A", "C1", "ETH", 3 * E, TO)
    assert rules(w.get("B")) == {"first-time"}  # 3 of the 5 ETH a day: within it
    assert "daily" in rules(view) and view.state == "blocked"  # 3 + 3 > 5


def test_a_racing_request_to_the_same_address_makes_it_known(
        w: Withdrawals, racing: Callable[[Callable[[], Any]], None]) -> None:
    racing(lambda: w.request("B", "C1", "ETH", 1 * E, TO))
    view = w.request("A", "C1", "ETH", 1 * E, TO)
    assert "first-time" in rules(w.get("B"))
    assert "first-time" not in rules(view)  # B went there first: A's is not the first time


def test_an_allow_list_entry_made_meanwhile_counts(w: Withdrawals, clock: FixedClock,
                                                  racing: Callable[[Callable[[], Any]], None]
                                                  ) -> None:
    racing(lambda: allow(w, "C1", TO, clock))
    assert "allowed" not in rules(w.request("A", "C1", "ETH", 1 * E, TO))


def test_a_tier_recorded_meanwhile_applies(w: Withdrawals,
                                           racing: Callable[[Callable[[], Any]], None]) -> None:
    racing(lambda: set_tier(w.ledger, "C1", "new", "alice"))
    view = w.request("A", "C1", "ETH", 3 * E, TO)
    assert "newcomers" in rules(view) and view.state == "blocked"


def test_racing_requests_overdraw_nothing(w: Withdrawals, clock: FixedClock,
                                          racing: Callable[[Callable[[], Any]], None]) -> None:
    racing(lambda: w.request("B", "C2", "ETH", 4 * E, TO))
    with pytest.raises(Overdraft):
        w.request("A", "C2", "ETH", 4 * E, TO)
    assert [e.key for e in w.ledger.entries()][1:] == ["withdrawal:B"]  # nothing of A
    (row,) = w.ledger.balances(account="customer:C2")
    assert row.state.pending_debit == 4 * E
    assert [v.id for v in w.find()] == ["B"]


def test_a_retry_racing_its_first_attempt_gets_its_answer(
        w: Withdrawals, clock: FixedClock, racing: Callable[[Callable[[], Any]], None]) -> None:
    first: list[WithdrawalView] = []
    racing(lambda: first.append(w.request("A", "C1", "ETH", 1 * E, TO, actor="ops")))
    view = w.request("A", "C1", "ETH", 1 * E, TO, actor="ops")
    assert (view.id, view.state, view.decision.to_data()) == (
        first[0].id, first[0].state, first[0].decision.to_data())
    assert [e.key for e in w.ledger.entries()][1:] == ["withdrawal:A"]
    assert [a["action"] for a in Access(w.store, clock).audit_log()] == [
        "policy.bootstrap", "withdrawal.request"]
    assert w.ledger.verify().ok


def test_a_policy_coming_into_force_during_a_request_is_not_half_used(
        w: Withdrawals, clock: FixedClock, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A loosening's time lock may run out while a request is screened: the request is
    decided wholly under the policy it read (its windows summed and its rules applied),
    never the windows of one version with the rules of the next."""
    from kinko.domain.policy import parse_policy
    from kinko.safeload import loads_toml

    allow(w, "C1", TO, clock)
    hourly = POLICY.format(key="ab" * 32).replace("version = 1", "version = 2") + (
        '[[screening.rules]]\nname = "hourly"\nkind = "window"\nscope = "customer"\n'
        'duration = "1h"\nasset = "ETH"\nmax_amount = "1"\naction = "block"\n')
    later = parse_policy(loads_toml(hourly, "p2.toml"), w.ledger.assets, "p2.toml")
    first = w.custody.policy()
    calls: list[int] = []

    def in_force(*_a: Any, **_kw: Any) -> Any:
        calls.append(1)
        return first if len(calls) == 1 else later

    monkeypatch.setattr(w.custody, "policy", in_force)
    view = w.request("A", "C1", "ETH", 3 * E // 2, TO)
    assert view.decision.policy_version == 1 and "hourly" not in rules(view)
