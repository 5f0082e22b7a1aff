"""Exact parsing and formatting of amounts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinko.domain.money import Asset, AssetRegistry, format_units, parse_money, parse_units
from kinko.errors import InvalidAmount, UnknownAsset

REG = AssetRegistry.default()


def test_shipped_assets() -> None:
    assert {a.symbol: a.decimals for a in REG.values()} == {"BTC": 8, "ETH": 18, "JPY": 0,
                                                           "XEM": 6}


@pytest.mark.parametrize("text, units", [
    ("1.5 ETH", 1_500_000_000_000_000_000), ("0.00000001 BTC", 1), ("30000 JPY", 30000),
    ("523000000 XEM", 523_000_000_000_000), ("1.50000000 XEM", 1_500_000),
])
def test_parse_money(text: str, units: int) -> None:
    assert parse_money(text, REG).units == units


@pytest.mark.parametrize("text, message", [
    ("1.0000001 XEM", "7 decimal places; XEM allows at most 6"),
    ("0.5 JPY", "JPY allows at most 0"),
    ("-1 XEM", "negative"), ("NaN XEM", "not a number"), ("Infinity ETH", "not a number"),
    ("-inf ETH", "not a number"), ("1e5 XEM", "plain decimal"), ("1,000 JPY", "plain decimal"),
    ("1.5", "write a number and an asset"),
    ("１０ JPY", "plain decimal"), ("٣ XEM", "plain decimal"),  # ASCII digits only
])
def test_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidAmount, match=message):
        parse_money(text, REG)


def test_an_amount_is_at_most_78_digits_of_minor_units() -> None:
    """What the store's column holds (NUMERIC(78,0)) and any chain's uint256: more digits
    are refused by their count, before ``int`` (which raised a ValueError past 4,300 digits:
    ``kinko customers import`` ended as a defect, exit 70)."""
    assert parse_units("9" * 72 + ".999999", REG["XEM"]) == int("9" * 78)
    assert parse_units("-" + "9" * 60, REG["ETH"], allow_negative=True) == -int("9" * 60) * 10**18
    for text, asset in (("9" * 73, "XEM"), ("1" + "0" * 60, "ETH"), ("9" * 79, "JPY"),
                        ("9" * 5000, "XEM"), ("-" + "9" * 5000 + ".5", "XEM"),
                        ("9" * 150 + ".25", "XEM")):
        with pytest.raises(InvalidAmount, match=f"is too large: an amount has at most 78 "
                           f"digits in {asset}'s smallest unit") as caught:
            parse_units(text, REG[asset], allow_negative=True)
        assert len(caught.value.message) < 200


def test_unknown_asset_names_the_known_ones() -> None:
    with pytest.raises(UnknownAsset, match=r"unknown asset 'DOGE'.*BTC, ETH, JPY, XEM"):
        parse_money("1 DOGE", REG)


def test_configured_asset() -> None:
    reg = AssetRegistry.default([Asset("USDT", "ethereum", 6)])
    assert parse_money("2.5 USDT", reg).units == 2_500_000


@given(st.integers(min_value=-(10**40), max_value=10**40), st.sampled_from(list(REG.values())))
def test_format_then_parse_roundtrips(units: int, asset: Asset) -> None:
    assert parse_units(format_units(units, asset), asset, allow_negative=True) == units


def test_format_grouping() -> None:
    assert format_units(1234567_890000, REG["XEM"], group=True) == "1,234,567.89"


@pytest.mark.parametrize("text, units", [
    ("0", 0), ("0.0", 0), ("007.50", 7_500_000), ("12.", 12_000_000), (".5", 500_000),
    ("1520.250000", 1_520_250_000), ("9" * 71, int("9" * 71) * 10**6),
    ("9" * 72 + ".25", int("9" * 72) * 10**6 + 250_000),  # long: parsed the careful way
    ("0" * 200 + "1", 10**6),  # zeros in front are no digits of the amount
])
def test_parse_units_plain_text(text: str, units: int) -> None:
    assert parse_units(text, REG["XEM"]) == units
    assert parse_units(text.split(".")[0] or "0", REG["JPY"]) == int(text.split(".")[0] or "0")
