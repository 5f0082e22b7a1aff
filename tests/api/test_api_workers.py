"""``kinko serve --workers N``: on PostgreSQL, 1,000 withdrawal requests (and 100 retries)
racing for one customer's balance through two server processes overdraw nothing, make
one withdrawal per Idempotency-Key, and both processes serve (each listens on a socket of
its own); on SQLite (one writer) the option is refused with what to do instead; the
server's sockets keep Nagle's algorithm off on every connection."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import loopback
import pytest
from clirun import cli_runner
from dbtemplate import initialised_sqlite
from pidapp import listening

from kinko.chains.evm import EvmChain
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting, available
from kinko.domain.money import AssetRegistry
from kinko.ports import SystemClock
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.services.withdrawals import Withdrawals
from kinko.store import open_store, upgrade

E = 10**18
REQUESTS = 1000
RETRIES = 100
BALANCE = 250


POLICY = 'version = 1\nquorum = 1\n[[approvers]]\nname = "a"\npublic_key = "' + "ab" * 32 + '"\n'
DAILY = ('[[screening.rules]]\nname = "daily"\nkind = "window"\nscope = "customer"\n'
         'duration = "24h"\nasset = "ETH"\nmax_amount = "100"\naction = "block"\n')


def race(pg, tmp_path: Path, policy: str, keys: list[str],  # type: ignore[no-untyped-def]
         lang: str = "en") -> tuple[Counter[int], Ledger, str]:
    """``keys`` (1 ETH each from C1, who holds BALANCE ETH) requested at once through
    ``kinko serve --workers 2`` on a new database under ``policy``: the answers' status
    codes, the ledger, what the server printed."""

    url = pg.url(pg.create_database())
    store = open_store(url)
    upgrade(store)
    ledger = Ledger(store, SystemClock(), AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot",
                             ("0x52908400098527886E0F7030069857D2E4169EE7",)))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", BALANCE * E),
                         Posting("customer:C1", "ETH", -BALANCE * E)], source="opening")
    (tmp_path / "p.toml").write_text(policy)
    Custody(ledger, chain=EvmChain.in_process()).load_policy(tmp_path / "p.toml", "ops")
    token = Access(store, SystemClock()).create_key("ops", "operator")[1]
    with serving(url, tmp_path, lang) as (port, out, _):

        def call(part: list[str]) -> list[int]:
            with loopback.client(f"http://127.0.0.1:{port}", timeout=120) as client:
                return [client.post("/v1/withdrawals", headers={
                    "Authorization": f"Bearer {token}", "Idempotency-Key": key},
                    json={"customer": "C1", "asset": "ETH", "amount": "1",
                          "destination": "0x" + "12" * 20}).status_code for key in part]

        with ThreadPoolExecutor(max_workers=24) as pool:
            codes = Counter(c for part in pool.map(call, [keys[n::24] for n in range(24)])
                            for c in part)
    return codes, ledger, "".join(out)


@contextmanager
def serving(url: str, tmp_path: Path, lang: str = "en"
            ) -> Iterator[tuple[int, list[str], subprocess.Popen[str]]]:
    """``kinko serve --workers 2`` on ``url``: its port, the lines it printed (as it prints
    them), and its process."""
    import anvilnode

    port = anvilnode.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kinko", "--lang", lang, "serve", "--no-dashboard", "--workers", "2",
         "--port", str(port)], env={**os.environ, "KINKO_DATABASE_URL": url,
                                    "KINKO_DATA_DIR": str(tmp_path)},
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            out.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "".join(out)
            # each process listens once its app is ready: both do before the test begins
            if listening(port) == 2:
                break
            assert time.monotonic() < deadline, "kinko serve did not start"
            time.sleep(0.2)
        yield port, out, server
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        reader.join(timeout=10)


@pytest.mark.slow
def test_racers_through_two_workers_overdraw_nothing(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys = [f"R-{i}" for i in range(REQUESTS)] + [f"R-{i}" for i in range(RETRIES)]
    codes, ledger, out = race(pg, tmp_path, POLICY, keys)
    assert set(codes) <= {201, 422}, codes  # created (or its retry), or refused: overdraft
    assert codes[201] >= BALANCE
    (row,) = ledger.balances(account="customer:C1")
    assert row.state.pending_debit == BALANCE * E  # all of it reserved, never more
    assert available("customer:C1", row.state) == 0
    made = Withdrawals(Custody(ledger, chain=EvmChain.in_process())).find()
    assert len(made) == BALANCE and len({w.id for w in made}) == BALANCE
    assert ledger.verify().ok
    # two server processes ran, and both served (each listens on a socket of its own, and
    # the kernel spreads the 24 clients' connections over them): each reports its group
    # commits when it stops
    assert "in 2 processes" in out and out.count("group commit:") == 2, out
    # several processes on one database: each one's units ran in worker threads, not on
    # its event loop (which would wait there for the other's batches)
    assert out.count(", 0 on the event loop") == 2, out
    ledger.store.close()


@pytest.mark.slow
def test_racers_through_two_workers_keep_to_a_window_limit(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Screening reads a customer's window before the writers' lock and again under it:
    requests racing through two processes never let more than the window's limit pass
    (here 100 of 1 ETH a day: the 101st and every later one is blocked)."""
    codes, ledger, out = race(pg, tmp_path, POLICY + DAILY, [f"D-{i}" for i in range(300)],
                              lang="ja")
    assert codes == Counter({201: 300}), codes
    made = Withdrawals(Custody(ledger, chain=EvmChain.in_process())).find()
    states = Counter(w.state for w in made)
    assert states == Counter({"allowed": 100, "blocked": 200}), states
    (row,) = ledger.balances(account="customer:C1")
    assert row.state.pending_debit == 100 * E  # the blocked ones reserve nothing
    assert ledger.verify().ok
    # the server spoke the language it was given: its banner, and each process's report of
    # its group commits when it stopped
    assert "2 プロセス" in out and out.count("グループコミット") == 2, out
    ledger.store.close()


