"""Loading address labels into the store: deny lists (screening refuses, the watch freezes)
and attribution tags (who an address belongs to: exchanges, services; used by traces for
exposure, never a reason to refuse).

Both come as GraphSense TagPacks (``.yaml``/``.yml``, with ``header: !include FILE`` read
from the TagPack's folder or the nearest folder above it that holds FILE, as the GraphSense
TagPack tool finds its shared ``header.yaml``), CSV lists, address lists (one per line) or
JSON arrays of addresses; a file is read whole, every address put in its canonical form
(:mod:`kinko.domain.labels` says how a list's currency picks the formats, and what
``invalid`` does with an address no format accepts), and checked before anything is
written: a refused list writes nothing. An address keeps every tag it is given
(:func:`tags` returns them all).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from kinko.domain.labels import Include, LabelList, parse_label_file
from kinko.domain.messages import msg
from kinko.domain.screening import Label
from kinko.errors import InputFileError
from kinko.ports import Clock, Store, SystemClock
from kinko.safeload import MAX_LIST_BYTES, read_text
from kinko.services.access import Access

__all__ = ["Loaded", "load_label_files", "load_labels", "read_labels", "tags"]

MAX_INCLUDE_BYTES = 1 << 20


class Loaded(NamedTuple):
    read: int  # labels in the file
    new: int  # addresses not listed before
    kept: tuple[str, ...] = ()  # "file:line: why" of entries kept exactly as written


def _chains(store: Store) -> dict[str, str]:
    """The exchange's assets → their chains (a list currency naming one of them also
    accepts that chain's address formats)."""
    with store.reader() as tx:
        return {a.symbol: a.chain for a in tx.assets()}


def _includer(path: Path) -> Include:
    """``!include NAME`` of the TagPack at ``path``: NAME relative to its folder, else to the
    nearest folder above holding it (as the TagPack tool looks for a shared header). NAME
    must be a relative path without ``..``, to a YAML file (``.yaml``, ``.yml``): a
    TagPack from elsewhere must not make kinko read, say, ``etc/shadow`` or a key from a
    folder above it."""
    def include(name: str) -> str:
        relative = Path(name)
        said = {"file": str(path)[:200], "name": name[:200]}
        if relative.is_absolute() or ".." in relative.parts or not name.strip():
            raise InputFileError(f"{path}: header: !include {name}: give a file name relative "
                                 "to the TagPack's folder (no '..', not absolute)",
                                 says=msg("error.labels.include_path", **said))
        if relative.suffix.lower() not in (".yaml", ".yml"):
            raise InputFileError(f"{path}: header: !include {name}: a TagPack's header is a "
                                 "YAML file (.yaml or .yml)",
                                 says=msg("error.labels.include_not_yaml", **said))
        for folder in (path.parent.resolve(), *path.parent.resolve().parents):
            candidate = folder / relative
            if candidate.is_file():
                if candidate.stat().st_size > MAX_INCLUDE_BYTES:
                    raise InputFileError(f"{candidate}: an included header over 1 MB",
                                         says=msg("error.labels.include_too_large",
                                                  file=str(candidate)[:200]))
                try:
                    return candidate.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise InputFileError(f"{candidate}: cannot read: {exc}",
                                         says=msg("error.file.cannot_read",
                                                  file=str(candidate)[:200],
                                                  reason=str(exc)[:200])) from None
        raise InputFileError(f"{path}: header: !include {name}: no such file in "
                             f"{path.parent} or a folder above it",
                             says=msg("error.labels.include_missing", **said,
                                      folder=str(path.parent)[:200]))
    return include


def read_labels(path: Path, *, invalid: str = "refuse", store: Store | None = None
                ) -> LabelList:
    text = read_text(path, MAX_LIST_BYTES)  # bounded; names the file and the bad byte
    return parse_label_file(text, str(path), invalid=invalid,
                            chains=_chains(store) if store is not None else None,
                            include=_includer(path))


def load_labels(store: Store, path: Path, kind: str = "deny", *,
                invalid: str = "refuse", actor: str = "", clock: Clock | None = None) -> Loaded:
    """Load a deny list (``kind="deny"``) or tags (``"tags"``: added beside the tags other
    files gave the same addresses; loading a file again replaces what it gave before)."""
    return load_label_files(store, [path], kind, invalid=invalid, actor=actor, clock=clock)[0]


def load_label_files(store: Store, paths: list[Path], kind: str = "deny", *,
                     invalid: str = "refuse", actor: str = "",
                     clock: Clock | None = None) -> list[Loaded]:
    """:func:`load_labels` of several files at once: every file read and checked first,
    then all of them written in one unit of work (one refused: none written). With
    ``actor``, each file loaded is in the audit log (``labels.load``: the list's kind, the
    addresses read, new and kept as written), in the same unit."""
    read = [(path, read_labels(path, invalid=invalid, store=store)) for path in paths]
    loaded: list[Loaded] = []
    with store.unit():
        with store.screening() as tables:
            for path, found in read:
                fresh = tables.put_labels(path.name,
                                          [(lbl.address, lbl) for lbl in found.labels], kind)
                loaded.append(Loaded(len(found.labels), fresh, found.kept))
        if actor:
            access = Access(store, clock or SystemClock())
            for path, done in zip(paths, loaded, strict=True):
                access.audit(actor, "labels.load", path.name,
                             {"kind": kind, "read": done.read, "new": done.new,
                              "kept_as_written": len(done.kept)})
    return loaded


def tags(store: Store) -> dict[str, tuple[Label, ...]]:
    """Every attribution tag, by canonical address: all the tags of each address."""
    with store.screening(write=False) as tables:
        return tables.tag_map()
