"""``kinko serve --workers N``: N server processes, each accepting on a socket of its own.

uvicorn's own supervisor gives every process the one socket it bound. Whichever process
wakes first then accepts every connection waiting (asyncio takes them all at once), so
connections opened together (a load balancer's pool, a proxy's kept-alive connections)
land on one process and the others idle: 16 connections opened at once were all served
by one of two processes. Here each process listens on a socket of its own, all bound to
the same address with ``SO_REUSEPORT``, and the kernel spreads new connections over them
(by a hash of each connection's addresses and ports).

The sockets are bound in the parent before any process starts (:func:`listen_group`):
an address that cannot be had is refused as a setting before the banner, and a process
that stops unexpectedly is started again on its own socket, whose waiting connections it
then accepts. The parent stops every process on SIGINT or SIGTERM; on SIGHUP it reads the
settings again (settings it refuses keep the processes running as they are, saying why)
and replaces the processes one at a time, each new one serving with them before the old
one stops.
"""

from __future__ import annotations

import pickle
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Process

from kinko.cli import error_lines
from kinko.cli.listening import listen_tcp
from kinko.domain.messages import N_
from kinko.errors import KinkoError
from kinko.i18n import Localizer

__all__ = ["Workers", "listen_group"]

_STOPPING = (signal.SIGINT, signal.SIGTERM)
_READY_WITHIN = 120  # seconds a replacing process may take to serve (its app warms up)


def _answers(process: Process, timeout: float) -> bool:
    """Whether ``process`` answers a health check within ``timeout`` seconds: uvicorn's
    check (``Process.is_alive``), except that a process which exits meanwhile is dead at
    once. uvicorn waits on the pipe alone, which this process holds open too, so a process
    that exited without answering (one whose app could not load, asked as it stopped) was
    seen only when the whole timeout (5 s by default) had passed."""
    if not process.process.is_alive():
        return False
    try:
        process.parent_conn.send(b"ping")
        ready = wait([process.parent_conn, process.process.sentinel], timeout)
        if process.parent_conn not in ready:
            return False  # exited, or no answer in time
        process.parent_conn.recv()
        return True
    except (OSError, EOFError, pickle.UnpicklingError):
        return False


def listen_group(host: str, port: int, count: int, *, setting: str) -> list[socket.socket]:
    """``count`` sockets bound to ``host``:``port`` with ``SO_REUSEPORT``, not yet
    listening (port 0: one the system picks, the same for all). The address is first
    bound alone, without the option, so that one another server holds (a group of its
    own included) is refused as :func:`listen_tcp` refuses it, rather than shared."""
    alone = listen_tcp(host, port, setting=setting)
    try:
        address = alone.getsockname()
    finally:
        alone.close()
    group: list[socket.socket] = []
    try:
        for _ in range(count):
            group.append(listen_tcp(host, address[1], setting=setting, reuse_port=True))
    except BaseException:
        for sock in group:
            sock.close()
        raise
    return group


class Workers:
    """The server processes, one per socket, kept running until told to stop.

    ``say`` prints what happens to them (a process that stopped, one that could not
    start) in the command line's language; ``reload`` (on SIGHUP) makes the processes'
    configuration again from the settings as they are then, raising ``KinkoError`` if it
    refuses them."""

    def __init__(self, config: uvicorn.Config, sockets: Sequence[socket.socket],
                 say: Localizer,
                 reload: Callable[[], uvicorn.Config] | None = None) -> None:
        self.config = config
        self.sockets = list(sockets)
        self.say = say
        self.reload = reload
        self.processes: list[Process] = []
        self.stop = threading.Event()
        self.signals: list[int] = []
        self.failed = False  # a process could not start: the command exits non-zero

    def run(self) -> None:
        for sig in (*_STOPPING, signal.SIGHUP):
            signal.signal(sig, lambda number, _frame: self.signals.append(number))
        try:
            self.processes = [self._start(sock) for sock in self.sockets]
            while not self.stop.wait(0.5):
                self._signals()
                self._keep_alive()
        finally:
            for process in self.processes:
                process.terminate()
            for process in self.processes:
                process.join()
            for sock in self.sockets:
                sock.close()

    def _start(self, sock: socket.socket) -> Process:
        process = Process(self.config, [sock])
        process.start()
        return process

    def _signals(self) -> None:
        while self.signals:
            number = self.signals.pop(0)
            if number in _STOPPING:
                self.stop.set()
            elif number == signal.SIGHUP:
                self._replace_all()

    def _keep_alive(self) -> None:
        """A process that stopped, or no longer answers its health check, is killed and
        started again on its socket; one that could not start stops them all (it would
        fail the same way again)."""
        for n, process in enumerate(self.processes):
            if self._stopping() or _answers(process, self.config.timeout_worker_healthcheck):
                continue  # (Ctrl-C stops the processes too: none is started again)
            process.kill()
            process.join()
            code = process.exitcode
            if code == STARTUP_FAILURE:
                self._tell(N_("cli.serve.worker_failed"), pid=str(process.pid), code=str(code))
                self.failed = True
                self.stop.set()
                return
            self._tell(N_("cli.serve.worker_restarted"), pid=str(process.pid), code=str(code))
            self.processes[n] = self._start(self.sockets[n])

    def _replace_all(self) -> None:
        """Each process replaced by a new one, with the settings read again, which serves
        before the old one stops; if the settings are refused, or a new one is not ready
        in time, the old ones are kept."""
        if self.reload is not None:
            try:
                self.config = self.reload()
            except KinkoError as exc:
                self._tell(N_("cli.serve.reload_refused"))
                for line in error_lines(exc, self.say):
                    print(line, file=sys.stderr, flush=True)
                return
        for n, old in enumerate(self.processes):
            if self._stopping():
                return
            new = self._start(self.sockets[n])
            if not self._ready(new):
                new.kill()
                new.join()
                if not self._stopping():
                    self._tell(N_("cli.serve.replace_aborted"), pid=str(new.pid))
                return
            old.terminate()
            old.join()
            self.processes[n] = new

    def _ready(self, process: Process) -> bool:
        """Whether ``process`` serves within ``_READY_WITHIN`` seconds (False at once if
        it stopped, or if this supervisor is told to stop)."""
        deadline = time.monotonic() + _READY_WITHIN
        while time.monotonic() < deadline and not self._stopping():
            if not process.process.is_alive():
                return False
            if process.is_ready(timeout=1):
                return True
            time.sleep(0.1)
        return False

    def _stopping(self) -> bool:
        """Told to stop, or a signal to stop is waiting (the signal handler only notes
        it: setting the event there could wait for a lock its own thread holds)."""
        return self.stop.is_set() or any(n in _STOPPING for n in self.signals)

    def _tell(self, key: str, **params: str) -> None:
        print(self.say(key, **params), file=sys.stderr, flush=True)