@pytest.mark.slow
def test_a_key_revoked_elsewhere_fails_its_next_request_in_every_worker(  # type: ignore[no-untyped-def]
        pg, tmp_path: Path) -> None:
    """Both processes of ``kinko serve --workers 2`` hold the key in their caches; revoked
    by another process, it fails the very next request whichever process answers it (the
    command line's ``apikeys revoke`` against a running server: ``test_api_caches``)."""
    url = pg.url(pg.create_database())
    store = open_store(url)
    upgrade(store)
    key, token = Access(store, SystemClock()).create_key("ops", "operator")
    store.close()
    with serving(url, tmp_path) as (port, _, _):
        def get(n: int) -> list[int]:  # a new connection each: the kernel picks a process
            return [loopback.get(f"http://127.0.0.1:{port}/v1/breaker",
                              headers={"Authorization": f"Bearer {token}"}).status_code
                    for _ in range(n)]

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(c for part in pool.map(get, [10] * 8) for c in part) == {200}
        store = open_store(url)  # this process: neither of the server's
        Access(store, SystemClock()).revoke(key.id, by="root")
        store.close()
        with ThreadPoolExecutor(max_workers=9) as pool:  # 9: no process locks the client
            assert set(c for part in pool.map(get, [1] * 9) for c in part) == {401}


