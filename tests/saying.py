"""An error's own words in each language, for the tests of what kinko's errors say."""

from __future__ import annotations

import re

from kinko.domain.messages import decode
from kinko.errors import KinkoError
from kinko.i18n import Localizer

__all__ = ["EN", "JA", "english_left", "said"]

JA, EN = Localizer("ja"), Localizer("en")


def said(exc: KinkoError) -> tuple[str, str]:
    """(Japanese, English) of ``exc``'s own catalog message: asserted to be its own, not
    only its class's sentence, and to read back as it is from a timeline entry."""
    message = exc.said()
    assert exc.says is not None and message.id != f"error.{exc.code}", exc.message
    assert decode(message.to_json()) == message
    return JA.text(message), EN.text(message)


# what Japanese keeps as written: names, and a proof's fields and values (path, side: left)
NAMES = {"JSON", "UTF", "Unicode", "FIFO", "ID", "path", "left", "right", "leaves"}


def english_left(ja: str, *specifics: str) -> list[str]:
    """The words of English letters a Japanese text still holds once the values it names
    (file names, hashes, field paths, quoted values), the fields it names (``root.json``,
    ``root_hash``, ``2**height``, ``--customer``) and :data:`NAMES` are taken out."""
    for value in sorted(specifics, key=len, reverse=True):
        ja = ja.replace(value, " ")
    ja = re.sub(r"--\w+|\*\*\w+|[\w-]*[._][\w.\[\]]*", " ", ja, flags=re.ASCII)
    return [w for w in re.findall(r"[A-Za-z]{2,}", ja) if w not in NAMES]
