"""Every request bounded before any parser sees it: its body's size, nesting depth, keys
twice; no NUL character in its path, its query or its JSON body.

An ASGI middleware in front of the API and the dashboard. A declared ``Content-Length``
above the limit is refused at once, a body streamed without one as soon as it passes the
limit (413 either way, without reading the rest); a body FastAPI would parse as JSON (its
``Content-Type`` ``application/json`` or ``application/*+json``; one without a
``Content-Type`` is not parsed at all, and is refused by the route) is decoded the way the
parser will decode it and its nesting measured (:func:`kinko.safeload.check_json_depth`):
deeper than the limit is 422; an object in it that names a key twice is 400
(:func:`kinko.safeload.check_json_keys`: a proxy or a log may read the other value), as
is a number of more digits than Python converts, in words that say so.
Forms (urlencoded or multipart) are bounded by size: their parser does not recurse (the
dashboard refuses a NUL in a form's field: :meth:`kinko.api.web.context.Web.form`). A NUL
character (U+0000) in the path, in a query parameter or in a JSON body's string is 400,
naming where: PostgreSQL keeps no text with one (the statement failed, a 500), and no id,
name or text kinko keeps has one, on SQLite either. Only
then does the application read the body, from memory. A client that goes away before its
body has arrived whole is not answered and its request not served: the part that came is
not a request (a form cut short is still a form, with its last field cut short).

The refusal is drawn by the app (``refuse``): JSON under ``/v1``, a page for the dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from email.message import Message
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from kinko.domain.messages import Message as Said
from kinko.domain.messages import msg, rewritten
from kinko.errors import BadInput, KinkoError
from kinko.safeload import (
    MAX_DEPTH,
    check_json_depth,
    check_json_keys,
    check_size,
    decode_json_bytes,
)

__all__ = ["BODY", "DEFAULT_MAX_BODY", "NUL", "BodyLimits", "body_said", "json_syntax",
           "nul_in_json", "parsed_as_json",
           "shown_name"]

DEFAULT_MAX_BODY = 2**20  # 1 MiB: the largest form or JSON body kinko takes is a few KiB

Refuse = Callable[[Request, KinkoError], Awaitable[Response] | Response]


@lru_cache(maxsize=64)  # clients send a handful of types; parsing one is ~10 µs
def parsed_as_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this ``Content-Type`` as JSON (not when there is
    none at all: its routes' strict content type)."""
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


NUL = "\x00"
_SHOWN = 60  # the most characters of a caller's name or path an error quotes


def shown_name(text: str) -> str:
    """A name a caller sent (a query parameter's, a form field's), quoted as an error
    names it: whole up to 60 characters, else cut short."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "...")


def _nul_in_value(value: Any, parts: list[str | int]) -> bool:
    """Whether a parsed JSON value holds a string or key with a NUL; ``parts`` is left
    holding the first one's place (its keys and indexes from the top). The place is kept
    as parts and written once: written for every item as it was walked, a long key's copy
    per array element took seconds for one 1 MB body."""
    if isinstance(value, str):
        return NUL in value
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        parts.append(key)
        if (isinstance(key, str) and NUL in key) or _nul_in_value(item, parts):
            return True
        parts.pop()
    return False


def _place(parts: list[str | int]) -> str:
    """``items[2].name`` from its parts (``""`` for none: the value at the top)."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" if n else part
                   for n, part in enumerate(parts))


def nul_in_json(text: str) -> str | None:
    """Where JSON text holds a NUL character (escaped: ``\\u0000``; the parser refuses a raw
    one): the first string's or key's place (``reason``, ``items[2].name``; ``(the body)``
    for a top-level string), or None. Text that is not JSON is left to its parser."""
    if "\\u0000" not in text:  # the one spelling of a NUL in JSON; most bodies stop here
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    parts: list[str | int] = []
    if not _nul_in_value(value, parts):
        return None
    return _place(parts) or "(the body)"


