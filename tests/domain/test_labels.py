"""Address labels as exchanges and public lists publish them: several tags per address kept,
TagPacks with transaction tags, concepts and an included header, plain and JSON address
lists (the public OFAC extracts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from csvquotes import open_quote

from kinko.domain.labels import (
    has_category,
    parse_csv_labels,
    parse_label_file,
    parse_tagpack,
    primary_label,
    tag_index,
)
from kinko.errors import InputFileError

DATA = Path(__file__).resolve().parents[1] / "data"
BTER = "1Ni8z1MbaF4ri8GGE67BWtLu66YnXj2BuW"  # hacks.yaml: the exchange Bter.com, and its hack
BINANCE_POOL = "0xc365c3315cf926351ccaf13fa7d19c8c4058c8e1"  # exchange and miner packs


def labels_of(name: str) -> list:  # type: ignore[type-arg]
    path = DATA / "tagpacks" / name
    return list(parse_label_file(path.read_text(encoding="utf-8"), str(path)).labels)


def test_an_address_keeps_every_tag_and_stays_an_exchange() -> None:
    """The real hacks TagPack tags Bter's address as the exchange and again as the hack;
    both tags are kept, and the address is a stop whatever the order of reading."""
    hacks = labels_of("hacks.yaml")
    index = tag_index(hacks)
    bter = index[BTER]  # a Bitcoin base58 address: its canonical form is as written
    assert {t.label for t in bter} == {"Bter.com", "Bter hack"}
    assert has_category(bter, ["exchange"])
    assert primary_label(bter, ["exchange"]).label == "Bter.com"
    assert tag_index(list(reversed(hacks)))[BTER] == bter  # order-free


def test_two_tagpacks_disagreeing_keep_both_tags() -> None:
    """Binance Pool is an exchange in one Etherscan pack and a miner in another: read in
    either order, the address has both tags and is an exchange."""
    exchange, miner = labels_of("etherscan-wordcloud-exchange.yaml"), labels_of(
        "etherscan-wordcloud-miner.yaml")
    for order in ((exchange, miner), (miner, exchange)):
        tags = tag_index([*order[0], *order[1]])[BINANCE_POOL]
        assert {t.category for t in tags} == {"exchange", "miner"}
        assert has_category(tags, ["exchange"]) and not has_category(tags, ["hacker"])


def test_concepts_count_as_categories() -> None:
    exchange = labels_of("etherscan-wordcloud-exchange.yaml")
    assert exchange[0].concepts == ("exchange",)
    pack = parse_tagpack("title: t\ncreator: c\ncategory: defi\nlabel: pool\ntags:\n"
                         f"- address: '{BINANCE_POOL}'\n  concepts: [exchange, defi_dex]\n",
                         "c.yaml")
    (label,) = pack.labels
    assert label.category == "defi" and label.concepts == ("exchange", "defi_dex")
    assert has_category([label], ["Exchange"])


def test_transaction_tags_are_read_not_refused() -> None:
    pack = parse_tagpack(
        "title: Ronin\ncreator: c\ncurrency: ETH\nsource: https://example.org/ronin\n"
        "label: Ronin bridge hack\ntags:\n- tx_hash: '0xc28fad5e8d5e0ce6a2eaf67b6687be5d58113e16"
        "be590824d6cfa1a94467d0b7'\n- address: '0x098B716B8Aaf21512996dC57EB0615e2383E2f96'\n"
        "  category: hacker\n", "ronin.yaml")
    assert pack.transactions == 1
    assert [lbl.category for lbl in pack.labels] == ["hacker"]
    with pytest.raises(InputFileError, match=r"tags\[0\]: both address and tx_hash"):
        parse_tagpack(f"title: t\ntags:\n- address: '{BINANCE_POOL}'\n  tx_hash: '0x1'\n",
                      "x.yaml")


def test_header_include_is_merged_as_the_tagpack_tool_does() -> None:
    texts = {"header.yaml": "creator: GraphSense Core Team\ncategory: exchange\n"
                            "currency: BTC\nsource: https://example.org\n"}
    pack = parse_tagpack("title: Bitmex\nheader: !include header.yaml\nlabel: bitmex\n"
                         "tags:\n- address: 3BMEXuoRza9EimRGSHGrwPmyFNUqWFpu8t\n", "b.yaml",
                         include=texts.__getitem__)
    (label,), (currency,) = pack.labels, pack.currencies
    assert (label.category, currency, label.source) == ("exchange", "BTC", "https://example.org")
    with pytest.raises(InputFileError, match=r"b\.yaml:2: header: !include header\.yaml"):
        parse_tagpack("title: Bitmex\nheader: !include header.yaml\ntags:\n- address: a\n",
                      "b.yaml")


def test_public_ofac_lists_one_per_line_and_json_arrays() -> None:
    for name in ("sanctioned_addresses_ETH.txt", "sanctioned_addresses_ETH.json"):
        path = DATA / "ofac" / name
        listed = parse_label_file(path.read_text(encoding="utf-8"), str(path)).labels
        assert len(listed) > 140, name
        keys = {lbl.address for lbl in listed}  # canonical: Ethereum in lower case
        assert "0x098b716b8aaf21512996dc57eb0615e2383e2f96" in keys  # Lazarus (Ronin), OFAC
        assert all(lbl.label == "listed" and lbl.source == str(path) for lbl in listed)
    with pytest.raises(InputFileError, match=r"l\.txt:2: not one address"):
        parse_label_file(f"{BINANCE_POOL}\n0xcd 0xef\n", "l.txt")
    with pytest.raises(InputFileError, match="not addresses"):
        parse_label_file(f'["{BINANCE_POOL}", 5]', "l.json")
    found = parse_label_file(f"# OFAC\n\n{BINANCE_POOL.upper().replace('0X', '0x')}  # c\n",
                             "l.txt").labels
    assert found[0].address == BINANCE_POOL
    with pytest.raises(InputFileError, match="not a valid address"):  # as any list
        parse_label_file("0xab\n", "l.txt")


def test_a_date_that_is_no_date_is_text_and_a_field_that_is_no_text_is_refused() -> None:
    """``lastmod: 2023-99-99`` ended ``kinko denylist load`` as a defect (YAML 1.1 made it a
    date, which failed: a ValueError, exit 70); a mapping or a list as a tag's label,
    category or currency was stored as Python's picture of it (``{'a': '1'}``)."""
    address = "0x008fe40574e881e7247b50b991c0cc057d66647f"
    pack = f"currency: ETH\nlastmod: 2023-99-99\ntags:\n- address: '{address}'\n"
    assert [x.address for x in parse_tagpack(pack, "p.yaml").labels] == [address]
    with pytest.raises(InputFileError, match=r"^p.yaml: not valid YAML: month must be in"):
        parse_tagpack(pack.replace("lastmod: ", "lastmod: !!timestamp "), "p.yaml")
    for field, value, kind in (("label", "{a: 1}", "a mapping"), ("category", "[x]", "a list"),
                               ("currency", "!!set {ETH}", "a set")):
        with pytest.raises(InputFileError) as caught:
            parse_tagpack(f"currency: ETH\ntags:\n- address: '{address}'\n  {field}: "
                          f"{value}\n", "p.yaml")
        assert caught.value.problems == [f"p.yaml:3: tags[0]: {field} must be text, "
                                         f"not {kind}"]
    with pytest.raises(InputFileError, match=r"p.yaml:3: tags\[0\]: currency must be text"):
        parse_tagpack(f"currency: [1]\ntags:\n- address: '{address}'\n", "p.yaml")


