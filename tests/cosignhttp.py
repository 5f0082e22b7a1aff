"""The co-signer's own HTTP server (the ASGI app ``kinko cosign serve`` runs, with the
server's own settings: ``kinko.cli.cosign.server_config``) in a thread of the test
process, on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn

from kinko.cli.cosign import server_config
from kinko.cosign.server import create_cosign_app
from kinko.services.cosign import CosignService

__all__ = ["serve_cosigner"]


def serve_cosigner(service: CosignService, token: str, timeout: float = 5.0
                   ) -> tuple[str, Callable[[], None]]:
    """(its URL, a function that stops it); ``timeout`` as ``request_timeout_ms`` says."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(server_config(
        create_cosign_app(service, token, timeout=timeout, key_storage="file"), timeout))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(5)

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop
