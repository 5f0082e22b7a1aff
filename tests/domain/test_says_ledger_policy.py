"""The ledger's, screening's and the policy file's errors say their specifics in Japanese too:
the account, the entry's key, the asset and the amounts off or overdrawn, the hold and its
state, the wallet, the policy file's field and value. Each is raised through the real code
path (an unbalanced entry, a withdrawal beyond a balance, a hold resolved twice, a policy
file with a bad window ...), and every ``raise`` of a ``KinkoError`` in these modules carries
its catalog message (``says``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from saying import said

from kinko.domain.approvals import public_key_hex
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Hold, Posting, check_postings, format_timestamp, parse_account
from kinko.domain.money import AssetRegistry
from kinko.domain.policy import parse_policy
from kinko.domain.screening import parse_rules
from kinko.errors import (
    ConfigError,
    HoldError,
    IdempotencyConflict,
    InvalidAccount,
    InvalidEntry,
    Overdraft,
)
from kinko.i18n import Localizer
from kinko.ports import FixedClock
from kinko.services.ledger import Ledger
from kinko.store import open_store, upgrade

JA, EN = Localizer("ja"), Localizer("en")
XEM = 10**6
ASSETS = AssetRegistry.default()
KEY = public_key_hex(Ed25519PrivateKey.generate())




def plain(text: str) -> str:
    """Words without Python's repr quotes and thousands separators (the catalog drops the
    one, adds the other)."""
    return re.sub(r"(?<=\d),(?=\d{3})", "", text.replace("'", ""))


def no_english(ja: str, *words: str) -> None:
    for word in words:
        assert word not in ja, ja


# ---------------------------------------------------------------- the ledger, pure


def test_an_unknown_account_kind_names_the_account_and_the_kinds() -> None:
    with pytest.raises(InvalidAccount) as caught:
        parse_account("custmer:C1")
    ja, en = said(caught.value)
    assert "custmer:C1" in ja and "customer, wallet" in ja and "種類" in ja
    no_english(ja, "unknown kind")
    assert en == plain(caught.value.message)


def test_an_account_name_too_long_is_cut_in_the_catalog_message() -> None:
    with pytest.raises(InvalidAccount) as caught:
        parse_account("customer:" + "x" * 100_000)
    ja, _ = said(caught.value)
    assert "customer:xxx" in ja and len(ja) < 400


def test_an_unbalanced_entry_names_each_asset_off_and_by_how_much() -> None:
    with pytest.raises(InvalidEntry) as caught:
        check_postings([Posting("wallet:xem-hot", "XEM", 5 * XEM),
                        Posting("customer:C1", "XEM", -4 * XEM),
                        Posting("wallet:eth-hot", "ETH", -3),
                        Posting("customer:C1", "ETH", 1)])
    ja, en = said(caught.value)
    assert "XEM の差 1,000,000" in ja and "ETH の差 -2" in ja and "貸借が一致しません" in ja
    no_english(ja, "off by", "balance")
    assert en == ("entry does not balance: XEM off by 1,000,000 minor units, ETH off by -2 "
                  "minor units (debits must equal credits per asset)")


def test_an_entry_off_in_many_assets_names_the_first_few_then_how_many_more() -> None:
    legs = [Posting("own", f"A{i}", 1) for i in range(10)]
    with pytest.raises(InvalidEntry) as caught:
        check_postings(legs)
    ja, en = said(caught.value)
    assert "A0" in ja and "A2" in ja and "A3" not in ja and "ほか 7 資産" in ja
    assert "and 7 more assets" in en


def test_a_zero_posting_names_its_place_and_account() -> None:
    with pytest.raises(InvalidEntry) as caught:
        check_postings([Posting("wallet:xem-hot", "XEM", 0), Posting("customer:C1", "XEM", 0)])
    ja, en = said(caught.value)
    assert ja == "明細 1（wallet:xem-hot）：金額がゼロです"
    assert en == caught.value.message


def test_a_time_without_zone_is_named() -> None:
    with pytest.raises(InvalidEntry) as caught:
        format_timestamp(datetime(2018, 1, 26, 0, 2))
    ja, en = said(caught.value)
    assert "2018-01-26T00:02:00" in ja and "タイムゾーン" in ja
    assert en == caught.value.message


# ---------------------------------------------------------------- the ledger service


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def ledger(clock: FixedClock) -> Iterator[Ledger]:
    store = open_store("sqlite://")
    upgrade(store)
    led = Ledger(store, clock, AssetRegistry.default())
    led.sync_assets()
    led.add_wallet(Wallet("xem-hot", "XEM", "hot"))
    led.post("d1", [Posting("wallet:xem-hot", "XEM", 10 * XEM),
                    Posting("customer:C1", "XEM", -10 * XEM)], source="tx:d1")
    yield led
    store.close()


def test_a_withdrawal_beyond_the_balance_names_the_entry_account_and_amounts(
        ledger: Ledger) -> None:
    with pytest.raises(Overdraft) as caught:
        ledger.post("w1", [Posting("customer:C1", "XEM", 12 * XEM),
                           Posting("wallet:xem-hot", "XEM", -12 * XEM)], source="req:w1")
    ja, en = said(caught.value)
    assert ja.startswith("仕訳 w1 を拒否しました：")
    # in whole units of the asset, as every other amount kinko shows
    assert "customer:C1 の利用可能額が -2 XEM になります（これまで 10 XEM）" in ja
    assert "wallet:xem-hot" in ja
    no_english(ja, "refused", "would have")
    assert plain(en) == plain(caught.value.message)


def test_many_overdrafts_name_the_first_few_then_how_many_more(ledger: Ledger) -> None:
    legs = [Posting(f"customer:C{i}", "XEM", XEM) for i in range(2, 6)]
    with pytest.raises(Overdraft) as caught:
        ledger.post("w2", [*legs, Posting("own", "XEM", -4 * XEM)], source="req:w2")
    ja, en = said(caught.value)
    assert ja.count("マイナスにはできません") == 3 and ja.endswith("ほか 1 件")
    assert en.endswith("; and 1 more")
    assert caught.value.message.count("may not go below zero") == 4


def test_a_key_used_for_other_content_names_the_key_and_the_entry(ledger: Ledger) -> None:
    with pytest.raises(IdempotencyConflict) as caught:
        ledger.post("d1", [Posting("wallet:xem-hot", "XEM", XEM),
                           Posting("customer:C1", "XEM", -XEM)], source="tx:d1")
    ja, en = said(caught.value)
    assert ja == ("冪等キー d1 は内容の異なる仕訳（仕訳 1）にすでに使われています。"
                  "何も書き込んでいません")
    assert en == plain(caught.value.message)


def test_an_unknown_wallet_and_a_wallet_of_another_asset_are_named(ledger: Ledger) -> None:
    with pytest.raises(InvalidAccount) as caught:
        ledger.post("x1", [Posting("wallet:nope", "XEM", XEM),
                           Posting("customer:C1", "XEM", -XEM)], source="x")
    ja, en = said(caught.value)
    assert "ウォレット nope はありません" in ja and "kinko wallets add" in ja
    assert en == plain(caught.value.message)
    with pytest.raises(InvalidAccount) as caught:
        ledger.post("x2", [Posting("wallet:xem-hot", "ETH", 1),
                           Posting("customer:C1", "ETH", -1)], source="x")
    ja, en = said(caught.value)
    assert ja == "ウォレット xem-hot が保有するのは XEM で、ETH ではありません"
    assert en == caught.value.message


def test_holds_unknown_resolved_twice_and_over_posted_are_named(ledger: Ledger) -> None:
    with pytest.raises(HoldError) as caught:
        ledger.post_hold("p0", "H-nope", source="x")
    ja, en = said(caught.value)
    assert ja == "保留 H-nope はありません" and en == plain(caught.value.message)
    ledger.open_hold("h1", Hold("H1", "customer:C1", "clearing:out", "XEM", 3 * XEM), source="x")
    with pytest.raises(HoldError) as caught:
        ledger.post_hold("p1", "H1", 4 * XEM, source="x")
    ja, en = said(caught.value)
    assert "保留 H1" in ja and "3,000,000" in ja and "4,000,000" in ja
    assert plain(en) == plain(caught.value.message)
    ledger.void_hold("v1", "H1", source="x")
    with pytest.raises(HoldError) as caught:
        ledger.void_hold("v2", "H1", source="x")
    ja, en = said(caught.value)
    assert ja == "保留 H1 はすでに「取消済み」です。保留の解決は一度だけです"
    assert en == caught.value.message
    with pytest.raises(HoldError) as caught:
        ledger.open_hold("h2", Hold("H1", "customer:C1", "clearing:out", "XEM", XEM), source="x")
    ja, _ = said(caught.value)
    assert ja == "保留 ID H1 はすでに使われています"
    with pytest.raises(HoldError) as caught:
        ledger.open_hold("h3", Hold("H3", "customer:C1", "customer:C1", "XEM", XEM), source="x")
    ja, _ = said(caught.value)
    assert ja == "保留 H3：借方と貸方の勘定が同じです"


def test_an_address_given_twice_is_named(ledger: Ledger) -> None:
    address = "0x" + "ab" * 20
    with pytest.raises(InvalidAccount) as caught:
        ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (address, "0x" + "AB" * 20)))
    ja, en = said(caught.value)
    assert "ウォレット eth-hot" in ja and "二度指定されています" in ja
    assert en == caught.value.message


def test_a_wallet_with_a_balance_keeps_its_tier(ledger: Ledger) -> None:
    with pytest.raises(InvalidAccount) as caught:
        ledger.add_wallet(Wallet("xem-hot", "XEM", "cold"))
    ja, en = said(caught.value)
    assert ja.startswith("ウォレット xem-hot はすでにホットウォレットとして XEM を保有しています")
    assert en == caught.value.message


def test_an_idempotency_key_too_long_says_the_limit(ledger: Ledger) -> None:
    with pytest.raises(InvalidEntry) as caught:
        ledger.post("k" * 201, [Posting("wallet:xem-hot", "XEM", XEM),
                                Posting("customer:C1", "XEM", -XEM)], source="x")
    ja, en = said(caught.value)
    assert ja == "冪等キーは 1〜200 文字にしてください" and en == caught.value.message


# ---------------------------------------------------------------- screening rules


def rules_error(*specs: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_rules(list(specs), ASSETS, "policy.toml")
    return caught.value


def test_a_bad_window_names_the_rule_field_and_value() -> None:
    exc = rules_error({"kind": "window", "duration": "3 weeks", "max_count": 5,
                       "action": "review"})
    ja, en = said(exc)
    assert ja == ("policy.toml：screening.rules[0].duration："
                  "'3 weeks' は 30m、24h、30d のような期間ではありません")
    assert en == exc.message


def test_an_unknown_rule_kind_and_an_incomplete_rule_are_named() -> None:
    exc = rules_error({"kind": "max_amont", "action": "block"})
    ja, en = said(exc)
    assert "screening.rules[0].kind" in ja and "'max_amont'" in ja and "いずれでもありません" in ja
    assert en == exc.message
    exc = rules_error({"kind": "window", "action": "review"})
    ja, en = said(exc)
    assert ja == ("policy.toml：screening.rules[0]："
                  "window には max_amount か max_count が必要です")
    assert en == exc.message


def test_a_rule_amount_without_its_asset_and_a_bad_hour_are_named() -> None:
    exc = rules_error({"kind": "max_amount", "amount": "5", "action": "review"})
    ja, en = said(exc)
    assert "screening.rules[0].amount" in ja and "資産（asset）" in ja
    assert en == exc.message
    exc = rules_error({"kind": "unusual_hour", "start_hour": 24, "action": "review"})
    ja, en = said(exc)
    assert "screening.rules[0].start_hour" in ja and "24 は 0〜23 時" in ja
    assert en == exc.message


def test_a_rule_of_an_unknown_asset_passes_on_what_the_registry_said() -> None:
    exc = rules_error({"kind": "max_amount", "asset": "NOPE", "amount": "5",
                       "action": "review"})
    ja, en = said(exc)
    assert ja.startswith("policy.toml：screening.rules[0].asset：")
    assert en.startswith("policy.toml: screening.rules[0].asset: ") and "NOPE" in en


def test_a_rule_name_used_twice_is_named() -> None:
    spec = {"kind": "new_destination", "name": "first-time", "action": "review"}
    exc = rules_error(spec, spec)
    ja, en = said(exc)
    assert ja == "policy.toml：screening.rules[1].name：'first-time' が二度使われています"
    assert en == exc.message


# ---------------------------------------------------------------- the policy file


def policy(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"version": 1, "quorum": 1,
                            "approvers": [{"name": "alice", "public_key": KEY}],
                            "assets": {"ETH": {"max_hot_ratio": "0.05"}}}
    data.update(changes)
    return data


def policy_error(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_policy(data, ASSETS, "p.toml")
    return caught.value


def test_a_quorum_above_the_approvers_names_both_numbers() -> None:
    exc = policy_error(policy(quorum=3))
    ja, en = said(exc)
    assert ja == ("p.toml：quorum = 3 ですが、承認者は 1 人だけです。"
                  "m は n を超えられません")
    assert en == exc.message


def test_a_ratio_out_of_range_and_unknown_keys_are_named() -> None:
    exc = policy_error(policy(assets={"ETH": {"max_hot_ratio": "1.5"}}))
    ja, en = said(exc)
    assert ja == "p.toml：assets.ETH.max_hot_ratio = '1.5'：0 以上 1 以下にしてください"
    assert en == exc.message
    exc = policy_error(policy(assets={"ETH": {"max_hot": "1"}}))
    ja, en = said(exc)
    assert ja == "p.toml：assets.ETH：不明なキー max_hot があります"
    assert en == exc.message


def test_hot_bounds_are_shown_in_whole_units_of_their_asset() -> None:
    exc = policy_error(policy(assets={"ETH": {"hot_min": "10", "hot_max": "5"}}))
    ja, en = said(exc)
    assert ja == "p.toml：assets.ETH：hot_min 10 ETH が hot_max 5 ETH を超えています"
    assert en == "p.toml: assets.ETH: hot_min 10 ETH exceeds hot_max 5 ETH"


def test_a_bad_watch_window_and_sweep_mode_are_named() -> None:
    exc = policy_error(policy(watch={"balance_drop_window": "soon"}))
    ja, en = said(exc)
    assert ja == ("p.toml：watch.balance_drop_window："
                  "'soon' は 30m、24h、30d のような期間ではありません")
    assert en == exc.message
    exc = policy_error(policy(watch={"emergency_sweep": "now"}))
    ja, en = said(exc)
    assert "watch.emergency_sweep" in ja and "'now' は使えません" in ja
    assert en == exc.message


def test_a_table_list_or_number_where_the_other_is_due_is_named_not_a_defect() -> None:
    """``assets = "x"``, ``approvers = 5`` or ``[screening.rules]`` written as one table
    ended in "kinko failed unexpectedly" (an AttributeError, a TypeError, a ValueError of
    dict()); an approver's name given as a list was stored as Python's picture of it."""
    exc = policy_error(policy(assets="ETH"))
    assert said(exc) == ("p.toml：assets はテーブルにしてください", "p.toml: assets must be a table")
    exc = policy_error(policy(approvers=5))
    assert said(exc)[0] == "p.toml：approvers は [[approvers]] テーブルの一覧にしてください"
    assert exc.message == "p.toml: approvers must be a list of [[approvers]] tables"
    for rules in ({"kind": "deny_list", "action": "block"}, "deny_list", [5]):
        exc = policy_error(policy(screening={"rules": rules}))
        assert "screening" in said(exc)[1], exc.message
    exc = policy_error(policy(approvers=[{"name": ["alice"], "public_key": KEY}]))
    assert said(exc)[1] == "p.toml: approvers[0].name must be text, not ['alice']"


def test_a_version_or_proposal_lifetime_past_what_kinko_keeps_is_refused() -> None:
    """A version past 2**31 - 1 was proposed, and approving it overflowed the store's column
    ("kinko failed unexpectedly"); a lifetime of 2**62 hours was put in force, and from then
    on every proposal, the next policy's too, overflowed computing its expiry."""
    exc = policy_error(policy(version=2**31))
    assert said(exc) == ("p.toml：version = 2147483648：2,147,483,647 以下にしてください",
                         "p.toml: version = 2147483648 must be at most 2,147,483,647")
    assert parse_policy(policy(version=2**31 - 1), ASSETS, "p.toml").version == 2**31 - 1
    exc = policy_error(policy(proposal_ttl_hours=2**62))
    assert said(exc)[1] == f"p.toml: proposal_ttl_hours = {2**62} must be at most 87,600"
    assert parse_policy(policy(proposal_ttl_hours=87_600), ASSETS, "p.toml").proposal_ttl_hours


