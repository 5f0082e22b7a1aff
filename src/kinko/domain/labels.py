"""Address labels from the exchange formats: GraphSense TagPacks (YAML) and CSV lists.

A TagPack has header fields (``title, creator, description, currency, lastmod, label,
category, source, ...``) inherited by every entry under ``tags:`` unless the entry sets its
own; kinko reads ``address, label, category, actor, source, currency``. A CSV list needs an
address column (``address`` or ``banned_address``); ``label``/``wallet_tag`` and
``source``/``data_source`` are used when present. Addresses are matched case-insensitively
for Ethereum (0x...) and exactly otherwise. Problems are reported with the file and line.
"""

from __future__ import annotations

import csv
import io

import yaml

from kinko.domain.screening import Label
from kinko.errors import InputFileError

__all__ = ["address_key", "parse_csv_labels", "parse_label_file", "parse_tagpack",
           "tagpack_text"]

_INHERITED = ("label", "category", "actor", "source", "currency")


def address_key(address: str) -> str:
    """How addresses are compared: Ethereum hex case-insensitively, others exactly."""
    text = address.strip()
    return text.lower() if text.lower().startswith("0x") else text


class _TextLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML without implicit numbers: an unquoted ``0x52908400…`` stays the address it is
    (YAML 1.1 would read it as a hexadecimal integer, losing its leading zeros and case)."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def parse_tagpack(text: str, name: str) -> list[tuple[Label, str]]:
    """(label, currency) for every tag of a TagPack."""
    try:
        data = yaml.load(text, Loader=_TextLoader)  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise InputFileError(f"{name}:{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise InputFileError(f"{name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tags"), list):
        raise InputFileError(f"{name}: not a TagPack (a mapping with a 'tags' list)")
    header = {k: data.get(k) for k in _INHERITED}
    title = str(data.get("title") or name)
    out: list[tuple[Label, str]] = []
    problems: list[str] = []
    for i, tag in enumerate(data["tags"]):
        if not isinstance(tag, dict) or not str(tag.get("address") or "").strip():
            problems.append(f"{name}: tags[{i}]: no address")
            continue
        merged = {k: tag.get(k, header[k]) for k in _INHERITED}
        address = str(tag["address"]).strip()
        out.append((Label(address=address, label=str(merged["label"] or title),
                          source=str(merged["source"] or title),
                          category=str(merged["category"] or ""),
                          actor=str(merged["actor"] or "")),
                    str(merged["currency"] or "").upper()))
    if problems:
        raise InputFileError(f"{name}: {len(problems)} tag(s) without an address",
                             problems=problems[:20])
    return out


def parse_csv_labels(text: str, name: str, default_source: str = "") -> list[Label]:
    reader = csv.DictReader(io.StringIO(text))
    fields = set(reader.fieldnames or [])
    column = "address" if "address" in fields else "banned_address" if "banned_address" in \
        fields else None
    if column is None:
        raise InputFileError(f"{name}:1: no address column (address or banned_address)")
    label_col = "label" if "label" in fields else "wallet_tag" if "wallet_tag" in fields else None
    source_col = "source" if "source" in fields else "data_source" if "data_source" in \
        fields else None
    out = []
    for row in reader:
        address = (row.get(column) or "").strip()
        if not address:
            raise InputFileError(f"{name}:{reader.line_num}: empty {column}")
        out.append(Label(address=address,
                         label=(row.get(label_col) or "listed") if label_col else "listed",
                         source=(row.get(source_col) or default_source or name) if source_col
                         else default_source or name))
    return out


def parse_label_file(text: str, name: str) -> list[Label]:
    """A TagPack (name ending .yaml/.yml) or a CSV list, by the file's name."""
    if name.lower().endswith((".yaml", ".yml")):
        return [label for label, _currency in parse_tagpack(text, name)]
    return parse_csv_labels(text, name)


def tagpack_text(header: dict[str, str], tags: list[dict[str, str]]) -> str:
    """A GraphSense TagPack: ``header`` (title, creator, description, currency, lastmod,
    confidence, and defaults such as category) then ``tags`` (address, label, ...)."""
    missing = [k for k in ("title", "creator", "description", "lastmod") if not header.get(k)]
    if missing:
        raise ValueError(f"a TagPack header needs {', '.join(missing)}")
    body = {**header, "tags": tags}
    return str(yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=1000))
