"""Every word kinko shows, in English or Japanese, from gettext catalogs.

The catalogs are ``src/kinko/locale/<lang>/LC_MESSAGES/kinko.po`` (ids such as
``ov.liabilities`` or ``timeline.breaker.tripped``, the text with ``%(name)s``
placeholders); ``make`` compiles them to ``.mo`` with Babel, and a catalog whose ``.mo`` is
missing or older than its ``.po`` is compiled in memory, so a fresh checkout and an edited
``.po`` both read the words as written. Japanese follows the FSA's and the ordinance's
wording (ホットウォレット, コールドウォレット, 履行保証暗号資産, 分別管理, 不正送金, 返金（補償）,
原資, 異常な送金依頼の検知).

A :class:`Localizer` is one reader's language and time zone::

    ja = Localizer("ja")
    ja("ov.liabilities")                       # 利用者からの預かり
    ja.text(msg("timeline.breaker.tripped", scope="XEM"))
    ja.when(at, ms=True)                       # 2018-01-26 00:02:13.417 JST

Pages and reports use Jinja2's i18n extension (``{{ _("ov.liabilities") }}``) through
:func:`environment`. An id missing from a catalog is a programming error: with
:func:`strict` (the tests) it raises :class:`MissingMessage`; otherwise the English text is
shown, or the id itself.
"""

from __future__ import annotations

import gettext as _gettext
import io
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import BaseLoader, Environment, StrictUndefined, select_autoescape

from kinko.domain.messages import LANGS, Message, Percent, Time, Units, Yen, decode, from_data
from kinko.domain.money import Asset, format_units

__all__ = [
    "CONTROL_ESCAPES",
    "DOMAIN",
    "ENGLISH",
    "JST",
    "LANGS",
    "Localizer",
    "MissingMessage",
    "accepted_language",
    "catalog_ids",
    "environment",
    "in_zone",
    "locale_dir",
    "percent",
    "strict",
]

DOMAIN = "kinko"
JST = timezone(timedelta(hours=9), "JST")
_STRICT = [False]
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_LOCK = threading.Lock()
_CACHE: dict[str, _gettext.GNUTranslations] = {}


def in_zone(at: datetime, zone: tzinfo) -> datetime:
    """``at`` in ``zone``; in UTC when the zone's clock would be past 9999-12-31 or before
    year 1 (kinko keeps any time of those years in UTC: 9999-12-31T23:00Z has no date in
    JST), so it is shown as the time it is, named UTC, rather than not at all."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    try:
        return at.astimezone(zone)
    except OverflowError:
        return at.astimezone(UTC)


class MissingMessage(KeyError):
    """A message id no catalog of the language has (see :func:`strict`)."""


def strict(on: bool = True) -> None:
    """Raise :class:`MissingMessage` for an id a catalog lacks (the tests turn it on)."""
    _STRICT[0] = on


def locale_dir() -> Path:
    return Path(str(resources.files("kinko") / "locale"))


def _compile(po: Path) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh, locale=po.parent.parent.name, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def _translations(lang: str) -> _gettext.GNUTranslations:
    found = _CACHE.get(lang)  # loaded once, never replaced: read without the lock
    if found is not None:
        return found
    with _LOCK:
        found = _CACHE.get(lang)
        if found is None:
            folder = locale_dir() / lang / "LC_MESSAGES"
            po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
            if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
                data = mo.read_bytes()
            else:
                data = _compile(po)
            found = _CACHE[lang] = _gettext.GNUTranslations(io.BytesIO(data))
        return found


def catalog_ids(lang: str) -> dict[str, str]:
    """Every id of a language's catalog with its text (for the tests and the docs)."""
    catalog: dict[Any, Any] = _translations(lang)._catalog  # type: ignore[attr-defined]
    return {k: v for k, v in catalog.items() if isinstance(k, str) and k}


def _known(lang: str, message_id: str) -> bool:
    catalog: dict[Any, Any] = _translations(lang)._catalog  # type: ignore[attr-defined]
    return bool(catalog.get(message_id))


