r"""Address labels from the exchange formats: GraphSense TagPacks (YAML) and CSV lists.

A TagPack has header fields (``title, creator, description, currency, lastmod, label,
category, source, ...``) inherited by every entry under ``tags:`` unless the entry sets its
own; a ``header:`` mapping, or ``header: !include FILE`` (a shared header in another file, as
the GraphSense TagPack tool reads it; the caller gives the file's text), is merged into the
header. A tag names an ``address`` or a ``tx_hash`` (a transaction tag, counted in
:attr:`LabelList.transactions`; never both). kinko reads ``address, label, category,
concepts, actor, source, currency`` (``network`` when there is no currency); ``concepts`` is
a list of taxonomy concepts (``[exchange]``) that describe the address besides its category.
A CSV list needs an address column (``address`` or ``banned_address``);
``label``/``wallet_tag``, ``source``/``data_source`` and ``currency`` are used when present.
A file of one address per line (blank lines and ``#`` comments skipped) and a JSON array of
addresses (how public OFAC extracts are published) are lists too, labelled ``listed``.

**Several tags per address.** GraphSense allows an address to carry several tags (one
TagPack may list an exchange's deposit address as ``exchange`` and again as a hack's
victim; two TagPacks may disagree). Every tag is kept: :func:`tag_index` groups them by
address in an order that does not depend on the order of the files, and an address belongs
to a category when any of its tags has it as category or concept (:func:`has_category`), so
an exchange's address stays an exchange whatever else it is tagged as.

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
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kinko.domain.addresses import currency_address, equivalent_keys
from kinko.domain.csvcells import CsvRecords
from kinko.domain.messages import Message, msg
from kinko.domain.screening import Label
from kinko.errors import BadInput, InputFileError, InvalidAddress
from kinko.safeload import (
    MAX_LIST_BYTES,
    check_tree,
    check_yaml,
    check_yaml_keys,
    column_twice,
    loads_json,
)

__all__ = ["INVALID_CHOICES", "Include", "LabelList", "as_tags", "categories_of", "deny_index",
           "has_category", "parse_address_list", "parse_csv_labels", "parse_json_addresses",
           "parse_label_file", "parse_tagpack", "primary_label", "tag_index", "tagpack_text"]

_INHERITED = ("label", "category", "actor", "source", "currency", "network", "concepts")

Include = Callable[[str], str]
"""The text of a file a TagPack includes (``header: !include FILE``), by the name written."""
INVALID_CHOICES = ("refuse", "keep")


@dataclass(frozen=True)
class LabelList:
    """A list read whole: its labels (``address`` in canonical form), each label's list
    currency (``""`` when the list names none) and the entries kept as written."""

    labels: tuple[Label, ...]
    currencies: tuple[str, ...]
    kept: tuple[str, ...] = ()  # "file:line: why", for each entry kept exactly as written
    transactions: int = 0  # a TagPack's transaction tags (tx_hash): read, not stored


class _Reader:
    """Canonical addresses for one list; collects what no format accepts."""

    def __init__(self, name: str, invalid: str, chains: Mapping[str, str] | None) -> None:
        if invalid not in INVALID_CHOICES:
            raise BadInput(f"invalid addresses in a list are refused or kept, not {invalid!r}",
                           says=msg("error.labels.invalid_choice", value=str(invalid)[:80]))
        self.name, self.invalid, self.chains = name, invalid, chains or {}
        self.problems: list[str] = []
        self.said: list[Message] = []  # the same problems, as catalog messages

    def address(self, text: str, currency: str, line: int) -> str:
        try:
            return currency_address(text, currency, self.chains.get(currency.strip().upper()))
        except InvalidAddress as exc:
            self.problems.append(f"{self.name}:{line}: {exc.message}")
            self.said.append(_at(self.name, line, exc.said()))
            return text.strip()

    def result(self, labels: list[Label], currencies: list[str],
               transactions: int = 0) -> LabelList:
        if self.problems and self.invalid == "refuse":
            one = len(self.problems) == 1
            raise InputFileError(
                f"{self.name}: {len(self.problems)} {'entry is' if one else 'entries are'} "
                "not a valid address of its currency; nothing was loaded (first: "
                f"{self.problems[0]}); to keep such entries exactly as written, set "
                "list_invalid_addresses = \"keep\" (--list-invalid-addresses keep)",
                problems=self.problems[:50], invalid=len(self.problems),
                problems_said=self.said[:50],
                says=msg("error.labels.invalid_addresses", file=self.name[:200],
                         count=len(self.problems), first=self.said[0]))
        return LabelList(tuple(labels), tuple(currencies),
                         tuple(f"{p} (kept exactly as written)" for p in self.problems),
                         transactions)


def _at(name: str, line: int, problem: Message | str) -> Message:
    """``file:line: problem`` as a catalog message."""
    return msg("error.labels.at", file=name[:200], line=str(line), problem=problem)


class _TextLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML without implicit numbers, dates or booleans: an unquoted ``0x52908400…`` stays
    the address it is (YAML 1.1 would read it as a hexadecimal integer, losing its leading
    zeros and case), ``lastmod: 2023-99-99`` stays text (YAML 1.1 would make it a date, and
    fail), and ``label: yes`` or ``actor: no`` stays the word written (YAML 1.1 would make
    it a boolean, stored as ``True``). A safe loader (no arbitrary objects), on libyaml when
    PyYAML has it (ten times faster on a list of thousands of tags)."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                           "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


@dataclass(frozen=True)
class _Included:
    """``!include FILE``, resolved by the caller's :data:`Include`."""

    name: str
    line: int


