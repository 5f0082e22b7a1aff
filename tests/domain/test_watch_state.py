"""The state watch's judgement, without a chain: what a block's transfers explain of an
address's change, and what they do not."""

from __future__ import annotations

from kinko.domain.chain import AccountState, Allowance, Authorization, Transfer, delegate_of
from kinko.domain.watch_state import flows_of, judge, suspects

HOT, OUT, TOKEN, THIEF = "0x" + "aa" * 20, "0x" + "ee" * 20, "0x" + "70" * 20, "0x" + "66" * 20
TOKENS = {TOKEN: "XEM"}


def state(native: int, nonce: int = 0, code: bytes = b"", xem: int = 0) -> AccountState:
    return AccountState(native, nonce, code, ((TOKEN, xem),))


def tx(h: str, value: int, *, sender: str = HOT, to: str = OUT, token: str | None = None
       ) -> Transfer:
    return Transfer(h, 5, 0, sender, to, value, 0, token, None if token is None else 0)


def kinds(before: AccountState, after: AccountState, transfers: list[Transfer],
          receipts: dict[str, tuple[bool, int]] | None = None,
          authorizations: tuple[Authorization, ...] = (), **kw: object) -> list[tuple]:
    found = judge(HOT, before, after, flows_of(transfers, HOT, receipts or {}), native="ETH",
                  tokens=TOKENS, suspected=suspects(HOT, transfers, authorizations, {HOT}),
                  **kw)  # type: ignore[arg-type]
    return [(f.kind, f.asset, f.amount, f.tx_hash) for f in found]


def test_transfers_and_fees_explain_the_change() -> None:
    sent = [tx("0x1", 30), tx("0x2", 0, to=TOKEN), tx("0x2", 5, token=TOKEN),
            tx("0x3", 7, sender=OUT, to=HOT)]
    receipts = {"0x1": (True, 2), "0x2": (True, 3)}
    assert kinds(state(100, 4, xem=50), state(100 - 30 - 2 - 3 + 7, 6, xem=45), sent,
                 receipts) == []
    # a reverted transaction moved nothing but its fee, and still used its nonce
    assert kinds(state(100, 4), state(98, 5), [tx("0x1", 30)], {"0x1": (False, 2)}) == []


def test_value_gone_without_a_transfer_is_a_theft_of_exactly_that() -> None:
    auth = Authorization("0xd", THIEF, HOT, THIEF, 4, 1)
    call = tx("0xd", 0, sender=THIEF, to=HOT)
    found = kinds(state(100, 4, xem=50), state(40, 5, bytes.fromhex("ef0100") + b"\x66" * 20,
                                                xem=20), [call], authorizations=(auth,))
    assert found == [("hidden_outflow", "ETH", 60, "0xd"), ("hidden_outflow", "XEM", 30, "0xd"),
                     ("nonce", None, 0, "0xd"), ("delegation", None, 0, "0xd")]
    # one wei is enough: the state watch has no threshold
    assert kinds(state(100), state(99), []) == [("hidden_outflow", "ETH", 1, None)]


def test_an_inflow_nothing_shows_is_no_alarm_and_clearing_a_delegation_is_none() -> None:
    delegated = bytes.fromhex("ef0100") + b"\x66" * 20
    assert delegate_of(delegated) == THIEF and delegate_of(b"\x60\x00") is None
    assert kinds(state(100, 1, delegated), state(150, 3), [tx("0xc", 0, to=HOT)],
                 {"0xc": (True, 0)}, own_authorizations=1) == []


def test_granted_allowances_alarm_and_revocations_do_not() -> None:
    grants = (Allowance("0xa", TOKEN, HOT, THIEF, 10**30, 3),
              Allowance("0xb", TOKEN, HOT, THIEF, 0, 4),
              Allowance("0xc", TOKEN, OUT, THIEF, 5, 5))
    assert kinds(state(100), state(100), [], allowances=grants) == [
        ("allowance", "XEM", 0, "0xa")]
