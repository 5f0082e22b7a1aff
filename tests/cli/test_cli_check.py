"""``kinko check`` applies the law without a policy and treats a silent watch as a breach:
the 2018 setup (customers owed 523,000,000 XEM, nothing held, no policy) exits 1 naming
the missing reserves and the 5% breach; a watch whose last round is older than
``watch_silence_seconds`` exits 1 naming the chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clirun import cli_runner

from kinko.store import open_store

XEM_HOT = "NBZMQO7ZPBYNBDUR7F75MAKA2S3DHDCIFG775N3D"


def test_the_2018_setup_fails_the_law_without_a_policy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cli = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    assert cli("wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot",
               "--address", XEM_HOT)[0] == 0
    # owed and held, then stolen: the loss is booked, nothing is held any more
    assert cli("ledger", "post", "--key", "open", "--source", "opening",
               "--debit", "wallet:xem-hot 523000000 XEM",
               "--credit", "customer:C1 523000000 XEM")[0] == 0
    code, out, _ = cli("check")
    assert code == 1 and "total_hot_ratio_breach" in out  # all of it online: the 5% test
    assert cli("ledger", "post", "--key", "theft", "--source", "incident",
               "--debit", "loss:theft 523000000 XEM",
               "--credit", "wallet:xem-hot 523000000 XEM")[0] == 0
    code, out, err = cli("check", "--format", "csv")
    assert code == 1, (out, err)
    assert "reserve_shortfall" in out and "523,000,000 XEM short" in out
    assert "total_hot_ratio_breach" in out and "no_policy" in out
    assert "breach(es)" in err


def test_a_silent_watch_is_a_breach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    cli = cli_runner(monkeypatch, capsys, tmp_path, url, KINKO_WATCH_SILENCE_SECONDS="60")
    assert cli("wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot",
               "--address", XEM_HOT)[0] == 0
    code, out, _ = cli("check", "--format", "csv")
    assert code == 0 and "watch_never" in out  # never watched: a warning, not a breach
    store = open_store(url)
    now = datetime.now(UTC)
    with store.watch() as tables:
        tables.beat("nem", now - timedelta(minutes=10), started=now - timedelta(hours=1),
                    last_block=100, node_head=100, interval_ms=1000)
    code, out, err = cli("check", "--format", "csv")
    assert code == 1 and "watch_silent" in out and "nem" in out, (out, err)
    with store.watch() as tables:
        tables.beat("nem", datetime.now(UTC), started=now - timedelta(hours=1),
                    last_block=101, node_head=101, interval_ms=1000)
    store.close()
    code, out, _ = cli("check", "--format", "csv")
    assert code == 0 and "watch_silent" not in out and "watch_never" not in out
