"""What the REST API's routes depend on, as FastAPI dependencies: the services, the caller's
API key and its role, the audit, and the next page's link.

A route names what it needs in its signature (``who: Operator``, ``api: Services``,
``audit: Audited``); :func:`kinko.api.app.create_app` puts the services on the app
(:class:`Api`, ``app.state.api``) and includes the routers of :mod:`kinko.api.v1`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from kinko.domain.messages import msg
from kinko.errors import KinkoError
from kinko.ports import Store, WouldBlock
from kinko.services.access import Access, ApiKey, Forbidden
from kinko.services.custody import Custody
from kinko.services.throttle import Throttle
from kinko.services.withdrawals import Withdrawals

__all__ = ["ERRORS", "Admin", "Api", "Audit", "Audited", "Caller", "Operator", "Reader",
           "Services", "acting_for", "answer", "from_memory", "in_thread", "next_page",
           "operating", "writing"]

T = TypeVar("T")

# what every route may answer besides its own answer and 400 (each with kinko's error body:
# kinko.api.docs.document_errors); a router adds those of its own (404, 409, 422)
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or one kinko does not know"},
    403: {"description": "The key's role does not allow this"},
    429: {"description": "Too many wrong keys from this client: wait Retry-After seconds"},
    503: {"description": "The database or a node cannot be reached"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such thing"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Its state does not allow this, or the idempotency key was used "
          "for another request"}}
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "Refused by a rule: an overdraft, a malformed id, a refused "
          "destination or tier"}}


@dataclass(frozen=True)
class Api:
    """The services the routes call. ``withdrawals`` is shared by every request (it keeps
    the parsed rules and the deny list warm); the factories give the others."""

    withdrawals: Withdrawals
    custody: Callable[[], Custody]
    access: Callable[[], Access]
    wrong_keys: Throttle  # wrong keys per client (the API) and per key (sign-in)


# The dependencies are ``async def``: FastAPI runs them on the event loop, where a plain
# ``def`` would be handed to a worker thread and back for each one. ``caller`` waits for the
# caches' stamps without holding the loop (``Store.request_stamps``, read once per request
# so that a key revoked by any process fails its next request) and looks the key up on the
# loop when it is cached and valid; a key to read again or a wrong key (counted, audited)
# goes to a worker thread. The key is looked up once per request, whichever dependencies
# ask for it (a role's and the audit's): kept in the request's scope. A role's dependency
# takes the headers itself rather than depending on ``caller``: FastAPI solves each level
# of dependencies anew on every request (about 20 µs a level).

async def services(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


Services = Annotated[Api, Depends(services)]
_KEY = "kinko.api_key"  # the request's key, once looked up (in the ASGI scope)


async def caller(request: Request, authorization: Annotated[str | None, Header()] = None,
                 x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
    """The caller's key (``Authorization: Bearer KEY`` or ``X-API-Key``); wrong keys are
    counted per client address, audited, and a client with too many is answered 429 for a
    while (:mod:`kinko.services.throttle`)."""
    known: ApiKey | None = request.scope.get(_KEY)
    if known is not None:
        return known
    token = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        token = value if scheme.lower() == "bearer" else authorization
    client = request.client.host if request.client is not None else None
    api: Api = request.app.state.api
    access = api.access()
    await access.store.request_stamps()
    key = None
    try:
        with access.store.loop_only():
            key = access.recognise(token, client=client, throttle=api.wrong_keys)
    except WouldBlock:
        pass
    if key is None:
        key = await run_in_threadpool(access.authenticate, token, client=client,
                                      throttle=api.wrong_keys)
    request.scope[_KEY] = key
    return key


async def from_memory(api: Api, work: Callable[[], T]) -> T:
    """``work`` done on the event loop when all it reads is cached for this request (the
    read-mostly tables, as ``caller`` found them), else in a worker thread. ``work`` must
    write nothing (it may be stopped by ``WouldBlock`` and run again)."""
    try:
        with api.withdrawals.store.loop_only():
            return work()
    except WouldBlock:
        return await run_in_threadpool(work)


# the threads that run requests' units of work (:func:`in_thread`): as many as anyio gives
# FastAPI's plain ``def`` routes, so as many writers may queue for the group commit
_WORKERS = ThreadPoolExecutor(max_workers=40, thread_name_prefix="kinko-request")


async def in_thread(work: Callable[[], T]) -> T:
    """``work`` in a worker thread, in this request's context (its stamps: ``one_request``),
    while the event loop serves others: what ``run_in_threadpool`` does, at a third of its
    cost per call (a plain executor: no capacity limiter, cancel scope or task lookups)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_WORKERS, context.run, work)


async def writing(store: Store, work: Callable[[], T]) -> T:
    """``work``, which may write, on the event loop where the store can do it there without
    waiting for long (``Store.on_loop``), else in a worker thread (:func:`in_thread`)."""
    try:
        return await store.on_loop(work)
    except WouldBlock:
        return await in_thread(work)


Caller = Annotated[ApiKey, Depends(caller)]


def _role(permission: str) -> Callable[..., Awaitable[ApiKey]]:
    async def holding(request: Request, authorization: Annotated[str | None, Header()] = None,
                      x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
        who = await caller(request, authorization, x_api_key)
        who.require(permission)  # roles: PERMISSIONS in kinko.services.access
        return who
    holding.__name__ = f"role_{permission}"
    return holding


operating = _role("operate")  # also called by a route that reads its own arguments
Reader = Annotated[ApiKey, Depends(_role("read"))]
Operator = Annotated[ApiKey, Depends(operating)]
Admin = Annotated[ApiKey, Depends(_role("admin"))]


@dataclass(frozen=True)
class Audit:
    """The audit log's side of a request: who it names (``actor``, the key's name, passed to
    the service, which writes the record in the same unit of work as the change) and the
    refusals that matter, recorded when a route's work is refused."""

    actor: str
    key: ApiKey
    access: Callable[[], Access]

    @contextmanager
    def refusal(self, action: str, target: str, detail: Mapping[str, Any]) -> Iterator[None]:
        """Record ``action`` on ``target`` with why, when what runs inside is refused."""
        try:
            yield
        except KinkoError as exc:
            self.access().audit(self.actor, action, target, {**detail, "why": exc.message})
            raise


async def audit(who: Caller, api: Services) -> Audit:
    return Audit(who.name, who, api.access)


Audited = Annotated[Audit, Depends(audit)]


def acting_for(who: ApiKey, name: str, what: str) -> None:
    """An approval or a veto is given by the key's holder (an admin may relay one)."""
    who.require("approve")
    if name != who.name and who.role != "admin":
        act = msg("error.api.act.veto") if what == "veto" else msg("error.api.act.approve")
        raise Forbidden(f"key {who.name!r} cannot {what} as {name!r}",
                        says=msg("error.api.cannot_act_for", key=who.name[:80], what=act,
                                 name=name[:80]))


def next_page(request: Request, response: Response, name: str, cursor: str) -> None:
    """Where the next page is: ``Link: <URL>; rel="next"`` (RFC 8288) and the cursor."""
    url = request.url.include_query_params(**{name: cursor})
    response.headers["Link"] = f'<{url}>; rel="next"'
    response.headers["X-Next-Cursor"] = cursor


def answer(model: BaseModel) -> bytes:
    """A response model's JSON, byte for byte as FastAPI writes a route's answer (pydantic's
    serializer, by alias), for a route that answers a prepared ``Response``: FastAPI then
    neither validates the model again nor hands it to a worker thread to do so."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True)
