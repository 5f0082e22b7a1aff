"""SoftHSM2 tokens for the tests and benchmarks, in a token directory of their own.

SoftHSM2 (Debian's ``softhsm2``, which ``make`` installs) keeps its tokens in files under the
directory its configuration file names; ``SOFTHSM2_CONF`` points the library at a
configuration written here, under a temporary directory, never at the system's. The library
reads the directory once, when a process first loads it: every token a process uses is
initialised (with ``softhsm2-util``) before that, which :func:`start` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SO_PIN = "so-pin-0000"


@dataclass
class SoftHsm:
    root: Path
    pins: dict[str, str] = field(default_factory=dict)  # token label -> user PIN
    module: str = MODULE

    def stop(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def start(tokens: dict[str, str]) -> SoftHsm:
    """A fresh token directory with ``tokens`` (label -> user PIN) initialised, and this
    process's ``SOFTHSM2_CONF`` pointing at it (set before the module is first loaded)."""
    util = shutil.which("softhsm2-util")
    if util is None or not Path(MODULE).exists():
        raise RuntimeError("SoftHSM2 is not installed: run `make test` (it installs softhsm2)")
    root = Path(tempfile.mkdtemp(prefix="kinko-softhsm-"))
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n", encoding="utf-8")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    for label, pin in tokens.items():
        subprocess.run([util, "--init-token", "--free", "--label", label, "--pin", pin,
                        "--so-pin", SO_PIN], env=env, check=True, capture_output=True)
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return SoftHsm(root, dict(tokens))
