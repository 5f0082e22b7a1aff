"""For the tests of kinko's servers (``kinko.cli.workers``, ``kinko.cli.timely``): a tiny
ASGI app that reads a request's body and answers with the id of the process that served it
(``/slow`` after 1.5 s; ``slow_to_die``, an app that cannot start in a process slow to
exit), how many sockets listen on a port (each server process listens
once its app is ready), and ``kinko serve`` on a new SQLite database."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dbtemplate import initialised_sqlite


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    while (await receive()).get("more_body"):  # the request's body, read whole
        pass
    if scope["path"] == "/slow":  # an answer that takes its time
        await asyncio.sleep(1.5)
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _SlowToDie:
    """Held until the interpreter shuts down, whose finaliser then takes 3 s: the process
    is alive but answers nothing (its threads are stopped by then)."""

    def __del__(self) -> None:
        time.sleep(3)


def __getattr__(name: str) -> Any:
    """``pidapp:slow_to_die``: no such app (the server process cannot start), in a process
    that then takes 3 s to exit, its health checks unanswered meanwhile."""
    if name == "slow_to_die":
        globals()["_dying"] = _SlowToDie()
    raise AttributeError(name)


def listening(port: int) -> int:
    """How many sockets listen on ``port`` of 127.0.0.1 (the kernel's table of TCP
    sockets: state 0A is LISTEN)."""
    rows = [row.split() for row in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[1] == f"0100007F:{port:04X}" and row[3] == "0A")


@contextmanager
def kinko_serving(folder: Path, env: dict[str, str] | None = None) -> Iterator[int]:
    """``kinko serve`` (one process) on a new SQLite database in ``folder``, with ``env``
    on top of this process's environment: its port, once it listens."""
    env = {**os.environ, "KINKO_DATABASE_URL": f"sqlite:///{folder}/k.db",
           "KINKO_DATA_DIR": str(folder), **(env or {})}
    initialised_sqlite(folder / "k.db")  # as `kinko init` makes it, without its start-up
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "kinko", "serve", "--port", str(port)],
                            env=env, cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while listening(port) < 1:
            assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "kinko serve did not start"
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
