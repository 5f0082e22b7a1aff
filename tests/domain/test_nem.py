"""NEM's mosaic ids and public keys in the pure domain; mosaics as the tokens of NEM assets."""

from __future__ import annotations

import pytest

from kinko.domain.addresses import canonical_token, same_token
from kinko.domain.money import Asset
from kinko.domain.nem import check_public_key, mosaic_id, mosaic_quantity
from kinko.errors import BadInput


@pytest.mark.parametrize(("text", "canonical"), [
    ("nem:xem", "nem:xem"), ("NEM:XEM", "nem:xem"), (" kinko.tags:stolen-2018 ", "kinko.tags:stolen-2018"),
    ("a.b.c:it's a tag", "a.b.c:it's a tag"),
])
def test_mosaic_ids_in_any_case_have_one_canonical_form(text: str, canonical: str) -> None:
    assert mosaic_id(text) == canonical


@pytest.mark.parametrize("text", ["nem", "nem:", ":xem", "a.b.c.d:x", "x" * 17 + ":y",
                                  "nem:" + "x" * 33, "n m:xem", "nem:xem:1", "-nem:xem",
                                  "nem:xem  two"])
def test_a_bad_mosaic_is_refused_naming_it(text: str) -> None:
    with pytest.raises(BadInput) as err:
        mosaic_id(text)
    assert repr(text)[1:-1][:40] in str(err.value)


def test_a_mosaic_is_the_token_of_a_nem_asset() -> None:
    tag = Asset("TAG", "nem", 0, token="Kinko.Tags:Stolen")
    assert tag.token == "kinko.tags:stolen"
    assert same_token("KINKO.TAGS:STOLEN", tag.token, "nem")
    assert not same_token(None, tag.token, "nem")
    assert not same_token("kinko.tags:other", tag.token, "nem")
    assert canonical_token("0x52908400098527886E0F7030069857D2E4169EE7", "ethereum") == \
        "0x52908400098527886e0f7030069857d2e4169ee7"
    with pytest.raises(BadInput, match="not namespace:name"):
        Asset("TAG", "nem", 0, token="0x52908400098527886E0F7030069857D2E4169EE7")


def test_mosaic_quantities_of_a_version_2_transfer_use_the_multiplier() -> None:
    assert mosaic_quantity(5, 1_000_000) == 5
    assert mosaic_quantity(3, 500_000) == 1  # rounded down, as NIS1 does
    assert mosaic_quantity(10**15, 2_000_000) == 2 * 10**15


def test_public_keys_are_64_hex_digits() -> None:
    assert check_public_key("c5f54ba980fcbb657dbaaa42700539b207873e134d2375efeab5f1ab52f87844") \
        == "C5F54BA980FCBB657DBAAA42700539B207873E134D2375EFEAB5F1AB52F87844"
    with pytest.raises(BadInput, match="64 hex digits"):
        check_public_key("C5F54BA9")

