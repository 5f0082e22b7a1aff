"""The ``Range`` header of a file the app serves (a trace's file, a report, a static file),
as HTTP says (RFC 9110 §14), not as the framework's own parser answers it.

* A range of a unit other than ``bytes`` (``Range: items=0-5``) is ignored: the whole file,
  200 (§14.2: a server MUST ignore a Range of a unit it does not understand). Starlette
  answered a plain-text 400.
* A ``bytes`` range set that is not valid (``bytes=abc``, ``bytes=5-1``, ``bytes=``, a sign
  or a space inside a number, more than :data:`MAX_RANGES` ranges) is ignored too: the
  whole file (§14.2: a server MAY ignore an invalid Range). So is any Range of an empty file.
* A valid set of which the file holds no byte (``bytes=500-`` of a 100-byte file,
  ``bytes=-0``) is :class:`~kinko.errors.RangeNotSatisfiable`: 416 with
  ``Content-Range: bytes */100``, in kinko's own error body (a page on the dashboard).
* Otherwise the ranges the file holds, coalesced, are served (206) by the framework from a
  ``Range`` rewritten to their plain form (``bytes=0-4,10-19``).

``If-Range`` is honoured first, as before: a validator that does not match the file's
strong ``ETag`` or ``Last-Modified`` asks for the whole file, whatever the Range says.
``If-None-Match`` naming the file's ``ETag`` (or ``*``) is answered 304, no body (a browser
revalidating a download it keeps), before any Range is read.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Receive, Scope, Send

from kinko.domain.messages import msg
from kinko.errors import RangeNotSatisfiable

__all__ = ["MAX_RANGES", "Download", "Static", "byte_ranges"]

MAX_RANGES = 100  # ranges in one header; more is ignored (the whole file), as Starlette did
_SPEC = re.compile(r"([0-9]*)-([0-9]*)")  # int-range or suffix-range, ASCII digits only
_BEYOND = 1 << 63  # a position of more digits than any file's length has


def _position(digits: str) -> int:
    """The number ``digits`` writes, or :data:`_BEYOND` when it has too many digits to be
    any file's position (int() of thousands of digits is slow, and refused past 4300)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < 19 else _BEYOND


def _before(last: str, first: str) -> bool:
    """Whether the number ``last`` writes is less than ``first``'s, exactly, at any length."""
    a, b = last.lstrip("0"), first.lstrip("0")
    return (len(a), a) < (len(b), b)


def byte_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The ``[start, end)`` byte ranges a ``Range`` header asks of a ``size``-byte file,
    sorted and coalesced; None when the header is to be ignored (another unit, an invalid
    set, an empty file). Raises RangeNotSatisfiable for a valid set of which the file
    holds no byte."""
    unit, equals, ranges = header.partition("=")
    if not equals or unit.lower() != "bytes" or size == 0:
        return None
    specs = [spec.strip(" \t") for spec in ranges.split(",")]
    specs = [spec for spec in specs if spec]  # empty list elements are allowed, and ignored
    if not specs or len(specs) > MAX_RANGES:
        return None
    wanted: list[tuple[int, int]] = []
    for spec in specs:
        match = _SPEC.fullmatch(spec)
        if match is None:
            return None
        first, last = match.groups()
        if not first:  # suffix-range: the last N bytes
            if not last:
                return None
            length = _position(last)
            if length > 0:
                wanted.append((max(size - length, 0), size))
        elif last and _before(last, first):
            return None  # bytes=5-1: invalid (§14.1.1), so the whole header is
        elif (start := _position(first)) < size:
            wanted.append((start, min(_position(last) + 1, size) if last else size))
    if not wanted:
        raise RangeNotSatisfiable(
            f"no byte of the requested range {header[:80]!r} lies in the file "
            f"({size} bytes)", size, says=msg("error.download.range_unsatisfiable",
                                              range=header[:80], size=str(size)))
    wanted.sort()
    merged = [wanted[0]]
    for start, end in wanted[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class Download(FileResponse):
    """A FileResponse whose ``Range`` is read as :func:`byte_ranges` reads it; every file
    the app serves is one."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        wanted = headers.get("range")
        asked = scope["type"] == "http" and self.status_code == 200 \
            and scope["method"].upper() in ("GET", "HEAD")
        # a file not there or not a file: the framework says so as it did
        if asked and (wanted is not None or "if-none-match" in headers) \
                and self.stat_result is None:
            with contextlib.suppress(OSError):
                found = await anyio.to_thread.run_sync(os.stat, self.path)
                if stat.S_ISREG(found.st_mode):
                    self.stat_result = found
                    self.set_stat_headers(found)
        if asked and self.stat_result is not None and self._unchanged(headers):
            await NotModifiedResponse(self.headers)(scope, receive, send)
            return
        if asked and wanted is not None:
            ranges = None
            if self.stat_result is not None and self._range_wanted(headers):
                ranges = byte_ranges(wanted, self.stat_result.st_size)
            kept = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
            if ranges is not None:
                plain = ",".join(f"{start}-{end - 1}" for start, end in ranges)
                kept.append((b"range", f"bytes={plain}".encode("latin-1")))
            scope = {**scope, "headers": kept}
        await super().__call__(scope, receive, send)

    def _unchanged(self, headers: Headers) -> bool:
        """``If-None-Match`` names this file's ETag (weakly compared, or ``*``): a 304, as
        RFC 9110 §13.1.2 asks of a GET or HEAD (a browser revalidating a download)."""
        condition, etag = headers.get("if-none-match"), self.headers.get("etag")
        if condition is None or etag is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in condition.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags

    def _range_wanted(self, headers: Headers) -> bool:
        """Whether the Range applies: no ``If-Range``, or one naming this very file (its
        strong ETag or its Last-Modified date)."""
        validator = headers.get("if-range")
        return validator is None or (not validator.startswith("W/") and validator in (
            self.headers.get("etag"), self.headers.get("last-modified")))


class Static(StaticFiles):
    """The dashboard's static files, each a :class:`Download`."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = Download(full_path, status_code=status_code, stat_result=stat_result)
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)  # as StaticFiles answers it
        return response