def _closed_within(port: int, seconds: float) -> bool:
    """Whether the server closes a connection that sends nothing within ``seconds``."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as conn:
        try:
            return conn.recv(1) == b""
        except TimeoutError:
            return False


def _closed_each(port: int, seconds: float, connections: int) -> list[bool]:
    """:func:`_closed_within` for ``connections`` connections at once (spread over the
    processes as the kernel spreads them), each waiting ``seconds``."""
    with ThreadPoolExecutor(connections) as pool:
        return list(pool.map(lambda _: _closed_within(port, seconds), range(connections)))


def _processes(parent: int) -> set[int]:
    """The server processes ``parent`` started (not multiprocessing's own helpers)."""
    found = set()
    for pid in subprocess.run(["pgrep", "-P", str(parent)], capture_output=True,
                              text=True).stdout.split():
        with suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(int(pid))
    return found


@pytest.mark.slow
def test_sighup_serves_with_the_settings_read_again_or_keeps_serving_if_refused(  # type: ignore[no-untyped-def]
        pg, tmp_path: Path) -> None:
    """SIGHUP: the processes that replace the running ones serve with the settings as they
    are then (here the deadline for a request to arrive); settings that are refused keep
    the running processes, saying why."""
    url = pg.url(pg.create_database())
    store = open_store(url)
    upgrade(store)
    store.close()
    settings = tmp_path / "kinko.toml"
    settings.write_text("request_read_seconds = 30\n")
    with serving(url, tmp_path) as (port, out, server):
        old = _processes(server.pid)
        assert len(old) == 2
        assert not any(_closed_each(port, 2.5, 4))
        settings.write_text("request_read_seconds = 1\n")
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 180
        while len(new := _processes(server.pid)) != 2 or new & old:  # each replaced
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        assert all(_closed_each(port, 3, 6))
        settings.write_text('request_read_seconds = "soon"\n')
        server.send_signal(signal.SIGHUP)
        while not any("are refused" in line for line in out):  # said once it read them
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert loopback.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200
        assert _processes(server.pid) == new
        assert all(_closed_each(port, 3, 6))  # as before the refusal
    said = "".join(out)
    assert "the settings read again on SIGHUP are refused" in said, said
    assert "request_read_seconds" in said, said


def test_sqlite_refuses_several_workers(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    cli = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    code, _, err = cli("serve", "--workers", "2")
    assert code == 2
    assert "SQLite has one writer" in err and "PostgreSQL" in err


def _accepted_nodelay(listener: socket.socket) -> int:
    """TCP_NODELAY on the socket asyncio accepts from ``listener`` (as uvicorn's worker
    processes serve it)."""

    async def main() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_client(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_client, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            got = await asyncio.wait_for(accepted, 10)
            writer.close()
            return got

    return asyncio.run(main())


def test_the_servers_listening_socket_turns_off_nagle_on_every_connection() -> None:
    """The socket ``kinko serve`` binds (one per process with ``--workers N``) is marked
    TCP, so asyncio turns Nagle's algorithm off on each connection it accepts (else a
    response's body waits for the client's delayed ACK of its headers: about 40 ms a
    request on a kept-alive connection). The socket uvicorn binds for its workers is not."""
    import uvicorn

    from kinko.cli.listening import listen_tcp
    from kinko.cli.workers import listen_group

    assert _accepted_nodelay(listen_tcp("127.0.0.1", 0, setting="port")) == 1
    group = listen_group("127.0.0.1", 0, 2, setting="port")
    assert [_accepted_nodelay(sock) for sock in group] == [1, 1]
    config = uvicorn.Config("kinko.cli.serve:worker_app", host="127.0.0.1", port=0)
    assert _accepted_nodelay(config.bind_socket()) == 0


def test_an_address_the_server_cannot_have_is_refused_before_it_says_it_serves(
        tmp_path: Path) -> None:
    """A port in use, an address not this machine's, a host name that does not resolve: a
    setting's error in the reader's language (exit 2), and no banner."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    env = {**os.environ, "KINKO_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
           "KINKO_DATA_DIR": str(tmp_path)}
    initialised_sqlite(tmp_path / "k.db")

    def serve(*args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kinko", "--lang", lang, "serve", *args],
                              env=env, capture_output=True, text=True, cwd=tmp_path,
                              timeout=120)

    try:
        for lang, said in (("en", "the address is in use"), ("ja", "使用中")):
            done = serve("--port", str(port), lang=lang)
            assert done.returncode == 2, done.stderr
            assert f"127.0.0.1:{port}" in done.stderr and said in done.stderr, done.stderr
            assert "serving" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    finally:
        taken.close()
    done = serve("--host", "192.0.2.1", "--port", "0")  # TEST-NET-1: nobody's address here
    assert done.returncode == 2 and "192.0.2.1:0" in done.stderr, done.stderr
    done = serve("--host", "no-such-host.invalid", lang="ja")
    assert done.returncode == 2 and "ホスト名を解決できません" in done.stderr, done.stderr
