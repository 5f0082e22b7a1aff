"""Documents from outside (JSON, TOML, YAML) read within bounds, before any parser sees them.

Whatever a user hands kinko (a request body, ``kinko ledger post --json``, a policy or
settings file, a TagPack, a proof file) is measured first: its size in bytes, then how deep
its brackets nest, by a linear scan that skips strings and comments and never recurses.
Only then does the parser run. Parsers recurse once per nesting level, and py-evm (loaded
with the in-process chain) raises Python's recursion limit to 100,000: a JSON body of
80,000 nested brackets then overflows the C stack and the process dies of a segmentation
fault instead of raising an error. PyYAML's scanner also slows with the square of the depth
(80,000 levels took minutes). Within the bounds every problem is a
:class:`~kinko.errors.BadInput` naming the place (``name:line:column``); the limits are
:class:`~kinko.errors.TooLarge` (HTTP 413) and :class:`~kinko.errors.TooDeep` (HTTP 422)::

    >>> loads_json('{"amount": "1.5", "legs": [1, 2]}', "entry.json")
    {'amount': '1.5', 'legs': [1, 2]}
    >>> loads_json("[" * 80_000 + "]" * 80_000, "body")
    Traceback (most recent call last):
    ...
    kinko.errors.TooDeep: body:1:65: nested more than 64 levels deep

JSON numbers with a fraction or an exponent become :class:`~decimal.Decimal`, never float,
and ``NaN``/``Infinity`` are refused. YAML's events are counted as they come, before anything
is composed (PyYAML's pure-Python loader in the same pass, libyaml's in a first pass of
events: its composer recurses in C); anchors and aliases may be used, but what they expand
to is counted too. Domain code uses the text
functions; :func:`read_bounded` and :func:`read_text` read a file within a size limit.

A file named by a user is opened by :func:`open_input`, which reads regular files only: a
FIFO would make the command wait forever for a writer, and a device (``/dev/zero``) never
ends. A file read a line at a time (CSV, JSON lines) is read through :func:`bounded_lines`,
which refuses a line longer than :data:`MAX_LINE_CHARS` instead of holding it whole.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import stat
import sys
import tomllib
from collections.abc import Collection, Iterator, Sequence
from decimal import Decimal
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import yaml

from kinko.domain.messages import Message, msg, os_refusal
from kinko.errors import BadInput, InputFileError, TooDeep, TooLarge

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_LINE_CHARS",
    "MAX_LIST_BYTES",
    "KeyTwice",
    "bounded_lines",
    "check_json_depth",
    "check_json_keys",
    "check_size",
    "check_tree",
    "check_yaml",
    "check_yaml_keys",
    "column_twice",
    "decode_json_bytes",
    "decode_text",
    "first_bad_utf8",
    "loads_json",
    "loads_toml",
    "loads_yaml",
    "number_problem",
    "open_input",
    "open_text",
    "read_bounded",
    "read_stream",
    "read_text",
    "unique_object",
    "whole_number",
]

MAX_DEPTH = 64  # no document kinko reads nests deeper than a handful of levels
MAX_DOCUMENT_BYTES = 16 * 2**20  # JSON and TOML documents: entries, policies, proofs
MAX_LIST_BYTES = 256 * 2**20  # YAML lists of addresses (TagPacks), which can be long
MAX_LINE_CHARS = 16 * 2**20  # one line of a CSV or JSON-lines file (a UTXO transaction)

_BRACKETS = re.compile(r"[\[\]{}]")
_NOT_BRACKET_BYTES = bytes(b for b in range(256) if b not in b"[]{}")  # UTF-8 keeps them
_DELTA_BYTES = [{ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}.get(b, 0)
                for b in range(256)]
_CHUNK = 4096
# what hides brackets from the count: strings (and TOML's comments); a quote that opens a
# string never closed ends the scan, since the rest of the text is that string
_JSON_SKIP = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|(?P<open>")', re.DOTALL)
# a whole string, or one left open with the rest of the text (which the parser refuses): a
# string never fails to match once its quote is found, so it is not searched for again
# from each quote inside it (escaped quotes left open: 64 KB took 6 s)
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_TOML_SKIP = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*+"""'
    r"|'''[\s\S]*?'''"
    r'|"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"'
    r"|'[^'\n]*+'"
    r"|#[^\n]*+"
    r"|(?P<open>[\"'])", re.DOTALL)


