"""Routes that read their own arguments: the body, headers and key of a busy route taken
from the request by kinko, the way FastAPI would take them, without FastAPI's solving of
dependencies on every request.

The endpoint keeps its declared signature (a body model, ``Header`` parameters, a role's
dependency), so the OpenAPI document is the one FastAPI draws from it; the route's
``read`` gives the endpoint those same arguments. What a client sees is FastAPI's: the body
read as JSON only under a JSON ``Content-Type``, a body that is not JSON refused before the
key is looked at, then the key and its role, then every header's and the body's problems
together as one validation error (the app's handler words it), headers first. FastAPI's
``dependency_overrides`` do not reach what ``read`` takes: it calls what it needs itself.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from kinko.api.limits import json_syntax, parsed_as_json

__all__ = ["MISSING", "Problems", "json_body", "reading", "required_header", "validated"]

M = TypeVar("M", bound=BaseModel)
Problems = list[dict[str, Any]]  # validation errors, as pydantic and FastAPI word them
Read = Callable[[Request], Awaitable[dict[str, Any]]]
MISSING: Any = object()  # no body at all


def reading(read: Read) -> type[APIRoute]:
    """A route class whose endpoint is called with what ``read`` takes from the request."""

    class Reading(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            endpoint = self.endpoint

            async def handle(request: Request) -> Response:
                response: Response = await endpoint(**await read(request))
                return response

            return handle

    return Reading


async def json_body(request: Request) -> Any:
    """The body as FastAPI reads one for a body model: parsed when its ``Content-Type`` is
    JSON (``application/json`` or ``application/*+json``), else its bytes (which no model
    accepts); :data:`MISSING` when there is none. Text that is not JSON is refused here."""
    raw = await request.body()
    if not raw:
        return MISSING
    content_type = request.headers.get("content-type")
    if not parsed_as_json(content_type):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise json_syntax(exc.doc, exc.pos, exc.msg) from None
    except Exception:  # a number of more digits than Python converts, ...
        raise HTTPException(400, "There was an error parsing the body") from None


def validated(model: type[M], value: Any, problems: Problems) -> M | None:
    """``value`` (from :func:`json_body`) as ``model``; its problems, placed under
    ``body``, added to ``problems``."""
    if value is MISSING:
        problems.append({"type": "missing", "loc": ("body",), "msg": "Field required",
                         "input": None})
        return None
    try:
        return model.model_validate(value, from_attributes=True)
    except ValidationError as exc:
        problems.extend({**e, "loc": ("body", *e["loc"])}
                        for e in exc.errors(include_url=False))
        return None


def required_header(request: Request, name: str, problems: Problems) -> str:
    """A required header of at least one character (``name`` in lower case), as a
    ``Header(min_length=1)`` parameter reads it (the first, when sent more than once)."""
    value = request.headers.get(name)
    if value is None:
        problems.append({"type": "missing", "loc": ("header", name), "msg": "Field required",
                         "input": None})
        return ""
    if not value:
        problems.append({"type": "string_too_short", "loc": ("header", name),
                         "msg": "String should have at least 1 character", "input": value,
                         "ctx": {"min_length": 1}})
    return value
