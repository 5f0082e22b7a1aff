"""The demo exchange: 260,000 customers holding XEM, ETH and JPY, reproducible from a seed.

The customer book is generated deterministically (``random.Random(seed)``) and written as
the same CSV format an exchange would import; the XEM balances add up to exactly the
523,000,000 XEM Coincheck held for its customers in January 2018, all of it, as there, in
one hot wallet. ETH is kept 5% hot and 95% cold; yen sit in a segregated trust account,
and the exchange has its own yen in a separate bank account.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kinko.domain.custody import AssetPosition, Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry, format_units
from kinko.services.custody import custody_positions
from kinko.services.customers import ImportReport, import_customers
from kinko.services.ledger import Draft, Ledger

__all__ = ["DemoResult", "generate_customers", "run_demo"]

XEM_TOTAL = 523_000_000 * 10**6  # micro-XEM
OWN_JPY = 50_000_000_000
OWN_ETH = 100 * 10**18


def _allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` exactly in proportion to integer ``weights`` (largest remainders)."""
    w_sum = sum(weights)
    shares = [total * w // w_sum for w in weights]
    rest = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % w_sum), i))
    for i in order[:rest]:
        shares[i] += 1
    return shares


def generate_customers(path: Path, count: int = 260_000, seed: int = 2018) -> dict[str, int]:
    """Write the demo customers' CSV; return the exact total per asset in minor units."""
    rng = random.Random(seed)
    xem_weights = [int(rng.lognormvariate(0, 1.6) * 1_000_000) + 1 for _ in range(count)]
    xem = _allocate(XEM_TOTAL, xem_weights)
    assets = AssetRegistry.default()
    totals = {"XEM": 0, "ETH": 0, "JPY": 0}
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["customer_id", "asset", "balance"])
        for i in range(count):
            cid = f"C{i + 1:07d}"
            rows = [("XEM", xem[i])]
            if rng.random() < 0.4:
                rows.append(("ETH", int(rng.lognormvariate(-1.5, 1.4) * 10**6) * 10**12))
            if rng.random() < 0.7:
                rows.append(("JPY", int(rng.lognormvariate(10, 1.5))))
            for symbol, units in rows:
                totals[symbol] += units
                out.writerow([cid, symbol, format_units(units, assets[symbol])])
    return totals


@dataclass(frozen=True)
class DemoResult:
    customers: int
    csv_path: Path
    import_report: ImportReport
    import_seconds: float
    positions: list[AssetPosition]


def run_demo(ledger: Ledger, folder: Path, *, customers: int = 260_000, seed: int = 2018,
             batch_size: int = 5000,
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Set up the demo exchange in ``ledger`` (an empty, initialised store)."""
    csv_path = folder / "customers.csv"
    totals = generate_customers(csv_path, customers, seed)
    for wallet in (Wallet("xem-hot", "XEM", "hot"), Wallet("eth-hot", "ETH", "hot"),
                   Wallet("eth-cold", "ETH", "cold")):
        ledger.add_wallet(wallet)
    started = time.perf_counter()
    report = import_customers(ledger, csv_path, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - started
    eth_hot = totals["ETH"] // 20
    opening = "clearing:opening"
    ledger.append([
        Draft("demo:holdings", postings=(
            Posting("wallet:xem-hot", "XEM", totals["XEM"]),
            Posting("wallet:eth-hot", "ETH", eth_hot),
            Posting("wallet:eth-cold", "ETH", totals["ETH"] - eth_hot),
            Posting("bank:jpy-trust", "JPY", totals["JPY"]),
            Posting(opening, "XEM", -totals["XEM"]),
            Posting(opening, "ETH", -totals["ETH"]),
            Posting(opening, "JPY", -totals["JPY"]),
        ), source="demo:opening", memo="wallet and trust-account holdings at opening"),
        Draft("demo:own-funds", postings=(
            Posting("bank:jpy-own", "JPY", OWN_JPY),
            Posting("wallet:eth-cold", "ETH", OWN_ETH),
            Posting("own", "JPY", -OWN_JPY),
            Posting("own", "ETH", -OWN_ETH),
        ), source="demo:opening", memo="the exchange's own funds"),
    ])
    return DemoResult(customers, csv_path, report, seconds, custody_positions(ledger))
