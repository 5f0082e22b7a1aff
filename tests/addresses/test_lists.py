"""Deny lists and tags read into canonical addresses: an entry that is no valid address is
refused with its file:line and nothing of the list is written (unless ``keep`` is chosen,
then it is kept exactly as written and reported); the rule for currencies kinko has no
format for; the real lists' own upstream errors, found and named."""

from __future__ import annotations

import doctest
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbtemplate import migrated_store

from kinko.domain.labels import parse_csv_labels, parse_tagpack
from kinko.domain.money import Asset, AssetRegistry
from kinko.errors import BadInput, InputFileError
from kinko.ports import FixedClock
from kinko.services.labels import load_labels, tags
from kinko.services.ledger import Ledger
from kinko.store import SqlStore

DATA = Path(__file__).resolve().parents[1] / "data"
GOOD = "0x52908400098527886E0F7030069857D2E4169EE7"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = migrated_store(tmp_path / "k.db")
    yield s
    s.close()


def deny_count(store: SqlStore) -> int:
    with store.screening(write=False) as tables:
        return tables.deny_count()


def test_0xZZZ_is_refused_with_its_line_and_nothing_is_loaded(store: SqlStore,
                                                              tmp_path: Path) -> None:
    """Regression: such a list used to load, ``0xZZZ`` and all."""
    path = tmp_path / "scam.csv"
    path.write_text(f"address,label\n{GOOD},ok\n0xZZZ,scam\n1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2,"
                    "ok\n")
    with pytest.raises(InputFileError, match="nothing was loaded") as caught:
        load_labels(store, path)
    assert caught.value.problems == [
        f"{path}:3: '0xZZZ' is not an Ethereum address: 0x and 40 hex digits expected "
        "(3 characters after 0x)"]
    assert deny_count(store) == 0


def test_tagpack_errors_name_the_yaml_line(store: SqlStore, tmp_path: Path) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text("title: t\ncreator: c\ncurrency: BTC\ntags:\n"
                    "- address: 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2\n"
                    "  label: fine\n"
                    "- label: typed by hand\n"
                    "  address: 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3\n"
                    "- address: bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\n"
                    "  currency: LTC\n")
    with pytest.raises(InputFileError) as caught:
        load_labels(store, path, "tags")
    problems = caught.value.problems
    assert [p.split(": ")[0] for p in problems] == [f"{path}:8", f"{path}:9"]
    assert "bad checksum" in problems[0] and "(LTC) is not a Litecoin" in problems[1]
    assert tags(store) == {}


def test_keep_loads_the_rest_and_reports_each_entry_kept(store: SqlStore,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "scam.csv"
    path.write_text(f"address,label\n{GOOD.lower()},ok\n 0xZZZ ,scam\n")
    loaded = load_labels(store, path, invalid="keep")
    assert (loaded.read, loaded.new) == (2, 2)
    assert loaded.kept == (f"{path}:3: '0xZZZ' is not an Ethereum address: 0x and 40 hex "
                           "digits expected (3 characters after 0x) (kept exactly as written)",)
    with store.screening(write=False) as tables:
        assert set(tables.deny_map()) == {GOOD.lower(), "0xZZZ"}
    with pytest.raises(BadInput, match="refused or kept"):
        load_labels(store, path, invalid="ignore")


def test_currencies_kinko_has_no_format_for() -> None:
    """No currency, or a ticker kinko has no format for: the address is read by its shape
    (any registered format, checksum checked); no format at all: refused, or kept as
    written when chosen."""
    pack = ("title: t\ncreator: c\ntags:\n"
            f"- address: '{GOOD.upper().replace('0X', '0x')}'\n  currency: SHIB\n"
            "- address: NDD2CT-6LQLIY-Q56KIX-I3ENTM-6EK3D4-4P5JFX-J4R4\n"
            "- address: So11111111111111111111111111111111111111112\n  currency: SOL\n")
    with pytest.raises(InputFileError, match=r"pack.yaml:7: .*\(SOL\) is not an address in "
                                             "any format kinko knows"):
        parse_tagpack(pack, "pack.yaml")
    kept = parse_tagpack(pack, "pack.yaml", invalid="keep")
    assert [lbl.address for lbl in kept.labels] == [
        GOOD.lower(), "NDD2CT6LQLIYQ56KIXI3ENTM6EK3D44P5JFXJ4R4",
        "So11111111111111111111111111111111111111112"]
    assert kept.currencies == ("SHIB", "", "SOL") and len(kept.kept) == 1


def test_a_currency_that_is_the_exchanges_asset_takes_its_chains_formats(
        store: SqlStore, tmp_path: Path) -> None:
    """The demo's XEM is an ERC-20 token: its trace blacklist lists 0x addresses under
    currency XEM, which kinko reads with the asset's chain (NEM addresses still pass)."""
    ledger = Ledger(store, FixedClock(), AssetRegistry.default(
        [Asset("XEM", "ethereum", 6, "0x" + "70" * 20)]))
    ledger.sync_assets()
    path = tmp_path / "blacklist.yaml"
    path.write_text(f"title: t\ncreator: c\ncurrency: XEM\ntags:\n- address: '{GOOD}'\n"
                    "- address: NDD2CT6LQLIYQ56KIXI3ENTM6EK3D44P5JFXJ4R4\n")
    assert load_labels(store, path).read == 2
    with pytest.raises(InputFileError, match=r"\(XEM\) is not a NEM mainnet address"):
        parse_tagpack(path.read_text(), "blacklist.yaml")  # without the exchange's assets


def test_the_real_lists_upstream_errors_are_found_and_named() -> None:
    """The vendored lists are kept as published, errors included: OFAC's TagPack has three
    Monero entries that are no Monero address (two cut short, one a 64-digit hex) and a Tron
    address filed under BTC; the Etherscan labels have two addresses whose EIP-55 capitals
    are wrong (both listed again in lower case). By default each list is refused naming
    them; with ``keep`` both load, the same entries reported."""
    ofac = (DATA / "tagpacks" / "ofac.yaml").read_text()
    with pytest.raises(InputFileError, match="4 entries are not") as caught:
        parse_tagpack(ofac, "ofac.yaml")
    assert [p.split(": ")[0] for p in caught.value.problems] == [
        "ofac.yaml:571", "ofac.yaml:801", "ofac.yaml:803", "ofac.yaml:1069"]
    assert "(BTC) is not a Bitcoin base58 address" in caught.value.problems[3]
    kept = parse_tagpack(ofac, "ofac.yaml", invalid="keep")
    assert len(kept.labels) == 572 and len(kept.kept) == 4
    etherscan = (DATA / "labels" / "etherscan_malicious_labels.csv").read_text()
    with pytest.raises(InputFileError, match="2 entries are not") as caught:
        parse_csv_labels(etherscan, "etherscan.csv")
    assert [p.split(": ")[0] for p in caught.value.problems] == [
        "etherscan.csv:1825", "etherscan.csv:6902"]
    assert all("bad EIP-55 checksum" in p for p in caught.value.problems)
    assert len(parse_csv_labels(etherscan, "etherscan.csv", invalid="keep").labels) == 7780
    for name in ("hacks.yaml", "usdt_blacklist.yaml"):  # these are clean
        assert parse_tagpack((DATA / "tagpacks" / name).read_text(), name).kept == ()


@pytest.mark.parametrize("module", ["kinko.domain.labels", "kinko.domain.addresses.codecs",
                                    "kinko.domain.addresses.formats",
                                    "kinko.domain.addresses.registry"])
def test_module_examples_hold(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
