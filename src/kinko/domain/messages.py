"""What kinko tells people, as data: a message id from the catalog and its parameters.

Everything a person reads that kinko writes (a timeline entry, an alert, an incident's
title, a rule's reason and a hit's detail, a custody finding, a state or a badge) is a
:class:`Message`: an id of the gettext catalogs (``src/kinko/locale/<lang>/LC_MESSAGES/
kinko.po``) and typed parameters. Records keep the message, never a sentence in one
language; :mod:`kinko.i18n` renders it in the reader's language, amounts in the asset's
units, times in the reader's zone::

    >>> m = msg("timeline.breaker.tripped", scope="XEM")
    >>> m.to_json()
    '{"id":"timeline.breaker.tripped","args":{"scope":"XEM"}}'
    >>> decode(m.to_json()) == m
    True

Text a person wrote (a note, a reason typed in a form, an incident opened by hand) is kept as
written, in the message ``text``; so is a stored value that is no message (what older
versions wrote), so nothing stored is ever unreadable::

    >>> decode("the hot key was found in a repository") == verbatim(
    ...     "the hot key was found in a repository")
    True

Parameters are ``str`` (an identifier, an address, a hash, or a person's words, shown as
they are), ``int`` (a count, grouped by thousands), :class:`Units` (an amount in an asset's
minor units, shown in whole units), :class:`Yen`, :class:`Percent`, :class:`Time` and a
nested :class:`Message` (translated in the same language: a state word, an alert's detail).

Adding a message: call :func:`msg` with a new id where the words are needed, and give the id
its English and Japanese text in both catalogs (``make messages`` adds new ids to them; the
tests fail on an id missing from either, or left empty).
"""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Union

__all__ = [
    "ID_SHOWN",
    "LANGS",
    "N_",
    "TEXT",
    "Arg",
    "Message",
    "Percent",
    "Time",
    "Units",
    "Yen",
    "credentials_masked",
    "decode",
    "from_data",
    "id_shown",
    "joined",
    "msg",
    "os_refusal",
    "rewritten",
    "stored",
    "value_shown",
    "verbatim",
]

LANGS = ("en", "ja")  # the languages kinko's catalogs speak
# the most characters of an id or name a caller gave that an error quotes (as the
# dashboard's error pages and value_shown do): enough to tell which, never kilobytes of input
ID_SHOWN = 80
TEXT = "text"  # the message that shows a person's own words as written


@dataclass(frozen=True)
class Units:
    """An exact amount: minor units of an asset with its decimals (shown in whole units)."""

    units: int
    asset: str
    decimals: int


@dataclass(frozen=True)
class Yen:
    """Whole yen (shown as ¥1,234)."""

    value: int


@dataclass(frozen=True)
class Percent:
    """A ratio (0.05 is shown as 5%), exact; ``places`` decimals when shown."""

    value: Decimal
    places: int = 2


@dataclass(frozen=True)
class Time:
    """A moment, shown in the reader's time zone."""

    at: datetime


Arg = Union[str, int, "Units", "Yen", "Percent", "Time", "Message"]


@dataclass(frozen=True)
class Message:
    """A catalog id and its parameters (sorted by name; see the module docstring)."""

    id: str
    args: tuple[tuple[str, Arg], ...] = ()

    @property
    def params(self) -> dict[str, Arg]:
        return dict(self.args)

    @property
    def is_text(self) -> bool:
        """A person's own words (or an older record's text), shown as written."""
        return self.id == TEXT

    def to_json(self) -> str:
        return json.dumps(_encode(self), ensure_ascii=False, separators=(",", ":"))

    def to_data(self) -> dict[str, Any]:
        """The message as JSON-ready data (inside another JSON document)."""
        return _encode(self)


def msg(message_id: str, /, **params: Arg) -> Message:
    """The one way to say something to a person: ``msg("area.what", name=value, ...)``."""
    if not message_id or not isinstance(message_id, str):
        raise ValueError("a message needs its catalog id")
    for name, value in params.items():
        _check(name, value)
    return Message(message_id, tuple(sorted(params.items())))


def verbatim(text: str) -> Message:
    """A person's own words, kept and shown as written."""
    return Message(TEXT, (("text", str(text)),))


def N_(message_id: str) -> str:
    """Mark a catalog id for extraction where it is chosen at run time (a state's word)."""
    return message_id


# a URL's password (``scheme://user:PASSWORD@host``), the values of query parameters that
# carry a credential (``?apikey=...``) and a provider's key in the path, as a node's or a
# webhook's URL may hold them
_CREDENTIALS = (
    # (found from its "://": a scheme tried from every letter of a long word took seconds
    # for 100,000 characters)
    (re.compile(r"(://[^:/@\s'\"]*):[^@/\s'\"]*@"), r"\1:***@"),
    (re.compile(r"([?&;#](?:api[_-]?key|key|token|access[_-]?token|secret|password|pass|auth)"
                r"=)[^&;#\s'\"]*", re.IGNORECASE), r"\1***"),
    # a provider's key as a path segment after its API version (``/v3/KEY``, ``/v2/KEY``)
    (re.compile(r"(://[^/\s'\"]+/v[0-9]+/)[A-Za-z0-9_-]{16,}"), r"\1***"),
)


def credentials_masked(text: str) -> str:
    """``text`` with the credentials a URL in it carries written as ``***``, as kinko says
    a database URL back (``postgresql://u:***@host/db``)."""
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


