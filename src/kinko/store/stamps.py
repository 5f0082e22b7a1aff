"""The read-mostly tables a process caches, and how their writers say they wrote one.

Each table in :data:`STAMPED` has a row in ``stamps`` whose counter database triggers move
on every insert, update and delete of it (migration 0012), so any process can tell with one
read whether what it cached is still what is stored (``SqlStore.cached``). A table module
is handed its unit's ``touch`` and calls it before it writes a stamped table;
:func:`untouched` is the ``touch`` of a table view made outside a unit.
"""

from __future__ import annotations

__all__ = ["STAMPED", "untouched"]

# "database" (a random number per database) is a stamp too, but of no table
STAMPED = ("policies", "api_keys", "deny_labels", "wallets", "incidents", "breaker_events")


def untouched(table: str) -> None:
    """A ``touch`` that records nothing (a table view outside a unit of work)."""
