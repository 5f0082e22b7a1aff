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


def test_a_device_a_fifo_or_no_name_is_refused_never_renamed_over(tmp_path: Path) -> None:
    """``kinko ledger export --out /dev/full`` (as root) renamed its file over the device
    node, which was a regular file from then on; ``--out ''`` ended in "kinko failed
    unexpectedly" (a ValueError of Path.with_name). A target that is not a regular file,
    or a link to one, and a path without a file name are refused before anything is
    written."""
    import os

    from kinko.atomic import replacing
    from kinko.errors import BadInput

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "stdout"
    link.symlink_to(fifo)
    for target in (fifo, link):
        with pytest.raises(BadInput, match="is not a regular file"):
            write_atomic(target, "x")
        with pytest.raises(BadInput, match="is not a regular file"), replacing(target):
            pass
    for nameless in (Path(""), Path("/")):
        with pytest.raises(BadInput, match="names no file to write"):
            write_atomic(nameless, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "stdout"]
    assert fifo.is_fifo() and link.is_symlink()


def test_a_file_written_in_pieces_is_renamed_whole_or_removed(tmp_path: Path) -> None:
    from kinko.atomic import replacing

    path = tmp_path / "j.bean"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), replacing(path) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["j.bean"] and path.read_text() == "old\n"
    with replacing(path) as tmp:
        tmp.write_text("new\n")
    assert [p.name for p in tmp_path.iterdir()] == ["j.bean"] and path.read_text() == "new\n"
