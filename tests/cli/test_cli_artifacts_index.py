"""``kinko reserves snapshot``, ``kinko report fsa`` and ``kinko refunds plan`` index the
folders they write as artifacts, so the dashboard lists them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from clirun import cli_runner

from kinko.ports import FixedClock
from kinko.services.artifacts import Artifacts
from kinko.store import open_store

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Run:
    run = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    (tmp_path / "c.csv").write_text("customer_id,asset,balance\nC1,XEM,10.5\nC2,XEM,3\n",
                                    encoding="utf-8")
    assert run("customers", "import", "c.csv")[0] == 0
    return run


def _index(tmp_path: Path, kind: str) -> list[dict[str, object]]:
    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        return Artifacts(store, FixedClock()).find(kind)
    finally:
        store.close()


def test_the_written_folders_are_indexed(cli: Run, tmp_path: Path) -> None:
    code, _, err = cli("reserves", "snapshot", "--out", "por", "--min-height", "2")
    assert code == 0, err
    (snap,) = _index(tmp_path, "reserves")
    assert snap["folder"] == (tmp_path / "por").resolve() and snap["state"] == "done"
    assert (snap["folder"] / "root.json").is_file()  # type: ignore[operator]

    code, out, err = cli("incidents", "open", "XEM stolen", "--by", "ops", "--asset", "XEM")
    assert code == 0, err
    found = re.search(r"INC-[\w-]+", out)
    assert found
    incident = found.group(0)
    code, _, err = cli("refunds", "plan", incident, "--asset", "XEM", "--price", "88.549",
                       "--out", "plan")
    assert code in (0, 1), err  # 1: funds short, still written
    (plan,) = _index(tmp_path, "refunds")
    assert plan["incident"] == incident and plan["folder"] == (tmp_path / "plan").resolve()

    code, _, err = cli("report", "fsa", "--lang", "en", "--format", "md", "--out", "fsa",
                       "--incident", incident)
    assert code == 0, err
    (fsa,) = _index(tmp_path, "fsa")
    assert fsa["incident"] == incident and fsa["folder"] == (tmp_path / "fsa").resolve()
    assert "fsa-report.en.md" in fsa["detail"]["files"]  # type: ignore[index]
