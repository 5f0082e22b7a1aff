"""A real anvil node for the tests, from the pinned npm package (``make`` installs it).

Each node runs with a home folder of its own, removed when it stops: anvil writes the
states it no longer keeps in memory under ``~/.foundry/anvil/tmp`` and leaves them there
when it is stopped (gigabytes after a long run of blocks)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastloop import refuse_in_fast_loop

ROOT = Path(__file__).resolve().parent.parent


def anvil_binary() -> str:
    local = ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found:
        return found
    raise RuntimeError("anvil is not installed: run `make test` (it runs `npm ci`)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AnvilNode:
    port: int
    process: subprocess.Popen[bytes]
    home: Path | None = None  # the node's own home folder, removed when it stops

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)


@contextmanager
def port_held(port: int) -> Iterator[None]:
    """The port of a node that was stopped held meanwhile (bound, never listening: a
    connection is refused there, as to a node that is down), so that a node another test
    starts meanwhile cannot take it and answer in its place; released for the node to
    start on it again. While the node's last connections are still closing (a client's
    kept-alive connection), the port cannot be bound, here or by a node another test
    starts (the system hands out no port in use): those connections hold it then."""
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            held.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        yield


def start(port: int | None = None, state: Path | None = None,
          hardfork: str | None = None, block_time: int | None = None) -> AnvilNode:
    """A node on ``port`` (a free one if none); ``state``: a file it loads and saves;
    ``block_time``: mine a block every so many seconds (else one per transaction)."""
    refuse_in_fast_loop("an anvil node")
    port = port or free_port()
    extra = ["--state", str(state)] if state is not None else []
    if hardfork is not None:  # e.g. "prague": EIP-7702 set-code transactions
        extra += ["--hardfork", hardfork]
    if block_time:
        extra += ["--block-time", str(block_time)]
    binary = anvil_binary()  # found first: a missing binary leaves no home behind
    home = Path(tempfile.mkdtemp(prefix="kinko-anvil-"))
    try:
        proc = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", str(port),
                                 "--silent", "--balance", "100000000", *extra],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "HOME": str(home)})
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    node = AnvilNode(port, proc, home)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return node
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                node.stop()
                raise RuntimeError(f"anvil did not start on port {port}") from None
            time.sleep(0.05)