def _include_node(loader: Any, node: Any) -> _Included:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(None, None, "!include takes a file name",
                                                node.start_mark)
    return _Included(str(loader.construct_scalar(node)), node.start_mark.line + 1)


_TextLoader.add_constructor("!include", _include_node)


def _compose(text: str, name: str) -> tuple[Any, list[int]]:
    """The document, and the line of each entry of its ``tags`` (its address's line)."""
    events = check_yaml(text, name, loader=_TextLoader)  # size and depth before composing
    loader = _TextLoader(text)  # a SafeLoader: no arbitrary objects
    try:
        node = loader.get_single_node()
        check_yaml_keys(node, name)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise InputFileError(f"{name}:{line}: not valid YAML: {exc.problem}",
                             says=msg("error.labels.yaml_at", file=name[:200], line=str(line),
                                      problem=str(exc.problem)[:200])) from None
    except yaml.YAMLError as exc:
        raise InputFileError(f"{name}: not valid YAML: {exc}",
                             says=msg("error.labels.yaml", file=name[:200],
                                      problem=str(exc)[:200])) from None
    except (ValueError, TypeError, OverflowError) as exc:  # an explicit !!timestamp 2023-99-99
        raise InputFileError(f"{name}: not valid YAML: {exc}",
                             says=msg("error.labels.yaml", file=name[:200],
                                      problem=str(exc)[:200])) from None
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


def _header(data: dict[str, Any], name: str, include: Include | None) -> dict[str, Any]:
    """The TagPack's top-level fields with its ``header:`` (inline or included) merged in,
    the header's fields winning, as in the GraphSense tool."""
    header = data.get("header")
    if header is None:
        return data
    if isinstance(header, _Included):
        if include is None:
            raise InputFileError(f"{name}:{header.line}: header: !include {header.name} needs "
                                 "the TagPack read from its folder",
                                 says=msg("error.labels.include_needs_folder", file=name[:200],
                                          line=str(header.line), name=header.name[:200]))
        included = f"{name} → {header.name}"  # the including file, then the included: any language
        header_name = header.name[:200]
        header, _lines = _compose(include(header.name), included)
        if not isinstance(header, dict):
            raise InputFileError(f"{included}: a TagPack header must be a mapping",
                                 says=msg("error.labels.included_not_mapping",
                                          file=header_name, by=name[:200]))
        if any(isinstance(v, _Included) for v in header.values()):
            raise InputFileError(f"{included}: an included header cannot include again",
                                 says=msg("error.labels.include_again", file=header_name,
                                          by=name[:200]))
    if not isinstance(header, dict):
        raise InputFileError(f"{name}: header must be a mapping or !include FILE",
                             says=msg("error.labels.header_not_mapping", file=name[:200]))
    merged = {k: v for k, v in data.items() if k != "header"}
    merged.update(header)
    return merged


_KINDS: dict[type, str] = {dict: "mapping", list: "list", set: "set", bool: "boolean"}


