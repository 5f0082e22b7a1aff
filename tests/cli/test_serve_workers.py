"""The server processes of ``kinko serve --workers N`` (``kinko.cli.workers``): each listens
on a socket of its own, bound with the others to one port, so that connections opened at
once are spread over the processes (one shared socket gave them all to the process that
woke first); the address is refused if another server holds it; a process that dies is
started again on its socket, one that cannot start stops them all, and SIGTERM stops
every one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pidapp import listening

from kinko.cli.listening import listen_tcp
from kinko.cli.workers import listen_group
from kinko.errors import ConfigError

# a parent that serves tests/pidapp.py (each answer: the id of the process that served it)
# in two processes, as kinko serve --workers 2 runs them
_PARENT = """
import sys, uvicorn
from kinko.cli.workers import Workers, listen_group
from kinko.i18n import Localizer
port = int(sys.argv[1])
sockets = listen_group("127.0.0.1", port, 2, setting="port")
config = uvicorn.Config(sys.argv[2], workers=2, log_level="warning",
                        timeout_graceful_shutdown=1,
                        timeout_worker_healthcheck=int(sys.argv[4]))
group = Workers(config, sockets, Localizer(sys.argv[3]))
group.run()
sys.exit(3 if group.failed else 0)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _parent(app: str = "pidapp:app", lang: str = "en", healthcheck: int = 5
            ) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """The parent serving ``app``, and its port; once both processes listen (each does
    once its app is ready), unless the app cannot start. ``healthcheck``: the seconds a
    process has to answer a health check."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", _PARENT, str(port), app, lang,
                             str(healthcheck)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # a group of its own, as a terminal's
    try:
        deadline = time.monotonic() + 60
        while app == "pidapp:app" and listening(port) < 2:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _pids(port: int, connections: int, timeout: float = 60) -> set[int]:
    """The processes that answered ``connections`` connections, all opened before the
    first request is sent (as a proxy's pool opens them), once the server answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            opened = [socket.create_connection(("127.0.0.1", port), timeout=10)
                      for _ in range(connections)]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            continue
        try:
            for conn in opened:
                conn.sendall(b"GET / HTTP/1.1\r\nHost: kinko\r\nConnection: close\r\n\r\n")
            answers = []
            for conn in opened:
                got = b""
                while chunk := conn.recv(4096):
                    got += chunk
                answers.append(got)
        except OSError:
            answers = []
        finally:
            for conn in opened:
                conn.close()
        if answers and all(a.startswith(b"HTTP/1.1 200") for a in answers):
            return {int(a.rsplit(b"\r\n\r\n", 1)[1]) for a in answers}
        assert time.monotonic() < deadline, answers
        time.sleep(0.2)


def test_the_kernel_spreads_connections_over_the_group() -> None:
    """Connections opened at once to a group of two sockets land on both (the kernel picks
    by a hash of each connection's ports: all 32 on one is a chance of 2 in 4 billion)."""
    group = listen_group("127.0.0.1", 0, 2, setting="port")
    try:
        port = group[0].getsockname()[1]
        assert {s.getsockname()[1] for s in group} == {port}
        for s in group:
            s.listen(64)
            s.setblocking(False)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        time.sleep(0.2)
        accepted = []
        for s in group:
            n = 0
            while True:
                try:
                    conn, _ = s.accept()
                except BlockingIOError:
                    break
                conn.close()
                n += 1
            accepted.append(n)
        for c in clients:
            c.close()
        assert sum(accepted) == 32 and min(accepted) > 0, accepted
    finally:
        for s in group:
            s.close()


def test_an_address_another_server_holds_is_refused_not_shared() -> None:
    """A port another server listens on, a group of its own included (which the option
    would otherwise let a second group join), is refused as a setting's error."""
    group = listen_group("127.0.0.1", 0, 2, setting="port")
    port = group[0].getsockname()[1]
    try:
        for s in group:
            s.listen()
        with pytest.raises(ConfigError, match="the address is in use"):
            listen_group("127.0.0.1", port, 2, setting="port")
        with pytest.raises(ConfigError, match="the address is in use"):
            listen_tcp("127.0.0.1", port, setting="port")
    finally:
        for s in group:
            s.close()
    plain = listen_tcp("127.0.0.1", 0, setting="port")
    plain.listen()
    try:
        with pytest.raises(ConfigError, match="the address is in use"):
            listen_group("127.0.0.1", plain.getsockname()[1], 2, setting="port")
    finally:
        plain.close()


@pytest.mark.slow
def test_both_processes_serve_and_one_that_dies_is_replaced_on_its_socket() -> None:
    with _parent() as (proc, port):
        # 24 connections opened at once, three times: both processes serve each time
        # (one shared socket gave a burst to the process that woke first: all 16 of a
        # load generator's connections, a third of these rounds)
        rounds = [_pids(port, 24) for _ in range(3)]
        assert all(len(r) == 2 for r in rounds), rounds
        pids = rounds[0]
        dead = min(pids)
        os.kill(dead, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:  # its socket's connections wait for the new process, none is refused
            now = _pids(port, 24)
            if dead not in now and len(now) == 2:
                break
            assert time.monotonic() < deadline, now
            time.sleep(0.5)
        assert len(now - pids) == 1
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        err = proc.stderr.read()  # type: ignore[union-attr]
        assert proc.returncode == 0, err
        assert f"server process {dead} stopped (exit code -9)" in err, err
        assert "a new one serves on its socket" in err
    for pid in pids | now:  # SIGTERM stopped every process
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text(), pid


@pytest.mark.slow
def test_a_process_that_cannot_start_stops_them_all_saying_so() -> None:
    # seen when it exits, not when it has failed to answer a health check (here one of
    # ten minutes, past the wait below): the English one exits as it fails, the Japanese
    # one 3 s later, answering nothing meanwhile
    for lang, said, app in (("en", "could not start (exit code 3)", "missing"),
                            ("ja", "起動できなかった", "slow_to_die")):
        with _parent(f"pidapp:{app}", lang, healthcheck=600) as (proc, _):
            proc.wait(timeout=120)
            err = proc.stderr.read()  # type: ignore[union-attr]
            assert proc.returncode == 3, err
            assert said in err, err


@pytest.mark.slow
def test_sighup_replaces_every_process_one_at_a_time() -> None:
    """SIGHUP: each process is replaced by a new one, started (and serving) before the
    old one stops; the port answers throughout."""
    with _parent() as (proc, port):
        old = _pids(port, 24)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        seen: set[int] = set()
        while True:  # every round is answered, by old processes, new ones or both
            now = _pids(port, 8, timeout=5)
            seen |= now
            if len(now) == 2 and not now & old:
                break
            assert proc.poll() is None and time.monotonic() < deadline, (old, seen)
        assert proc.poll() is None


@pytest.mark.slow
def test_ctrl_c_stops_every_process_and_starts_none_again() -> None:
    """Ctrl-C in a terminal signals the parent and every process at once: the processes
    that stop are not taken for dead ones and started again."""
    with _parent() as (proc, port):
        pids = _pids(port, 24)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        err = proc.stderr.read()  # type: ignore[union-attr]
        assert proc.returncode == 0, err
        assert "a new one serves" not in err, err
        assert listening(port) == 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text(), pid
