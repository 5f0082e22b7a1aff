"""Loading address labels into the store: deny lists (screening refuses, the watch freezes)
and attribution tags (who an address belongs to: exchanges, services; used by traces for
exposure, never a reason to refuse).

Both come as GraphSense TagPacks (``.yaml``/``.yml``) or CSV lists; a file is read whole
and checked before anything is written.
"""

from __future__ import annotations

from pathlib import Path

from kinko.domain.labels import address_key, parse_label_file
from kinko.domain.screening import Label
from kinko.errors import InputFileError
from kinko.ports import Store

__all__ = ["load_labels", "read_labels", "tags"]


def read_labels(path: Path) -> list[Label]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_label_file(text, str(path))


def load_labels(store: Store, path: Path, kind: str = "deny") -> tuple[int, int]:
    """Load a deny list (``kind="deny"``) or tags (``"tags"``); (labels read, new ones)."""
    labels = read_labels(path)
    with store.screening() as tables:
        fresh = tables.put_labels(path.name, [(address_key(lbl.address), lbl)
                                              for lbl in labels], kind)
    return len(labels), fresh


def tags(store: Store) -> dict[str, Label]:
    """Every attribution tag, by ``address_key``."""
    with store.screening(write=False) as tables:
        return tables.tag_map()
