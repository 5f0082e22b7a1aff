"""Persistence: the SQL implementation of the ``Store`` port and its migrations."""

from kinko.store.migrate import check_current, upgrade
from kinko.store.sql import SqlStore, open_store, require_existing

__all__ = ["SqlStore", "check_current", "open_store", "require_existing", "upgrade"]
