"""Dashboard sessions: an API key exchanged for a short-lived session.

An operator signs in to the dashboard with their API key once; kinko answers with a random
session token (set as an HttpOnly, SameSite=Strict cookie) and keeps only its SHA-256, the
key it stands for, a CSRF token and the expiry. Every request re-checks the key, so revoking
a key ends its sessions at once; signing out ends one. Expired sessions are refused and
forgotten::

    session, token = Sessions(store, clock).sign_in(api_key_text)
    Sessions(store, clock).resolve(token)   # -> Session(key, csrf, expires), or Unauthorized
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from kinko.domain.messages import msg
from kinko.ports import Clock, Store
from kinko.services.access import Access, ApiKey, Forbidden, Unauthorized
from kinko.services.throttle import Throttle

__all__ = ["DEFAULT_TTL", "Session", "Sessions"]

DEFAULT_TTL = timedelta(hours=8)  # one shift


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    key: ApiKey
    csrf: str
    expires: datetime

    def check_csrf(self, token: str | None) -> None:
        """Refuse a form posted without this session's CSRF token."""
        # as bytes: compare_digest refuses str with characters beyond ASCII (a TypeError,
        # which a hostile form would turn into a server error)
        if not token or not hmac.compare_digest(token.encode(), self.csrf.encode()):
            raise Forbidden("the form's CSRF token is missing or wrong: reload the page "
                            "and submit again", says=msg("error.csrf"))


class Sessions:
    def __init__(self, store: Store, clock: Clock, ttl: timedelta = DEFAULT_TTL) -> None:
        self.store = store
        self.clock = clock
        self.ttl = ttl
        self.access = Access(store, clock)

    def sign_in(self, api_key: str, *, client: str | None = None,
                throttle: Throttle | None = None) -> tuple[Session, str]:
        """A new session for a valid key; the token is returned once and never stored.
        With a ``throttle``, wrong keys are counted per client and per key and audited
        (``sign_in.refused``), and a locked client or key is refused (Throttled)."""
        key = self.access.authenticate(api_key, client=client, throttle=throttle,
                                       via="sign_in")
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        session = Session(key, secrets.token_urlsafe(32), now + self.ttl)
        with self.store.access() as tables:
            tables.forget_sessions(now - timedelta(days=7))
            tables.put_session(_hash(token), key.id, session.csrf, now, session.expires)
        self.access.audit(key.name, "session.sign_in", key.id, {"role": key.role})
        return session, token

    def resolve(self, token: str | None) -> Session:
        """The live session of ``token``, its key re-checked; Unauthorized otherwise."""
        if not token:
            raise Unauthorized("sign in first", says=msg("error.sign_in_first"))
        with self.store.access(write=False) as tables:
            row = tables.session(_hash(token))
            key = None if row is None else tables.key(row["key_id"])
        if row is None or key is None or row["ended"] is not None:
            raise Unauthorized("the session is not valid: sign in again",
                               says=msg("error.session.invalid"))
        if row["expires"] <= self.clock.now():
            raise Unauthorized("the session expired: sign in again",
                               says=msg("error.session.expired"))
        if key["revoked_us"] is not None:
            raise Unauthorized("the API key of this session was revoked",
                               says=msg("error.session.key_revoked"))
        return Session(ApiKey.of(key), row["csrf"], row["expires"])

    def sign_out(self, token: str) -> None:
        session = self.resolve(token)
        with self.store.access() as tables:
            tables.end_session(_hash(token), self.clock.now())
        self.access.audit(session.key.name, "session.sign_out", session.key.id, {})
