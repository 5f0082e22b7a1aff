"""SoftHSM2 token directories of their own, for the demo, the tests and the benchmarks.

SoftHSM2 (Debian's ``softhsm2``, which ``make`` installs) keeps its tokens in files under
the directory its configuration file names; ``SOFTHSM2_CONF`` points the library at a
configuration written here, never at the system's. The library reads that variable once,
when a process first initialises it: every token a process uses is created (with
``softhsm2-util``) before that, which :func:`start` does, and :func:`start` refuses once the
module is loaded in the process (its tokens would not be seen). A real HSM needs none of
this: its module path, token label and PIN are settings (``hsm_module``, ``hsm_token``,
``KINKO_HSM_PIN``)::

    tokens = start(Path("demo/softhsm"), {"kinko-ops": pin})
    with HsmToken.open(tokens.module, "kinko-ops", pin) as token:
        key = token.generate_key("ops")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kinko.domain.messages import msg
from kinko.errors import ConfigError

__all__ = ["MODULE", "SoftHsm", "start"]

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SO_PIN = "so-pin-0000"  # the security officer's PIN of tokens made here (they are throwaway)


@dataclass
class SoftHsm:
    """A token directory, its tokens (label → user PIN) and the module that reads it."""

    root: Path
    pins: dict[str, str] = field(default_factory=dict)
    module: str = MODULE

    def stop(self) -> None:
        """Remove the token directory (its keys with it)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _loaded(module: str) -> bool:
    pkcs11 = sys.modules.get("pkcs11")
    return pkcs11 is not None and module in getattr(pkcs11, "_loaded", {})


def start(root: Path, tokens: dict[str, str], *, module: str = MODULE) -> SoftHsm:
    """A fresh token directory at ``root`` (emptied first) with ``tokens`` (label → user
    PIN) initialised, and this process's ``SOFTHSM2_CONF`` pointing at it."""
    util = shutil.which("softhsm2-util")
    if util is None or not Path(module).exists():
        raise ConfigError("SoftHSM2 is not installed: `make demo` and `make test` install it "
                          "(Debian package softhsm2)", setting="hsm_module",
                          says=msg("error.softhsm.not_installed"))
    if _loaded(module):
        raise ConfigError(f"the PKCS#11 module {module} is loaded in this process already: "
                          "a new token directory is seen only by a process that has not "
                          "loaded it (run this in a process of its own)",
                          says=msg("error.softhsm.loaded", module=module[:200]))
    shutil.rmtree(root, ignore_errors=True)
    (root / "tokens").mkdir(parents=True)
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {(root / 'tokens').resolve()}\n"
                    "objectstore.backend = file\nlog.level = ERROR\n"
                    "slots.removable = false\n", encoding="utf-8")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf.resolve())}
    for label, pin in tokens.items():
        done = subprocess.run([util, "--init-token", "--free", "--label", label, "--pin", pin,
                               "--so-pin", SO_PIN], env=env, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise ConfigError(f"softhsm2-util could not initialise token {label!r} in "
                              f"{root}: {(done.stderr or done.stdout).strip()}",
                              says=msg("error.softhsm.init_failed", label=label[:80],
                                       root=str(root)[:200],
                                       reason=(done.stderr or done.stdout).strip()[:200]))
    os.environ["SOFTHSM2_CONF"] = str(conf.resolve())
    return SoftHsm(root, dict(tokens), module)
