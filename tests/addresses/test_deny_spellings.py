"""A listed address is blocked however the destination spells it: screening compares the
canonical form of one address format on both sides (the deny list and the destination).

Against the real lists in the test data (OFAC's and the hacks TagPacks, Tether's frozen
addresses, the Etherscan labels): every listed address of every format is blocked in its
listed spelling and in every other valid spelling of it."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest
from dbtemplate import migrated_store

from kinko.domain.addresses import CHAINS, FORMATS, canonical_address, currency_formats
from kinko.domain.addresses.formats import CashAddr, EvmHex, Nem, Segwit, eip55
from kinko.domain.custody import Wallet
from kinko.domain.labels import parse_label_file
from kinko.domain.ledger import Posting
from kinko.domain.money import Asset, AssetRegistry
from kinko.domain.screening import Context, Request, screen
from kinko.i18n import ENGLISH
from kinko.ports import FixedClock
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.services.withdrawals import Withdrawals

DATA = Path(__file__).resolve().parents[1] / "data"
POLICY = """version = 1
quorum = 1
[[approvers]]
name = "alice"
public_key = "%s"

[[screening.rules]]
kind = "deny_list"
action = "block"
reason = "listed address"
"""
# the exchange's assets on the chains the real lists name (decimals as the chains have them)
ASSETS = {"BTC": "bitcoin", "ETH": "ethereum", "LTC": "litecoin", "BCH": "bitcoincash",
          "BSV": "bitcoinsv", "BTG": "bitcoingold", "DASH": "dash", "ZEC": "zcash",
          "TRX": "tron", "XVG": "verge", "XRP": "xrpl", "XEM": "nem"}
DECIMALS = {"ETH": 18, "TRX": 6, "XRP": 6, "XVG": 6, "XEM": 6}
LISTS = [("tagpacks/hacks.yaml", "refuse"), ("tagpacks/ofac.yaml", "keep"),
         ("tagpacks/usdt_blacklist.yaml", "refuse"),
         ("labels/etherscan_malicious_labels.csv", "keep")]
CHAIN_OF_FORMAT = {name: next(c for c, names in CHAINS.items() if name in names)
                   for name in FORMATS}


@pytest.fixture
def withdrawals(tmp_path: Path) -> Iterator[Withdrawals]:
    store = migrated_store(tmp_path / "k.db")
    extra = [Asset(s, c, DECIMALS.get(s, 8)) for s, c in ASSETS.items() if s not in ("BTC",
                                                                                    "ETH")]
    ledger = Ledger(store, FixedClock(), AssetRegistry.default(extra))
    ledger.sync_assets()
    for symbol in ASSETS:
        ledger.add_wallet(Wallet(f"{symbol.lower()}-hot", symbol, "hot"))
        ledger.post(f"open-{symbol}", [Posting(f"wallet:{symbol.lower()}-hot", symbol, 10**12),
                                       Posting("customer:C1", symbol, -10**12)],
                    source="opening")
    (tmp_path / "p.toml").write_text(POLICY % ("ab" * 32))
    custody = Custody(ledger)
    custody.load_policy(tmp_path / "p.toml", "ops")
    yield Withdrawals(custody)
    store.close()


def test_a_listed_bitcoin_base58_address_is_blocked(withdrawals: Withdrawals) -> None:
    """Regression: the GraphSense hacks TagPack lists Bitcoin base58 addresses, which are
    case-sensitive; screening lower-cased the destination, so a withdrawal to one, spelled
    exactly as listed, was allowed."""
    withdrawals.load_deny_list(DATA / "tagpacks" / "hacks.yaml")
    listed = "1JoktQJhCzuCQkt3GnQ8Xddcq4mUgNyXEa"  # Bitstamp's address in hacks.yaml
    view = withdrawals.request("W1", "C1", "BTC", 1000, listed)
    assert view.state == "blocked", view.decision.explain()
    assert "Bitstamp" in ENGLISH.text(view.decision.hits[0].detail)


def spellings(written: str, chain: str) -> set[str]:
    """Every valid way of writing the address ``written`` on ``chain`` that kinko knows."""
    canonical = canonical_address(written, chain)
    fmt = next(f for f in (FORMATS[n] for n in CHAINS[chain]) if _parses(f.name, canonical))
    out = {written, canonical, f"\t{written} \n"}
    if isinstance(fmt, EvmHex):
        out |= {"0x" + canonical[2:].upper(), eip55(canonical), "0X" + canonical[2:]}
    elif isinstance(fmt, Segwit):
        out.add(canonical.upper())
    elif isinstance(fmt, CashAddr):
        bare = canonical.split(":")[1]
        out |= {canonical.upper(), bare, bare.upper(), *fmt.equivalents(canonical)}
    elif isinstance(fmt, Nem):
        out |= {canonical.lower(), "-".join(canonical[i:i + 6] for i in range(0, 40, 6))}
    return out


def _parses(name: str, text: str) -> bool:
    try:
        FORMATS[name].parse(text)
        return True
    except ValueError:
        return False


def chain_of(address: str, currency: str) -> str:
    """The chain a listed address is on: its currency's (USDT: the format that reads it)."""
    if currency in ASSETS:
        return ASSETS[currency]
    for f in currency_formats(currency) or FORMATS.values():
        if _parses(f.name, address.strip()):
            return CHAIN_OF_FORMAT[f.name]
    raise AssertionError(f"{address} ({currency}) is on no chain kinko knows")


