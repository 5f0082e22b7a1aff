"""Clients that behave badly at the level of the protocol, on the dashboard's forms: driven
through the ASGI interface as uvicorn drives the app, to cut a request where a network or a
client cuts it."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from dashboard_site import Site


def _post(site: Site, path: str, cookie: str, body: bytes,
          messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``body`` posted as a form, arriving as ``messages`` (uvicorn's receive): what the
    app sent back."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("testclient", 50000),
             "server": ("testserver", 80), "state": {}, "headers": [
                 (b"host", b"testserver"), (b"cookie", f"kinko_session={cookie}".encode()),
                 (b"content-type", b"application/x-www-form-urlencoded"),
                 (b"content-length", str(len(body)).encode())]}
    sent: list[dict[str, Any]] = []
    waiting = list(messages)

    async def receive() -> dict[str, Any]:
        if waiting:
            return waiting.pop(0)
        await asyncio.sleep(3600)  # the client sends nothing more
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(site.app(scope, receive, send), 30))  # type: ignore[operator]
    return sent


def test_a_form_cut_short_by_a_disconnect_is_not_served(site: Site) -> None:
    """A form whose client went away mid-body was served with the part that had come, as if
    it were the whole: the breaker was tripped with its reason cut short ("drill" of "drill
    on the test net only")."""
    client = site.client("ops")
    cookie = client.cookies["kinko_session"]
    body = urlencode({"csrf": site.csrf(client, "/breaker"), "scope": "*",
                      "reason": "drill on the test net only"}).encode()
    cut = body.index(b"reason=") + len(b"reason=drill")
    key = {"Authorization": f"Bearer {site.tokens['audit']}"}
    for messages in (
            [{"type": "http.request", "body": body[:cut], "more_body": True},
             {"type": "http.disconnect"}],
            [{"type": "http.disconnect"}]):  # gone before any of the body came
        assert _post(site, "/breaker/trip", cookie, body, messages) == []  # no one to answer
        assert client.get("/v1/breaker", headers=key).json()["tripped"] == []
    whole = _post(site, "/breaker/trip", cookie, body, [
        {"type": "http.request", "body": body[:cut], "more_body": True},
        {"type": "http.request", "body": body[cut:], "more_body": False}])
    assert whole[0]["status"] == 303
    breaker = client.get("/v1/breaker", headers=key).json()
    assert breaker["tripped"] == ["*"]
    assert breaker["log"][0]["reason"] == "drill on the test net only"