def _lookup(lang: str, message_id: str) -> str:
    catalog: dict[Any, Any] = _translations(lang)._catalog  # type: ignore[attr-defined]
    text = catalog.get(message_id)
    if text:
        return str(text)
    if _STRICT[0]:
        raise MissingMessage(f"no {lang} text for message {message_id!r}")
    if lang != "en":
        return _lookup("en", message_id)
    return message_id


# one range of an Accept-Language header: a tag (or *) and its weight (RFC 9110, 12.5.4)
_RANGE = re.compile(r"([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)"
                    r"(?:\s*;\s*q\s*=\s*(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?))?")
_MOST_RANGES = 32  # a header is read this far: a client names a few languages
_LONGEST_RANGE = 64  # a longer one is no language range worth reading


def accepted_language(header: str | None) -> str:
    """The language of :data:`LANGS` an ``Accept-Language`` header prefers: the one named
    with the highest weight (by its primary subtag: ``ja-JP`` is ja; ``*`` stands for any
    not named), between equal weights the one named first; English when the header names
    none of them, is absent, or cannot be read; a weight of 0 refuses a language. Ranges
    that do not parse are passed over, never an error."""
    weights: dict[str, int] = {}  # per language: its weight in thousandths
    order: list[str] = []  # the languages as the header names them
    anyone = 0  # the weight of "*"
    for part in (header or "").split(",", _MOST_RANGES)[:_MOST_RANGES]:
        part = part.strip()
        match = _RANGE.fullmatch(part) if len(part) <= _LONGEST_RANGE else None
        if match is None:
            continue
        tag, q = match.group(1).lower(), match.group(2)
        whole, _, fraction = (q or "1").partition(".")
        weight = int(whole) * 1000 + int(fraction.ljust(3, "0"))
        if tag == "*":
            anyone = max(anyone, weight)
            continue
        primary = tag.split("-")[0]
        if primary in LANGS:
            weights[primary] = max(weights.get(primary, 0), weight)
            order.append(primary)
    for lang in LANGS:
        weights.setdefault(lang, anyone)
    best = max(weights.values())
    if best == 0:
        return "en"
    return min((lang for lang in LANGS if weights[lang] == best),
               key=lambda lang: order.index(lang) if lang in order else len(order))


def percent(value: Decimal | None, places: int = 2) -> str:
    """A ratio as a percentage, exactly rounded for display, never in exponent form
    (0.2 → 20.00%; ``places`` decimals)."""
    if value is None:
        return "—"
    shown = (Decimal(value) * 100).quantize(Decimal(1).scaleb(-places))
    return f"{shown:f}%"


# what a value quoted into a sentence (an address, a name, a file's text) may carry that
# would change how the sentence reads rather than be read: control characters and the marks
# that reverse the direction of the text after them (``'\u202e'`` makes "txt.exe" of
# "exe.txt"); written as their escapes, as Python's repr writes them
CONTROL_ESCAPES = {code: (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
                    for code in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F,
                                 *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F,
                                 *range(0x202A, 0x202F), *range(0x2066, 0x206A))}


