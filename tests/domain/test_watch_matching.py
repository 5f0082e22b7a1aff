"""Outflow matching and the balance-drop test, without a chain."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kinko.domain.chain import Transfer
from kinko.domain.money import AssetRegistry
from kinko.domain.policy import WatchPolicy, parse_policy, policy_from_canonical
from kinko.domain.watch import (
    Expected,
    Observation,
    drop_exceeds,
    theft_alert,
    unexplained_drop,
)
from kinko.errors import ConfigError

HOT, COLD, OUT, TOKEN = "0x" + "aa" * 20, "0x" + "cc" * 20, "0x" + "ee" * 20, "0x" + "70" * 20
WALLETS = {(HOT, "ETH"): "eth-hot", (HOT, "XEM"): "xem-hot", (COLD, "ETH"): "eth-cold"}
ASSETS: dict[str | None, str] = {None: "ETH", TOKEN: "XEM"}


def classify(transfers: list[Transfer], wallets: dict[tuple[str, str], str],
             assets: dict[str | None, str], expected: list[Expected]) -> list[Observation]:
    from kinko.domain.watch import classify as on_chain

    return on_chain(transfers, wallets, assets, expected, chain="ethereum")


def tx(h: str, value: int, *, sender: str = HOT, to: str = OUT, nonce: int = 0,
       token: str | None = None, log: int | None = None) -> Transfer:
    return Transfer(h, 10, 0, sender, to, value, nonce, token, log)


def test_matched_by_hash_else_by_fields_and_each_expectation_once() -> None:
    expected = [Expected("withdrawal:W1", "ETH", frozenset({HOT}), OUT, 5, "0xH1"),
                Expected("proposal:refill", "ETH", frozenset({COLD}), HOT, 7, None, nonce=3)]
    obs = classify([tx("0xh1", 5), tx("0xH2", 7, sender=COLD, to=HOT, nonce=3),
                    tx("0xH3", 7, sender=COLD, to=HOT, nonce=3)], WALLETS, ASSETS, expected)
    outs = [(o.transfer.tx_hash, o.match) for o in obs if o.direction == "out"]
    assert outs == [("0xh1", "withdrawal:W1"), ("0xH2", "proposal:refill"), ("0xH3", None)]
    ins = [o.wallet for o in obs if o.direction == "in"]
    assert ins == ["eth-hot", "eth-hot"]


def test_a_known_hash_with_another_value_or_a_wrong_nonce_is_not_explained() -> None:
    expected = [Expected("withdrawal:W1", "ETH", frozenset({HOT}), OUT, 5, "0xH1"),
                Expected("proposal:P", "ETH", frozenset({COLD}), HOT, 7, None, nonce=3)]
    obs = classify([tx("0xH1", 6), tx("0xH2", 7, sender=COLD, to=HOT, nonce=4)], WALLETS,
                   ASSETS, expected)
    assert [o.match for o in obs if o.direction == "out"] == [None, None]


def test_token_outflow_and_its_call_are_one_observation_when_unexplained() -> None:
    call = tx("0xT", 0, to=TOKEN)
    moved = tx("0xT", 9, token=TOKEN, log=0)
    obs = classify([call, moved], WALLETS, ASSETS, [])
    assert [(o.asset, o.unexplained) for o in obs] == [("XEM", True)]
    alert = theft_alert("ethereum", obs[0], pending=False)
    assert alert.key == "outflow:ethereum:0xt" and alert.kind == "theft"
    # seen first in the mempool (decoded from the call, no log index yet): the same alert
    (pending,) = classify([call, tx("0xT", 9, token=TOKEN, log=-1)], WALLETS, ASSETS, [])
    assert theft_alert("ethereum", pending, pending=True).key == alert.key
    explained = classify([call, moved], WALLETS, ASSETS,
                         [Expected("withdrawal:W", "XEM", frozenset({HOT}), OUT, 9, "0xT")])
    assert [o.match for o in explained] == ["withdrawal:W", "withdrawal:W"]
    # a call from our key moving nothing that kinko did not make
    (lone,) = classify([tx("0xA", 0, to=TOKEN)], WALLETS, ASSETS, [])
    assert lone.unexplained and theft_alert("ethereum", lone, pending=True).kind == "unknown_tx"


def test_a_transaction_naming_no_recipient_is_said_so() -> None:
    """A transaction with no recipient (an EVM contract created; a NEM account's
    cosignatories changed) is alarmed saying so, not with an empty place for it."""
    from kinko.i18n import Localizer

    lone = Transfer("0xC", 10, 0, HOT, None, 0, 4)
    (obs,) = classify([lone], WALLETS, ASSETS, [])
    alert = theft_alert("ethereum", obs, pending=False)
    assert alert.kind == "unknown_tx"
    assert "(nonce 4) to (no recipient) was not made by kinko" in Localizer("en").text(
        alert.detail)
    assert "から （受取人なし） へ" in Localizer("ja").text(alert.detail)


def test_addresses_match_in_any_spelling() -> None:
    """The chain, the wallets and an expectation may spell one address differently (EIP-55,
    upper case): they are compared in canonical form."""
    hot = "0x52908400098527886E0F7030069857D2E4169EE7"  # EIP-55 (all upper-case letters)
    out = "0xde709f2102306220921060314715629080e2fb77"
    wallets = {(hot.lower(), "ETH"): "eth-hot"}
    expected = [Expected("proposal:P", "ETH", frozenset({hot}), out.upper().replace("0X", "0x"),
                         5, None)]
    (obs,) = classify([tx("0xA", 5, sender=hot, to=out)], wallets, {None: "ETH"}, expected)
    assert obs.wallet == "eth-hot" and obs.match == "proposal:P"


def test_other_tokens_and_strangers_are_ignored() -> None:
    assert classify([tx("0x1", 5, token="0x" + "99" * 20, log=1),
                     tx("0x2", 5, sender=OUT, to=OUT)], WALLETS, ASSETS, []) == []


def test_balance_drop_is_exact_on_wei_sized_numbers() -> None:
    start = 10**27 + 1
    assert unexplained_drop(start, start - 10, explained_out=4, inflow=0) == 6
    assert unexplained_drop(100, 120, 0, 0) == 0
    # 20% of 10^27+1 is 2*10^26 + 0.2: a drop of exactly 2*10^26 does not exceed it
    assert not drop_exceeds(2 * 10**26, start, Decimal("20"))
    assert drop_exceeds(2 * 10**26 + 1, start, Decimal("20"))
    assert not drop_exceeds(5, 0, Decimal("1"))


def test_policy_watch_table() -> None:
    approvers = [{"name": "a", "public_key": "ab" * 32}]
    base = {"version": 1, "quorum": 1, "approvers": approvers}
    registry = AssetRegistry.default()
    policy = parse_policy({**base, "watch": {"emergency_sweep": "auto", "trip_global": True,
                                             "balance_drop_percent": "12.5",
                                             "balance_drop_window": "30m"}}, registry, "p")
    assert policy.watch.emergency_sweep == "auto" and policy.watch.trip_global
    assert policy.watch.balance_drop_percent == Decimal("12.5")
    assert policy_from_canonical(policy.canonical(), registry) == policy
    assert parse_policy(base, registry, "p").watch == WatchPolicy()
    for bad, where in (({"emergency_sweep": "now"}, "emergency_sweep"),
                       ({"balance_drop_percent": "120"}, "balance_drop_percent"),
                       ({"balance_drop_window": "soon"}, "balance_drop_window"),
                       ({"tripglobal": True}, "unknown key")):
        with pytest.raises(ConfigError, match=where):
            parse_policy({**base, "watch": bad}, registry, "p")
    with pytest.raises(ConfigError, match="emergency_address"):
        parse_policy({**base, "assets": {"ETH": {"emergency_address": "0x12"}}}, registry, "p")
