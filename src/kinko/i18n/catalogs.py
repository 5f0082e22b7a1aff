"""The catalogs' upkeep: which message ids the code uses, and whether both catalogs have them.

Ids are extracted with Babel from the Python sources (``msg("id", ...)``, ``N_("id")``,
``_("id")``, ``L("id")``, the command line's ``say("id")`` and the reports' ``f("id")``) and
the Jinja2 templates (``_("id")``); ids chosen at run time (a state's word,
``prefix.value``) are written out with ``N_`` where the values are known, and so is each id
of a conditional (Babel joins ``"a" if x else "b"`` into one string).
Both catalogs must have every id with a text, and the same ``%(name)s`` placeholders, but
one: ``%(detail)s`` of an error's sentence (``error.<code>``) is the error's English words,
which the English catalog shows and another may leave out (:meth:`kinko.errors.KinkoError.
said`)::

    python -m kinko.i18n.catalogs check   # exit 1, naming what is missing or differs
    python -m kinko.i18n.catalogs add     # add new ids to both catalogs, text to fill in
                                          # (make messages)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

from kinko.i18n import DOMAIN, LANGS, locale_dir

__all__ = ["KEYWORDS", "add_missing", "catalog", "placeholders", "problems", "used_ids"]

KEYWORDS = {"msg": None, "N_": None, "_": None, "L": None, "say": None, "gettext": None}
REPORT_KEYWORDS = {**KEYWORDS, "f": None}  # the reports' formatter (kinko.render)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _source_root() -> Path:
    return locale_dir().parent


def used_ids(root: Path | None = None) -> dict[str, list[str]]:
    """Every message id the code names literally, with where (file:line)."""
    from babel.messages.extract import extract_from_file

    root = root or _source_root()
    found: dict[str, list[str]] = {}

    def note(ids: Iterable[tuple[int, object, object, object]], path: Path) -> None:
        for line, message, _comments, _context in ids:
            first = message[0] if isinstance(message, tuple) else message
            if isinstance(first, str) and _looks_like_id(first):
                found.setdefault(first, []).append(f"{path.relative_to(root.parent)}:{line}")

    for path in sorted(root.rglob("*.py")):
        keywords = REPORT_KEYWORDS if path.parent.name == "render" else KEYWORDS
        note(extract_from_file("python", str(path), keywords=keywords), path)
    for path in sorted(root.rglob("*.j2")):
        note(extract_from_file("jinja2.ext:babel_extract", str(path),
                               keywords={"_": None, "gettext": None},
                               options={"extensions": "jinja2.ext.i18n",
                                        "trim_blocks": "true", "lstrip_blocks": "true"}),
             path)
    return found


def _looks_like_id(text: str) -> bool:
    """Catalog ids are dotted lower-case names (``ov.liabilities``); ``_`` is also the
    usual throwaway name, so anything else passed to it is not one."""
    return re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_-]+)*", text) is not None


def catalog(lang: str) -> dict[str, str]:
    """A catalog's ids and texts, as written in its ``.po`` file."""
    from babel.messages.pofile import read_po

    with (locale_dir() / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        cat = read_po(fh, locale=lang, domain=DOMAIN)
    return {str(m.id): str(m.string or "") for m in cat if m.id}


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def problems(ids: Iterable[str] | None = None) -> list[str]:
    """What is wrong: an id the code uses that a catalog lacks or leaves empty, an id one
    catalog has and the other not, placeholders that differ between the languages."""
    catalogs = {lang: catalog(lang) for lang in LANGS}
    out = []
    used = used_ids() if ids is None else {i: [] for i in ids}
    for message_id, where in sorted(used.items()):
        for lang in LANGS:
            if not catalogs[lang].get(message_id):
                out.append(f"{message_id}: no {lang} text (used at {', '.join(where[:3])})")
    every = set().union(*(set(c) for c in catalogs.values()))
    for message_id in sorted(every):
        texts = {lang: catalogs[lang].get(message_id) for lang in LANGS}
        missing = [lang for lang, text in texts.items() if not text]
        if missing and message_id not in used:
            out.append(f"{message_id}: no {', '.join(missing)} text")
            continue
        for lang, text in texts.items():
            if text and not _formats(text):
                out.append(f"{message_id}: the {lang} text is no format string (a lone '%' "
                           "is written '%%')")
        shapes = {lang: placeholders(text) for lang, text in texts.items() if text}
        if message_id.startswith("error.") and "detail" in shapes.get("en", set()):
            shapes = {lang: s - {"detail"} for lang, s in shapes.items()}
        if len({frozenset(s) for s in shapes.values()}) > 1:
            out.append(f"{message_id}: placeholders differ: "
                       + "; ".join(f"{lang} {sorted(s)}" for lang, s in shapes.items()))
    return out


def _formats(text: str) -> bool:
    """Whether ``text % params`` works for its own placeholders (a stray ``%`` does not)."""
    try:
        text % {name: "" for name in placeholders(text)}
    except (ValueError, TypeError, KeyError):
        return False
    return True


def add_missing() -> dict[str, list[str]]:
    """Add every id the code uses and a catalog lacks, with an empty text to fill in."""
    from babel.messages.pofile import read_po, write_po

    used = used_ids()
    added: dict[str, list[str]] = {}
    for lang in LANGS:
        path = locale_dir() / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        with path.open("rb") as fh:
            cat = read_po(fh, locale=lang, domain=DOMAIN)
        for message_id, where in sorted(used.items()):
            if message_id not in cat:
                cat.add(message_id, "", locations=[(w.rsplit(":", 1)[0], int(w.rsplit(":", 1)[1]))
                                                   for w in where[:1]])
                added.setdefault(lang, []).append(message_id)
        with path.open("wb") as fh:
            write_po(fh, cat, width=100, sort_output=False, omit_header=False)
    return added


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "add":
        for lang, ids in add_missing().items():
            print(f"{lang}: added {len(ids)} id(s) to fill in: {', '.join(ids)}")
        return 0
    if command == "check":
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    print("usage: python -m kinko.i18n.catalogs check|add", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
