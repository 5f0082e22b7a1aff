"""The refusals of addresses and amounts (a withdrawal's destination, an amount typed in a
form) said in Japanese with their specifics, as the English says them: the address (cut to
a bounded length) and what is wrong with it (checksum, length, characters, network); the
amount, the asset and the rule it breaks."""

from __future__ import annotations

import pytest
from saying import said as _said

from kinko.domain.addresses import canonical_address, canonical_token, currency_address
from kinko.domain.addresses.codecs import Malformed, b32_decode, b58_decode, bech32_decode
from kinko.domain.money import Asset, AssetRegistry, parse_money, parse_units
from kinko.errors import InvalidAddress, InvalidAmount, UnknownAsset
from kinko.i18n import Localizer

JA, EN = Localizer("ja"), Localizer("en")

XEM = Asset("XEM", "nem", 6)
EIP55 = "0x52908400098527886E0F7030069857D2E4169EE7"
NEM = "NDD2CT6LQLIYQ56KIXI3ENTM6EK3D44P5JFXJ4R4"




def _no_english(ja: str) -> None:
    for word in ("checksum", "characters", "not ", "network", "expected", "address"):
        assert word not in ja, (word, ja)


def _refused(address: str, chain: str) -> tuple[InvalidAddress, str, str]:
    with pytest.raises(InvalidAddress) as caught:
        canonical_address(address, chain)
    ja, en = _said(caught.value)
    _no_english(ja)
    return caught.value, ja, en


def test_a_bad_checksum_names_the_address_and_the_checksum() -> None:
    wrong = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"
    exc, ja, en = _refused(wrong, "bitcoin")
    assert ja == (f"アドレス {wrong}：Bitcoin の base58 アドレス（1… または 3…）ではありません。"
                  "チェックサムが一致しません（文字の誤りか抜けがあります）")
    assert en == exc.message.replace(f"'{wrong}'", wrong)
    assert "bad checksum" in en


def test_a_wrong_eip55_case_is_said_as_the_case_of_the_letters() -> None:
    flipped = EIP55.replace("E", "e", 1)
    exc, ja, en = _refused(flipped, "ethereum")
    assert flipped in ja and "EIP-55 チェックサム" in ja and "所有者に確認" in ja
    assert en == exc.message.replace(f"'{flipped}'", flipped)


def test_a_length_is_said_with_its_count() -> None:
    _exc, ja, _en = _refused("0xdead", "ethereum")
    assert ja == ("アドレス 0xdead：Ethereum のアドレスではありません。0x と 16 進数 40 桁が"
                  "必要です（0x の後が 4 文字）")
    _exc, ja, _en = _refused("4" + "A" * 90, "monero")
    assert "91 文字です（Monero のアドレスは 95 文字、統合アドレスは 106 文字）" in ja


def test_a_character_is_shown_and_an_invisible_one_escaped() -> None:
    exc, ja, en = _refused("0xab\u200bcd", "ethereum")
    assert "0xab\\u200bcd" in ja and "「\\u200b」（U+200B）を含みます" in ja
    assert en == exc.message.replace("'0xab\\u200bcd'", "0xab\\u200bcd")
    _exc, ja, _en = _refused("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3tb", "bitcoin")
    assert "「b」は bech32 の文字ではありません" in ja


def test_a_network_is_said_with_its_byte() -> None:
    testnet = "T" + NEM[1:]
    _exc, ja, _en = _refused(testnet, "nem")
    assert testnet in ja and "ネットワークバイトが 0x68 ではなく 0x98 です" in ja
    assert "N で始まります" in ja
    _exc, ja, _en = _refused("bchtest:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
                             "bitcoincash")
    assert ja.startswith("アドレス bchtest:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a：Bitcoin "
                         "Cash のアドレス")
    assert "プレフィックスが「bitcoincash」ではなく「bchtest」です" in ja


def test_text_like_no_format_of_the_chain_names_each_format() -> None:
    exc, ja, en = _refused("xyz", "bitcoin")
    assert ja == ("アドレス xyz：Bitcoin の base58 アドレス（1… または 3…）、Bitcoin の SegWit "
                  "アドレス（bc1…）のいずれでもありません")
    assert en == exc.message.replace("'xyz'", "xyz")


def test_empty_and_huge_addresses_are_said_and_cut() -> None:
    _exc, ja, en = _refused("  ", "ethereum")
    assert ja == "アドレス ''：正しくありません。空です"
    assert en == "address '' is not valid: empty"
    _exc, ja, en = _refused("a" * 1_000_000, "ethereum")
    assert len(ja) < 200 and len(en) < 200
    assert "1,000,000 文字です。128 文字を超えるアドレス形式はありません" in ja
    assert "a" * 60 + "…" in ja


def test_an_unknown_chain_is_named_with_the_known_ones() -> None:
    with pytest.raises(InvalidAddress) as caught:
        canonical_address("0x" + "0" * 40, "dogechain" * 1000)
    ja, en = _said(caught.value)
    assert ja.startswith("チェーン dogechain") and "既知のチェーン：arbitrum" in ja
    assert len(ja) < 400 and "ethereum" in en