def _size_text(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 and n % 2**20 == 0 else f"{n:,} bytes"


def _cannot_read(path: Path | str, exc: OSError) -> Message:
    """A file the system would not open or read, as a catalog message."""
    return msg("error.file.cannot_read", file=str(path)[:200], reason=os_refusal(exc))


def _size_said(n: int) -> Message | str:
    return f"{n // 2**20} MiB" if n >= 2**20 and n % 2**20 == 0 else msg("error.file.bytes",
                                                                         count=n)


def check_size(size: int, where: str, max_bytes: int) -> None:
    """Refuse ``size`` bytes above ``max_bytes`` (TooLarge, HTTP 413)."""
    if size > max_bytes:
        raise TooLarge(f"{where}: larger than {_size_text(max_bytes)}, the most kinko reads",
                       limit=max_bytes, says=msg("error.file.too_large", file=where[:200],
                                                 size=_size_said(max_bytes)))


def _place(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def _too_deep(where: str, place: str, max_depth: int) -> TooDeep:
    return TooDeep(f"{where}:{place}: nested more than {max_depth} levels deep",
                   limit=max_depth, says=msg("error.file.too_deep",
                                             where=f"{where[:200]}:{place}", depth=max_depth))


def _peak(outside: str, max_depth: int) -> bool:
    """Whether the brackets of ``outside`` (text with strings and comments taken out) nest
    deeper than ``max_depth``: the running depth summed in C a chunk at a time, so a
    megabyte of brackets costs tens of milliseconds and a deep one stops in the first chunk.
    Below zero (a closing bracket too many) the parser stops anyway: no floor is needed."""
    brackets = outside.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKET_BYTES)
    depth = 0
    for i in range(0, len(brackets), _CHUNK):
        sums = list(accumulate(map(_DELTA_BYTES.__getitem__, brackets[i:i + _CHUNK]),
                               initial=depth))
        if max(sums) > max_depth:
            return True
        depth = sums[-1]
    return False


def _outside(text: str, skip: re.Pattern[str]) -> list[tuple[int, int]]:
    """The spans of ``text`` outside its strings and comments (``skip`` finds them; its
    group ``open`` a string that never closes, after which nothing is outside)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in skip.finditer(text):
        spans.append((pos, m.start()))
        if m.group("open") is not None:
            return spans  # a string that never closes: no bracket after it nests anything
        pos = m.end()
    spans.append((pos, len(text)))
    return spans


def _scan(text: str, skip: re.Pattern[str], where: str, max_depth: int) -> None:
    """Raise TooDeep where the brackets outside strings and comments first nest deeper
    than ``max_depth``. Linear: each character is looked at a bounded number of times."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # the common case: too few brackets to nest that deep at all
    spans = _outside(text, skip)
    if not _peak("".join(text[a:b] for a, b in spans), max_depth):
        return
    depth = 0  # too deep: walk again, bracket by bracket, to say where
    for a, b in spans:
        for m in _BRACKETS.finditer(text, a, b):
            depth += 1 if m.group() in "[{" else -1
            if depth > max_depth:
                raise _too_deep(where, _place(text, m.start()), max_depth)


def check_json_depth(text: str, where: str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse JSON text whose arrays and objects nest deeper than ``max_depth`` (exact for
    valid JSON; for invalid JSON, exact up to the first error, where any parser stops).
    The strings are taken out in one pass in C (a node's block of thousands of strings
    costs no loop per string); text after a string that never closes is a string too."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    if not _peak(_JSON_STRING.sub("", text), max_depth):
        return
    _scan(text, _JSON_SKIP, where, max_depth)  # too deep: where, exactly


def decode_json_bytes(data: bytes, where: str) -> str:
    """JSON bytes as text, decoded exactly as :func:`json.loads` would decode them (UTF-8,
    or UTF-16/32 recognised by their zero bytes), so a check of the text is a check of
    what the parser reads."""
    encoding = json.detect_encoding(data)
    try:
        return data.decode(encoding, "surrogatepass")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{where}: not {encoding.upper()} text (byte {exc.start})",
                       says=msg("error.file.not_text", where=where[:200],
                                encoding=encoding.upper()[:40], byte=exc.start)) from None


def decode_text(data: bytes, where: str) -> str:
    """UTF-8 text (a byte-order mark is dropped); invalid bytes are refused by position."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputFileError(f"{where}:{line}: not UTF-8 text (byte {exc.start})",
                             file=where, says=msg("error.file.not_text",
                                                  where=f"{where[:200]}:{line}",
                                                  encoding="UTF-8", byte=exc.start)) from None


def first_bad_utf8(path: Path, most: int = 1 << 30) -> tuple[int, int] | None:
    """Where a file stops being UTF-8 text: the line and the byte (from 0) of its first
    invalid byte, within its first ``most`` bytes; None when none is found there. A text
    reader's error says where in its buffer, not where in the file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    read = lines = 0
    with path.open("rb") as fh:
        while read < most and (chunk := fh.read(1 << 20)):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                held = len(exc.object) - len(chunk)  # the last chunk's unfinished character
                return lines + chunk[:max(0, exc.start - held)].count(b"\n") + 1, \
                    read - held + exc.start
            lines += chunk.count(b"\n")
            read += len(chunk)
        try:
            decoder.decode(b"", final=read < most)  # a character cut short by the end
        except UnicodeDecodeError as exc:
            return lines + 1, read - len(exc.object) + exc.start
    return None


def number_problem(exc: ValueError) -> str:
    """What a ValueError out of :func:`json.loads` (not a syntax error) says, in kinko's
    words: a number too long to convert, or NaN/Infinity."""
    if "digits" in str(exc):
        return f"a number has more than {sys.get_int_max_str_digits():,} digits"
    return str(exc)


def said_number_problem(exc: ValueError) -> Message | str:
    """:func:`number_problem` as a catalog message (a constant's, as Python words it)."""
    if "digits" in str(exc):
        return msg("error.json.long_number", digits=sys.get_int_max_str_digits())
    return str(exc)[:200]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


class KeyTwice(ValueError):
    """A JSON object that names one key twice (raised from inside the parser)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, unless it names a key twice: parsers disagree on which value such an
    object holds (the first, the last, an error), so a proxy or a log that read the other
    would see another document than kinko does."""
    made = dict(pairs)
    if len(made) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise KeyTwice(key)
            seen.add(key)
    return made


def _key_twice(where: str, key: str, error: type[BadInput] = BadInput) -> BadInput:
    shown = key if len(key) <= 60 else key[:57] + "..."
    return error(f"{where}: the key {shown!r} is given twice in one object (JSON readers "
                 "disagree on which value it holds)",
                 says=msg("error.json_key_twice", where=where, key=repr(shown)))


def check_json_keys(text: str, where: str) -> None:
    """Refuse JSON text with an object that names a key twice (see ``unique_object``), or
    a number of more digits than Python converts (a parser's words for it name neither the
    number nor where: "There was an error parsing the body"); text that is not JSON at all
    is left to its parser to refuse in its own words."""
    try:
        json.loads(text, object_pairs_hook=unique_object)
    except KeyTwice as exc:
        raise _key_twice(where, exc.key) from None
    except (json.JSONDecodeError, RecursionError):
        pass
    except ValueError as exc:  # an integer of more digits than Python converts
        raise BadInput(f"{where}: not valid JSON: {number_problem(exc)}",
                       says=msg("error.file.not_json", where=where[:200],
                                reason=said_number_problem(exc))) from None


def loads_json(data: str | bytes, where: str, *, max_bytes: int = MAX_DOCUMENT_BYTES,
               max_depth: int = MAX_DEPTH, error: type[BadInput] = BadInput,
               floats: bool = False) -> Any:
    """Parse JSON from outside: size, then depth, then the parser. Fractions become
    Decimal (float with ``floats``, for drawing coordinates, never money); NaN and Infinity
    are refused, as is an object that names a key twice; a syntax error names line and
    column."""
    check_size(len(data), where, max_bytes)
    text = decode_json_bytes(data, where) if isinstance(data, bytes) else data
    check_json_depth(text, where, max_depth)
    try:
        return json.loads(text, parse_float=float if floats else Decimal,
                          parse_constant=_no_constant, object_pairs_hook=unique_object)
    except KeyTwice as exc:
        raise _key_twice(where, exc.key, error) from None
    except json.JSONDecodeError as exc:
        if text.startswith("\ufeff"):  # Python's words would say "decode using utf-8-sig"
            raise error(f"{where}:1:1: not valid JSON: the text begins with a byte-order mark "
                        "(BOM); save it as UTF-8 without one",
                        says=msg("error.file.json_bom", where=where[:200])) from None
        raise error(f"{where}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}",
                    says=msg("error.file.not_json", where=f"{where[:200]}:{exc.lineno}:"
                             f"{exc.colno}", reason=exc.msg[:200])) from None
    except ValueError as exc:  # an integer of more digits than Python converts, NaN
        raise error(f"{where}: not valid JSON: {number_problem(exc)}",
                    says=msg("error.file.not_json", where=where[:200],
                             reason=said_number_problem(exc))) from None
    except RecursionError:  # unreachable after the scan; kept as a second wall
        raise _too_deep(where, "1:1", max_depth) from None


def _walk(value: Any, where: str, max_depth: int, max_nodes: int) -> None:
    """Bound what a parsed document holds, without recursion: depth, and nodes counted
    as often as they are reached (YAML aliases make one node reachable many times)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise TooLarge(f"{where}: holds more than {max_nodes:,} values once its aliases "
                           "are expanded", limit=max_nodes,
                           says=msg("error.file.too_many_values", file=where[:200],
                                    count=max_nodes))
        if isinstance(item, dict):
            children: Any = [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set):
            children = item
        else:
            continue
        if children and depth >= max_depth:
            raise TooDeep(f"{where}: nested more than {max_depth} levels deep",
                          limit=max_depth, says=msg("error.file.too_deep", where=where[:200],
                                                    depth=max_depth))
        stack.extend((child, depth + 1) for child in children)


@cache
def _dotted_keys(parts: int) -> re.Pattern[str]:
    """A dotted key of more than ``parts`` parts (its quoted parts taken out with the
    strings: ``"a"."b"`` is ``.``), from its first part (a part's middle is no start)."""
    return re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]*+"
                      rf"(?:[ \t]*+\.[ \t]*+[A-Za-z0-9_-]*+){{{parts},}}")


