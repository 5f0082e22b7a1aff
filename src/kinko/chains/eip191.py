"""EIP-191 ``personal_sign`` for the hot wallet's keystore signer (proof of reserves).

:class:`~kinko.chains.keystore.KeystoreSigner` signs transfers only; :func:`message_signer`
wraps one so it also signs text messages, with the same in-memory key, which it never
exposes (the wrapper's ``repr`` shows only the address).
"""

from __future__ import annotations

from typing import Any

from eth_account.messages import encode_defunct

from kinko.chains.keystore import KeystoreSigner
from kinko.errors import ConfigError

__all__ = ["Eip191Signer", "message_signer"]


class Eip191Signer:
    """Signs EIP-191 text messages with a keystore signer's key."""

    def __init__(self, signer: KeystoreSigner) -> None:
        self.__signer = signer
        self.address: str = signer.address

    def __repr__(self) -> str:
        return f"Eip191Signer(address={self.address!r})"

    def sign_message(self, text: str) -> str:
        """The 65-byte signature of ``text`` (EIP-191 version 0x45) as 0x-hex."""
        account = self.__signer._KeystoreSigner__account  # type: ignore[attr-defined]
        signed = account.sign_message(encode_defunct(text=text))
        return "0x" + bytes(signed.signature).hex()


def message_signer(signer: Any) -> Any:
    """A signer able to ``sign_message``: itself if it can, a keystore signer wrapped."""
    if callable(getattr(signer, "sign_message", None)):
        return signer
    if isinstance(signer, KeystoreSigner):
        return Eip191Signer(signer)
    raise ConfigError(f"the signer for {getattr(signer, 'address', '?')} cannot sign messages")