def test_a_word_yaml_would_make_a_boolean_is_the_word_written() -> None:
    """``label: yes`` was stored as the label ``True`` (YAML 1.1 reads yes, no, on, off,
    true and false as booleans); a boolean asked for in so many words is refused."""
    address = "0x008fe40574e881e7247b50b991c0cc057d66647f"
    pack = (f"currency: ETH\nsource: no\nactor: Off\ntags:\n- address: '{address}'\n"
            "  label: yes\n  category: TRUE\n")
    (tag,) = parse_tagpack(pack, "p.yaml").labels
    assert (tag.label, tag.category, tag.source, tag.actor) == ("yes", "TRUE", "no", "Off")
    with pytest.raises(InputFileError) as caught:
        parse_tagpack(pack.replace("label: yes", "label: !!bool yes"), "p.yaml")
    assert caught.value.problems == ["p.yaml:5: tags[0]: label must be text, not a boolean"]


def test_a_tag_naming_its_address_twice_is_refused() -> None:
    """A deny-list entry with two addresses kept only the second: the first was silently
    not denied."""
    first, second = "0x008fe40574e881e7247b50b991c0cc057d66647f", "0x" + "ab" * 20
    pack = f"currency: ETH\ntags:\n- address: '{first}'\n  address: '{second}'\n"
    with pytest.raises(InputFileError, match=r"^p.yaml:4: the key 'address' is given again "
                                             r"in one mapping \(first on line 3"):
        parse_tagpack(pack, "p.yaml")


