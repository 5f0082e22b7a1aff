"""HTTP clients for the servers the tests start on 127.0.0.1. Those servers speak plain
HTTP, yet httpx builds a TLS context for every client it makes (loading the CA bundle:
about 45 ms of CPU each, a few hundred times a run); these clients share one, built once."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

__all__ = ["client", "get"]

_TLS = ssl.create_default_context()


def client(base_url: str, **options: Any) -> httpx.Client:
    """``httpx.Client(base_url, **options)`` with the shared TLS context."""
    return httpx.Client(base_url=base_url, verify=_TLS, **options)


def get(url: str, **options: Any) -> httpx.Response:
    """``httpx.get(url, **options)`` with the shared TLS context."""
    return httpx.get(url, verify=_TLS, **options)
