"""SoftHSM2 tokens for the tests and benchmarks, in a token directory of their own (under a
temporary directory, never the system's): :func:`kinko.chains.softhsm.start`, which also
sets this process's ``SOFTHSM2_CONF`` before the module is first loaded."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kinko.chains.softhsm import MODULE, SO_PIN, SoftHsm
from kinko.chains.softhsm import start as _start

__all__ = ["HSM_PIN", "HSM_SPARE", "HSM_TOKEN", "MODULE", "SO_PIN", "SoftHsm", "start"]

# the session's tokens (the ``hsm`` fixture): one the tests log in to, and a spare nobody in
# the process is logged in to, both with this user PIN
HSM_TOKEN = "kinko-test"
HSM_PIN = "test-user-pin-4821"
HSM_SPARE = "kinko-spare"


def start(tokens: dict[str, str]) -> SoftHsm:
    """A fresh token directory with ``tokens`` (label -> user PIN) initialised."""
    return _start(Path(tempfile.mkdtemp(prefix="kinko-softhsm-")), tokens)
