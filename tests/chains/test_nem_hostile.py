"""Hostile NIS1 answers and listings: every field of real transactions replaced by values of
the wrong kind or range is either read or refused with kinko's error naming the place
(Transient from the adapter, InputFileError from the trace reader), never another exception."""

from __future__ import annotations

import contextlib
import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from nemstory import CHAIN, story

from kinko.chains.evm import Transient
from kinko.chains.nis1 import NisChain, Shape
from kinko.chains.tracefiles.nem import nem_rows
from kinko.errors import InputFileError

BAD = [None, "x", -1, [], {}, 2**70, True, Decimal("1.5"), "ZZ" * 40, {"data": None}]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    changed = copy.deepcopy(root)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


@pytest.mark.slow  # about a thousand listings read: a few seconds
def test_every_field_of_a_listing_mutated_is_read_or_named(tmp_path: Path) -> None:
    pairs, _ = story()
    listing = {"data": pairs}
    seen = 0
    for path in _paths(listing):
        for bad in BAD:
            file = tmp_path / "l.json"
            file.write_text(json.dumps(_set(listing, path, bad), default=str))
            try:
                nem_rows(file)
            except InputFileError as exc:
                assert str(file) in str(exc)
            seen += 1
    assert seen > 500


def test_every_field_of_a_block_answer_mutated_is_read_or_named() -> None:
    pairs, _ = story()
    view = {"difficulty": 1, "hash": "ab" * 32,
            "block": {"height": 5, "timeStamp": 9, "prevBlockHash": {"data": "cd" * 32},
                      "transactions": []},
            "txes": [{"tx": p["transaction"], "hash": p["meta"]["hash"]["data"],
                      "innerHash": {}} for p in pairs]}
    answer = {"data": [view]}
    chain = NisChain("http://127.0.0.1:1", name=CHAIN)
    chain._levied = lambda mosaic: None  # type: ignore[method-assign]  # no node: no levies
    for path in _paths(answer):
        for bad in BAD:
            with contextlib.suppress(Shape):
                chain._block(_set(answer, path, bad), 5)
    for bad in BAD:  # and the unconfirmed pool's
        for path in _paths({"data": [{"meta": {"data": None}, "transaction":
                                      pairs[3]["transaction"]}]}):
            data = _set({"data": [{"meta": {"data": None},
                                   "transaction": pairs[3]["transaction"]}]}, path, bad)
            with contextlib.suppress(Shape):
                chain._unconfirmed(data)


def test_a_shape_error_reaches_the_caller_as_transient() -> None:
    chain = NisChain("http://127.0.0.1:1", name=CHAIN)
    with pytest.raises(Transient, match=r"not NIS1's: answer has no 'data'"):
        chain._shaped(lambda: chain._block({}, 5), "block 5")
