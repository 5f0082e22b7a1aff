"""UTXO transactions from JSON lines into :class:`~kinko.domain.trace.model.UtxoTransactions`.

One transaction per line, read one line at a time with :mod:`json` (exact integers of any
size); each input is resolved to the global index of the output it spends when that output
is in the file, and must agree with it. A line with a problem adds nothing and the problem is
named ``file:line``; at most :data:`~kinko.chains.tracefiles.MAX_PROBLEMS` are listed.
"""

from __future__ import annotations

import io
import json
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kinko.chains.tracefiles._common import INT64_MAX, MAX_PROBLEMS, Amounts
from kinko.domain.messages import Message, msg
from kinko.domain.trace.model import UtxoTransactions
from kinko.errors import InputFileError, TooDeep
from kinko.safeload import (
    MAX_DEPTH,
    KeyTwice,
    bounded_lines,
    check_json_depth,
    number_problem,
    open_input,
    unique_object,
)


class _Bad(Exception):
    """A line's problem: its English words and ``said``, the same as a catalog message
    (without the ``input k: `` or ``output k: `` the English words may start with: the
    transaction's check puts that around it)."""

    def __init__(self, text: str, said: Message) -> None:
        super().__init__(text)
        self.said = said


def _line(line: int) -> Message:
    return msg("error.tracefile.line", line=str(line))


def _whole(value: Any, what: str) -> int:
    key = what.rsplit(": ", 1)[-1][:80]  # the key, without its input's or output's number
    if type(value) is not int:
        shown = json.dumps(value)[:80]
        raise _Bad(f"{what} is not a whole number: {shown}",
                   msg("error.tracefile.value.not_whole", column=key, value=shown))
    if value < 0:
        raise _Bad(f"{what} is negative: {value}",
                   msg("error.tracefile.value.negative", column=key, value=str(value)[:80]))
    return value


