"""Files written whole or not at all.

:func:`write_atomic` writes to a new file of the target's folder (a name nothing there
held before, so never through a symbolic link planted in the folder), flushes it to disk,
then renames it over the target: a reader sees the old file or the new one, never a part,
and a crash leaves at most a hidden temporary file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) at once; ``mode``: the
    file's permissions (default: the temporary file's, readable by its owner alone)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
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
