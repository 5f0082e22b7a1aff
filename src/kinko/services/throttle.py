"""Wrong keys slowed down: failed sign-ins counted per client address and per key.

Each client address, and each existing key that someone tried with a wrong secret, keeps
the times of its failures within a sliding window. At ``limit`` failures within
``window`` it is locked: every further attempt from that client (or for that key) is
refused with 429 and a ``Retry-After``, without the key being checked at all, until the
oldest of those failures is ``window`` old. A correct sign-in forgives the key's failures
(not the client's)::

    throttle = Throttle(clock)
    throttle.check("10.0.0.7", "3fa2c1d0e9b8")      # raises Throttled while locked
    locked = throttle.fail("10.0.0.7", "3fa2c1d0e9b8")   # True when this one locks

The counts live in the memory of the serving process (one ``kinko serve``; each worker of
several would count alone) and are bounded: at ``capacity`` tracked clients and keys, the
one idle longest is forgotten. Every failure and every lock is written to the audit log by
:class:`~kinko.services.access.Access`, which this module knows nothing of.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from kinko.domain.messages import msg
from kinko.errors import Throttled
from kinko.ports import Clock

__all__ = ["CLIENT_RULE", "KEY_RULE", "Rule", "Throttle", "Throttled"]


@dataclass(frozen=True)
class Rule:
    limit: int  # failures within the window that lock
    window: timedelta


CLIENT_RULE = Rule(10, timedelta(minutes=15))  # a typo or two never locks anyone out
KEY_RULE = Rule(5, timedelta(minutes=15))


class Throttle:
    def __init__(self, clock: Clock, *, per_client: Rule = CLIENT_RULE,
                 per_key: Rule = KEY_RULE, capacity: int = 10_000) -> None:
        self.clock = clock
        self.rules = {"client": per_client, "key": per_key}
        self.capacity = capacity
        self._failures: OrderedDict[tuple[str, str], deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _subjects(client: str | None, key: str | None) -> list[tuple[str, str]]:
        return ([("client", client)] if client else []) + ([("key", key)] if key else [])

    def _recent(self, subject: tuple[str, str], now: datetime) -> deque[datetime] | None:
        times = self._failures.get(subject)
        if times is None:
            return None
        window = self.rules[subject[0]].window
        while times and times[0] <= now - window:
            times.popleft()
        if not times:
            del self._failures[subject]
            return None
        return times

    def retry_after(self, client: str | None, key: str | None = None) -> int | None:
        """Seconds until ``client`` (and ``key``) may try again; None when not locked."""
        now = self.clock.now()
        wait = 0.0
        with self._lock:
            for subject in self._subjects(client, key):
                times = self._recent(subject, now)
                rule = self.rules[subject[0]]
                if times is not None and len(times) >= rule.limit:
                    free_at = times[len(times) - rule.limit] + rule.window
                    wait = max(wait, (free_at - now).total_seconds())
        return max(1, math.ceil(wait)) if wait > 0 else None

    def check(self, client: str | None, key: str | None = None) -> None:
        """Refuse (Throttled) while ``client`` or ``key`` is locked."""
        wait = self.retry_after(client, key)
        if wait is not None:
            raise Throttled(f"too many wrong keys: try again in {wait} seconds", wait,
                            says=msg("sign_in.throttled", seconds=wait))

    def fail(self, client: str | None, key: str | None = None) -> bool:
        """Count a failure; True when it locks the client or the key."""
        now = self.clock.now()
        locked = False
        with self._lock:
            for subject in self._subjects(client, key):
                times = self._recent(subject, now) or deque()
                times.append(now)
                self._failures[subject] = times
                self._failures.move_to_end(subject)
                locked |= len(times) == self.rules[subject[0]].limit
            while len(self._failures) > self.capacity:
                self._failures.popitem(last=False)
        return locked

    def forgive(self, key: str) -> None:
        """A correct key: its own failures no longer count."""
        with self._lock:
            self._failures.pop(("key", key), None)