def _dotted(text: str, where: str, max_depth: int) -> None:
    """Refuse a dotted key (``a.b.c = 1``, ``[a.b.c]``) of more parts than ``max_depth``
    before the parser reads it: it nests a table for each part, and Python's parser keeps
    every prefix of the key (30,000 parts: 8 s and 3.6 GB before it was refused)."""
    if text.count(".") < max_depth:
        return
    # the text outside strings and comments, each string (or comment) written as one
    # key character: ``"a"."b"`` is a dotted key as ``s.s`` is
    pieces: list[str] = []
    starts: list[tuple[int, int]] = []  # (where a span starts in the pieces, in the text)
    length = 0
    for a, b in _outside(text, _TOML_SKIP):
        starts.append((length, a))
        pieces.append(text[a:b] + "s")
        length += b - a + 1
    found = _dotted_keys(max_depth).search("".join(pieces))
    if found is not None:
        at, origin = next((at, origin) for at, origin in reversed(starts)
                          if at <= found.start())
        raise _too_deep(where, _place(text, origin + found.start() - at), max_depth)


def loads_toml(text: str, where: str, *, max_bytes: int = MAX_DOCUMENT_BYTES,
               max_depth: int = MAX_DEPTH, error: type[BadInput] = InputFileError
               ) -> dict[str, Any]:
    """Parse TOML from outside: size, bracket depth, the parser, then the depth of what it
    built (dotted keys ``a.b.c...`` nest tables without brackets)."""
    check_size(len(text), where, max_bytes)
    _scan(text, _TOML_SKIP, where, max_depth)
    _dotted(text, where, max_depth)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where}: not valid TOML: {exc}",
                    says=msg("error.file.not_toml", where=where[:200],
                             reason=str(exc)[:200])) from None
    except RecursionError:
        raise _too_deep(where, "1:1", max_depth) from None
    _walk(data, where, max_depth, len(text) + 1)
    return data


