"""Files written whole or not at all.

:func:`write_atomic` writes to a new file of the target's folder (a name nothing there
held before, so never through a symbolic link planted in the folder), flushes it to disk,
then renames it over the target: a reader sees the old file or the new one, never a part,
and a crash leaves at most a hidden temporary file behind. :func:`replacing` does the same
for a file written a piece at a time (a journal's export, a Parquet file).

A target that is there and is not a regular file (a device such as ``/dev/full``, a FIFO,
a socket; or a link to one) is refused: renaming over it would replace the device node
itself (for root) instead of writing to it, and a file whole is not what such a target
takes. A path without a file name (``""``, ``/``) is refused too.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kinko.domain.messages import msg
from kinko.errors import BadInput

__all__ = ["replacing", "write_atomic"]


def _replaceable(path: Path) -> None:
    """Refuse a target a file cannot be renamed over (see the module's docstring)."""
    if path.name in ("", ".", ".."):
        raise BadInput(f"{str(path)!r} names no file to write", says=msg(
            "error.file.out_no_name", file=repr(str(path))[:200]))
    try:
        mode = os.stat(path).st_mode
    except OSError:  # not there (or not reachable): the write says what is wrong
        mode = None
    if mode is None:
        return
    if stat.S_ISDIR(mode):  # before anything is written (the rename would refuse it last)
        raise BadInput(f"{path} is a folder: name the file to write", says=msg(
            "error.file.out_is_folder", file=str(path)[:200]))
    if not stat.S_ISREG(mode):
        raise BadInput(f"{path} is not a regular file (a device, a pipe or a socket): kinko "
                       "writes a file whole beside it and renames it into place",
                       says=msg("error.file.out_not_regular", file=str(path)[:200]))


def _beside(path: Path) -> tuple[int, str]:
    """A new hidden file in ``path``'s folder; the system's refusal (no such folder, no
    room) names ``path``, as the command was given it, not the temporary name."""
    try:
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) at once; ``mode``: the
    file's permissions (default: the temporary file's, readable by its owner alone)."""
    _replaceable(path)
    fd, tmp = _beside(path)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A new, empty file beside ``path`` for the block to write (by its name); when the
    block ends without an error it is flushed to disk and renamed over ``path``, else
    removed: ``path`` is the old file or the whole new one, never a part."""
    _replaceable(path)
    fd, tmp = _beside(path)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
