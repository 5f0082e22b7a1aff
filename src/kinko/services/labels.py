"""Loading address labels into the store: deny lists (screening refuses, the watch freezes)
and attribution tags (who an address belongs to: exchanges, services; used by traces for
exposure, never a reason to refuse).

Both come as GraphSense TagPacks (``.yaml``/``.yml``) or CSV lists; a file is read whole,
every address put in its canonical form (:mod:`kinko.domain.labels` says how a list's
currency picks the formats, and what ``invalid`` does with an address no format accepts),
and checked before anything is written: a refused list writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from kinko.domain.labels import LabelList, parse_label_file
from kinko.domain.screening import Label
from kinko.ports import Store
from kinko.safeload import MAX_LIST_BYTES, read_text

__all__ = ["Loaded", "load_labels", "read_labels", "tags"]


class Loaded(NamedTuple):
    read: int  # labels in the file
    new: int  # addresses not listed before
    kept: tuple[str, ...] = ()  # "file:line: why" of entries kept exactly as written


def _chains(store: Store) -> dict[str, str]:
    """The exchange's assets → their chains (a list currency naming one of them also
    accepts that chain's address formats)."""
    with store.reader() as tx:
        return {a.symbol: a.chain for a in tx.assets()}


def read_labels(path: Path, *, invalid: str = "refuse", store: Store | None = None
                ) -> LabelList:
    text = read_text(path, MAX_LIST_BYTES)  # bounded; names the file and the bad byte
    return parse_label_file(text, str(path), invalid=invalid,
                            chains=_chains(store) if store is not None else None)


def load_labels(store: Store, path: Path, kind: str = "deny", *,
                invalid: str = "refuse") -> Loaded:
    """Load a deny list (``kind="deny"``) or tags (``"tags"``)."""
    found = read_labels(path, invalid=invalid, store=store)
    with store.screening() as tables:
        fresh = tables.put_labels(path.name, [(lbl.address, lbl) for lbl in found.labels],
                                  kind)
    return Loaded(len(found.labels), fresh, found.kept)


def tags(store: Store) -> dict[str, Label]:
    """Every attribution tag, by canonical address."""
    with store.screening(write=False) as tables:
        return tables.tag_map()