@cache
def _bounded_loader(loader: Any, max_depth: int) -> Any:
    """``loader`` counting its events as the composer takes them: deeper than
    ``max_depth`` is refused before the composer recurses into it."""
    starts = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
    ends = (yaml.SequenceEndEvent, yaml.MappingEndEvent)

    class Bounded(loader):  # type: ignore[misc]
        kinko_where = "document"

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.kinko_depth = 0
            self.kinko_events = 0

        def get_event(self) -> Any:
            event = super().get_event()
            self.kinko_events += 1
            if isinstance(event, starts):
                self.kinko_depth += 1
                if self.kinko_depth > max_depth:
                    mark = event.start_mark
                    raise _too_deep(self.kinko_where, f"{mark.line + 1}:{mark.column + 1}",
                                    max_depth)
            elif isinstance(event, ends):
                self.kinko_depth -= 1
            return event

    return Bounded


def _yaml_loader(loader: Any) -> bool:
    """Whether ``loader`` is a safe loader; True for PyYAML's pure-Python one (or a subclass),
    False for libyaml's (``CSafeLoader``), whose composer recurses in C."""
    c_safe = getattr(yaml, "CSafeLoader", None)
    if isinstance(loader, type) and issubclass(loader, yaml.SafeLoader):
        return True
    if isinstance(loader, type) and c_safe is not None and issubclass(loader, c_safe):
        return False
    raise TypeError("only yaml.SafeLoader, yaml.CSafeLoader or subclasses read YAML here")


