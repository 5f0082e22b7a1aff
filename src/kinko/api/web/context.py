"""What every dashboard page needs: the services, the signed-in operator, the language and
time zone, the CSRF check, and the templates.

A page handler calls :meth:`Web.page` (which redirects to the sign-in page without a live
session) and :meth:`Web.render`; a form handler calls :meth:`Web.form`, which also checks
the CSRF token and the role. No business rule lives here or in a template: pages show what
the services return.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from threading import Thread
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader

from kinko.api.limits import NUL, shown_name
from kinko.domain.fsa import Submitter
from kinko.domain.messages import Message, msg
from kinko.domain.money import Asset, format_units
from kinko.errors import BadInput, KinkoError, SignInRequired
from kinko.i18n import LANGS, Localizer, accepted_language, environment, percent
from kinko.ports import Clock
from kinko.render.fsa import actor
from kinko.services.access import Access, Forbidden, Unauthorized
from kinko.services.artifacts import Artifacts
from kinko.services.custody import Custody
from kinko.services.incidents import Incidents
from kinko.services.overview import stamp, stamp_text
from kinko.services.sessions import Session, Sessions
from kinko.services.throttle import Throttle
from kinko.services.withdrawals import Withdrawals

__all__ = ["COOKIE", "SignInRequired", "Site", "Viewer", "Web", "form_signature", "form_text",
           "known_zone", "site"]

COOKIE = "kinko_session"
LANG_COOKIE = "kinko_lang"
ZONE_COOKIE = "kinko_tz"


@dataclass(frozen=True)
class Viewer:
    """Who is looking, in which language and time zone."""

    session: Session
    lang: str
    zone: ZoneInfo
    stamp: str = ""  # what the database looked like when the page began (see overview.py)

    @property
    def name(self) -> str:
        return self.session.key.name

    @property
    def role(self) -> str:
        return self.session.key.role

    def can(self, permission: str) -> bool:
        try:
            self.session.key.require(permission)
        except Forbidden:
            return False
        return True


def known_zone(name: str | None) -> ZoneInfo | None:
    """The time zone of this name, or None for a name that is none: unknown, not a zone
    file, or no file name at all (a folder such as ``America``, a name longer than the
    system takes: ``ZoneInfo`` raises ``OSError`` for those, not ``ZoneInfoNotFoundError``)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _zone(name: str | None, default: str) -> ZoneInfo:
    for candidate in (name, default):
        zone = known_zone(candidate)
        if zone is not None:
            return zone
    return ZoneInfo("UTC")


