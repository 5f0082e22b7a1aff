"""Files written whole or not at all (``kinko.atomic``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinko.atomic import write_atomic


def test_a_file_is_replaced_whole_with_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write_atomic(path, "一\n")
    assert path.read_bytes() == "一\n".encode() and path.stat().st_mode & 0o777 == 0o600
    write_atomic(path, b"two\n", mode=0o644)
    assert path.read_bytes() == b"two\n" and path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_a_link_at_the_name_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("precious\n")
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "root.json"
    path.symlink_to(victim)
    write_atomic(path, "{}\n")
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink() and path.read_text() == "{}\n"


def test_a_failed_write_leaves_the_old_file_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old\n")
    with pytest.raises(TypeError):
        write_atomic(path, 5)  # type: ignore[arg-type]
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]