def check_no_nul(scope: Scope) -> None:
    """Refuse a NUL character in the request's path or in a query parameter's name or
    value, naming which."""
    if NUL in scope["path"]:
        raise BadInput("the request's path holds a NUL character (U+0000), which no id or "
                       "name in kinko has", says=msg("error.request.nul_path"))
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True,
                                     errors="replace"):
            if NUL in name + value:
                raise BadInput(f"query parameter {shown_name(name)} holds a NUL character "
                               "(U+0000), which no id, name or text kinko keeps has",
                               says=msg("error.request.nul_query", name=shown_name(name)))


# headers that say who asks and for what, each read once: given twice, a proxy or a log
# may read the other one than kinko does (the first counted, the second passed on)
ONCE = (b"authorization", b"x-api-key", b"idempotency-key", b"content-type")


def check_headers_once(scope: Scope) -> None:
    """Refuse a request that gives one of :data:`ONCE` more than once, naming it."""
    seen: set[bytes] = set()
    for raw, _value in scope.get("headers", ()):
        name = raw.lower()
        if name in ONCE:
            if name in seen:
                shown = name.decode("latin-1").title()
                raise BadInput(f"the header {shown} is given twice: which one counts would be "
                               "a guess", says=msg("error.request.header_twice", header=shown))
            seen.add(name)


BODY = "request body"  # how the checks name a body in a refusal (as they name a file)


def body_said(said: Said) -> Said:
    """``said`` with the body's place in it ("request body", "request body:1:65") said in
    the reader's language: the checks name a body as they name a file, by text."""
    return rewritten(said, lambda value: msg("error.request_body_at", place=value[len(BODY):])
                     if value.startswith(BODY) else value)


def json_syntax(text: Any, position: int, reason: str) -> BadInput:
    """A body that is no JSON, refused at its line and column (``position``: the
    character where the parser stopped, in ``text`` when it is the body's text)."""
    place = f" (character {position + 1})"
    if isinstance(text, str) and 0 <= position <= len(text):
        line = text.count("\n", 0, position) + 1
        column = position - text.rfind("\n", 0, position)
        place = f":{line}:{column}"
    return BadInput(f"{BODY}{place}: not valid JSON: {reason}",
                    says=msg("error.file.not_json", where=f"{BODY}{place}",
                             reason=reason[:200]))


class BodyLimits:
    def __init__(self, app: ASGIApp, *, refuse: Refuse, max_bytes: int = DEFAULT_MAX_BODY,
                 max_depth: int = MAX_DEPTH) -> None:
        self.app = app
        self.refuse = refuse
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            check_no_nul(scope)
            check_headers_once(scope)
            declared = headers.get("content-length")
            if declared is not None:
                if not declared.strip().isdigit():
                    raise BadInput(f"request body: Content-Length {declared[:20]!r} is not "
                                   "a byte count", says=msg("error.api.content_length",
                                                            value=declared[:20]))
                check_size(int(declared), "request body", self.max_bytes)
            body = await self._read(receive)
            if body is None:  # the client left mid-request: no one to answer, nothing to do
                return
            if body and parsed_as_json(headers.get("content-type")):
                text = decode_json_bytes(body, "request body")
                check_json_depth(text, "request body", self.max_depth)
                check_json_keys(text, "request body")
                place = nul_in_json(text)
                if place is not None:
                    raise BadInput(f"request body: {place[:_SHOWN]} holds a NUL character "
                                   "(U+0000), which no id, name or text kinko keeps has",
                                   says=msg("error.request.nul_body", where=place[:_SHOWN]))
        except KinkoError as exc:
            await self._answer(scope, exc, send)
            return
        sent = False

        async def replay() -> AsgiMessage:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, bounded; None if the client disconnected before it was whole."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            check_size(size, "request body", self.max_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _answer(self, scope: Scope, exc: KinkoError, send: Send) -> None:
        async def nothing() -> AsgiMessage:
            return {"type": "http.disconnect"}

        request = Request(scope, nothing)
        answer: Any = self.refuse(request, exc)
        response: Response = await answer if isinstance(answer, Awaitable) else answer
        response.headers["Connection"] = "close"  # the rest of the body stays unread
        await response(scope, nothing, send)