def _text(record: dict[str, Any], key: str, what: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        empty = value in ("", None)
        raise _Bad(f"{what}{key} is {'empty' if empty else 'not text'}",
                   msg("error.tracefile.value.empty", column=key[:80]) if empty else
                   msg("error.tracefile.utxo.not_text", key=key[:80]))
    return value.strip()


def _keys(record: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise _Bad(f"{what}expected a JSON object", msg("error.tracefile.utxo.not_object"))
    missing = [k for k in keys if k not in record]
    if missing:
        raise _Bad(f"{what}missing key(s) {', '.join(missing)}",
                   msg("error.tracefile.utxo.missing_keys", keys=", ".join(missing)))
    return record


def load_utxo(path: Path) -> UtxoTransactions:
    """Read UTXO transactions from JSON lines, in file order (which must be block order).

    Each input spending an output of an earlier transaction in the file is resolved to that
    output's global index and must carry its value and address, and spend it once; an input
    whose transaction is not in the file gets -1 (clean money from outside the data); an
    input spending an output of a later transaction is refused. Inputs must add up to the
    outputs plus the fee (a transaction without inputs mints: its outputs are new money).
    Lines are read one at a time with :mod:`json` (exact integers of any size).
    """
    path = Path(path)
    name = str(path)
    problems: list[str] = []
    said: list[Message] = []  # the same problems, as catalog messages
    lines: list[int] = []  # the line of each problem
    txids: list[str] = []
    blocks, fees = array("q"), list[int]()
    in_start, out_start = array("q", [0]), array("q", [0])
    in_output, in_values, in_addr = array("q"), list[int](), array("q")
    out_values: list[int] = []
    out_addr = array("q")
    out_spent: dict[int, int] = {}
    tx_at: dict[str, tuple[int, int]] = {}  # txid -> (position, line)
    later: list[tuple[int, str, int]] = []  # (line, txid, input index) not (yet) in the file
    addresses: dict[str, int] = {}

    def address_id(text: str) -> int:
        return addresses.setdefault(text, len(addresses))

    with io.TextIOWrapper(open_input(path), encoding="utf-8-sig") as fh:
        line = 0
        try:
            for line, text in enumerate(bounded_lines(fh, name), start=1):
                if not text.strip():
                    continue
                try:
                    _utxo_line(text, line, blocks, txids, tx_at, in_start, in_output, in_values,
                               in_addr, out_start, out_values, out_addr, out_spent, later, fees,
                               address_id)
                except _Bad as exc:
                    problems.append(f"{name}:{line}: {exc}")
                    said.append(msg("error.tracefile.at", where=f"{name[:200]}:{line}",
                                    problem=exc.said))
                    lines.append(line)
                    if len(problems) >= MAX_PROBLEMS:
                        break
        except UnicodeDecodeError as exc:
            problems.append(f"{name}:{line + 1}: not UTF-8 text ({exc.reason})")
            said.append(msg("error.customers.not_utf8", file=f"{name[:200]}:{line + 1}",
                            reason=str(exc.reason)[:200]))
            lines.append(line + 1)
    for line, txid, k in later:
        if txid in tx_at and len(problems) < MAX_PROBLEMS:
            at = tx_at[txid][1]
            problems.append(f"{name}:{line}: input {k}: spends an output of "
                            + ("its own transaction" if at == line else
                               f"transaction {txid}, which comes later, on line {at}"))
            said.append(msg("error.tracefile.at", where=f"{name[:200]}:{line}", problem=msg(
                "error.tracefile.utxo.input", index=k, problem=(
                    msg("error.tracefile.utxo.spends_own") if at == line else
                    msg("error.tracefile.utxo.spends_later", tx=txid[:100],
                        first=_line(at))))))
            lines.append(line)
    if problems:
        raise InputFileError(f"{name}: {len(problems)} problem(s); nothing was loaded",
                             problems=problems[:MAX_PROBLEMS], file=name,
                             problems_said=said[:MAX_PROBLEMS],
                             says=msg("error.tracefile.problems_at", file=name[:200],
                                      count=str(len(problems)),
                                      where=msg("error.tracefile.line", line=str(lines[0]))))
    small = _fit(in_values, out_values, fees)
    return UtxoTransactions(
        txid=np.array(txids, dtype=object), block=np.frombuffer(blocks, dtype=np.int64).copy(),
        in_start=np.frombuffer(in_start, dtype=np.int64).copy(),
        in_output=np.frombuffer(in_output, dtype=np.int64).copy(),
        in_value=_amount_array(in_values, small),
        in_address=np.frombuffer(in_addr, dtype=np.int64).copy(),
        out_start=np.frombuffer(out_start, dtype=np.int64).copy(),
        out_value=_amount_array(out_values, small),
        out_address=np.frombuffer(out_addr, dtype=np.int64).copy(),
        fee=_amount_array(fees, small), addresses=np.array(list(addresses), dtype=object))


def _fit(*lists: list[int]) -> bool:
    return all(v <= INT64_MAX for values in lists for v in values) and \
        sum(sum(values) for values in lists) <= INT64_MAX


def _amount_array(values: list[int], small: bool) -> Amounts:
    if small:
        return np.array(values, dtype=np.int64)
    return np.fromiter(values, dtype=object, count=len(values))


def _utxo_line(text: str, line: int, blocks: array[int], txids: list[str],
               tx_at: dict[str, tuple[int, int]], in_start: array[int], in_output: array[int],
               in_values: list[int], in_addr: array[int], out_start: array[int],
               out_values: list[int], out_addr: array[int], out_spent: dict[int, int],
               later: list[tuple[int, str, int]], fees: list[int],
               address_id: Callable[[str], int]) -> None:
    """Check and append one transaction; on a problem append nothing and raise _Bad."""
    try:
        check_json_depth(text, "transaction")  # bounded before the parser recurses
        record = json.loads(text, object_pairs_hook=unique_object)
    except KeyTwice as exc:  # which value it holds is a guess: an output's address, say
        shown = exc.key if len(exc.key) <= 60 else exc.key[:57] + "..."
        raise _Bad(f"the key {shown!r} is given twice in one object",
                   msg("error.tracefile.utxo.key_twice", key=repr(shown))) from None
    except TooDeep:
        raise _Bad(f"nested more than {MAX_DEPTH} levels deep",
                   msg("error.tracefile.utxo.too_deep", depth=MAX_DEPTH)) from None
    except json.JSONDecodeError as exc:
        raise _Bad(f"not JSON: {exc.msg} (column {exc.colno})",
                   msg("error.tracefile.utxo.not_json", reason=exc.msg[:200],
                       column=exc.colno)) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        reason = number_problem(exc)
        raise _Bad(f"not JSON: {reason}",
                   msg("error.tracefile.utxo.not_json_value", reason=reason[:200])) from None
    tx = _keys(record, ("txid", "block", "inputs", "outputs", "fee"), "")
    txid = _text(tx, "txid", "")
    block = _whole(tx["block"], "block")
    fee = _whole(tx["fee"], "fee")
    if txid in tx_at:
        raise _Bad(f"transaction {txid} again (first on line {tx_at[txid][1]})",
                   msg("error.tracefile.tx_again", tx=txid[:100], first=_line(tx_at[txid][1])))
    if blocks and block < blocks[-1]:
        raise _Bad(f"block {block} comes after block {blocks[-1]} (line "
                   f"{tx_at[txids[-1]][1]}); transactions must be in block order",
                   msg("error.tracefile.utxo.block_order", block=str(block)[:80],
                       prev=str(blocks[-1]), first=_line(tx_at[txids[-1]][1])))
    inputs, outputs = tx["inputs"], tx["outputs"]
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise _Bad("inputs and outputs must be lists", msg("error.tracefile.utxo.not_lists"))
    outs: list[tuple[int, str]] = []
    for k, out in enumerate(outputs):
        try:
            what = f"output {k}: "
            o = _keys(out, ("value", "address"), what)
            outs.append((_whole(o["value"], what + "value"), _text(o, "address", what)))
        except _Bad as exc:
            raise _Bad(str(exc), msg("error.tracefile.utxo.output", index=k,
                                     problem=exc.said)) from None
    ins: list[tuple[int, int, str, str, int]] = []  # (spent output, value, address, txid, vout)
    spending: set[int] = set()
    for k, inp in enumerate(inputs):
        try:
            ins.append(_input(inp, k, line, tx_at, out_start, out_values, out_addr, out_spent,
                              spending, address_id))
        except _Bad as exc:
            raise _Bad(str(exc), msg("error.tracefile.utxo.input", index=k,
                                     problem=exc.said)) from None
    total_in = sum(v for _, v, _, _, _ in ins)
    total_out = sum(v for v, _ in outs) + fee
    if ins and total_in != total_out:
        raise _Bad(f"inputs add up to {total_in}, outputs and fee to {total_out}",
                   msg("error.tracefile.utxo.unbalanced", inputs=str(total_in),
                       outputs=str(total_out)))
    position = len(txids)
    txids.append(txid)
    tx_at[txid] = (position, line)
    blocks.append(block)
    fees.append(fee)
    for k, (spent, value, address, spent_txid, _) in enumerate(ins):
        if spent >= 0:
            out_spent[spent] = line
        else:
            later.append((line, spent_txid, k))
        in_output.append(spent)
        in_values.append(value)
        in_addr.append(address_id(address))
    for value, address in outs:
        out_values.append(value)
        out_addr.append(address_id(address))
    in_start.append(len(in_output))
    out_start.append(len(out_values))


def _input(inp: Any, k: int, line: int, tx_at: dict[str, tuple[int, int]],
           out_start: array[int], out_values: list[int], out_addr: array[int],
           out_spent: dict[int, int], spending: set[int],
           address_id: Callable[[str], int]) -> tuple[int, int, str, str, int]:
    """Input ``k`` of a transaction checked: (spent output, value, address, txid, vout); a
    problem raises :class:`_Bad` (its English words start with ``input k: ``)."""
    what = f"input {k}: "
    i = _keys(inp, ("txid", "vout", "value", "address"), what)
    spent_txid, vout = _text(i, "txid", what), _whole(i["vout"], what + "vout")
    value, address = _whole(i["value"], what + "value"), _text(i, "address", what)
    spent = -1
    if spent_txid in tx_at:
        position = tx_at[spent_txid][0]
        first, stop = out_start[position], out_start[position + 1]
        if vout >= stop - first:
            raise _Bad(f"{what}transaction {spent_txid} has only {stop - first} output(s)",
                       msg("error.tracefile.utxo.only_outputs", tx=spent_txid[:100],
                           count=int(stop - first)))
        spent = first + vout
        if out_values[spent] != value:
            raise _Bad(f"{what}value {value}, but output {vout} of {spent_txid} holds "
                       f"{out_values[spent]}",
                       msg("error.tracefile.utxo.value_differs", value=str(value)[:80],
                           vout=str(vout)[:80], tx=spent_txid[:100],
                           held=str(out_values[spent])[:80]))
        if out_addr[spent] != address_id(address):
            raise _Bad(f"{what}address {address}, but output {vout} of {spent_txid} "
                       "pays another address",
                       msg("error.tracefile.utxo.address_differs", address=address[:120],
                           vout=str(vout)[:80], tx=spent_txid[:100]))
        if spent in out_spent or spent in spending:
            raise _Bad(f"{what}output {vout} of {spent_txid} already spent "
                       f"(line {out_spent.get(spent, line)})",
                       msg("error.tracefile.utxo.already_spent", vout=str(vout)[:80],
                           tx=spent_txid[:100], first=_line(out_spent.get(spent, line))))
        spending.add(spent)
    return spent, value, address, spent_txid, vout