def _texts(fields: dict[str, Any], where: str, problems: list[str],
           said: list[Message] | None = None, at: Message | None = None) -> bool:
    """Whether a tag's text fields (its own or its header's) are text: a mapping or a list
    as ``label`` or ``currency`` would otherwise be stored as Python's picture of it
    (``{'a': '1'}``). A problem is noted for each that is not."""
    wrong = [k for k in _INHERITED if k != "concepts"
             and not isinstance(fields[k], str | None)]
    for key in wrong:
        kinds: dict[type, str] = {dict: "a mapping", list: "a list", set: "a set",
                                  bool: "a boolean"}
        kind = kinds.get(type(fields[key]), f"a {type(fields[key]).__name__}")
        problems.append(f"{where}: {key} must be text, not {kind}")
        if said is not None and at is not None:
            known = _KINDS.get(type(fields[key]))
            shown = (msg(f"error.labels.kind.{known}") if known is not None
                     else msg("error.labels.kind.other", type=type(fields[key]).__name__[:40]))
            said.append(msg("error.labels.tag_at", at=at, problem=msg(
                "error.labels.tag.not_text", field=key, kind=shown)))
    return not wrong


def _concepts(value: Any, where: str, problems: list[str], said: list[Message] | None = None,
              at: Message | None = None) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        problems.append(f"{where}: concepts must be a list of names")
        if said is not None and at is not None:
            said.append(msg("error.labels.tag_at", at=at,
                            problem=msg("error.labels.tag.concepts")))
        return ()
    return tuple(c.strip() for c in value if c.strip())


def parse_tagpack(text: str, name: str, *, invalid: str = "refuse",
                  chains: Mapping[str, str] | None = None,
                  include: Include | None = None) -> LabelList:
    """Every address tag of a TagPack (transaction tags counted); ``chains`` maps the
    exchange's asset symbols to their chains (a currency naming one also accepts that
    chain's formats); ``include`` gives the text of a file named by ``header: !include``."""
    data, lines = _compose(text, name)
    if not isinstance(data, dict) or not isinstance(data.get("tags"), list):
        raise InputFileError(f"{name}: not a TagPack (a mapping with a 'tags' list)",
                             says=msg("error.labels.not_tagpack", file=name[:200]))
    data = _header(data, name, include)
    header = {k: data.get(k) for k in _INHERITED}
    title = str(data.get("title") or name)
    reader = _Reader(name, invalid, chains)
    labels: list[Label] = []
    currencies: list[str] = []
    missing: list[str] = []
    said: list[Message] = []  # the same problems, as catalog messages
    transactions = 0
    for i, tag in enumerate(data["tags"]):
        line = lines[i] if i < len(lines) else 0
        where = f"{name}:{line}: tags[{i}]"
        at = msg("error.labels.tag", file=name[:200], line=str(line), index=str(i))
        if not isinstance(tag, dict):
            missing.append(f"{where}: no address")
            said.append(msg("error.labels.tag_at", at=at,
                            problem=msg("error.labels.tag.no_address")))
            continue
        address, tx_hash = (str(tag.get(k) or "").strip() for k in ("address", "tx_hash"))
        if address and tx_hash:
            missing.append(f"{where}: both address and tx_hash (a tag names one of them)")
            said.append(msg("error.labels.tag_at", at=at, problem=msg("error.labels.tag.both")))
            continue
        if tx_hash:
            transactions += 1
            continue
        if not address:
            missing.append(f"{where}: no address")
            said.append(msg("error.labels.tag_at", at=at,
                            problem=msg("error.labels.tag.no_address")))
            continue
        merged = {k: tag.get(k, header[k]) for k in _INHERITED}
        if not _texts(merged, where, missing, said, at) or not isinstance(tag["address"], str):
            if not isinstance(tag["address"], str):
                missing.append(f"{where}: address must be text")
                said.append(msg("error.labels.tag_at", at=at,
                                problem=msg("error.labels.tag.address_text")))
            continue
        currency = str(merged["currency"] or merged["network"] or "").strip().upper()
        canonical = reader.address(str(tag["address"]), currency, line)
        labels.append(Label(address=canonical, label=str(merged["label"] or title),
                            source=str(merged["source"] or title),
                            category=str(merged["category"] or ""),
                            actor=str(merged["actor"] or ""),
                            concepts=_concepts(merged["concepts"], where, missing, said,
                                               at)))
        currencies.append(currency)
    if missing:
        raise InputFileError(f"{name}: {len(missing)} tag(s) without an address or that cannot "
                             f"be read (first: {missing[0]})", problems=missing[:50],
                             problems_said=said[:50],
                             says=msg("error.labels.tags_unreadable", file=name[:200],
                                      count=len(missing), first=said[0] if said else ""))
    return reader.result(labels, currencies, transactions)


# the columns a CSV list is read by: none may appear twice
_CSV_COLUMNS = ("address", "banned_address", "label", "wallet_tag", "source", "data_source",
                "currency")


