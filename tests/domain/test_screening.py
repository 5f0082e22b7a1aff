"""Screening rules one by one, the pipeline's strictest-wins decision, the breaker, rule
parsing errors, and deny lists read from the real TagPacks and the Etherscan label CSV."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kinko.domain.labels import deny_index, parse_csv_labels, parse_tagpack
from kinko.domain.money import AssetRegistry
from kinko.domain.screening import (
    AMOUNT_PARAMS,
    RULE_KINDS,
    Context,
    Decision,
    Label,
    Past,
    Request,
    needed_sums,
    parse_rules,
    screen,
)
from kinko.errors import ConfigError, InputFileError
from kinko.i18n import ENGLISH

REG = AssetRegistry.default()
E = 10**18
T = datetime(2018, 1, 26, 3, 0, tzinfo=UTC)  # 12:00 JST
DATA = Path(__file__).resolve().parents[1] / "data"
DEST = "0x52908400098527886e0f7030069857d2e4169ee7"  # canonical, as the service gives it


def req(amount: int = 1 * E, dest: str = DEST, at: datetime = T, customer: str = "C1",
        asset: str = "ETH") -> Request:
    return Request("W1", customer, asset, amount, dest, at)


def rules(*specs: dict[str, Any]) -> Any:
    return parse_rules(list(specs), REG, "policy.toml")


def decide(rule: dict[str, Any], request: Request, ctx: Context | None = None) -> str:
    return screen(request, rules(rule), ctx or Context(), 1).outcome


def test_max_amount_and_tier() -> None:
    r = {"kind": "max_amount", "asset": "ETH", "amount": "10", "action": "review"}
    assert decide(r, req(10 * E)) == "allow"
    assert decide(r, req(10 * E + 1)) == "review"
    assert decide({**r, "tier": "vip"}, req(11 * E)) == "allow"
    assert decide(r, req(11 * 10**8, asset="BTC")) == "allow"  # other asset


def test_windows_by_scope() -> None:
    history = [Past("C1", "ETH", 4 * E, DEST, T - timedelta(hours=2)),
               Past("C2", "ETH", 4 * E, DEST, T - timedelta(hours=3)),
               Past("C1", "ETH", 4 * E, DEST, T - timedelta(hours=30))]
    ctx = Context(history=history)
    base = {"kind": "window", "asset": "ETH", "duration": "24h", "action": "review"}
    assert decide({**base, "scope": "customer", "max_amount": "5"}, req(1 * E), ctx) == "allow"
    assert decide({**base, "scope": "customer", "max_amount": "5"}, req(2 * E), ctx) == "review"
    assert decide({**base, "scope": "all", "max_amount": "8"}, req(1 * E), ctx) == "review"
    assert decide({**base, "scope": "destination", "max_count": 2}, req(1 * E), ctx) == "review"
    assert decide({**base, "scope": "customer", "max_count": 2}, req(1 * E), ctx) == "allow"


def test_hot_share() -> None:
    r = {"kind": "hot_share", "asset": "ETH", "max_share": "0.1", "action": "review"}
    assert decide(r, req(10 * E), Context(hot_balance=100 * E)) == "allow"
    assert decide(r, req(10 * E + 1), Context(hot_balance=100 * E)) == "review"


def test_allow_list_with_cooling_off() -> None:
    r = {"kind": "allow_list", "cooling_off": "24h", "action": "review"}
    assert decide(r, req(), Context()) == "review"
    assert decide(r, req(), Context(allow_list={DEST: T - timedelta(hours=2)})) == "review"
    assert decide(r, req(), Context(allow_list={DEST: T - timedelta(hours=25)})) == "allow"


def test_zscore_against_own_history() -> None:
    r = {"kind": "zscore", "threshold": "3.5", "min_history": 5, "action": "review"}
    history = [1 * E, 2 * E, 1 * E, 3 * E, 2 * E, 2 * E]
    assert decide(r, req(3 * E), Context(customer_amounts=history)) == "allow"
    assert decide(r, req(50 * E), Context(customer_amounts=history)) == "review"
    assert decide(r, req(50 * E), Context(customer_amounts=history[:4])) == "allow"  # too little


def test_new_destination_and_unusual_hour() -> None:
    assert decide({"kind": "new_destination", "action": "review"}, req()) == "review"
    assert decide({"kind": "new_destination", "action": "review"}, req(),
                  Context(known_destinations=frozenset({DEST}))) == "allow"
    night = {"kind": "unusual_hour", "start_hour": 1, "end_hour": 6, "action": "review"}
    assert decide(night, req(at=T)) == "allow"  # 12:00 JST
    assert decide(night, req(at=datetime(2018, 1, 25, 17, 2, tzinfo=UTC))) == "review"  # 02:02


def test_outflow_rate_against_baseline() -> None:
    history = [Past(f"C{i}", "ETH", 1 * E, DEST, T - timedelta(hours=i + 1, minutes=30))
               for i in range(24)]  # 1 ETH an hour for a day
    r = {"kind": "outflow_rate", "asset": "ETH", "duration": "1h", "baseline_windows": 24,
         "factor": "5", "action": "block"}
    assert decide(r, req(2 * E), Context(history=history)) == "allow"
    assert decide(r, req(6 * E), Context(history=history)) == "block"


def test_strictest_action_wins_and_every_hit_is_kept() -> None:
    rs = rules({"kind": "new_destination", "action": "review", "reason": "new address"},
               {"kind": "deny_list", "action": "block", "reason": "sanctioned"},
               {"kind": "max_amount", "asset": "ETH", "amount": "100", "action": "review"})
    deny = {DEST: Label(DEST, "Lazarus Group", "OFAC")}
    d = screen(req(), rs, Context(deny=deny), policy_version=7)
    assert d.outcome == "block" and [h.kind for h in d.hits] == ["new_destination", "deny_list"]
    assert d.policy_version == 7 and "Lazarus Group" in ENGLISH.text(d.explain()[1])


def test_a_decision_is_kept_as_data_and_read_back_whole() -> None:
    rs = rules({"kind": "new_destination", "action": "review", "reason": "new address"},
               {"kind": "deny_list", "action": "block"})
    d = screen(req(), rs, Context(deny={DEST: Label(DEST, "Lazarus Group", "OFAC")}), 7)
    data = json.loads(json.dumps(d.to_data()))
    assert [h["kind"] for h in data["hits"]] == ["new_destination", "deny_list"]
    assert data["hits"][1]["detail"]["id"] == d.hits[1].detail.id  # a catalog message
    assert Decision.from_data(data) == d
    # a reason an earlier version kept as text is read back as written
    data["hits"][0]["reason"] = "new address"
    assert ENGLISH.text(Decision.from_data(data).hits[0].reason) == "new address"
    data["hits"][0]["action"] = "ignore"
    with pytest.raises(ValueError, match="not a screening action"):
        Decision.from_data(data)


def test_tripped_breaker_turns_allow_into_review() -> None:
    assert screen(req(), (), Context(tripped=frozenset({"ETH"})), 1).outcome == "review"
    assert screen(req(asset="BTC", amount=1), (), Context(tripped=frozenset({"ETH"})),
                  1).outcome == "allow"
    assert screen(req(), (), Context(tripped=frozenset({"*"})), 1).outcome == "review"


@pytest.mark.parametrize("spec, message", [
    ({"kind": "teleport", "action": "block"}, "is not one of"),
    ({"kind": "max_amount", "asset": "ETH", "amount": "1", "action": "maybe"}, "action"),
    ({"kind": "max_amount", "asset": "ETH", "amount": "1.0000000000000000001", "action": "review"},
     "19 decimal places"),
    ({"kind": "max_amount", "amount": "1", "action": "review"}, "needs the rule's asset"),
    ({"kind": "window", "asset": "ETH", "duration": "forever", "max_count": 1,
      "action": "review"}, "not a duration"),
    ({"kind": "window", "asset": "ETH", "duration": "1h", "action": "review"}, "max_amount or"),
    ({"kind": "deny_list", "action": "block", "colour": "red"}, "no parameter"),
    ({"kind": "unusual_hour", "start_hour": 25, "action": "review"}, "hour 0-23"),
])
def test_bad_rules_name_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rules(spec)


def test_every_rule_kind_is_documented() -> None:
    for kind in RULE_KINDS.values():
        assert kind.doc and kind.kind
        assert all(isinstance(p.meaning, str) and p.meaning for p in kind.params.values())


def test_each_rule_kind_reads_its_own_parameters_and_names_the_sums_it_needs() -> None:
    window, rate, cap = rules(
        {"kind": "window", "scope": "destination", "duration": "30m", "max_count": 3,
         "action": "review"},
        {"kind": "outflow_rate", "asset": "ETH", "duration": "1h", "baseline_windows": 2,
         "factor": "5", "min_amount": "1.5", "action": "review"},
        {"kind": "max_amount", "asset": "ETH", "amount": "100", "action": "review"})
    assert needed_sums([window, rate, cap]) == {
        ("destination", timedelta(minutes=30)), ("asset", timedelta(hours=1)),
        ("asset", timedelta(hours=3))}
    assert rate.min_amount == 15 * E // 10 and cap.amount == 100 * E  # minor units
    assert {"amount", "max_amount", "min_amount"} == AMOUNT_PARAMS
    assert RULE_KINDS["window"].params["duration"].looser == "lower"  # shorter sums less
    assert RULE_KINDS["outflow_rate"].params["duration"].looser is None  # not comparable
    with pytest.raises(ConfigError, match=r"screening.rules\[0\]: a window needs max_amount"):
        rules({"kind": "window", "duration": "1h", "action": "review"})


def test_real_tagpacks_and_label_csv() -> None:
    ofac = parse_tagpack((DATA / "tagpacks" / "ofac.yaml").read_text(), "ofac.yaml",
                         invalid="keep")
    assert len(ofac.labels) > 100
    assert ofac.labels[0].source.startswith("https://www.treasury.gov")
    assert ofac.currencies[0] == "BTC"
    usdt = parse_tagpack((DATA / "tagpacks" / "usdt_blacklist.yaml").read_text(), "usdt.yaml")
    assert set(usdt.currencies) == {"ETH"} and usdt.labels[0].label == "USDT_blacklisted"
    hacks = parse_tagpack((DATA / "tagpacks" / "hacks.yaml").read_text(), "hacks.yaml")
    assert any(lbl.actor for lbl in hacks.labels)
    etherscan = parse_csv_labels(
        (DATA / "labels" / "etherscan_malicious_labels.csv").read_text(), "etherscan.csv",
        invalid="keep")
    assert len(etherscan.labels) == 7780
    assert etherscan.labels[0].label.startswith("Fake_Phishing")
    deny = deny_index({lbl.address: lbl for lbl in etherscan.labels})
    d = screen(req(dest=etherscan.labels[0].address),
               rules({"kind": "deny_list", "action": "block"}), Context(deny=deny), 1)
    assert d.outcome == "block" and "etherscan-phish-hack-list" in ENGLISH.text(d.hits[0].detail)


def test_bad_label_files_name_file_and_line() -> None:
    with pytest.raises(InputFileError, match=r"bad.yaml:3: not valid YAML"):
        parse_tagpack("title: x\ntags: [\n  - : :\n", "bad.yaml")
    with pytest.raises(InputFileError, match="without an address"):
        parse_tagpack("title: x\ntags:\n- label: y\n", "t.yaml")
    with pytest.raises(InputFileError, match="no address column"):
        parse_csv_labels("foo,bar\n1,2\n", "l.csv")
    with pytest.raises(InputFileError, match=r"l\.csv:3: empty address"):
        parse_csv_labels(f"address,label\n{DEST},x\n,y\n", "l.csv")


def test_an_unquoted_hex_address_in_a_tagpack_stays_the_address() -> None:
    from kinko.domain.labels import parse_tagpack

    text = ("title: t\ncategory: exchange\nconfidence: 50\ntags:\n"
            "- address: 0x00000000000000000000000000000000000d3ad1\n  label: Exchange A\n"
            "- address: 0x52908400098527886E0F7030069857D2E4169EE7\n  actor: null\n")
    first, second = parse_tagpack(text, "x.yaml").labels
    assert first.address == "0x00000000000000000000000000000000000d3ad1"
    assert second.address == "0x52908400098527886e0f7030069857d2e4169ee7"  # canonical
    assert second.actor == "" and first.category == "exchange"


def test_a_wallet_whose_key_leaked_pays_nothing() -> None:
    from kinko.domain.screening import Context, Request, screen

    at = datetime(2026, 11, 27, tzinfo=UTC)
    request = Request("W1", "C1", "ETH", 10**18, DEST, at)
    assert screen(request, (), Context(), 3).outcome == "allow"
    decision = screen(request, (), Context(compromised="INC-7", tripped=frozenset({"ETH"})), 3)
    assert decision.outcome == "block"  # stricter than the breaker's review
    assert [h.kind for h in decision.hits] == ["compromised", "breaker"]
    assert "INC-7" in ENGLISH.text(decision.hits[0].detail)
