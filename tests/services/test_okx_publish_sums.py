"""An OKX v1 publication whose sum would not fit the format is refused, naming the asset and
the sum, before anything is written: every proof kinko writes verifies with its verifier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.domain.okx import verify_okx_file
from kinko.errors import InvalidAmount
from kinko.i18n import Localizer
from kinko.ports import FixedClock
from kinko.services import reserves as svc
from kinko.services.ledger import Ledger
from kinko.store import open_store, upgrade

SAT = 10**8  # BTC's minor units per coin


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    store = open_store("sqlite://")
    upgrade(store)
    ledger = Ledger(store, FixedClock(), AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("btc-cold", "BTC", "cold"))
    yield ledger
    store.close()


def deposit(ledger: Ledger, customer: str, units: int) -> None:
    ledger.post(f"d-{customer}", [Posting("wallet:btc-cold", "BTC", units),
                                  Posting(f"customer:{customer}", "BTC", -units)],
                source=f"tx-{customer}")


def test_a_sum_past_30_digits_is_refused_and_nothing_written(ledger: Ledger,
                                                            tmp_path: Path) -> None:
    each = 6 * 10**29 * SAT  # 6e37 minor units: 30 digits of whole BTC, as OKX v1 allows
    for customer in ("C1", "C2"):
        deposit(ledger, customer, each)
    out = tmp_path / "okx"
    with pytest.raises(InvalidAmount, match="BTC balances add up to 12" + "0" * 29) as caught:
        svc.publish_okx(svc.snapshot(ledger, min_height=1), out)
    assert caught.value.http_status // 100 == 4
    assert not out.exists() or not any(out.rglob("*"))


def test_the_most_the_format_holds_is_written_and_verifies(ledger: Ledger,
                                                          tmp_path: Path) -> None:
    deposit(ledger, "C1", (10**30 - 1) * SAT)
    deposit(ledger, "C2", SAT - 1)  # 0.99999999 BTC: the sum is 30 nines and 8 decimals
    out = tmp_path / "okx"
    svc.publish_okx(svc.snapshot(ledger, min_height=1), out)
    for proof in (out / "proofs").glob("*.json"):
        verdict = verify_okx_file(proof.read_text(), proof.name)
        assert verdict.ok, verdict.reason


def test_one_balance_past_30_digits_is_refused_naming_the_customer(ledger: Ledger,
                                                                   tmp_path: Path) -> None:
    """A customer's own balance longer than the format holds is refused as that, naming
    the customer and the asset, not as a string that is no decimal."""
    deposit(ledger, "C1", 10**30 * SAT)  # 10**30 BTC: 31 digits before the point
    deposit(ledger, "C2", SAT)
    out = tmp_path / "okx"
    with pytest.raises(InvalidAmount) as caught:
        svc.publish_okx(svc.snapshot(ledger, min_height=1), out)
    assert caught.value.message == ("user C1: the BTC balance 1" + "0" * 30 + " has 31 digits "
                                    "before the point, more than the 30 OKX v1 allows a "
                                    "balance")
    said = caught.value.said()
    assert said.id == "error.okx.balance_too_long"
    assert (said.params["user"], said.params["asset"]) == ("C1", "BTC")
    assert Localizer("ja").text(said).startswith("顧客 C1：BTC の残高 1" + "0" * 30 + " は整数部が 31 桁")
    assert caught.value.http_status // 100 == 4
    assert not out.exists() or not any(out.rglob("*"))
