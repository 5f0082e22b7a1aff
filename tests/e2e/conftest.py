"""The dashboard's tests in a real browser: fixtures (see :mod:`browser_site`) and a report
hook that lets ``browse`` take screenshots of every open page when a test failed."""

from typing import Any

import pytest
from browser_site import (
    browse,
    browser,
    exchange,
    make_exchange,
    serve,
    server,
    shared_exchange,
    shared_server,
    template,
)

__all__ = ["browse", "browser", "exchange", "make_exchange", "serve", "server",
           "shared_exchange", "shared_server", "template"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