def _yaml_error(exc: yaml.YAMLError, where: str, error: type[BadInput],
                max_depth: int = MAX_DEPTH, text: str | None = None) -> BadInput:
    if isinstance(exc, yaml.reader.ReaderError) and text is not None:
        # a character YAML does not allow (NUL, a control character): PyYAML names it by its
        # position in the text, on a second line, "in <unicode string>"; kinko by its line
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else 0xFFFD  # (text: a code)
        reason = f"unacceptable character #x{char:04x}: {exc.reason}"
        return error(f"{where}:{line}: not valid YAML: {reason}",
                     says=msg("error.file.not_yaml", where=f"{where[:200]}:{line}",
                              reason=reason[:200]))
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        if "maximum nesting depth" in str(exc.problem):  # libyaml's scanner, reading ahead
            return _too_deep(where, f"{line}:{mark.column + 1 if mark else 1}", max_depth)
        reason = str(exc.problem or exc.context)
        return error(f"{where}:{line}: not valid YAML: {reason}",
                     says=msg("error.file.not_yaml", where=f"{where[:200]}:{line}",
                              reason=reason[:200]))
    return error(f"{where}: not valid YAML: {exc}",
                 says=msg("error.file.not_yaml", where=where[:200], reason=str(exc)[:200]))


def check_yaml(text: str, where: str, *, loader: Any = yaml.SafeLoader,
               max_bytes: int = MAX_LIST_BYTES, max_depth: int = MAX_DEPTH,
               error: type[BadInput] = InputFileError) -> int:
    """Measure YAML before composing it: size, then the depth of its collections as the
    parser's events arrive (nothing is built; the parse stops at the first level too deep).
    Returns the number of events, the bound for :func:`check_tree` once it is built."""
    _yaml_loader(loader)
    check_size(len(text), where, max_bytes)
    depth = events = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            events += 1
            if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                depth += 1
                if depth > max_depth:
                    mark = event.start_mark
                    raise _too_deep(where, f"{mark.line + 1}:{mark.column + 1}", max_depth)
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, where, error, max_depth, text) from None
    return events