def test_a_balance_drop_beyond_100_percent_is_said_as_the_file_gives_it() -> None:
    exc = policy_error(policy(watch={"balance_drop_percent": "200"}))
    ja, en = said(exc)
    assert ja == "p.toml：watch.balance_drop_percent = '200'：0 以上 100 以下の百分率にしてください"
    no_english(ja, "share", "Decimal")
    assert en == "p.toml: watch.balance_drop_percent = '200' must be a percentage between 0 and 100"
    assert exc.message == en
    for bad in ("abc", "NaN", "-1", True, "1e999999999"):  # not a number, or not a share
        exc = policy_error(policy(watch={"balance_drop_percent": bad}))
        assert exc.message == (f"p.toml: watch.balance_drop_percent = {bad!r} must be a "
                               "percentage between 0 and 100")


def test_a_watch_window_beyond_what_a_date_holds_is_refused_by_name() -> None:
    for bad in ("99999999999d", "1" * 5000 + "d"):
        exc = policy_error(policy(watch={"balance_drop_window": bad}))
        assert exc.message.startswith("p.toml: watch.balance_drop_window: ")
        assert "is not a duration like 30m, 24h or 30d" in exc.message
        assert len(exc.message) < 300 and len(said(exc)[0]) < 300


def test_a_rule_tier_not_declared_names_the_tiers() -> None:
    rule = {"kind": "max_amount", "asset": "ETH", "amount": "5", "tier": "vip",
            "action": "review"}
    exc = policy_error(policy(screening={"tiers": ["new"], "rules": [rule]}))
    ja, en = said(exc)
    assert ja == ("p.toml：screening.rules[0].tier："
                  "'vip' は宣言された区分（standard, new）のいずれでもありません")
    assert en == exc.message


def test_a_bad_approver_key_never_shows_the_key() -> None:
    exc = policy_error(policy(approvers=[{"name": "alice", "public_key": "zz" + KEY[2:]}]))
    ja, en = said(exc)
    assert ja == ("p.toml：approvers[0].public_key は 16 進数 64 桁"
                  "（Ed25519 の生の公開鍵）にしてください")
    assert KEY[2:] not in ja + en
    assert en == exc.message
