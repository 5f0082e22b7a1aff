"""The log lines kinko's processes write to standard error: one format, and no credential.

A library kinko calls may log a URL it was given whole (web3 logs the node's, with its
password or API key, at DEBUG); every line is written with the credentials of a URL in it
masked (:func:`kinko.domain.messages.credentials_masked`), whoever logged it.
"""

from __future__ import annotations

import logging

from kinko.domain.messages import credentials_masked

__all__ = ["MaskedFormatter", "log_to_stderr"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class MaskedFormatter(logging.Formatter):
    """:data:`FORMAT`, each line (its traceback too) with a URL's credentials masked."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return credentials_masked(super().format(record))


def log_to_stderr(level: str | int) -> None:
    """Log at ``level`` and above to standard error through :class:`MaskedFormatter`, as
    :func:`logging.basicConfig` does: the handler is added where the process's root logger
    has none (a later call sets the level; a program that runs kinko's commands inside it,
    a test's, keeps its own handlers)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(MaskedFormatter())
        root.addHandler(handler)
    root.setLevel(level)
