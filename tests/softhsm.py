"""SoftHSM2 tokens for the tests and benchmarks, in a token directory of their own (under a
temporary directory, never the system's): :func:`kinko.chains.softhsm.start`, which also
sets this process's ``SOFTHSM2_CONF`` before the module is first loaded."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kinko.chains.softhsm import MODULE, SO_PIN, SoftHsm
from kinko.chains.softhsm import start as _start

__all__ = ["MODULE", "SO_PIN", "SoftHsm", "start"]


def start(tokens: dict[str, str]) -> SoftHsm:
    """A fresh token directory with ``tokens`` (label -> user PIN) initialised."""
    return _start(Path(tempfile.mkdtemp(prefix="kinko-softhsm-")), tokens)