@pytest.mark.slow
def test_every_listed_address_of_the_real_lists_is_blocked_in_every_spelling(
        withdrawals: Withdrawals) -> None:
    listed: list[tuple[str, str, str]] = []  # (as written in the file, its chain, list)
    for name, invalid in LISTS:
        path = DATA / name
        withdrawals.load_deny_list(path, invalid=invalid)
        read = parse_label_file(path.read_text(encoding="utf-8"), path.name, invalid=invalid)
        raw = _written(path)
        kept = {p.split(": ")[0].rsplit(":", 1)[1] for p in read.kept}  # their line numbers
        listed += [(text, chain_of(text, cur or "ETH"), name) for (line, text), cur
                   in zip(raw, read.currencies, strict=True) if str(line) not in kept]
    assert len(listed) > 9000
    formats = {FORMATS[n].name for _, chain, _ in listed for n in CHAINS[chain]}
    assert {"evm", "bitcoin", "bitcoin-segwit", "bitcoincash", "litecoin", "dash", "tron",
            "xrp", "zcash-transparent", "verge", "bitcoingold"} <= formats
    deny = withdrawals.deny_list()
    _, rules = withdrawals.rules()
    ids = count()
    service_checked: set[str] = set()
    for written, chain, name in listed:
        for spelling in spellings(written, chain):
            destination = canonical_address(spelling, chain)
            decision = screen(Request(f"W{next(ids)}", "C1", "ETH", 1, destination,
                                      withdrawals.clock.now()), rules, Context(deny=deny), 1)
            assert decision.outcome == "block", (name, written, spelling)
        symbol = next((s for s, c in ASSETS.items() if c == chain), None)
        if symbol is not None and chain not in service_checked:  # the whole request path,
            service_checked.add(chain)  # once per chain, every spelling
            for spelling in spellings(written, chain):
                view = withdrawals.request(f"R{next(ids)}", "C1", symbol, 1, spelling)
                assert view.state == "blocked", (name, written, spelling)
    assert service_checked == set(ASSETS.values()) - {"nem"}  # no NEM in these lists


def _written(path: Path) -> list[tuple[int, str]]:
    """(line, address as written) of every entry, in the file's order."""
    if path.suffix == ".csv":
        import csv

        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            return [(reader.line_num, row["banned_address"]) for row in reader]
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("- address:"):
            out.append((number, line.split(":", 1)[1].strip().strip("'\"")))
    return out
