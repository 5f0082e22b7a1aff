"""``kinko cosign serve``'s HTTP face: one small JSON protocol (``docs/cosign.md``).

Three routes, nothing else:

- ``POST /v1/cosign`` (token): ``{"kind", "id", "nem_transfer": {"chain", "data"},
  "inner_hash"}`` (a NEM multisig account's transfer) → 200 ``{"decision", "request",
  "inner_hash", "signer", "data", "signature", "record"}`` (the cosignature, as NIS1
  announces it), or the refusal as below;
- ``POST /v1/cosign`` (token): ``{"kind", "id", "safe_tx", "safe_tx_hash"}`` → 200
  ``{"decision": "signed"|"repeated", "signature", "signer", "safe_tx_hash", "record",
  "request"}``, or a refusal ``{"error": {"code": "cosign_refused", "message", "details":
  {"reason", "record"}}}`` with 401 (no token), 413 (too large), 400 (unreadable: no
  length, a body too slow, not JSON, not a request), 422 (the hash is not the SafeTx's),
  503 (something could not be checked: ask again later) or 403 (anything else: the answer
  is no);
- ``GET /v1/info`` (token): the co-signer's address, chain id, key storage and log head;
- ``GET /v1/health`` (or ``HEAD``): ``{"status": "ok"}``, for process supervisors.

The token (``KINKO_COSIGN_TOKEN``) is compared in constant time (SHA-256 digests through
``hmac.compare_digest``) before the body is read; a body is read only up to its declared
``Content-Length``, at most ``max_body`` bytes, within ``timeout`` seconds. Every refusal —
of a stranger, of a body too large or unreadable — is a record in the co-signer's log (the
service decides; this module only reads the wire). Decisions run in a worker thread, one at
a time; the event loop keeps serving health checks meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any

import anyio.to_thread

from kinko.domain.cosign import (
    ENVIRONMENT_REASONS,
    NemCosignRequest,
    parse_nem_request,
    parse_request,
)
from kinko.domain.messages import Message as Said
from kinko.domain.messages import msg
from kinko.errors import BadInput, CosignRefused, KinkoError
from kinko.safeload import loads_json
from kinko.services.cosign import CosignService

__all__ = ["create_cosign_app"]

log = logging.getLogger("kinko.cosign")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_MESSAGE = 500
"""The most characters of a refusal's message the co-signer records for a request it could
not read (a parser quotes the value it refuses, which may be most of a 16 KiB body)."""

_STATUS = {"unauthenticated": 401, "too_large": 413, "malformed": 400, "wrong_hash": 422}


def status_of(reason: str) -> int:
    """The HTTP status of a refusal with ``reason``."""
    return _STATUS.get(reason, 503 if reason in ENVIRONMENT_REASONS else 403)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _respond(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": payload})


async def _unrecorded(send: Send, exc: KinkoError) -> None:
    """503: the co-signer could not record what it decided (its own database away)."""
    await _respond(send, 503, {"error": {"code": exc.code, "message": "the co-signer could "
                                         "not record a decision: " + exc.message,
                                         "details": {}}})


def _refusal(refusal: CosignRefused) -> dict[str, Any]:
    details = {k: v for k, v in refusal.details.items() if k != "alerted"}
    return {"error": {"code": refusal.code, "message": refusal.message, "details": details}}


def create_cosign_app(service: CosignService, token: str, *, max_body: int = 16_384,
                      timeout: float = 5.0, key_storage: str = "hsm") -> Any:
    """The ASGI application; ``token`` is what callers must present (``Authorization:
    Bearer <token>``)."""
    if len(token) < 32:
        raise KinkoError("the co-signer's token must have at least 32 characters",
                         says=msg("error.cosign.token_short", least=32))
    expected = _digest(token)

    async def refuse(send: Send, reason: str, message: str, caller: str,
                     says: Said | None = None) -> None:
        if len(message) > MAX_MESSAGE:  # a caller's value quoted whole: the log, the alert
            message = message[:MAX_MESSAGE - 3] + "..."
        try:
            refusal = await anyio.to_thread.run_sync(partial(
                service.refuse_unread, reason, message, caller, says=says))
        except KinkoError as exc:  # its own database away: the refusal is not a record
            log.error("no record of a refusal of %s (%s): %s", caller, reason, exc.message)
            await _unrecorded(send, exc)
            return
        await _respond(send, status_of(reason), _refusal(refusal))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        client = scope.get("client")
        peer = f"{client[0]}:{client[1]}" if client and client[0] else "unix"
        if path == "/v1/health":
            if method in ("GET", "HEAD"):  # uvicorn sends no body to a HEAD
                await _respond(send, 200, {"status": "ok"})
            else:
                await _respond(send, 405, {"error": {"code": "method_not_allowed",
                                                     "message": "GET only", "details": {}}})
            return
        if path not in ("/v1/cosign", "/v1/info"):
            await _respond(send, 404, {"error": {"code": "not_found", "message":
                                                 f"no route {path}", "details": {}}})
            return
        given = headers.get("authorization", "")
        presented = given[7:].strip() if given.lower().startswith("bearer ") else ""
        authenticated = hmac.compare_digest(_digest(presented), expected)
        caller = f"token@{peer}" if authenticated else f"anonymous@{peer}"
        if path == "/v1/info":
            if method != "GET":
                await _respond(send, 405, {"error": {"code": "method_not_allowed",
                                                     "message": "GET only", "details": {}}})
            elif not authenticated:  # a record too: no place to try tokens unseen
                await refuse(send, "unauthenticated", "no valid token (Authorization: Bearer "
                             "<KINKO_COSIGN_TOKEN>) for /v1/info", caller,
                             msg("error.cosign.no_token_for", path="/v1/info"))
            else:
                try:
                    info = await anyio.to_thread.run_sync(_info, service, key_storage)
                except KinkoError as exc:  # its own database away: no log head to tell
                    log.error("no answer to /v1/info: %s", exc.message)
                    await _respond(send, 503, {"error": {"code": exc.code, "message":
                                                         exc.message, "details": {}}})
                    return
                await _respond(send, 200, info)
            return
        if method != "POST":
            await _respond(send, 405, {"error": {"code": "method_not_allowed",
                                                 "message": "POST only", "details": {}}})
            return
        if not authenticated:
            await refuse(send, "unauthenticated", "no valid token (Authorization: Bearer "
                         "<KINKO_COSIGN_TOKEN>)", caller, msg("error.cosign.no_token"))
            return
        length_text = headers.get("content-length")
        if length_text is None or not length_text.isdigit():
            await refuse(send, "malformed", "a request needs a Content-Length (no chunked "
                         "bodies)", caller, msg("error.cosign.no_length"))
            return
        length = int(length_text)
        if length > max_body:
            await refuse(send, "too_large", f"the request has {length} bytes; the co-signer "
                         f"reads at most {max_body}", caller,
                         msg("error.cosign.too_large", length=length, most=max_body))
            return
        try:
            body = await asyncio.wait_for(_read(receive, length), timeout)
        except TimeoutError:
            await refuse(send, "malformed", f"the body did not arrive within {timeout:g} s",
                         caller, msg("error.cosign.body_late", seconds=f"{timeout:g}"))
            return
        except ValueError as exc:
            await refuse(send, "malformed", str(exc), caller, _body_problem(exc))
            return
        try:
            data = loads_json(body, "the request", max_bytes=max_body)
            if isinstance(data, dict) and "nem_transfer" in data:
                await _answer_nem(send, service, parse_nem_request(data), caller)
                return
            request = parse_request(data)
        except CosignRefused as exc:
            await refuse(send, exc.reason, exc.message, caller, exc.says)
            return
        except BadInput as exc:  # not UTF-8 JSON, or nested too deep (the bounded loader)
            await refuse(send, "malformed", exc.message, caller, exc.said())
            return
        try:
            answer = await anyio.to_thread.run_sync(service.answer, request, caller)
        except CosignRefused as exc:
            await _respond(send, status_of(exc.reason), _refusal(exc))
            return
        except KinkoError as exc:  # its own database away: it cannot record, so no answer
            log.error("no decision for %s: %s", request.key, exc.message)
            await _unrecorded(send, exc)
            return
        await _respond(send, 200, {
            "decision": "repeated" if answer.repeated else "signed",
            "request": answer.request, "safe_tx_hash": "0x" + answer.safe_tx_hash.hex(),
            "signer": answer.signer, "signature": "0x" + answer.signature.hex(),
            "record": answer.record})

    return app


async def _answer_nem(send: Send, service: CosignService, request: NemCosignRequest,
                      caller: str) -> None:
    """A NEM multisig account's transfer: the cosignature transaction (NIS1's ``data`` and
    ``signature``), or the refusal."""
    try:
        answer = await anyio.to_thread.run_sync(service.answer_nem, request, caller)
    except CosignRefused as exc:
        await _respond(send, status_of(exc.reason), _refusal(exc))
        return
    except KinkoError as exc:
        log.error("no decision for %s: %s", request.key, exc.message)
        await _unrecorded(send, exc)
        return
    await _respond(send, 200, {
        "decision": "repeated" if answer.repeated else "signed", "request": answer.request,
        "inner_hash": answer.inner_hash, "signer": answer.signer, "data": answer.data,
        "signature": answer.signature, "record": answer.record})


_BODY_PROBLEMS = {  # what _read raises, as catalog messages
    "the caller went away before sending the whole body": "error.cosign.body_gone",
    "the body is longer than its Content-Length": "error.cosign.body_long",
    "the body is shorter than its Content-Length": "error.cosign.body_short",
}


def _body_problem(exc: ValueError) -> Said | None:
    found = _BODY_PROBLEMS.get(str(exc))
    return msg(found) if found is not None else None


async def _read(receive: Receive, length: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ValueError("the caller went away before sending the whole body")
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > length:
            raise ValueError("the body is longer than its Content-Length")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if size != length:
        raise ValueError("the body is shorter than its Content-Length")
    return b"".join(chunks)


def _info(service: CosignService, key_storage: str) -> dict[str, Any]:
    with service.log.transaction(write=False) as tables:
        seq, head_hash = tables.head()
    try:
        chain_id: int | None = service.chain.chain_id() if service.chain else None
    except KinkoError:
        chain_id = None
    return {"cosigner": service.address, "chain": service.policy.chain, "chain_id": chain_id,
            "key": key_storage, "log_head": {"seq": seq, "hash": head_hash},
            "safes": sorted(f"{limit.address} {asset}"
                            for limits in service.policy.safes.values()
                            for asset, limit in limits.items())}
