"""An error's own words in each language, for the tests of what kinko's errors say."""

from __future__ import annotations

from kinko.domain.messages import decode
from kinko.errors import KinkoError
from kinko.i18n import Localizer

__all__ = ["EN", "JA", "said"]

JA, EN = Localizer("ja"), Localizer("en")


def said(exc: KinkoError) -> tuple[str, str]:
    """(Japanese, English) of ``exc``'s own catalog message: asserted to be its own, not
    only its class's sentence, and to read back as it is from a timeline entry."""
    message = exc.said()
    assert exc.says is not None and message.id != f"error.{exc.code}", exc.message
    assert decode(message.to_json()) == message
    return JA.text(message), EN.text(message)
