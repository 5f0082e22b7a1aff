"""The password of a new key file (a hot wallet's keystore, the co-signer's, an approver's
key): taken from a variable of the environment, never from a file, and refused naming that
variable, whether it is unset or too short::

    check_password(os.environ.get("KINKO_HOT_KEY_PASSWORD"), "KINKO_HOT_KEY_PASSWORD")
"""

from __future__ import annotations

from kinko.domain.messages import msg
from kinko.errors import ConfigError

__all__ = ["MIN_PASSWORD", "check_password"]

MIN_PASSWORD = 12  # characters


def check_password(password: str | None, env: str) -> str:
    """``password`` (from the variable ``env``) when it is long enough; else a
    :class:`ConfigError` naming ``env`` and saying whether it is unset or too short (never
    what it is)."""
    if not password:
        raise ConfigError(f"{env} is not set: export the key file's password (at least "
                          f"{MIN_PASSWORD} characters)",
                          says=msg("error.keystore.password_missing", env=env,
                                   least=MIN_PASSWORD))
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"{env} is too short: a key file's password must have at least "
                          f"{MIN_PASSWORD} characters",
                          says=msg("error.keystore.password_short", env=env,
                                   least=MIN_PASSWORD))
    return password
