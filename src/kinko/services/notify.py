"""Telling people: alerts to a webhook, signed, retried, never in the watch's way.

:class:`Webhook` is a :class:`~kinko.ports.Notifier`. ``notify`` only appends the alert to
the store's outbox (one short write) and wakes a delivery thread; the follower goes on at
once. The thread POSTs each queued alert as JSON with two headers::

    X-Kinko-Timestamp: 1516892520
    X-Kinko-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

so the receiver can check it came from kinko and is fresh (the timestamp is signed too:
a replayed old request is recognisable). A 2xx answer marks it sent; anything else (an
error status, a refused connection, a timeout; a receiver still answering three time-outs
after the connection was made is cut off: :mod:`kinko.deadline`) is retried with
exponential backoff from 1 s up to 5 minutes, at most ``attempts`` times, then marked
``failed`` and logged. Queued
alerts survive a restart: a new ``Webhook`` delivers what the outbox still holds. The secret
is never logged or stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from kinko.deadline import opener
from kinko.domain.messages import Message, msg
from kinko.errors import ConfigError
from kinko.i18n import ENGLISH
from kinko.ports import AlertNotice, Clock, NotificationRow, Store
from kinko.shown import url_shown

__all__ = ["Webhook", "alert_body", "sign_webhook", "verify_webhook"]

log = logging.getLogger("kinko.notify")


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Kinko-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    if not (timestamp.isascii() and timestamp.isdigit()):  # int("²") would raise
        return False
    return hmac.compare_digest(sign_webhook(secret, int(timestamp), body).encode(),
                               signature.encode())


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Message):
        return ENGLISH.text(value)
    return str(value)


def alert_body(alert: Mapping[str, Any]) -> str:
    """The JSON a webhook receives for ``alert`` (``docs/formats.md``): its fields, times in
    ISO form, the detail in English."""
    return json.dumps({"type": "kinko.alert", "alert": dict(alert)}, default=_json,
                      ensure_ascii=False, sort_keys=True)


class Webhook:
    """See the module docstring."""

    def __init__(self, store: Store, clock: Clock, url: str, secret: str, *,
                 attempts: int = 10, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook URL {url_shown(url)!r} must start with http:// or "
                              "https://", setting="watch_webhook_url",
                              says=msg("error.webhook.url", url=repr(url_shown(url))))
        if not secret:
            raise ConfigError("a webhook needs a secret to sign with "
                              "(KINKO_WATCH_WEBHOOK_SECRET)",
                              says=msg("error.webhook.secret", env="KINKO_WATCH_WEBHOOK_SECRET"))
        self.store = store
        self.clock = clock
        self.url = url
        self._secret = secret
        self.attempts = attempts
        self.timeout = timeout
        # each delivery whole within three time-outs, however the receiver answers
        self._opener = opener(3 * timeout)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # never the secret, nor a token in the URL
        return f"Webhook({url_shown(self.url)!r})"

    def notify(self, alert: AlertNotice) -> None:
        with self.store.watch() as tables:
            tables.queue_notification(str(alert["id"]), alert_body(alert), self.clock.now())
        self.start()
        self._wake.set()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="kinko-webhook",
                                            daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is due (for up to ``timeout`` seconds), then stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            try:
                sent_any = self.deliver_due()
            except Exception as exc:  # the store was busy or away: try again shortly
                log.error("webhook delivery pass failed: %s", exc)
                sent_any = False
            if self._stop.is_set():
                return
            if not sent_any:
                self._wake.wait(0.5)
                self._wake.clear()

    def deliver_due(self) -> bool:
        """One pass over the outbox; True if anything was attempted."""
        with self.store.watch(write=False) as tables:
            due = tables.due_notifications(self.clock.now())
        for row in due:
            self._deliver(row)
        return bool(due)

    def _deliver(self, row: NotificationRow) -> None:
        body = str(row["body"]).encode()
        timestamp = int(self.clock.now().timestamp())
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "kinko-watch",
            "X-Kinko-Timestamp": str(timestamp),
            "X-Kinko-Signature": sign_webhook(self._secret, timestamp, body)})
        error = None
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            status, error = 0, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        attempts = int(row["attempts"]) + 1
        with self.store.watch() as tables:
            if 200 <= status < 300:
                tables.update_notification(row["id"], state="sent", attempts=attempts,
                                           last_error=None)
                alert = tables.alert(str(row["alert"]))
                if alert is not None and alert["incident"]:
                    tables.add_event(alert["incident"], self.clock.now(), "notice", "webhook",
                                     msg("timeline.notice.delivered", alert=str(row["alert"]),
                                         url=url_shown(self.url), attempt=attempts))
                return
            failed = attempts >= self.attempts
            backoff = timedelta(seconds=min(300, 2 ** (attempts - 1)))
            tables.update_notification(row["id"], state="failed" if failed else "queued",
                                       attempts=attempts, last_error=error,
                                       next=self.clock.now() + backoff)
        (log.error if failed else log.warning)(
            "webhook %s for alert %s: %s (attempt %d of %d)", url_shown(self.url), row["alert"],
            error,
            attempts, self.attempts)
