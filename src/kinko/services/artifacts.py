"""Artifacts: the folders of files kinko writes (traces, refund plans, reserve snapshots,
reports), indexed in the database so the dashboard and the reports can find them.

The files stay the record (they are what an auditor or another exchange receives); the index
says what each folder is, for which incident, who made it, when, and whether the job that
writes it is still running, finished or failed (with the reason)::

    a = Artifacts(store, clock).start("trace", msg("artifact.trace.incident", ...), folder,
                                      by="alice", incident="inc-1", detail={"policy": "haircut"})
    ... write the files ...
    Artifacts(store, clock).finish(a["id"], {"seeded": 10})
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path
from typing import Any, Literal

from kinko.domain.messages import Message, id_shown, msg
from kinko.errors import BadInput, NotFound
from kinko.ports import ArtifactRow, Clock, Store

__all__ = ["KINDS", "Artifacts"]

Kind = Literal["trace", "refunds", "reserves", "fsa"]
KINDS: tuple[Kind, ...] = ("trace", "refunds", "reserves", "fsa")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _shape(row: ArtifactRow) -> dict[str, Any]:
    return {**row, "detail": json.loads(row["detail"]), "folder": Path(row["folder"])}


class Artifacts:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def start(self, kind: str, title: Message, folder: Path, *, by: str,
              incident: str | None = None, detail: dict[str, Any] | None = None,
              state: str = "running", artifact_id: str | None = None) -> dict[str, Any]:
        if kind not in KINDS:
            raise BadInput(f"artifact kind must be one of {', '.join(KINDS)}, not {kind!r}",
                           says=msg("error.artifacts.kind", kinds=", ".join(KINDS),
                                    kind=kind[:40]))
        if state == "running":  # who runs it, so a restart can tell it was cut short
            detail = {**(detail or {}), "runner": {"host": socket.gethostname(),
                                                   "pid": os.getpid()}}
        row = ArtifactRow(id=artifact_id or self._new_id(kind),
                          kind=kind, incident=incident, title=title,
                          folder=str(folder.resolve()), state=state, created=self.clock.now(),
                          created_by=by, detail=json.dumps(detail or {}, sort_keys=True,
                                                           default=str, ensure_ascii=False))
        with self.store.watch() as tables:
            tables.put_artifact(row)
        return _shape(row)

    def start_in(self, kind: str, title: Message, parent: Path, *, by: str,
                 incident: str | None = None, detail: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
        """Index a running job whose files go to a new folder ``parent/<artifact id>``
        (made here)."""
        artifact_id = self._new_id(kind)
        folder = (parent / artifact_id).resolve()
        folder.mkdir(parents=True, exist_ok=False)
        return self.start(kind, title, folder, by=by, incident=incident, detail=detail,
                          artifact_id=artifact_id)

    def record(self, kind: str, title: Message, folder: Path, *, by: str,
               incident: str | None = None, detail: dict[str, Any] | None = None
               ) -> dict[str, Any]:
        """Index a folder that is already written."""
        return self.start(kind, title, folder, by=by, incident=incident, detail=detail,
                          state="done")

    def _new_id(self, kind: str) -> str:
        return f"{kind}-{self.clock.now():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"

    def fail_orphans(self) -> list[str]:
        """Mark failed the jobs this machine was running in a process that is gone (a
        server stopped mid-trace, say): they would otherwise show "running" for ever.
        Jobs of other machines, or of live processes, are left alone."""
        host = socket.gethostname()
        with self.store.watch(write=False) as tables:
            running = [_shape(r) for r in tables.artifacts(limit=100_000)
                       if r["state"] == "running"]
        gone = []
        for row in running:
            runner = row["detail"].get("runner") or {}
            pid = runner.get("pid")
            if runner.get("host") == host and isinstance(pid, int) and not _alive(pid):
                self.fail(row["id"], f"interrupted: the process running it (pid {pid}) "
                          "stopped before it finished; start it again",
                          msg("error.job_interrupted", pid=str(pid)))
                gone.append(row["id"])
        return gone

    def finish(self, artifact_id: str, detail: dict[str, Any] | None = None) -> None:
        self._end(artifact_id, "done", detail)

    def fail(self, artifact_id: str, reason: str, said: Message | None = None) -> None:
        """A job that failed: ``reason`` in English (the API, the logs), ``said`` the same as
        a catalog message (``error_message``: the pages show it in the reader's language)."""
        detail: dict[str, Any] = {"error": reason}
        if said is not None:
            detail["error_message"] = said.to_data()
        self._end(artifact_id, "failed", detail)

    def _end(self, artifact_id: str, state: str, detail: dict[str, Any] | None) -> None:
        with self.store.watch() as tables:
            row = tables.artifact(artifact_id)
            if row is None:
                shown = id_shown(artifact_id)
                raise NotFound(f"unknown artifact {shown!r}",
                               says=msg("error.unknown_artifact", id=shown))
            merged = json.loads(row["detail"]) | (detail or {})
            tables.update_artifact(artifact_id, state=state, detail=json.dumps(
                merged, sort_keys=True, default=str, ensure_ascii=False))

    def get(self, artifact_id: str, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
        """The artifact, if it is one of ``kinds``; NotFound otherwise."""
        with self.store.watch(write=False) as tables:
            row = tables.artifact(artifact_id)
        if row is None or row["kind"] not in kinds:
            shown = id_shown(artifact_id)
            raise NotFound(f"no {' or '.join(kinds)} {shown!r}",
                           says=msg("error.unknown_artifact", id=shown))
        return _shape(row)

    def find(self, kind: str | None = None, incident: str | None = None,
             limit: int = 200) -> list[dict[str, Any]]:
        with self.store.watch(write=False) as tables:
            return [_shape(r) for r in tables.artifacts(kind, incident, limit)]