def _csv_rows(records: CsvRecords, header: list[str]) -> Iterator[dict[str, str]]:
    """The rows of ``records`` after the ``header``, blank lines skipped, by column; a
    refusal of the csv module names the line (a quote left open: the line it opens on)."""
    try:
        for record in records:
            if record:
                yield dict(zip(header, record, strict=False))
    except csv.Error as exc:
        raise records.refusal(exc) from None


def parse_csv_labels(text: str, name: str, default_source: str = "", *,
                     invalid: str = "refuse",
                     chains: Mapping[str, str] | None = None) -> LabelList:
    """The labels of a CSV list (see the module's docstring); a quoted field whose closing
    quote is missing is refused on the line where it opens, not read to the file's end."""
    reader = CsvRecords(io.StringIO(text), name)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise reader.refusal(exc) from None
    twice = column_twice(header, _CSV_COLUMNS)
    if twice is not None:  # which of the two holds the address would be a guess
        raise InputFileError(f"{name}:1: column {twice[0]} appears twice in the header "
                             f"(columns {twice[1]} and {twice[2]})",
                             says=msg("error.customers.column_twice", file=name[:200],
                                      column=twice[0][:80], first=twice[1], second=twice[2]))
    fields = set(header)
    column = "address" if "address" in fields else "banned_address" if "banned_address" in \
        fields else None
    if column is None:
        raise InputFileError(f"{name}:1: no address column (address or banned_address)",
                             says=msg("error.labels.no_address_column", file=name[:200]))
    label_col = "label" if "label" in fields else "wallet_tag" if "wallet_tag" in fields else None
    source_col = "source" if "source" in fields else "data_source" if "data_source" in \
        fields else None
    checker = _Reader(name, invalid, chains)
    labels: list[Label] = []
    currencies: list[str] = []
    for row in _csv_rows(reader, header):
        raw = row.get(column) or ""
        if not raw.strip():
            raise InputFileError(f"{name}:{reader.line_num}: empty {column}",
                                 says=msg("error.labels.empty_address", file=name[:200],
                                          line=str(reader.line_num), column=column))
        currency = str(row.get("currency") or "").strip().upper()
        labels.append(Label(
            address=checker.address(raw, currency, reader.line_num),
            label=(row.get(label_col) or "listed") if label_col else "listed",
            source=(row.get(source_col) or default_source or name) if source_col
            else default_source or name))
        currencies.append(currency)
    return checker.result(labels, currencies)


def parse_address_list(text: str, name: str, *, invalid: str = "refuse",
                       chains: Mapping[str, str] | None = None) -> LabelList:
    """One address per line; blank lines and ``#`` comments are skipped. A line holding
    more than one word (or a comma) is refused with its number."""
    reader = _Reader(name, invalid, chains)
    labels: list[Label] = []
    problems: list[str] = []
    said: list[Message] = []  # the same problems, as catalog messages
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if len(entry.split()) > 1 or "," in entry or ";" in entry:
            problems.append(f"{name}:{number}: not one address: {entry[:80]!r}")
            said.append(_at(name, number, msg("error.labels.not_one_address", text=entry[:80])))
            continue
        labels.append(Label(address=reader.address(entry, "", number), label="listed",
                            source=name))
    if problems:
        raise InputFileError(f"{name}: {len(problems)} line(s) are not one address (first: "
                             f"{problems[0]})", problems=problems[:50],
                             problems_said=said[:50],
                             says=msg("error.labels.lines_not_one_address", file=name[:200],
                                      count=len(problems), first=said[0]))
    return reader.result(labels, [""] * len(labels))


