"""The fast loop (``make check``): which tests are ``slow``, and a guard that none of the others
starts a service.

A test is ``slow`` when it needs a service the session starts (PostgreSQL, anvil, Chromium)
or takes more than a few seconds. The first kind is marked here, from the fixtures it uses
(:func:`mark_services`, called by ``conftest.py``), so a new test is marked by what it needs;
tests that only take long carry ``@pytest.mark.slow`` themselves. A test that reaches a
service some other way (starting its own node, say) and is not marked fails in the fast loop
with :func:`refuse_in_fast_loop`, instead of quietly making it slow.

``make check`` runs ``pytest -m "not slow"``; ``make test`` runs everything.

Importing this module (``conftest.py`` does, first) lets the test process keep Python's
bytecode caches (``__pycache__``, git-ignored) where PYTHONDONTWRITEBYTECODE is set, as
containers often do: without them each test process compiled every module of kinko and
pytest rewrote every test file again, most of a worker's start-up.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable

import pytest

__all__ = ["FAST_ENV", "SERVICE_FIXTURES", "SERVICE_PARAMS", "enter_fast_loop", "mark_services",
           "refuse_in_fast_loop"]

FAST_ENV = "KINKO_TESTS_FAST_LOOP"

sys.dont_write_bytecode = False  # see the module: before conftest imports kinko

# fixtures that start a service (or need one that is started), and the values of fixture
# parameters that reach one through ``request.getfixturevalue`` (``backend``: "postgres",
# ``chain``: "anvil", and any fixture of a test module parametrised the same way)
SERVICE_FIXTURES = frozenset({"pg", "anvil", "browser"})
SERVICE_PARAMS = frozenset({"postgres", "anvil"})


def _needs_postgres(names: set[str], params: dict[str, object]) -> bool:
    return "pg" in names or "postgres" in _values(params)


def _values(params: dict[str, object]) -> set[str]:
    return {v for v in params.values() if isinstance(v, str)}


def mark_services(items: Iterable[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses a service fixture (directly or through another
    fixture) or is parametrised with a service's name; those on PostgreSQL are ``postgres``
    too."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params: dict[str, object] = dict(callspec.params) if callspec is not None else {}
        if _needs_postgres(names, params):
            item.add_marker(pytest.mark.postgres)
        if names & SERVICE_FIXTURES or _values(params) & SERVICE_PARAMS:
            item.add_marker(pytest.mark.slow)


def enter_fast_loop(markexpr: str) -> None:
    """When the run leaves out the slow tests, services may not start (see the module)."""
    if re.search(r"\bnot\s+slow\b", markexpr or ""):
        os.environ[FAST_ENV] = "1"  # xdist's workers set it again from the same options


def refuse_in_fast_loop(what: str) -> None:
    """Called before a service starts: in the fast loop, the test asking for it is not
    marked ``slow`` and should be."""
    if os.environ.get(FAST_ENV) == "1":
        raise RuntimeError(
            f"a test left in the fast loop (pytest -m 'not slow') starts {what}: mark it "
            "@pytest.mark.slow, or use the fixture that starts it (see tests/fastloop.py)")
