"""Shared fixtures: stores on SQLite and on a real PostgreSQL server, clocks, ledgers; the tests
that need a service are marked ``slow`` from their fixtures (see :mod:`fastloop`)."""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import fastloop
import pgserver
from clirun import CliRun, cli_runner
from dbtemplate import migrated_sqlite

from kinko import i18n
from kinko.domain.custody import Wallet
from kinko.domain.money import AssetRegistry
from kinko.ports import FixedClock
from kinko.services.ledger import Ledger
from kinko.store import SqlStore, open_store, upgrade

REPO = Path(__file__).resolve().parent.parent
i18n.strict()  # a message id missing from a catalog fails the test that shows it
# the command line speaks the locale's language unless told: English here, whatever the
# machine's locale, and the tests that want Japanese ask for it
for _name in ("LC_ALL", "LC_MESSAGES", "KINKO_LANG"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"
DATA = REPO / "tests" / "data"
# a test process allocates a great deal and keeps most of it (modules, fixtures, collected
# tests): the youngest generation collected every 10,000 allocations (not 700) and the
# oldest a tenth as often find the same garbage in about two thirds of the collector's time
# (measured on a fifth of the suite: 19 s → 12 s of two workers' CPU)
gc.set_threshold(10_000, 10, 100)


def pytest_configure(config: pytest.Config) -> None:
    fastloop.enter_fast_loop(config.option.markexpr)
    # at its end pytest collects the garbage five times over, to report what a finalizer
    # raises: on a worker's heap after a whole run each full collection takes about a
    # second, at the very end (about 5 s a worker, profiled). One finds the run's garbage;
    # the other four only garbage that finalizers leave in turn
    from _pytest.unraisableexception import gc_collect_iterations_key

    config.stash[gc_collect_iterations_key] = 1


# pytest puts the running test's id in the environment (PYTEST_CURRENT_TEST) of every process
# started meanwhile, a session fixture's teardown included, and the system refuses one
# variable over 128 KB ("Argument list too long"): a parameter as long as a hostile body
# gets a short id of its own
LONGEST_ID = 2000


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by the marks added here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    long = [item.nodeid[:120] + "..." for item in items if len(item.nodeid) > LONGEST_ID]
    if long:
        raise pytest.UsageError(f"test ids over {LONGEST_ID} characters (give the "
                                "parameters ids=): " + "; ".join(long[:5]))
    fastloop.mark_services(items)


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A blocking call that never returns (an ``open`` of a FIFO nobody writes to) fails
    the test after 60 s instead of hanging the run: the alarm interrupts the system call."""
    def hung(signum: int, frame: object) -> None:
        raise AssertionError("kinko waited for something that never came")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def without_direct_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL as on a psycopg whose internals kinko's direct pipeline uses are gone
    (renamed in a later release): held statements go through psycopg's own pipeline, and
    entering the direct one fails the test."""
    from kinko.store import driver

    def direct(*_args: object) -> None:
        raise AssertionError("the direct pipeline was used")

    monkeypatch.setattr(driver, "PostgresQuery", None)
    monkeypatch.setattr(driver, "_round_trip", direct)


@pytest.fixture(scope="session")
def pg() -> Iterator[pgserver.PgServer]:
    server = pgserver.start(memory=True)
    try:
        template = server.create_database()
        store = open_store(server.url(template))
        upgrade(store)
        store.close()
        server.template = template
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'kinko.db'}"
    return str(request.getfixturevalue("pg").new_url())


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """A store at the newest schema: on SQLite a copy of this process's migrated template
    (:mod:`dbtemplate`), on PostgreSQL a copy of the session's migrated template database."""
    if store_url.startswith("sqlite:///"):
        migrated_sqlite(Path(store_url.removeprefix("sqlite:///")))
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def ledger(store: SqlStore, clock: FixedClock) -> Ledger:
    led = Ledger(store, clock, AssetRegistry.default())
    led.sync_assets()
    led.add_wallet(Wallet("xem-hot", "XEM", "hot"))
    led.add_wallet(Wallet("eth-hot", "ETH", "hot"))
    return led


import anvilnode  # noqa: E402

from kinko.chains.evm import EvmChain  # noqa: E402


@pytest.fixture(scope="session")
def anvil() -> Iterator[anvilnode.AnvilNode]:
    node = anvilnode.start()
    yield node
    node.stop()


@pytest.fixture(params=["inprocess", "anvil"])
def chain(request: pytest.FixtureRequest) -> EvmChain:
    if request.param == "inprocess":
        return EvmChain.in_process()
    return EvmChain.connect(request.getfixturevalue("anvil").url)


@pytest.fixture
def node_cli(anvil: anvilnode.AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> CliRun:
    """Run ``kinko`` in-process against a fresh SQLite database and the session's anvil;
    returns (exit code, stdout, stderr). Keys' passwords are set as an operator would."""
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                      KINKO_EVM_RPC_URL=anvil.url, KINKO_CONFIRMATIONS="2",
                      KINKO_HOT_KEY_PASSWORD="hot wallet password",
                      KINKO_APPROVER_KEY_PASSWORD="approver key password")


import softhsm  # noqa: E402
from softhsm import HSM_PIN, HSM_SPARE, HSM_TOKEN  # noqa: E402


@pytest.fixture(scope="session")
def hsm() -> Iterator[softhsm.SoftHsm]:
    """A SoftHSM2 token directory of this test process (never the system's) with one
    initialised tokens, ``HSM_TOKEN`` and ``HSM_SPARE``, whose user PIN is ``HSM_PIN``."""
    node = softhsm.start({HSM_TOKEN: HSM_PIN, HSM_SPARE: HSM_PIN})
    yield node
    node.stop()
