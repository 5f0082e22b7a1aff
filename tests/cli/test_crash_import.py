"""A process killed with SIGKILL in the middle of a 100,000-row import, then the import rerun:
no duplicate and no partial entry, and ``verify`` passes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dbtemplate import migrated_sqlite

from kinko.domain.ledger import normal_balance
from kinko.domain.money import AssetRegistry
from kinko.ports import SystemClock
from kinko.services.ledger import Ledger
from kinko.store import open_store

ROWS = 100_000


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "KINKO_DATABASE_URL": url, "KINKO_IMPORT_BATCH_SIZE": "2000"}


@pytest.mark.slow
def test_sigkill_mid_import_then_rerun(store_url: str, tmp_path: Path) -> None:
    csv = tmp_path / "big.csv"
    with csv.open("w") as fh:
        fh.write("customer_id,asset,balance\n")
        for i in range(ROWS):
            fh.write(f"C{i:06d},XEM,{i % 997 + 1}.{i % 1000:03d}\n")
    expected_total = sum((i % 997 + 1) * 10**6 + (i % 1000) * 1000 for i in range(ROWS))
    kinko = [sys.executable, "-m", "kinko"]
    if store_url.startswith("sqlite:///"):  # PostgreSQL's is a copy of a migrated template
        migrated_sqlite(Path(store_url.removeprefix("sqlite:///")))
    store = open_store(store_url)
    ledger = Ledger(store, SystemClock(), AssetRegistry.default())
    ledger.sync_assets()  # the database as `kinko init` leaves it
    proc = subprocess.Popen([*kinko, "customers", "import", str(csv)], env=_env(store_url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while ledger.head()[0] < 5:  # wait until a few batches are committed
        assert proc.poll() is None, "import finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = ledger.head()[0]
    assert 5 <= committed < ROWS // 2000, "the kill did not land mid-import"
    assert ledger.verify().ok  # what was committed is whole
    rerun = subprocess.run([*kinko, "customers", "import", str(csv)], env=_env(store_url),
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{committed} already imported" in rerun.stdout
    rows = ledger.balances(kind="customer", asset="XEM")
    assert len(rows) == ROWS  # every customer once
    assert sum(normal_balance(r.account, r.state) for r in rows) == expected_total
    assert ledger.balance("customer:C012345", "XEM") == (12345 % 997 + 1) * 10**6 + 345 * 1000
    assert ledger.head()[0] == ROWS // 2000
    report = ledger.verify()
    assert report.ok, report.findings
    store.close()
