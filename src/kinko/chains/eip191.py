"""EIP-191 ``personal_sign`` for proof of reserves: :func:`message_signer` gives a signer
that can sign text messages (:class:`~kinko.chains.keystore.KeystoreSigner` can itself).
"""

from __future__ import annotations

from typing import Any

from kinko.errors import ConfigError

__all__ = ["message_signer"]


def message_signer(signer: Any) -> Any:
    """A signer able to ``sign_message``: itself if it can, a keystore signer wrapped."""
    if callable(getattr(signer, "sign_message", None)):
        return signer
    raise ConfigError(f"the signer for {getattr(signer, 'address', '?')} cannot sign messages")
