"""The bare baseline of the HTTP benchmark: FastAPI on uvicorn, as a dozen lines would write
it. ``POST /w`` validates the same JSON body as ``POST /v1/withdrawals`` and writes one row
(its own transaction, through a SQLAlchemy pool, on the database at ``BARE_DATABASE_URL``:
the same kind and settings as kinko's in the same run); ``GET /g`` returns a small JSON.

    BARE_DATABASE_URL=sqlite:///x.db python bare.py 8001 [WORKERS]

With several workers it is served as ``kinko serve --workers N`` is: each process listens
on a socket of its own, all bound to the port with ``SO_REUSEPORT``, so that the kernel
spreads the connections over the processes (with one shared socket, whichever process wakes
first accepts all the connections opened at once), and each marked as TCP (uvicorn leaves
the socket it binds unmarked, and asyncio then keeps Nagle's algorithm on for every
connection: about 40 ms a request on a kept-alive connection, which neither server should
be measured with).
"""

from __future__ import annotations

import os
import signal
import socket
import sys

import uvicorn
from fastapi import FastAPI, Header
from pydantic import BaseModel, Field
from sqlalchemy import create_engine, event, text


class Body(BaseModel):  # the same fields and bounds as kinko's WithdrawalIn
    customer: str = Field(min_length=1, max_length=128)
    asset: str = Field(min_length=1, max_length=16)
    amount: str = Field(min_length=1, max_length=64)
    destination: str = Field(min_length=1, max_length=128)


def app() -> FastAPI:
    url = os.environ["BARE_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    if url.startswith("sqlite"):  # WAL and the synchronous level kinko is run with
        @event.listens_for(engine, "connect")
        def pragmas(conn, _record):  # type: ignore[no-untyped-def]
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={os.environ.get('BARE_SYNCHRONOUS', 'FULL')}")
            conn.execute("PRAGMA busy_timeout=60000")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS w (id VARCHAR(100) PRIMARY KEY, "
                          "customer TEXT, asset TEXT, amount TEXT, destination TEXT)"))
    api = FastAPI()

    @api.post("/w", status_code=201)
    def create(body: Body, idempotency_key: str = Header()) -> dict[str, str]:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO w VALUES (:id, :customer, :asset, :amount, "
                              ":destination)"), {"id": idempotency_key, **body.model_dump()})
        return {"id": idempotency_key, "state": "allowed"}

    @api.get("/g")
    def get() -> dict[str, list[str]]:
        return {"tripped": []}

    return api


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    if workers == 1:
        uvicorn.run("bare:app", factory=True, port=port, log_level="warning",
                    access_log=False)
    else:
        from uvicorn.supervisors.multiprocess import Process

        config = uvicorn.Config("bare:app", factory=True, workers=workers,
                                log_level="warning", access_log=False)
        processes = []
        for _ in range(workers):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("127.0.0.1", port))
            sock.set_inheritable(True)
            processes.append(Process(config, [sock]))
            processes[-1].start()
        signal.signal(signal.SIGTERM, lambda *_: [p.terminate() for p in processes])
        for process in processes:
            process.join()
