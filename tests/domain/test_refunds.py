"""Refund arithmetic, VWAP, funds check and the plan files, against figures worked by hand."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from csvquotes import open_quote

from kinko.domain.ledger import Posting, check_postings
from kinko.domain.money import Asset, AssetRegistry
from kinko.domain.refunds import (
    FundsCheck,
    PriceBasis,
    RefundPlan,
    Rounding,
    build_plan,
    compute_vwap,
    decimal_text,
    parse_plan_document,
    parse_price,
    parse_refunds_csv,
    parse_trades,
    plan_digest,
    plan_document,
    refund_amounts,
    refund_postings,
    refund_ratio,
    refunds_csv,
    round_half_up,
)
from kinko.errors import BadInput, InputFileError, InvalidAmount

ASSETS = AssetRegistry.default()
XEM, JPY = ASSETS["XEM"], ASSETS["JPY"]
JST = timezone(timedelta(hours=9))
SNAP = datetime(2018, 1, 25, 15, 2, tzinfo=UTC)


def plan_for(holdings: list[tuple[str, int]], price: str = "88.549",
             rounding: Rounding = "floor", bank: int = 10_000, owed: int = 1_000
             ) -> RefundPlan:
    return build_plan(incident="INC-20180126-1", asset=XEM, currency=JPY, rounding=rounding,
                      snapshot=SNAP, snapshot_source="alert A-1",
                      price=PriceBasis(Decimal(price), "fixed"), holdings=holdings, bank=bank,
                      customers_owed=owed, funds_as_of=SNAP + timedelta(days=30))


# ---------------------------------------------------------------------------- arithmetic

HAND = [("A", 1_000000), ("B", 500000), ("C", 5_646000)]  # 1, 0.5 and 5.646 XEM


def test_refunds_by_hand_floor() -> None:
    # A: 1 × 88.549 = 88.549 → 88; B: 0.5 × 88.549 = 44.2745 → 44;
    # C: 5.646 × 88.549 = 499.947654 → 499; exact total 7.146 × 88.549 = 632.771154
    plan = plan_for(HAND)
    assert plan.refunds == (88, 44, 499)
    assert plan.total_units == 7_146000 and plan.total_refund == 631
    assert decimal_text(plan.exact_total) == "632.771154"
    assert decimal_text(plan.remainder) == "1.771154"


def test_refunds_by_hand_half_up() -> None:
    # 88.549 → 89, 44.2745 → 44, 499.947654 → 500: half-up pays 0.228846 beyond the exact
    plan = plan_for(HAND, rounding="half-up")
    assert plan.refunds == (89, 44, 500)
    assert plan.total_refund == 633
    assert decimal_text(plan.remainder) == "-0.228846"


def test_half_up_at_exactly_half_and_floor_of_dust() -> None:
    num, den = refund_ratio(Decimal("1.5"), 6)
    assert refund_amounts([1_000000, 3_000000, 1], num, den, "half-up") == [2, 5, 0]
    assert refund_amounts([1_000000, 3_000000, 1], num, den, "floor") == [1, 4, 0]
    # 2.5 yen exactly: half-up goes up (banker's rounding would give 2)
    num, den = refund_ratio(Decimal("2.5"), 0)
    assert refund_amounts([1], num, den, "half-up") == [3]
    with pytest.raises(BadInput, match="rounding"):
        refund_amounts([1], num, den, "ceiling")  # type: ignore[arg-type]


def test_the_worked_example_and_large_amounts_stay_exact() -> None:
    # 1,520.250001 XEM × 88.549 = 134,616.617338549 JPY
    num, den = refund_ratio(Decimal("88.549"), 6)
    assert refund_amounts([1_520_250_001], num, den, "floor") == [134_616]
    assert refund_amounts([1_520_250_001], num, den, "half-up") == [134_617]
    # the whole of Coincheck's 523 million XEM in one account: beyond int64 in between
    units = 523_000_000 * 10**6
    assert refund_amounts([units], num, den, "floor") == [46_311_127_000]
    # 18 decimals (ETH in wei) into a currency with 2 decimals
    num, den = refund_ratio(Decimal("120000.01"), 18, 2)
    assert refund_amounts([10**18 + 1], num, den, "floor") == [12_000_001]


def test_zero_refunds_are_counted_and_settle_the_claim_without_yen() -> None:
    plan = plan_for([("dust", 1), ("A", 1_000000)])
    assert plan.refunds == (0, 88) and plan.zero_refunds == 1
    legs = refund_postings("INC-1", "XEM", "JPY", "dust", 1, 0)
    assert legs == (Posting("customer:dust", "XEM", 1), Posting("loss:INC-1", "XEM", -1))
    legs = refund_postings("INC-1", "XEM", "JPY", "A", 1_000000, 88)
    assert legs[2:] == (Posting("own", "JPY", 88), Posting("customer:A", "JPY", -88))
    check_postings(legs)  # balances per asset


def test_price_must_be_a_positive_plain_decimal() -> None:
    assert parse_price("88.549") == Decimal("88.549")
    assert parse_price(" 088.5490 ") == Decimal("88.5490")
    for bad in ("0", "0.000", "-1", "-88.5", "1e3", "NaN", "inf", "", "88,5", "８８"):
        with pytest.raises(InvalidAmount):
            parse_price(bad)
    with pytest.raises(InvalidAmount, match="above 0"):
        parse_price("-3")
    with pytest.raises(InvalidAmount):
        refund_ratio(Decimal(0), 6)


def test_a_price_past_78_digits_or_refunds_past_a_ledger_amount_are_refused() -> None:
    """A price (or a trade's price or amount) of 5,000 digits ended in "kinko failed
    unexpectedly" (a ValueError of int() or str() past 4,300 digits); one of 100 digits made
    a plan whose refunds no ledger amount holds. The price has at most 78 digits, as an
    amount has, and the refunds' total fits in 78 digits of the currency's smallest unit."""
    assert parse_price("9" * 78) == Decimal("9" * 78)
    assert parse_price("0" * 100 + "1." + "0" * 76) == 1
    for bad in ("9" * 79, "9" * 5000, "0." + "0" * 78 + "1"):
        with pytest.raises(InvalidAmount, match="has more than 78 digits") as caught:
            parse_price(bad)
        assert len(caught.value.message) < 100
    with pytest.raises(InputFileError, match="has more than 78 digits"):
        parse_trades(["time,price,amount", f"2018-01-26T00:00:00+09:00,88,{'1' * 5000}"], "t")
    assert plan_for([("A", 10**6)], price="9" * 77).total_refund == int("9" * 77)
    with pytest.raises(InvalidAmount, match="more than 78 digits of JPY") as caught:
        plan_for([("A", 10**6), ("B", 10**6)], price="9" * 78)
    assert caught.value.said().id == "error.refunds.total_too_large"


def test_exact_text_and_half_up() -> None:
    assert decimal_text(Fraction(1, 2)) == "0.5"
    assert decimal_text(Fraction(-1, 8)) == "-0.125"
    assert decimal_text(Fraction(7)) == "7"
    assert decimal_text(Fraction(1, 3)) == "1/3"
    assert round_half_up(Fraction("88.5485"), 3) == Decimal("88.549")  # banker's: 88.548
    assert str(round_half_up(Fraction("88.5"), 3)) == "88.500"
    assert round_half_up(Fraction("-0.0005"), 3) == Decimal("-0.001")


# ---------------------------------------------------------------------------- VWAP

TRADES = """time,price,amount,venue
2018-01-25T23:59:59+09:00,50,1,x
2018-01-26T00:00:00+09:00,88.40,1500,zaif

2018-01-26T00:05:00+09:00,88.70,500.5,zaif
2018-01-25T15:10:00Z,89,1000,other
2018-01-26T01:00:00+09:00,100,999,x
"""


def test_vwap_by_hand() -> None:
    trades = parse_trades(TRADES.splitlines(keepends=True), "t.csv")
    assert [t.line for t in trades] == [2, 3, 5, 6, 7]
    v = compute_vwap(trades, datetime(2018, 1, 26, 0, 0, tzinfo=JST),
                     datetime(2018, 1, 26, 1, 0, tzinfo=JST))
    # in [00:00, 01:00) JST: 88.40×1500 + 88.70×500.5 + 89×1000 = 132,600 + 44,394.35 + 89,000
    assert v.trades == 3
    assert v.sum_price_volume == Decimal("265994.35") and v.sum_volume == Decimal("3000.5")
    assert v.exact == Fraction(5319887, 60010)  # 88.6500083...
    assert decimal_text(v.exact) == "5319887/60010"
    assert str(v.price) == "88.650"


def test_vwap_rounds_half_up_to_three_places() -> None:
    text = "time,price,amount\n2018-01-26T00:00:00Z,88.548,1\n2018-01-26T00:01:00Z,88.549,1\n"
    v = compute_vwap(parse_trades(text.splitlines(), "t.csv"),
                     datetime(2018, 1, 26, tzinfo=UTC), datetime(2018, 1, 27, tzinfo=UTC))
    assert v.exact == Fraction("88.5485") and str(v.price) == "88.549"


def test_vwap_window_without_trades_is_refused() -> None:
    trades = parse_trades(TRADES.splitlines(), "t.csv")
    with pytest.raises(BadInput, match="no trades in the window"):
        compute_vwap(trades, datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 1, 2, tzinfo=UTC))
    with pytest.raises(BadInput, match="--from must be before --to"):
        compute_vwap(trades, datetime(2019, 1, 2, tzinfo=UTC), datetime(2019, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(("text", "expected"), [
    ("", "t.csv:1: the trades file is empty"),
    ("time,price,amount\n", "t.csv:2: the trades file has a header but no trades"),
    ("time,price\n2018-01-26T00:00:00Z,88\n", "t.csv:1: the header lacks column(s) amount"),
    ("time,price,amount\n2018-01-26T00:00:00,88,1\n", "t.csv:2: time '2018-01-26T00:00:00' "
                                                       "has no zone"),
    ("time,price,amount\nyesterday,88,1\n", "t.csv:2: time 'yesterday' is not ISO 8601"),
    ("time,price,amount\n0001-01-01T00:00:00+09:00,88,1\n",
     "t.csv:2: time '0001-01-01T00:00:00+09:00' is outside the years 1 to 9999 in UTC"),
    ("time,price,amount\n2018-01-26T00:00:00Z,0,1\n", "t.csv:2: price 0 must be above 0"),
    ("time,price,amount\n2018-01-26T00:00:00Z,88,-1\n", "t.csv:2: amount -1 must be above 0"),
    ("time,price,amount\n2018-01-26T00:00:00Z,8.8e1,1\n", "t.csv:2: price '8.8e1' is not a "
                                                           "plain decimal"),
    ("time,price,amount\n2018-01-26T00:00:00Z,88\n", "t.csv:2: 2 fields, the header has 3"),
    # a thousands separator unquoted: a price of 88 and an amount of 549 were read, the 1
    # past the header ignored
    ("time,price,amount\n2018-01-26T00:00:00Z,88,549,1\n",
     "t.csv:2: 4 fields, the header has 3 (a value with a comma needs double quotes)"),
    ("time,price,amount,price\n2018-01-26T00:00:00Z,88,1,90\n",
     "t.csv:1: column price appears twice in the header"),
])
def test_bad_trades_files_name_the_line(text: str, expected: str) -> None:
    with pytest.raises(InputFileError) as info:
        parse_trades(text.splitlines(keepends=True), "t.csv")
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_every_bad_line_is_listed() -> None:
    text = "time,price,amount\n" + "".join(f"2018-01-26T00:00:00Z,x{i},1\n" for i in range(30))
    with pytest.raises(InputFileError) as info:
        parse_trades(text.splitlines(keepends=True), "t.csv")
    assert info.value.problems[0].startswith("t.csv:2: ")
    assert len(info.value.problems) == 21 and "stopped after 20" in info.value.problems[-1]


@pytest.mark.parametrize(("text", "opened"), [
    ('time,price,amount\n"x', 2),  # the file's last line, without its line end
    ('time,price,amount\n2018-01-26T00:00:00Z,88,"1\n', 2),
    # the rows after it read into the field: a row of 2 fields on the file's last line
    ('time,price,amount\n2018-01-26T00:00:00Z,88,1\n2018-01-26T00:00:00Z,"88,1\n'
     '2018-01-26T00:01:00Z,89,1\n2018-01-26T00:02:00Z,90,1\n', 3),
    ('time,price,amount\n2018-01-26T00:00:00Z,"8""8",1\n2018-01-26T00:00:00Z,88,"1\n', 3),
    ('"time,price,amount\n2018-01-26T00:00:00Z,88,1\n', 1),
])
def test_a_trades_file_with_a_quote_left_open_names_the_line_it_opens(text: str,
                                                                      opened: int) -> None:
    """A quote left open was a row of too few fields on the file's last line (``"x`` after
    the header: "1 fields, the header has 3"): it is an unterminated quoted field, named on
    the line where the quote opens; nothing is planned."""
    from kinko.i18n import Localizer

    with pytest.raises(InputFileError) as info:
        parse_trades(text.splitlines(keepends=True), "t.csv")
    assert info.value.problems[-1] == open_quote(f"t.csv:{opened}")
    said = info.value.problems_said[-1] if info.value.problems_said else info.value.says
    assert said is not None
    assert Localizer("ja").text(said) == (f"t.csv:{opened}：引用符で囲まれたフィールドが閉じて"
                                          "いません。この行で開いた二重引用符がファイルの終わり"
                                          "までに閉じられていません")


def test_a_trades_file_quoted_wrongly_is_refused_and_quoted_rightly_read() -> None:
    text = 'time,price,amount\n2018-01-26T00:00:00Z,"8"8,1\n'  # was read as a price of 88
    with pytest.raises(InputFileError) as info:
        parse_trades(text.splitlines(keepends=True), "t.csv")
    assert info.value.problems == ["t.csv:2: ',' expected after '\"'"]
    text = 'time,price,amount\n"2018-01-26T00:00:00Z","88.5","1"\n'
    assert [t.price for t in parse_trades(text.splitlines(), "t.csv")] == [Decimal("88.5")]


# ---------------------------------------------------------------------------- funds


def test_funds_confirmed_or_the_exact_shortfall() -> None:
    assert FundsCheck(bank=1_000, customers=300, required=700).confirmed
    short = FundsCheck(bank=1_000, customers=300, required=701)
    assert (short.available, short.confirmed, short.shortfall) == (700, False, 1)
    plan = plan_for(HAND, bank=900, owed=300)  # 600 available, 631 required
    assert not plan.funds.confirmed and plan.funds.shortfall == 31
    assert plan_for(HAND, bank=931, owed=300).funds.confirmed


# ---------------------------------------------------------------------------- files


def test_plan_files_round_trip_and_tampering_is_detected() -> None:
    plan = plan_for(HAND)
    data = refunds_csv(plan)
    assert data.decode().splitlines() == ["customer,units,amount,refund_jpy",
                                         "A,1000000,1,88", "B,500000,0.5,44",
                                         "C,5646000,5.646,499"]
    doc = plan_document(plan, hashlib.sha256(data).hexdigest())
    assert doc["plan_id"].startswith("RP-") and len(doc["plan_id"]) == 27
    assert doc == plan_document(plan, hashlib.sha256(data).hexdigest())  # deterministic
    assert (doc["total_units"], doc["total_yen"], doc["exact_total_yen"],
            doc["remainder_yen"]) == ("7146000", "631", "632.771154", "1.771154")
    assert doc["price"]["value"] == "88.549" and doc["price"]["method"] == "fixed"
    assert doc["funds"] == {"as_of": "2018-02-24T15:02:00.000000Z", "bank_yen": "10000",
                            "customers_yen": "1000", "available_yen": "9000",
                            "required_yen": "631", "confirmed": True, "shortfall_yen": "0"}
    back = parse_refunds_csv(data, "r.csv", parse_plan_document(doc, "p.json"), XEM)
    assert (back.customers, back.units, back.refunds) == (plan.customers, plan.units,
                                                          plan.refunds)
    flipped = {**doc, "funds": {**doc["funds"], "confirmed": False}}
    with pytest.raises(InputFileError, match="funds check does not add up"):
        parse_plan_document(flipped, "p.json")
    with pytest.raises(InputFileError, match="altered after it was written"):
        parse_plan_document({**doc, "rounding": "half-up"}, "p.json")
    # the same refunds planned again with other funds: the same id, so the same ledger keys
    short = plan_document(plan_for(HAND, bank=900, owed=300), doc["refunds_csv_sha256"])
    assert short["plan_id"] == doc["plan_id"] and short["funds"]["shortfall_yen"] == "31"
    other = plan_document(plan_for(HAND, price="88.5490"), doc["refunds_csv_sha256"])
    assert other["plan_id"] != doc["plan_id"]  # the price as written is part of the plan
    with pytest.raises(InputFileError, match=r"r.csv:3: refund 45 is not 0.5 × 88.549 rounded floor \(44\)"):
        parse_refunds_csv(data.replace(b"B,500000,0.5,44", b"B,500000,0.5,45"), "r.csv", doc,
                          XEM)
    with pytest.raises(InputFileError, match=r"r\.csv:2: units 1000001 and amount 1 do not"):
        parse_refunds_csv(data.replace(b"A,1000000,", b"A,1000001,"), "r.csv", doc, XEM)
    with pytest.raises(InputFileError, match="do not match the plan"):
        parse_refunds_csv(data.replace(b"B,500000,0.5,44\n", b""), "r.csv", doc, XEM)
    with pytest.raises(InputFileError, match="not a kinko refund plan"):
        parse_plan_document({"format": "other"}, "p.json")


@pytest.mark.parametrize("field, value", [
    ("customers", Decimal("1.5")),  # a number with a point: json.dumps of the digest failed
    ("currency_decimals", 10**20),  # 10 ** it, computing the refund ratio, never ended
    ("currency_decimals", "x"),
    ("price", "88.549"),  # indexed as an object
    ("price", {"value": "x", "method": "fixed"}),  # a Decimal of 'x'
    ("customers", "many"),
    ("exact_total_yen", "9" * 5000),  # int() of it, to show it
    ("funds", None),
], ids=["point", "decimals-1e20", "decimals-x", "price-text", "price-x", "customers-many",
        "5000-digits", "no-funds"])
def test_a_plan_edited_with_its_id_recomputed_is_refused_naming_the_field(
        field: str, value: Any) -> None:
    """The plan id is a digest anyone can recompute: ``kinko refunds show`` and ``execute``
    of a plan.json so edited ended in "kinko failed unexpectedly" (a TypeError, a
    ValueError, InvalidOperation, a KeyError, or no end at all). Every field is now checked
    to be what kinko writes there before any of it is used."""
    plan = plan_for(HAND)
    doc = plan_document(plan, hashlib.sha256(refunds_csv(plan)).hexdigest())
    edited = {**doc, field: value}
    if not isinstance(value, Decimal):  # the digest of a number with a point fails
        edited["plan_id"] = plan_digest(edited)
    altered = f"p.json: {field}[.a-z]* holds .*the plan was altered"
    with pytest.raises(InputFileError, match=altered):
        parse_plan_document(edited, "p.json")
    gone = {k: v for k, v in doc.items() if k != "remainder_yen"}
    with pytest.raises(InputFileError, match=r"missing field\(s\) remainder_yen"):
        parse_plan_document({**gone, "plan_id": plan_digest(gone)}, "p.json")


def test_a_plan_refuses_its_own_currency_and_empty_balances() -> None:
    with pytest.raises(BadInput, match="cannot be refunded in JPY"):
        build_plan(incident="I", asset=JPY, currency=JPY, rounding="floor", snapshot=SNAP,
                   snapshot_source="", price=PriceBasis(Decimal(1), "fixed"), holdings=[],
                   bank=0, customers_owed=0, funds_as_of=SNAP)
    with pytest.raises(BadInput, match="positive"):
        plan_for([("A", 0)])
    assert Asset("XEM", "nem", 6) == XEM