_MERGE = "tag:yaml.org,2002:merge"


def check_yaml_keys(node: Any, where: str, error: type[BadInput] = InputFileError) -> None:
    """Refuse a composed YAML document with a mapping that names one key twice: PyYAML keeps
    the last value without a word, where another reader (or a reviewer reading from the
    top) takes the first, or refuses the file. Only keys written in the mapping itself
    count: what a merge (``<<: *base``) brings in may be overridden, as YAML means it.
    Each node is visited once, however many aliases reach it."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, yaml.MappingNode):
            keys: dict[tuple[str, str], int] = {}  # each key, with its line
            for key, value in item.value:
                stack.append(value)
                if not isinstance(key, yaml.ScalarNode):
                    stack.append(key)
                elif key.tag != _MERGE:
                    line = key.start_mark.line + 1
                    if (key.tag, key.value) in keys:
                        raise _yaml_key_twice(where, key.value, keys[key.tag, key.value],
                                              line, error)
                    keys[key.tag, key.value] = line
        elif isinstance(item, yaml.SequenceNode):
            stack.extend(item.value)


def _yaml_key_twice(where: str, key: str, first: int, line: int,
                    error: type[BadInput]) -> BadInput:
    shown = key if len(key) <= 60 else key[:57] + "..."
    return error(f"{where}:{line}: the key {shown!r} is given again in one mapping (first on "
                 f"line {first}; YAML readers disagree on which value it holds)",
                 says=msg("error.yaml_key_twice", where=f"{where}:{line}", key=repr(shown),
                          first=first))


def check_tree(value: Any, where: str, *, max_nodes: int,
               max_depth: int = MAX_DEPTH) -> None:
    """Bound what a parsed document holds: its depth, and its values counted as often as
    they are reached (YAML aliases make one value reachable many times; a list that holds
    itself is too deep)."""
    _walk(value, where, max_depth, max_nodes)


def loads_yaml(text: str, where: str, *, loader: Any = yaml.SafeLoader,
               max_bytes: int = MAX_LIST_BYTES, max_depth: int = MAX_DEPTH,
               error: type[BadInput] = InputFileError) -> Any:
    """Parse YAML from outside with a safe ``loader``: size, then depth as the events arrive
    (in the same pass for PyYAML's loader, in a first pass of events for libyaml's), then
    what anchors and aliases expand to."""
    if _yaml_loader(loader):
        check_size(len(text), where, max_bytes)
        try:  # the pure-Python reader checks every character as it is made
            reader = _bounded_loader(loader, max_depth)(text)
        except yaml.YAMLError as exc:
            raise _yaml_error(exc, where, error, text=text) from None
        reader.kinko_where = where
        try:
            node = reader.get_single_node()
            check_yaml_keys(node, where, error)
            data = reader.construct_document(node) if node is not None else None
        except yaml.YAMLError as exc:
            raise _yaml_error(exc, where, error, text=text) from None
        except RecursionError:
            raise _too_deep(where, "1:1", max_depth) from None
        finally:
            reader.dispose()
        events = reader.kinko_events
    else:
        events = check_yaml(text, where, loader=loader, max_bytes=max_bytes,
                            max_depth=max_depth, error=error)
        reader = loader(text)
        try:
            node = reader.get_single_node()
            check_yaml_keys(node, where, error)
            data = reader.construct_document(node) if node is not None else None
        except yaml.YAMLError as exc:
            raise _yaml_error(exc, where, error, text=text) from None
        finally:
            reader.dispose()
    check_tree(data, where, max_nodes=2 * events + 1000, max_depth=max_depth)
    return data


def read_stream(stream: BinaryIO, where: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """At most ``max_bytes`` from an open binary stream (stdin, say); more is refused."""
    data = stream.read(max_bytes + 1)
    check_size(len(data), where, max_bytes)
    return data


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in a word."""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((word for test, word in kinds if test(mode)), "not a regular file")