def parse_json_addresses(text: str, name: str, *, invalid: str = "refuse",
                         chains: Mapping[str, str] | None = None) -> LabelList:
    """A JSON array of addresses (strings), or of objects with an ``address`` (and
    optionally ``label``, ``source``, ``category``, ``currency``)."""
    # bounded (size, then depth) before the parser: 100,000 nested brackets crashed the
    # process (a segmentation fault, py-evm having raised the recursion limit)
    data = loads_json(text, name, max_bytes=MAX_LIST_BYTES, error=InputFileError)
    if not isinstance(data, list):
        raise InputFileError(f"{name}: expected a JSON array of addresses",
                             says=msg("error.labels.not_json_array", file=name[:200]))
    reader = _Reader(name, invalid, chains)
    labels: list[Label] = []
    currencies: list[str] = []
    problems: list[str] = []
    said: list[Message] = []  # the same problems, as catalog messages (without the file)
    for i, item in enumerate(data):
        entry = item.get("address") if isinstance(item, dict) else item
        if not isinstance(entry, str) or not entry.strip() or len(entry.split()) != 1:
            shown = json.dumps(item, default=str)[:80]
            problems.append(f"{name}: [{i}]: not an address: {shown}")
            said.append(msg("error.labels.json.not_address", index=str(i), text=shown))
            continue
        extra = item if isinstance(item, dict) else {}
        wrong = [k for k in ("label", "source", "category", "currency")
                 if not isinstance(extra.get(k), str | None)]
        if wrong:
            shown = json.dumps(extra[wrong[0]], default=str)[:80]
            problems.append(f"{name}: [{i}]: {wrong[0]} must be text: {shown}")
            said.append(msg("error.labels.json.not_text", index=str(i), field=wrong[0],
                            text=shown))
            continue
        currency = str(extra.get("currency") or "").strip().upper()
        labels.append(Label(address=reader.address(entry, currency, i + 1),
                            label=str(extra.get("label") or "listed"),
                            source=str(extra.get("source") or name),
                            category=str(extra.get("category") or "")))
        currencies.append(currency)
    if problems:
        raise InputFileError(f"{name}: {len(problems)} entries are not addresses (first: "
                             f"{problems[0]})", problems=problems[:50],
                             problems_said=[msg("error.labels.json_at", file=name[:200],
                                                problem=p) for p in said[:50]],
                             says=msg("error.labels.json_entries", file=name[:200],
                                      count=len(problems), first=said[0]))
    return reader.result(labels, currencies)


_CSV_ADDRESS_COLUMNS = ("address", "banned_address")


def parse_label_file(text: str, name: str, *, invalid: str = "refuse",
                     chains: Mapping[str, str] | None = None,
                     include: Include | None = None) -> LabelList:
    """The labels of a file, by its name and content: a TagPack (``.yaml``/``.yml``), a JSON
    array (``.json``, or text starting with ``[``), a CSV list (``.csv``, or a header with
    an address column), else a list of one address per line."""
    lowered = name.lower()
    if lowered.endswith((".yaml", ".yml")):
        return parse_tagpack(text, name, invalid=invalid, chains=chains, include=include)
    body = text.lstrip("\ufeff")
    if lowered.endswith(".json") or body.lstrip().startswith("["):
        return parse_json_addresses(body, name, invalid=invalid, chains=chains)
    first = next((line for line in body.splitlines() if line.strip()), "")
    header = {h.strip().lower() for h in next(csv.reader([first]), [])}
    if lowered.endswith(".csv") or header & set(_CSV_ADDRESS_COLUMNS):
        return parse_csv_labels(body, name, invalid=invalid, chains=chains)
    return parse_address_list(body, name, invalid=invalid, chains=chains)


def categories_of(label: Label) -> set[str]:
    """A tag's category and concepts, lower-cased."""
    return {c.strip().lower() for c in (label.category, *label.concepts) if c.strip()}


def has_category(tags: Iterable[Label], categories: Iterable[str]) -> bool:
    """Whether any of an address's tags has one of ``categories`` (category or concept)."""
    wanted = {c.strip().lower() for c in categories if c.strip()}
    return any(categories_of(t) & wanted for t in tags)


def _order(label: Label) -> tuple[str, ...]:
    return (label.category.lower(), label.label, label.actor, label.source,
            ",".join(label.concepts), label.address)


def tag_index(labels: Iterable[Label]) -> dict[str, tuple[Label, ...]]:
    """Every tag by address (canonical form), exact repeats once, each address's tags in an
    order that does not depend on the order they were read in."""
    found: dict[str, set[Label]] = {}
    for label in labels:
        found.setdefault(label.address, set()).add(label)
    return {k: tuple(sorted(v, key=_order)) for k, v in found.items()}


def primary_label(tags: Sequence[Label] | Label, categories: Iterable[str] = ()) -> Label:
    """The tag shown for an address: its first tag in one of ``categories`` (an exchange
    stays named as the exchange), else its first tag."""
    if isinstance(tags, Label):
        return tags
    wanted = {c.strip().lower() for c in categories if c.strip()}
    return next((t for t in tags if categories_of(t) & wanted), tags[0])


def as_tags(labels: Mapping[str, Label] | Mapping[str, tuple[Label, ...]] | None
            ) -> dict[str, tuple[Label, ...]]:
    """Labels by address, one or several per address, as tags."""
    return {k: (v,) if isinstance(v, Label) else tuple(v) for k, v in (labels or {}).items()}


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