@dataclass
class Web:
    """The dashboard's wiring; one per app."""

    custody: Callable[[], Custody]
    access: Callable[[], Access]
    withdrawals: Withdrawals
    clock: Clock
    data_dir: Path
    secure_cookies: bool = False
    default_zone: str = "Asia/Tokyo"
    wrong_keys: Throttle | None = None  # one per app, shared with the API (create_app)
    watch_silence: int = 60  # seconds without a round of the watch before it is an alarm
    submitter: Submitter = field(default_factory=Submitter)  # the FSA report's cover
    # the trace jobs this app started (kinko.services.trace_jobs), by artifact, across requests
    trace_threads: dict[str, Thread] = field(default_factory=dict)
    envs: dict[str, Environment] = field(init=False)

    def __post_init__(self) -> None:
        loader = PackageLoader("kinko.api.web", "templates")
        self.envs = {lang: environment(loader, lang) for lang in LANGS}

    # ------------------------------------------------------------------ services

    @property
    def throttle(self) -> Throttle:
        """Wrong keys at sign-in, counted per client and per key."""
        if self.wrong_keys is None:
            self.wrong_keys = Throttle(self.clock)
        return self.wrong_keys

    def sessions(self) -> Sessions:
        return Sessions(self.custody().ledger.store, self.clock)

    def artifacts(self) -> Artifacts:
        return Artifacts(self.withdrawals.ledger.store, self.clock)

    def incidents(self) -> Incidents:
        """With the ledger: losses are read and booked through it."""
        ledger = self.withdrawals.ledger
        return Incidents(ledger.store, self.clock, ledger)

    # ------------------------------------------------------------------ who is asking

    def stamp(self) -> tuple[int, ...]:
        """What the database looks like now, the watch's liveness included."""
        return stamp(self.withdrawals.ledger.store, self.clock, self.watch_silence)

    def lang(self, request: Request) -> str:
        """The page's language: the one asked for (``?lang=``, then kept in a cookie), else
        the one the browser prefers (``Accept-Language``), else English."""
        lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        if lang in LANGS:
            return lang
        return accepted_language(request.headers.get("accept-language"))

    def signed_in(self, request: Request) -> Session:
        """The request's live session (SignInRequired without one)."""
        try:
            return self.sessions().resolve(request.cookies.get(COOKIE))
        except Unauthorized:
            raise SignInRequired("sign in first", says=msg("error.sign_in_first")) from None

    def viewer(self, request: Request) -> Viewer:
        session = self.signed_in(request)
        return Viewer(session, self.lang(request),
                      _zone(request.cookies.get(ZONE_COOKIE), self.default_zone),
                      stamp_text(self.stamp()))

    def page(self, request: Request, permission: str = "read") -> Viewer:
        viewer = self.viewer(request)
        viewer.session.key.require(permission)
        return viewer

    def form(self, request: Request, form: dict[str, Any], permission: str) -> Viewer:
        """A posted form: a live session, the same origin, its CSRF token, the role; no
        field holds a NUL character (PostgreSQL keeps no text with one, and no id, name or
        text kinko keeps has one)."""
        viewer = self.viewer(request)
        self.same_origin(request)
        csrf = form.get("csrf")
        viewer.session.check_csrf(csrf if isinstance(csrf, str) else None)
        viewer.session.key.require(permission)
        for name, value in form.items():
            if NUL in name or (isinstance(value, str) and NUL in value):
                shown = shown_name(name)
                raise BadInput(f"the form's field {shown} holds a NUL character (U+0000), "
                               "which no id, name or text kinko keeps has",
                               says=msg("error.form.nul", field=shown))
        return viewer

    def same_origin(self, request: Request) -> None:
        """Refuse a form posted from another site: a foreign ``Origin`` (``null`` too), or
        a browser saying the request comes from another site (``Sec-Fetch-Site``)."""
        origin = request.headers.get("origin")
        if origin and origin not in self._origins(request):
            raise Forbidden(f"a form from {origin[:100]} is not accepted",
                            says=msg("error.form_other_site"))
        if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            raise Forbidden("a form from another site is not accepted",
                            says=msg("error.form_other_site"))

    @staticmethod
    def client(request: Request) -> str | None:
        """The client's address as the server saw it (behind a proxy that the setting
        ``trusted_proxies`` names, the one its X-Forwarded-For names)."""
        return request.client.host if request.client is not None else None

    @staticmethod
    def _origins(request: Request) -> set[str]:
        host = request.headers.get("host", "")
        return {f"http://{host}", f"https://{host}"}

    # ------------------------------------------------------------------ answers

    def render(self, request: Request, template: str, viewer: Viewer | None,
               status: int = 200, **data: Any) -> HTMLResponse:
        response = HTMLResponse(self.text(request, template, viewer, **data),
                                status_code=status)
        if request.query_params.get("lang") in LANGS:
            response.set_cookie(LANG_COOKIE, self.lang(request), max_age=365 * 86400,
                                samesite="strict", secure=self.secure_cookies)
        return response

    def text(self, request: Request, template: str, viewer: Viewer | None,
             **data: Any) -> str:
        """A template rendered for this viewer (language, zone, CSRF token): words through
        ``_("id")`` (Jinja2's i18n extension, the gettext catalogs), stored messages, amounts
        and times through ``L`` (:class:`~kinko.i18n.Localizer`)."""
        lang = viewer.lang if viewer is not None else self.lang(request)
        zone = viewer.zone if viewer is not None else _zone(
            request.cookies.get(ZONE_COOKIE), self.default_zone)
        localizer = Localizer(lang, zone)
        return self.envs[lang].get_template(template).render(
            L=localizer, lang=lang, viewer=viewer,
            path=request.url.path, query=str(request.url.query),
            csrf=viewer.session.csrf if viewer is not None else "",
            zone_name=zone.key, when=lambda at, ms=False: self.when(at, zone, ms=ms),
            actor=lambda name: actor(name, localizer),
            amount=amount, share=share, **data)

    def error(self, request: Request, status: int, message: Message) -> HTMLResponse:
        """An error page in the operator's language (a 4xx says what was wrong): the
        error's catalog message (:meth:`kinko.errors.KinkoError.said`)."""
        viewer = None
        with contextlib.suppress(KinkoError):
            viewer = self.viewer(request)
        return self.render(request, "error.html.j2", viewer, status=status, message=message)

    def to_sign_in(self, request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @staticmethod
    def done(to: str) -> RedirectResponse:
        """After a form: back to a page with GET (so a reload does not post again)."""
        return RedirectResponse(to, status_code=303)

    @staticmethod
    def when(at: datetime | None, zone: ZoneInfo, *, ms: bool = False) -> str:
        """A time in the operator's zone (the zone is in the page's header); ``ms`` with
        milliseconds, as timelines show it."""
        if at is None:
            return ""
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        try:
            local, named = at.astimezone(zone), ""
        except OverflowError:  # past 9999-12-31 in the page's zone: shown in UTC, so named
            local, named = at.astimezone(UTC), " UTC"
        text = local.strftime("%Y-%m-%d %H:%M:%S")
        return (f"{text}.{local.microsecond // 1000:03d}" if ms else text) + named


def form_text(form: dict[str, Any], name: str, limit: int, label: str) -> str:
    """A form's text field ``name``, its outer spaces stripped ("" when it is absent or a
    file); one longer than ``limit`` characters is refused, naming the field by its label
    on the page (the catalog's ``label``), never cut short and kept."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if len(value) > limit:
        raise BadInput(f"{name} is longer than {limit} characters",
                       says=msg("error.field_too_long", field=msg(label), limit=limit))
    return value


def form_signature(form: dict[str, Any]) -> str:
    """An approver's signature pasted into a form (or made by the page's script): refused
    when there is none, or longer than one (128 hexadecimal characters) could be."""
    value = form.get("signature")
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadInput("paste a signature, or sign in the browser first",
                       says=msg("error.signature_missing"))
    if len(text) > 256:
        raise BadInput("a signature is 128 hexadecimal characters",
                       says=msg("error.signature_length", digits=128))
    return text


def amount(units: int | None, asset: Asset, *, group: bool = True) -> str:
    """Minor units shown in whole units with the asset's decimals, exactly."""
    if units is None:
        return "—"
    return format_units(units, asset, group=group)


def share(value: Decimal | None, places: int = 2) -> str:
    """A ratio as a percentage (exact decimal arithmetic, rounded for display only)."""
    return percent(value, places)


def site(request: Request) -> Web:
    """The dashboard a page belongs to (``app.state.web``, set by :func:`kinko.api.web.mount`)."""
    web: Web = request.app.state.web
    return web


# what a page names to reach the services, the session, the templates: ``web: Site``
Site = Annotated[Web, Depends(site)]