def test_a_listed_address_names_its_currency() -> None:
    with pytest.raises(InvalidAddress) as caught:
        currency_address("ltc1qzzzzzzz", "ltc")
    ja, en = _said(caught.value)
    assert ja.startswith("ltc1qzzzzzzz（LTC）：Litecoin の SegWit アドレス（ltc1…）ではありません")
    assert en == caught.value.message.replace("'ltc1qzzzzzzz'", "ltc1qzzzzzzz")
    with pytest.raises(InvalidAddress) as caught:
        currency_address("zzz", "")
    ja, en = _said(caught.value)
    assert ja == "zzz：kinko が扱うどの形式のアドレスでもありません"
    assert en == "zzz is not an address in any format kinko knows"


def test_the_codecs_say_their_reason_themselves() -> None:
    for decoding, text, ja in ((b58_decode, "1O", "「O」は base58 の文字ではありません"),
                               (b32_decode, "AB", "2 文字は base32 でバイト単位に"),
                               (bech32_decode, "bc1Qw508d6", "大文字と小文字が混在しています")):
        with pytest.raises(Malformed) as caught:
            decoding(text)
        assert ja in JA.text(caught.value.says)
        assert EN.text(caught.value.says).replace("'", "") == str(caught.value).replace("'", "")


@pytest.mark.parametrize(("text", "ja", "en"), [
    ("1.0000001", "1.0000001 XEM は小数点以下 7 桁です。XEM の小数点以下は 6 桁までです",
     "1.0000001 XEM has 7 decimal places; XEM allows at most 6"),
    ("nan", "nan は XEM の数量ではありません", "'nan' is not a number of XEM"),
    ("-1", "負の金額 -1 XEM はここでは使えません", "negative amount -1 XEM is not allowed here"),
    ("", "XEM の金額が空です", "empty amount for XEM"),
    ("1e5", "1e5 は通常の 10 進数ではありません", "'1e5' is not a plain decimal number"),
])
def test_an_amount_is_said_with_its_text_and_asset(text: str, ja: str, en: str) -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_units(text, XEM)
    said_ja, said_en = _said(caught.value)
    assert said_ja.startswith(ja) and said_en.startswith(en)
    assert said_en == caught.value.message


def test_a_huge_amount_is_cut() -> None:
    for text in ("9" * 1_000_000, "1," + "0" * 1_000_000):
        with pytest.raises(InvalidAmount) as caught:
            parse_units(text, XEM)
        ja, en = _said(caught.value)
        assert len(ja) < 300 and len(en) < 300
    with pytest.raises(InvalidAmount) as caught:
        parse_units("9" * 200, XEM)
    ja, en = _said(caught.value)
    assert ja == ("9" * 40 + "… XEM は大きすぎます。金額は XEM の最小単位で 78 桁までです")
    assert en == caught.value.message


def test_money_text_and_assets_are_named() -> None:
    registry = AssetRegistry.default()
    with pytest.raises(InvalidAmount) as caught:
        parse_money("1.5", registry)
    assert _said(caught.value)[0] == ("1.5 は金額ではありません。「1.5 ETH」のように数値と資産を"
                                      "書いてください")
    with pytest.raises(UnknownAsset) as unknown:
        parse_money("1.5 FOO", registry)
    ja, en = _said(unknown.value)
    assert ja == ("資産 FOO はありません（既知の資産：BTC, ETH, JPY, XEM。ほかの資産は kinko.toml "
                  "の [assets] に追加してください）")
    assert en == unknown.value.message.replace("'FOO'", "FOO")
    with pytest.raises(UnknownAsset) as unknown:
        AssetRegistry([])["X"]
    assert "既知の資産：なし" in _said(unknown.value)[0]
    assert "known: none;" in _said(unknown.value)[1]


def test_an_asset_definition_is_refused_by_name() -> None:
    with pytest.raises(UnknownAsset) as caught:
        Asset("eth", "ethereum", 18)
    assert _said(caught.value)[0].startswith("資産のシンボル eth は")
    with pytest.raises(InvalidAmount) as amount:
        Asset("ETH", "ethereum", 31)
    assert _said(amount.value) == (
        "資産 ETH：小数の桁数は 0 から 30 までです（31 は指定できません）",
        "asset ETH: decimals must be between 0 and 30, not 31")
    with pytest.raises(UnknownAsset) as caught:
        Asset("ETH", " ", 18)
    assert _said(caught.value)[0] == "資産 ETH：チェーンを指定してください"
    with pytest.raises(InvalidAddress) as token:  # the contract's refusal, as it is
        Asset("USDT", "ethereum", 6, token="0xdead")
    assert _said(token.value)[0].startswith("アドレス 0xdead：Ethereum のアドレスではありません")
    with pytest.raises(InvalidAddress) as token:
        canonical_token("0xdead", "polygon")
    assert "0x の後が 4 文字" in _said(token.value)[0]
