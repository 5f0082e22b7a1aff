r"""Address labels from the exchange formats: GraphSense TagPacks (YAML) and CSV lists.

A TagPack has header fields (``title, creator, description, currency, lastmod, label,
category, source, ...``) inherited by every entry under ``tags:`` unless the entry sets its
own; kinko reads ``address, label, category, actor, source, currency``. A CSV list needs an
address column (``address`` or ``banned_address``); ``label``/``wallet_tag``,
``source``/``data_source`` and ``currency`` are used when present.

Every address is read into its canonical form (:mod:`kinko.domain.addresses`) under the
formats of its ``currency`` (and, when the currency is one of the exchange's assets, of
that asset's chain); with no currency, or a ticker kinko has no format for, under the first
format that accepts it. An entry no format accepts is an error naming ``file:line``, the
address and what is wrong; ``invalid`` decides what follows:

- ``"refuse"`` (the default): the whole list is refused, every such entry listed;
- ``"keep"``: each such entry is kept exactly as written (surrounding whitespace removed)
  and reported in :attr:`LabelList.kept`; it matches only a destination spelled exactly so.

A list is read whole before anything is written, so a refused list leaves no trace::

    >>> parse_csv_labels("address,label\n0xZZZ,scam\n", "l.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    kinko.errors.InputFileError: l.csv: 1 entry is not a valid address of its currency; ...
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from kinko.domain.addresses import currency_address, equivalent_keys
from kinko.domain.screening import Label
from kinko.errors import BadInput, InputFileError, InvalidAddress
from kinko.safeload import check_tree, check_yaml

__all__ = ["INVALID_CHOICES", "LabelList", "deny_index", "parse_csv_labels", "parse_label_file",
           "parse_tagpack", "tagpack_text"]

_INHERITED = ("label", "category", "actor", "source", "currency")
INVALID_CHOICES = ("refuse", "keep")


@dataclass(frozen=True)
class LabelList:
    """A list read whole: its labels (``address`` in canonical form), each label's list
    currency (``""`` when the list names none) and the entries kept as written."""

    labels: tuple[Label, ...]
    currencies: tuple[str, ...]
    kept: tuple[str, ...] = ()  # "file:line: why", for each entry kept exactly as written


class _Reader:
    """Canonical addresses for one list; collects what no format accepts."""

    def __init__(self, name: str, invalid: str, chains: Mapping[str, str] | None) -> None:
        if invalid not in INVALID_CHOICES:
            raise BadInput(f"invalid addresses in a list are refused or kept, not {invalid!r}")
        self.name, self.invalid, self.chains = name, invalid, chains or {}
        self.problems: list[str] = []

    def address(self, text: str, currency: str, line: int) -> str:
        try:
            return currency_address(text, currency, self.chains.get(currency.strip().upper()))
        except InvalidAddress as exc:
            self.problems.append(f"{self.name}:{line}: {exc.message}")
            return text.strip()

    def result(self, labels: list[Label], currencies: list[str]) -> LabelList:
        if self.problems and self.invalid == "refuse":
            one = len(self.problems) == 1
            raise InputFileError(
                f"{self.name}: {len(self.problems)} {'entry is' if one else 'entries are'} "
                "not a valid address of its currency; nothing was loaded (first: "
                f"{self.problems[0]})",
                problems=self.problems[:50], invalid=len(self.problems))
        return LabelList(tuple(labels), tuple(currencies),
                         tuple(f"{p} (kept exactly as written)" for p in self.problems))


class _TextLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML without implicit numbers: an unquoted ``0x52908400…`` stays the address it is
    (YAML 1.1 would read it as a hexadecimal integer, losing its leading zeros and case).
    A safe loader (no arbitrary objects), on libyaml when PyYAML has it (ten times faster
    on a list of thousands of tags)."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _compose(text: str, name: str) -> tuple[Any, list[int]]:
    """The document, and the line of each entry of its ``tags`` (its address's line)."""
    events = check_yaml(text, name, loader=_TextLoader)  # size and depth before composing
    loader = _TextLoader(text)  # a SafeLoader: no arbitrary objects
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise InputFileError(f"{name}:{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise InputFileError(f"{name}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    check_tree(data, name, max_nodes=2 * events + 1000)  # what aliases expand to
    lines: list[int] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "tags" and isinstance(value, yaml.SequenceNode):
                for item in value.value:
                    at = item.start_mark.line + 1
                    if isinstance(item, yaml.MappingNode):
                        at = next((v.start_mark.line + 1 for k, v in item.value
                                   if k.value == "address"), at)
                    lines.append(at)
    return data, lines


def parse_tagpack(text: str, name: str, *, invalid: str = "refuse",
                  chains: Mapping[str, str] | None = None) -> LabelList:
    """Every tag of a TagPack; ``chains`` maps the exchange's asset symbols to their chains
    (a currency naming one also accepts that chain's formats)."""
    data, lines = _compose(text, name)
    if not isinstance(data, dict) or not isinstance(data.get("tags"), list):
        raise InputFileError(f"{name}: not a TagPack (a mapping with a 'tags' list)")
    header = {k: data.get(k) for k in _INHERITED}
    title = str(data.get("title") or name)
    reader = _Reader(name, invalid, chains)
    labels: list[Label] = []
    currencies: list[str] = []
    missing: list[str] = []
    for i, tag in enumerate(data["tags"]):
        line = lines[i] if i < len(lines) else 0
        if not isinstance(tag, dict) or not str(tag.get("address") or "").strip():
            missing.append(f"{name}:{line}: tags[{i}]: no address")
            continue
        merged = {k: tag.get(k, header[k]) for k in _INHERITED}
        currency = str(merged["currency"] or "").strip().upper()
        address = reader.address(str(tag["address"]), currency, line)
        labels.append(Label(address=address, label=str(merged["label"] or title),
                            source=str(merged["source"] or title),
                            category=str(merged["category"] or ""),
                            actor=str(merged["actor"] or "")))
        currencies.append(currency)
    if missing:
        raise InputFileError(f"{name}: {len(missing)} tag(s) without an address",
                             problems=missing[:50])
    return reader.result(labels, currencies)


def parse_csv_labels(text: str, name: str, default_source: str = "", *,
                     invalid: str = "refuse",
                     chains: Mapping[str, str] | None = None) -> LabelList:
    reader = csv.DictReader(io.StringIO(text))
    fields = set(reader.fieldnames or [])
    column = "address" if "address" in fields else "banned_address" if "banned_address" in \
        fields else None
    if column is None:
        raise InputFileError(f"{name}:1: no address column (address or banned_address)")
    label_col = "label" if "label" in fields else "wallet_tag" if "wallet_tag" in fields else None
    source_col = "source" if "source" in fields else "data_source" if "data_source" in \
        fields else None
    checker = _Reader(name, invalid, chains)
    labels: list[Label] = []
    currencies: list[str] = []
    for row in reader:
        raw = row.get(column) or ""
        if not raw.strip():
            raise InputFileError(f"{name}:{reader.line_num}: empty {column}")
        currency = str(row.get("currency") or "").strip().upper()
        labels.append(Label(
            address=checker.address(raw, currency, reader.line_num),
            label=(row.get(label_col) or "listed") if label_col else "listed",
            source=(row.get(source_col) or default_source or name) if source_col
            else default_source or name))
        currencies.append(currency)
    return checker.result(labels, currencies)


def parse_label_file(text: str, name: str, *, invalid: str = "refuse",
                     chains: Mapping[str, str] | None = None) -> LabelList:
    """A TagPack (name ending .yaml/.yml) or a CSV list, by the file's name."""
    if name.lower().endswith((".yaml", ".yml")):
        return parse_tagpack(text, name, invalid=invalid, chains=chains)
    return parse_csv_labels(text, name, invalid=invalid, chains=chains)


def deny_index(listed: Mapping[str, Label]) -> dict[str, Label]:
    """Listed addresses (canonical form → label) also under the canonical strings of the
    same address in another format (a legacy Bitcoin Cash address and its CashAddr), so
    that a list holding either spelling catches a destination written in the other."""
    out = dict(listed)
    for key, label in listed.items():
        for other in equivalent_keys(key)[1:]:
            out.setdefault(other, label)
    return out


def tagpack_text(header: dict[str, str], tags: list[dict[str, str]]) -> str:
    """A GraphSense TagPack: ``header`` (title, creator, description, currency, lastmod,
    confidence, and defaults such as category) then ``tags`` (address, label, ...)."""
    missing = [k for k in ("title", "creator", "description", "lastmod") if not header.get(k)]
    if missing:
        raise ValueError(f"a TagPack header needs {', '.join(missing)}")
    body = {**header, "tags": tags}
    return str(yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=1000))