def test_a_csv_list_the_csv_module_refuses_or_with_a_column_twice_is_named() -> None:
    """A label longer than the csv module's 131,072 characters ended ``kinko denylist
    load`` and ``tags import`` in "kinko failed unexpectedly" (a csv.Error); a list naming
    the address column twice was read by its last one, without a word."""
    address = "0x008fe40574e881e7247b50b991c0cc057d66647f"
    with pytest.raises(InputFileError, match=r"^l.csv:3: not readable as CSV \(field larger"):
        parse_csv_labels(f"address,label\n{address},a\n{address},{'x' * 200_000}\n", "l.csv")
    with pytest.raises(InputFileError,
                       match=r"^l.csv:1: column address appears twice in the header "
                             r"\(columns 1 and 3\)"):
        parse_csv_labels(f"address,label,address\n{address},a,0xZZ\n", "l.csv")
    assert len(parse_csv_labels(f"address,label,other,other\n{address},a,1,2\n",
                                "l.csv").labels) == 1  # a column kinko does not read


def test_a_prices_file_the_csv_module_refuses_is_named_by_its_line(tmp_path: Path) -> None:
    from kinko.prices import prices_from_csv

    path = tmp_path / "prices.csv"
    path.write_text("asset,jpy\nETH,1\nXEM," + "1" * 200_000 + "\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"prices.csv:3: not readable as CSV"):
        prices_from_csv(path)


A, B = "0x008fe40574e881e7247b50b991c0cc057d66647f", "0x" + "ab" * 20


@pytest.mark.parametrize("body, opened", [
    (f'address,label\n{A},"Scam', 2),  # the file's last line, without its line end
    (f'address,label\n{A},"Scam\n{B},hack\n', 2),  # B read into A's label: never denied
    (f'address,label\n{A},a\n"{B}\n', 3),
    (f'address,label\n{A},"a ""b"" c"\n{B},"hack\n', 3),  # a quote written twice closes none
    (f'"address,label\n{A},a\n', 1),
])
def test_a_csv_list_with_a_quote_left_open_is_refused_on_the_line_it_opens(
        body: str, opened: int) -> None:
    """A deny list whose quote opens and is not closed took the rest of the file as one
    field, without a word: the addresses after it were not listed. It is refused as an
    unterminated quoted field on the line where the quote opens; nothing is loaded."""
    for parse in (parse_csv_labels, parse_label_file):
        with pytest.raises(InputFileError) as caught:
            parse(body, "l.csv")
        assert caught.value.message == open_quote(f"l.csv:{opened}")


def test_a_csv_list_quoted_wrongly_is_refused_and_quoted_rightly_read() -> None:
    with pytest.raises(InputFileError, match=r"^l.csv:2: unterminated quoted field: .* not "
                                             r"closed within the 131,072 characters"):
        parse_csv_labels(f'address,label\n{A},"x\n' + ("y" * 1000 + "\n") * 200, "l.csv")
    with pytest.raises(InputFileError, match=r"^l.csv:3: not readable as CSV \(',' expected"):
        parse_csv_labels(f'address,label\n{B},a\n{A},"Scam"mer\n', "l.csv")  # was "Scammer"
    listed = parse_csv_labels(f'address,label\n\n"{A}","Scam, ""Inc"""\n{B},b\n', "l.csv")
    assert [(t.address, t.label) for t in listed.labels] == [(A, 'Scam, "Inc"'), (B, "b")]
    with pytest.raises(InputFileError, match=r"^l.csv:4: empty address"):  # past a blank line
        parse_csv_labels(f"address,label\n{A},a\n\n,b\n", "l.csv")
