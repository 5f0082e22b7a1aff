"""``header: !include NAME`` in a TagPack read from a file: NAME is looked for in the
TagPack's folder, then in each folder above it (as the TagPack tool looks for a shared
header); it must be a relative YAML file name without ``..``, so that a TagPack from
elsewhere cannot make kinko read another kind of file above it (``etc/shadow``, a key)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kinko.errors import InputFileError
from kinko.services.labels import read_labels

PACK = ("title: Bitmex\nheader: !include {name}\nlabel: bitmex\ntags:\n"
        "- address: 0x52908400098527886E0F7030069857D2E4169EE7\n")


def _pack(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pack.yaml"
    path.write_text(PACK.format(name=name), encoding="utf-8")
    return path


def test_a_header_is_found_beside_the_tagpack_or_in_a_folder_above(tmp_path: Path) -> None:
    (tmp_path / "header.yaml").write_text("category: exchange\ncurrency: ETH\n")
    found = read_labels(_pack(tmp_path / "packs" / "a", "header.yaml"))
    assert [(e.label, e.category) for e in found.labels] == [("bitmex", "exchange")]
    (tmp_path / "packs" / "a" / "h.yml").write_text("category: mixer\ncurrency: ETH\n")
    found = read_labels(_pack(tmp_path / "packs" / "a", "h.yml"))
    assert [e.category for e in found.labels] == ["mixer"]


@pytest.mark.parametrize(("name", "said"), [
    ("etc/shadow", "a TagPack's header is a YAML file (.yaml or .yml)"),
    (".ssh/id_ed25519", "a TagPack's header is a YAML file"),
    ("kinko.toml", "a TagPack's header is a YAML file"),
    ("../header.yaml", "give a file name relative to the TagPack's folder"),
    ("/etc/header.yaml", "give a file name relative to the TagPack's folder"),
    ("nowhere.yaml", "no such file in"),
])
def test_an_include_that_is_no_yaml_header_near_the_tagpack_is_refused(
        tmp_path: Path, name: str, said: str) -> None:
    (tmp_path / "kinko.toml").write_text("category = 'x'\n")
    with pytest.raises(InputFileError, match=re.escape(f"pack.yaml: header: !include {name}: ")
                       + ".*" + re.escape(said)):
        read_labels(_pack(tmp_path / "packs", name))