class Localizer:
    """One reader's language and time zone: words, messages, numbers, amounts and times."""

    def __init__(self, lang: str, zone: ZoneInfo | timezone | None = None) -> None:
        self.lang = lang if lang in LANGS else "en"
        self.zone = zone or (JST if self.lang == "ja" else UTC)

    # ------------------------------------------------------------------ words

    def __call__(self, message_id: str, /, **params: Any) -> str:
        """The text of ``message_id`` with its ``%(name)s`` placeholders filled."""
        text = _lookup(self.lang, message_id)
        try:
            return text % {k: self.arg(v) for k, v in params.items()}
        except (KeyError, ValueError, TypeError) as exc:
            if _STRICT[0]:
                raise MissingMessage(f"{self.lang} text of {message_id!r} does not fit its "
                                     f"parameters {sorted(params)}: {exc}") from None
            return f"{message_id} {params}"

    def text(self, message: Message | str | Mapping[str, Any] | None) -> str:
        """A message (or a stored one: its text, or its data inside a JSON document) in this
        language; a person's words as written."""
        if type(message) is not Message:
            if message is None:
                return ""
            if isinstance(message, str):
                message = decode(message)
            elif not isinstance(message, Message):
                message = from_data(message)
        if message.is_text:
            return str(message.params.get("text", ""))
        return self(message.id, **message.params)

    def word(self, prefix: str, value: str | None) -> str:
        """The word for a recorded value (a state, a kind): ``prefix.value``; "—" for
        none."""
        if value is None or value == "":
            return "—"
        message_id = f"{prefix}.{value}"
        if not _known(self.lang, message_id):  # a value no catalog names (stored by an
            return str(value)                   # older version, or by hand): as recorded
        return self(message_id)

    def arg(self, value: Any) -> str:
        if isinstance(value, Message):
            return self.text(value)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, Units):
            return self.units(value.units, value.asset, value.decimals)
        if isinstance(value, Yen):
            return self.yen(value.value)
        if isinstance(value, Percent):
            return percent(value.value, value.places)
        if isinstance(value, Time):
            return self.when(value.at, ms=True)
        if isinstance(value, datetime):
            return self.when(value)
        if isinstance(value, Decimal):
            return f"{value:f}"
        return str(value).translate(CONTROL_ESCAPES)

    def join(self, items: Iterable[str]) -> str:
        """A list in a sentence: 「A、B」 in Japanese, "A, B" in English."""
        return ("、" if self.lang == "ja" else ", ").join(items)

    # ------------------------------------------------------------------ numbers and times

    @staticmethod
    def number(value: int | None) -> str:
        return "—" if value is None else f"{value:,}"

    @staticmethod
    def units(units: int | None, asset: str | None, decimals: int, *,
              symbol: bool = True) -> str:
        """Minor units in whole units, exact, grouped by thousands (``1,234.5 XEM``)."""
        if units is None or asset is None:
            return "—"
        text = format_units(units, Asset(asset, "x", decimals), group=True)
        return f"{text} {asset}" if symbol else text

    @staticmethod
    def yen(value: int | None) -> str:
        return "—" if value is None else f"¥{value:,}"

    @staticmethod
    def percent(value: Decimal | None, places: int = 2) -> str:
        return percent(value, places)

    def date(self, at: datetime) -> str:
        """A date as a letter carries it: 2026年12月5日, or 5 December 2026."""
        local = in_zone(at, self.zone)
        if self.lang == "ja":
            return f"{local.year}年{local.month}月{local.day}日"
        return f"{local.day} {_MONTHS[local.month - 1]} {local.year}"

    def when(self, at: datetime | None, *, ms: bool = False, zone: bool = True) -> str:
        """A time in this reader's zone (with milliseconds for timelines)."""
        if at is None:
            return "—"
        local = in_zone(at, self.zone)
        text = local.strftime("%Y-%m-%d %H:%M:%S")
        if ms:
            text += f".{local.microsecond // 1000:03d}"
        if zone:
            name = local.tzname() or ""
            text += f" {name}" if name else ""
        return text


def environment(loader: BaseLoader | None, lang: str, *, autoescape: bool = True
                ) -> Environment:
    """A Jinja2 environment for one language with the i18n extension installed: templates
    write ``{{ _("id", name=value) }}``; ``L`` (a :class:`Localizer`) is a global."""
    env = Environment(loader=loader, extensions=["jinja2.ext.i18n"],
                      autoescape=select_autoescape(default=autoescape,
                                                   default_for_string=autoescape),
                      undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    localizer = Localizer(lang)

    def lookup(message_id: str) -> str:
        return _lookup(localizer.lang, message_id)

    def nlookup(singular: str, plural: str, n: int) -> str:
        return lookup(singular if n == 1 else plural)

    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lookup, ngettext=nlookup, newstyle=True)
    env.globals["L"] = localizer
    env.globals["lang"] = localizer.lang
    return env


ENGLISH = Localizer("en")  # for logs, webhooks and the API's plain-text fields