def open_input(path: Path, error: type[BadInput] = InputFileError, *, pipes: bool = True
               ) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file or a pipe (following symbolic
    links: ``<(zcat customers.csv.gz)`` is read as it is written). It is opened without
    waiting, so a FIFO that no writer holds open reads as empty at once rather than waiting
    for one forever; a device (``/dev/zero``, ``/dev/urandom``: they never end), a directory
    or a socket is refused by name (a pipe too, with ``pipes=False``: for a file read from
    its end); a file that cannot be opened is ``error`` with the system's reason."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}", file=str(path),
                    says=_cannot_read(path, exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or (pipes and stat.S_ISFIFO(mode))):
            raise error(f"{path}: cannot read: {_kind(mode)}, not a regular file",
                        file=str(path),
                        says=msg("error.not_a_regular_file", file=str(path)))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_text(path: Path, error: type[BadInput] = InputFileError) -> TextIO:
    """A regular file (see :func:`open_input`) as UTF-8 text for :mod:`csv` or line by line:
    a byte-order mark dropped, line ends left as they are (``newline=""``)."""
    return io.TextIOWrapper(open_input(path, error), encoding="utf-8-sig", newline="")


def bounded_lines(fh: TextIO, where: str, max_chars: int = MAX_LINE_CHARS,
                  error: type[BadInput] = InputFileError) -> Iterator[str]:
    """The lines of ``fh``, each read within ``max_chars``: a longer line (a file with no
    line ends at all, say) is refused by its number instead of being held whole."""
    line = 0
    while text := fh.readline(max_chars + 1):
        line += 1
        if len(text) > max_chars:
            raise error(f"{where}:{line}: a line longer than {max_chars:,} characters, the "
                        "longest kinko reads", file=where, line=line,
                        says=msg("error.file.line_too_long", where=f"{where[:200]}:{line}",
                                 most=max_chars))
        yield text


def read_bounded(path: Path, max_bytes: int = MAX_DOCUMENT_BYTES,
                 error: type[BadInput] = InputFileError) -> bytes:
    """A regular file's bytes (see :func:`open_input`), refused (TooLarge) beyond
    ``max_bytes`` without reading the rest."""
    with open_input(path, error) as fh:
        try:
            return read_stream(fh, str(path), max_bytes)
        except OSError as exc:
            raise error(f"{path}: cannot read: {exc.strerror or exc}",
                        file=str(path), says=_cannot_read(path, exc)) from None


def read_text(path: Path, max_bytes: int = MAX_DOCUMENT_BYTES,
              error: type[BadInput] = InputFileError) -> str:
    """A UTF-8 file's text within ``max_bytes`` (see :func:`read_bounded`)."""
    return decode_text(read_bounded(path, max_bytes, error), str(path))


def column_twice(columns: Sequence[str], read: Collection[str] | None = None
                 ) -> tuple[str, int, int] | None:
    """The first column of a header (of those in ``read``, or any) that it names twice,
    with its two positions (from 1): which of the two holds the value would be a guess."""
    seen: dict[str, int] = {}
    for i, column in enumerate(columns, start=1):
        if (read is None or column in read) and seen.setdefault(column, i) != i:
            return column, seen[column], i
    return None


def whole_number(text: str | None, *, digits: int = 18) -> int | None:
    """``text`` (stripped) as a whole number, or None if it is none: ASCII digits only, at
    most ``digits`` of them (a block, a count or a sequence number; SQLite's integers hold
    18). ``str.isdigit`` is true of ``²`` and of 5,000 digits, which ``int`` refuses (a
    ``ValueError``: a 500 or a traceback where the input was merely wrong)."""
    text = text.strip() if text else ""
    if not text or not text.isascii() or not text.isdigit() or len(text) > digits:
        return None
    return int(text)
