"""A real PostgreSQL server for the test session, started from the machine's binaries.

``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` system
user (created if missing). The server listens on 127.0.0.1 on a free port and on a socket
in its temporary folder; ``stop()`` shuts it down and the folder goes with it. The tests'
servers keep their folder in memory (``/dev/shm``) when there is room: see :func:`start`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from fastloop import refuse_in_fast_loop


def _bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries (pg_ctl, initdb) are not installed")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PgServer:
    folder: Path
    port: int
    bindir: Path
    prefix: list[str]
    template: str | None = None  # a migrated database that tests copy (the session's server)

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://kinko@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://kinko@127.0.0.1:{self.port}/{database}"

    def new_url(self) -> str:
        """The URL of a new database copied from :attr:`template` (the newest schema)."""
        assert self.template is not None, "this server has no migrated template"
        return self.url(self.create_database(template=self.template))

    def create_database(self, template: str | None = None) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=kinko dbname=postgres",
                             autocommit=True) as conn:
            suffix = f" TEMPLATE {template}" if template else ""
            conn.execute(f"CREATE DATABASE {name}{suffix}")
        return name

    def stop(self) -> None:
        subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "-D",
                        str(self.folder / "data"), "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


# a test session's server holds a database for each test that asked for one (a copy of the
# migrated template, some 13 MB): on a disk that other processes keep busy, deleting a
# worker's hundred or so at the session's end took 20-30 s (charged to its last test) and
# each CREATE DATABASE waited on the disk too; in memory both take a fraction of that
MEMORY = Path("/dev/shm")
MEMORY_NEEDED = 4 * 2**30  # bytes free there, or the folder stays on disk
PREFIX = "kinko-pg-"
STALE_S = 3600


def _memory_folder() -> Path | None:
    try:
        free = os.statvfs(MEMORY)
    except OSError:
        return None
    if free.f_bavail * free.f_frsize < MEMORY_NEEDED or not os.access(MEMORY, os.W_OK):
        return None
    _forget_stale(MEMORY)
    return MEMORY


def _forget_stale(parent: Path) -> None:
    """Remove the folders of servers whose session was killed before it could stop them
    (memory is not given back until they go): an hour old, and no server running there."""
    for folder in parent.glob(PREFIX + "*"):
        try:
            if time.time() - folder.stat().st_mtime < STALE_S:
                continue
            pid = int((folder / "data" / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 0)
            continue  # a server still runs there
        except ProcessLookupError:
            pass
        except (OSError, ValueError, IndexError):
            if (folder / "data" / "postmaster.pid").exists():
                continue  # unreadable (another user's): not ours to judge
        shutil.rmtree(folder, ignore_errors=True)


def start(*, durable: bool = False, memory: bool = False) -> PgServer:
    """A new server; ``durable``: with fsync and synchronous commits, as in production
    (the benchmarks), else without (the tests: nothing to keep after a crash); ``memory``
    (not with ``durable``): its folder in ``/dev/shm`` when there is room (the tests)."""
    refuse_in_fast_loop("a PostgreSQL server")
    bindir = _bindir()
    prefix = _run_as()
    parent = _memory_folder() if memory and not durable else None
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    if prefix:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "kinko",
                    "--auth=trust", "-E", "UTF8", "--no-locale"],
                   check=True, capture_output=True)
    port = _free_port()
    opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w",
                    "-t", "60", "-l", str(folder / "server.log"), "start"],
                   check=True, capture_output=True)
    server = PgServer(folder, port, bindir, prefix)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return server