def value_shown(value: Any) -> str:
    """A value from outside (a file, a setting, a request) as a message names it: its repr,
    the credentials of a URL in it masked, cut to 80 characters."""
    return credentials_masked(repr(value))[:80]


def id_shown(value: str, most: int = ID_SHOWN) -> str:
    """An id or name a caller gave (a URL's, a form's), as an error quotes it in its words
    and its message's parameters: whole up to ``most`` characters, else its first
    ``most - 3`` and ``...``.

    >>> id_shown("W-1")
    'W-1'
    >>> id_shown("W" * 200, 10)
    'WWWWWWW...'
    """
    return value if len(value) <= most else value[:most - 3] + "..."


def rewritten(said: Message, change: Callable[[str], Arg]) -> Message:
    """``said`` with ``change`` applied to each of its text values, at any depth (a value
    that names the server's folder, or a place said in English)."""
    def value(v: Arg) -> Arg:
        if isinstance(v, Message):
            return rewritten(v, change)
        return change(v) if isinstance(v, str) else v

    args = tuple((name, value(v)) for name, v in said.args)
    return said if args == said.args else Message(said.id, args)


def joined(said: Sequence[Message]) -> Message:
    """Messages said one after another (``a; b; c`` in English, ``a。b。c`` in Japanese)."""
    out = said[0]
    for then in said[1:]:
        out = msg("error.and_then", first=out, then=then)
    return out


# The operating system's refusals kinko's operators meet, by errno name, in the catalogs'
# words; any other is said in the system's own.
_OS_REFUSALS = {"ENOENT": N_("cli.error.os.ENOENT"), "EACCES": N_("cli.error.os.EACCES"),
                "EPERM": N_("cli.error.os.EACCES"), "ENOSPC": N_("cli.error.os.ENOSPC"),
                "EISDIR": N_("cli.error.os.EISDIR"), "ENOTDIR": N_("cli.error.os.ENOTDIR"),
                "EEXIST": N_("cli.error.os.EEXIST"), "EROFS": N_("cli.error.os.EROFS")}


def os_refusal(exc: OSError) -> Message | str:
    """What the system refused, as a message parameter: the catalog's words for the common
    refusals, else the system's own (cut short); the file it concerns is not included."""
    known = _OS_REFUSALS.get(errno.errorcode.get(exc.errno or 0, ""))
    return msg(known) if known is not None else str(exc.strerror)[:200]


def _check(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(
            value, str | int | Units | Yen | Percent | Time | Message):
        raise TypeError(f"message parameter {name}={value!r} is not a str, int, Units, Yen, "
                        "Percent, Time or Message")


# ---------------------------------------------------------------------------- storage

def _encode(m: Message) -> dict[str, Any]:
    return {"id": m.id, "args": {k: _encode_arg(v) for k, v in m.args}}


def _encode_arg(v: Arg) -> Any:
    if isinstance(v, str | int):
        return v
    if isinstance(v, Units):
        return {"units": str(v.units), "asset": v.asset, "decimals": v.decimals}
    if isinstance(v, Yen):
        return {"yen": str(v.value)}
    if isinstance(v, Percent):
        return {"percent": str(v.value), "places": v.places}
    if isinstance(v, Time):
        return {"time": v.at.isoformat()}
    return _encode(v)


def _decode_arg(v: Any) -> Arg:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, str | int):
        return v
    if isinstance(v, Mapping):
        if "units" in v:
            return Units(int(v["units"]), str(v["asset"]), int(v["decimals"]))
        if "yen" in v:
            return Yen(int(v["yen"]))
        if "percent" in v:
            return Percent(Decimal(str(v["percent"])), int(v.get("places", 2)))
        if "time" in v:
            return Time(datetime.fromisoformat(str(v["time"])))
        if "id" in v:
            return _decode(v)
    raise ValueError(f"not a message parameter: {v!r}")


def _decode(data: Mapping[str, Any]) -> Message:
    message_id = data.get("id")
    args = data.get("args", {})
    if not isinstance(message_id, str) or not message_id or not isinstance(args, Mapping):
        raise ValueError("not a message")
    return Message(message_id, tuple(sorted((str(k), _decode_arg(v))
                                            for k, v in args.items())))


def decode(stored: str | None) -> Message:
    """A stored message; text that is no message (an older record, a person's words) is
    kept as written (:func:`verbatim`)."""
    if stored is None:
        return verbatim("")
    if stored.startswith('{"id":'):
        try:
            data = json.loads(stored)
            if isinstance(data, Mapping):
                return _decode(data)
        except (ValueError, TypeError, KeyError, InvalidOperation):
            pass
    return verbatim(stored)


def stored(message: Message) -> str:
    """The text a column keeps for a message (a ledger entry's memo): a person's words as
    written, unless they would read back as a message; else the message's JSON. Always
    ``decode(stored(m)) == m``."""
    if message.is_text:
        text = str(message.params.get("text", ""))
        if not text.startswith('{"id":'):
            return text
    return message.to_json()


def from_data(data: Any) -> Message:
    """A message from :meth:`Message.to_data`; text (what older versions kept) as written."""
    if isinstance(data, Mapping):
        try:
            return _decode(data)
        except (ValueError, TypeError, KeyError, InvalidOperation):
            return verbatim(json.dumps(data, ensure_ascii=False))
    return verbatim("" if data is None else str(data))
