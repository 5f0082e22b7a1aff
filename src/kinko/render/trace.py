"""A trace's files: per address, per flow, exposure per entity, the summary and the graph.

Amounts are integers in the traced asset's minor unit (as the kernels computed them: haircut
taint is rounded down per transfer, the remainder staying with the sender). The flow graph
shows the most tainted addresses (``graph_nodes``) in columns by hops from the seed, edges
weighted by the taint they carried; ``graph.json`` is that graph as data (what the
dashboard draws), ``graph.html`` one self-contained file (inline SVG, zoom with the wheel,
pan by dragging, an address's taint and label on hover), ``graph.png`` the same picture for
reports.

``graph.json``::

    {"policy": "haircut",
     "nodes": [{"id": 0, "address": "0x…", "hops": 0, "x": 0, "y": 0,
                "taint_received": "500", "held": "300", "label": "", "category": "",
                "actor": "", "stop": false}, …],
     "edges": [{"from": 0, "to": 1, "flow": "200", "weight": 0.4}, …]}

Amounts are decimal strings (exact: wei do not fit a JavaScript number); ``weight`` is an
edge's flow over the largest edge's, for drawing only.
"""

from __future__ import annotations

import contextlib
import csv
import html
import json
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from kinko.domain.csvcells import CsvRecords, columns_said, columns_text, csv_writer, unescape_cell
from kinko.domain.labels import tagpack_text
from kinko.domain.messages import msg, os_refusal
from kinko.domain.money import Asset, format_units
from kinko.errors import InputFileError
from kinko.i18n import ENGLISH, Localizer
from kinko.render.fsa_charts import pyplot
from kinko.safeload import loads_json, read_stream

__all__ = ["tainted", "warm_picture", "write_blacklist", "write_trace"]

GRAPH_NODES = 150  # the most tainted addresses drawn
GRAPH_FLOWS = 40  # the endpoints of the largest tainted transfers are drawn too
GRAPH_LABELLED = 40  # and the labelled addresses that received the most taint
TABLES = ("parquet", "csv")


def _hashes(report: Any, positions: npt.NDArray[np.int64]) -> pa.Array:
    """The transaction hashes of the report's transfers at ``positions``, as a string array:
    from the report (``hashes_of``: an engine may keep them out of memory), else from
    ``tx_hash``."""
    hashes_of = getattr(report, "hashes_of", None)
    found = hashes_of(positions) if hashes_of is not None else \
        [report.transfers.tx_hash[j] for j in positions]
    if isinstance(found, pa.Array | pa.ChunkedArray):
        return found
    return pa.array([str(h) for h in found], type=pa.string())


def _column(values: npt.NDArray[Any]) -> pa.Array:
    """Amounts as a Parquet column: int64, or decimal text beyond it (wei)."""
    if values.dtype == object:
        return pa.array([str(int(v)) for v in values], type=pa.string())
    return pa.array(values, type=pa.int64())


def _write_table(table: pa.Table, out: Path, name: str, tables: str) -> Path:
    """``name.parquet`` or ``name.csv`` (every value as its text; empty for none)."""
    if tables == "parquet":
        path = out / f"{name}.parquet"
        # a dictionary page large enough for the addresses: from/to stay dictionary-encoded
        pq.write_table(table, str(path), row_group_size=1 << 20,
                       dictionary_pagesize_limit=64 << 20)
        return path
    path = out / f"{name}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv_writer(fh)
        w.writerow(table.column_names)
        for batch in table.to_batches(max_chunksize=1 << 18):
            columns = [c.to_pylist() for c in batch.columns]
            w.writerows(["" if v is None else v for v in row] for row in zip(*columns,
                                                                            strict=True))
    return path


def write_trace(report: Any, out: Path, *, min_taint: int = 0,
                graph_nodes: int = GRAPH_NODES, tables: str = "csv",
                unit: Asset | None = None, lang: str = "ja") -> list[Path]:
    """Write ``addresses``, ``flows`` (as ``.csv``, or ``.parquet`` with ``tables="parquet"``:
    the same columns, amounts as int64 or decimal text beyond it), ``exposure.csv``,
    ``summary.json``, ``graph.json``, ``graph.html`` and ``graph.png`` for a
    :class:`~kinko.services.trace.TraceReport`. ``unit``, the asset traced when it is
    known, writes the graph's tooltips in its whole units; else they are in base units
    (the files' integers), said as such. ``graph.html`` and ``graph.png`` are in ``lang``
    (ja or en: their title, legend, axis and tooltips from the message catalog); the data
    files have no words to translate."""
    if tables not in TABLES:
        raise ValueError(f"tables must be one of {', '.join(TABLES)}, not {tables!r}")
    out.mkdir(parents=True, exist_ok=True)
    tainted = np.flatnonzero(np.asarray(report.result.flow) > 0).astype(np.int64)
    # the flows (their hashes may be read from a file) are written while the rest is
    with ThreadPoolExecutor(1, thread_name_prefix="kinko-flows") as pool:
        flows = pool.submit(_write_flows, report, tainted, out, tables)
        paths = [_write_addresses(report, out, min_taint, tables)]
        paths += _write_rest(report, tainted, out, graph_nodes, unit, lang)
        paths.insert(1, flows.result())
    return paths


def warm_picture(lang: str) -> threading.Thread:
    """Load the picture's library (matplotlib, and the font for ``lang``) in a thread while
    the trace runs, so that ``graph.png`` costs only its drawing at the end; join the thread
    before :func:`write_trace`. A failure here is left to the drawing to report."""
    def load() -> None:
        with contextlib.suppress(Exception):
            pyplot(lang)

    thread = threading.Thread(target=load, name="kinko-picture", daemon=True)
    thread.start()
    return thread


def _write_addresses(report: Any, out: Path, min_taint: int, tables: str) -> Path:
    """The ``addresses`` table: every address that received or holds taint (at least
    ``min_taint``), the most tainted first."""
    t, r = report.transfers, report.result
    received, held = np.asarray(r.received), np.asarray(r.held)
    big = received.dtype == object or held.dtype == object
    largest = np.maximum(received, held)
    keep = np.flatnonzero(((received > 0) | (held > 0)) & (largest >= min_taint))
    names = np.asarray(t.addresses, dtype=object)
    dictionary = pa.array(names, type=pa.string())  # each address once; rows refer to it
    if big:
        order = sorted(keep.tolist(), key=lambda i: (-int(received[i]), str(names[i])))
        keep = np.asarray(order, dtype=np.int64)
    else:
        ranked = pa.table({"r": pa.array(received[keep]),
                           "a": pa.array(names[keep], type=pa.string())})
        keep = keep[np.asarray(pc.sort_indices(ranked, sort_keys=[("r", "descending"),
                                                                  ("a", "ascending")]))]
    first = np.asarray(r.first_tainted)[keep]
    blocks = np.asarray(t.block)[np.maximum(first, 0)] if len(t) else np.zeros(len(keep),
                                                                               np.int64)
    label = np.full(len(keep), "", dtype=object)
    category = np.full(len(keep), "", dtype=object)
    if report.labels:
        where = np.full(len(names), -1, dtype=np.int64)
        where[keep] = np.arange(len(keep))
        for i, lb in report.labels.items():
            if where[i] >= 0:
                label[where[i]], category[where[i]] = lb.label, lb.category
    stops = np.asarray(report.stops)[keep]
    return _write_table(pa.table({
        "address": dictionary.take(pa.array(keep)),
        "taint_received": _column(received[keep]),
        "taint_sent": _column(np.asarray(r.sent)[keep]),
        "taint_held": _column(held[keep]),
        "first_tainted_block": pa.array(blocks, type=pa.int64(), mask=first < 0),
        "hops": pa.array(np.asarray(r.hops)[keep], type=pa.int64()),
        "label": pa.array(label, type=pa.string()),
        "category": pa.array(category, type=pa.string()),
        "stop": pa.array(np.where(stops, "yes", ""), type=pa.string()),
    }), out, "addresses", tables)


def _write_flows(report: Any, tainted: npt.NDArray[np.int64], out: Path, tables: str) -> Path:
    """The ``flows`` table: the tainted transfers at positions ``tainted``."""
    t, flow = report.transfers, np.asarray(report.result.flow)
    names = np.asarray(t.addresses, dtype=object)
    src, dst = np.asarray(t.src)[tainted], np.asarray(t.dst)[tainted]
    # the addresses these flows name, once each, in id order (the same whichever engine
    # numbered them, and whatever else the trace read)
    both = np.sort(np.concatenate([src, dst]))
    used = both[np.r_[True, both[1:] != both[:-1]]] if len(both) else both
    dictionary = pa.array(names[used], type=pa.string())
    src, dst = np.searchsorted(used, src), np.searchsorted(used, dst)
    return _write_table(pa.table({
        "tx_hash": _hashes(report, tainted),
        "block": pa.array(np.asarray(t.block)[tainted], type=pa.int64()),
        "tx_index": pa.array(np.asarray(t.tx_index)[tainted], type=pa.int64()),
        "log_index": pa.array(np.asarray(t.log_index)[tainted], type=pa.int64()),
        "from": pa.DictionaryArray.from_arrays(pa.array(src, type=pa.int32()), dictionary),
        "to": pa.DictionaryArray.from_arrays(pa.array(dst, type=pa.int32()), dictionary),
        "value": _column(np.asarray(t.value)[tainted]),
        "tainted_value": _column(flow[tainted]),
    }), out, "flows", tables)


def _write_rest(report: Any, tainted: npt.NDArray[np.int64], out: Path, graph_nodes: int,
                unit: Asset | None, lang: str) -> list[Path]:
    """``exposure.csv``, ``summary.json``, ``timings.json`` and the graph's files."""
    paths = []
    path = out / "exposure.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv_writer(fh)
        w.writerow(["entity", "category", "taint_received", "addresses"])
        for e in report.exposure:
            w.writerow([e.entity, e.category, e.taint, e.addresses])
    paths.append(path)
    path = out / "summary.json"
    summary = report.summary()
    if unit is not None:  # the asset its amounts are minor units of, when it is known
        summary["asset"] = unit.symbol
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    paths.append(path)
    timings = getattr(report, "timings", None)
    if timings is not None:  # apart from the summary, which is the same on every run
        path = out / "timings.json"
        path.write_text(json.dumps(timings(), indent=2) + "\n", encoding="utf-8")
        paths.append(path)
    nodes, edges = _graph(report, tainted, graph_nodes)
    paths.append(_graph_json(out / "graph.json", nodes, edges, report.policy))
    say = Localizer(lang)
    paths.append(_html(out / "graph.html", nodes, edges, report.policy,
                       amount_text(unit, say), say))
    paths.append(_png(out / "graph.png", nodes, edges, report.policy, lang))
    return paths


def _graph(report: Any, tainted: npt.NDArray[np.int64], limit: int
           ) -> tuple[list[dict[str, Any]], list[tuple[int, int, int]]]:
    """The significant part of the flow graph, laid out in columns by hops: the ``limit``
    most tainted addresses (taint received or sent, whichever is larger), the endpoints of
    the :data:`GRAPH_FLOWS` largest tainted transfers and the :data:`GRAPH_LABELLED`
    labelled addresses that received the most taint; edges are the tainted transfers between
    them, summed per pair."""
    t, r = report.transfers, report.result
    received, sent = np.asarray(r.received), np.asarray(r.sent)
    weight = np.maximum(received, sent)
    # the wallet the stolen coins left (a seed transaction's sender) holds no taint itself:
    # weigh it by what it sent tainted, so that it is drawn at hop 0 with its edges
    hops = np.asarray(r.hops)
    senders = np.asarray(t.src)[tainted]
    origin = hops[senders] < 0
    if origin.any():
        stolen = np.zeros(len(weight), dtype=weight.dtype)
        np.add.at(stolen, senders[origin], np.asarray(r.flow)[tainted][origin])
        weight = np.maximum(weight, stolen)
    candidates = np.flatnonzero(weight > 0)
    chosen: set[int] = set()
    chosen.update(_top(weight, candidates, limit))
    flow = np.asarray(r.flow)[tainted]
    biggest = tainted[_top(flow, np.arange(len(tainted)), GRAPH_FLOWS)] if len(tainted) \
        else np.zeros(0, np.int64)
    chosen.update(int(a) for a in np.asarray(t.src)[biggest])
    chosen.update(int(a) for a in np.asarray(t.dst)[biggest])
    labelled = np.array([a for a in report.labels if received[a] > 0], dtype=np.int64)
    chosen.update(_top(received, labelled, GRAPH_LABELLED))
    chosen = {a for a in chosen if weight[a] > 0}
    columns: dict[int, list[int]] = {}
    for a in sorted(chosen, key=lambda a: (-int(weight[a]), a)):
        columns.setdefault(max(0, int(hops[a])), []).append(a)
    nodes: list[dict[str, Any]] = []
    index = np.full(len(weight), -1, dtype=np.int64)
    for hop in sorted(columns):
        for row, a in enumerate(columns[hop]):
            label = report.labels.get(a)
            index[a] = len(nodes)
            nodes.append({"address": str(t.addresses[a]), "x": hop, "y": row,
                          "taint": int(received[a]), "held": int(r.held[a]),
                          "label": f"{label.label} ({label.category})" if label else "",
                          "tag": label.label if label else "",
                          "category": label.category if label else "",
                          "actor": (label.actor or "") if label else "",
                          "hops": max(0, int(hops[a])), "stop": bool(report.stops[a])})
    a_idx = index[np.asarray(t.src)[tainted]]
    b_idx = index[np.asarray(t.dst)[tainted]]
    inside = (a_idx >= 0) & (b_idx >= 0)
    sums: dict[tuple[int, int], int] = {}
    for a, b, v in zip(a_idx[inside].tolist(), b_idx[inside].tolist(), flow[inside].tolist(),
                       strict=True):
        sums[(a, b)] = sums.get((a, b), 0) + int(v)
    return nodes, [(a, b, v) for (a, b), v in sorted(sums.items())]


def _top(values: npt.NDArray[Any], among: npt.NDArray[np.int64], k: int) -> list[int]:
    """The ``k`` of ``among`` with the largest ``values`` (the smaller index first on ties)."""
    if len(among) == 0 or k <= 0:
        return []
    vals = values[among]
    if vals.dtype == object or len(among) <= k:
        return sorted(among.tolist(), key=lambda i: (-int(values[i]), i))[:k]
    cut = np.partition(vals, len(vals) - k)[len(vals) - k]  # the k-th largest value
    pick = among[vals >= cut]
    return sorted(pick.tolist(), key=lambda i: (-int(values[i]), i))[:k]


def _graph_json(path: Path, nodes: list[dict[str, Any]], edges: list[tuple[int, int, int]],
                policy: str) -> Path:
    top = max((v for _a, _b, v in edges), default=0)
    data = {"policy": policy,
            "nodes": [{"id": i, "address": n["address"], "hops": n["hops"], "x": n["x"],
                       "y": n["y"], "taint_received": str(n["taint"]), "held": str(n["held"]),
                       "label": n["tag"], "category": n["category"], "actor": n["actor"],
                       "stop": n["stop"]} for i, n in enumerate(nodes)],
            "edges": [{"from": a, "to": b, "flow": str(v),
                       "weight": round(v / top, 6) if top else 0.0} for a, b, v in edges]}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def amount_text(unit: Asset | None, say: Localizer = ENGLISH) -> Callable[[int], str]:
    """How a graph writes an amount: whole units with thousands separators and the symbol,
    or, for an asset kinko does not know, the integer in base units, said so (in ``say``'s
    language)."""
    if unit is None:
        return lambda v: say("tr.graph_file.base_units", value=v)
    return lambda v: f"{format_units(v, unit, group=True)} {unit.symbol}"


def _html(path: Path, nodes: list[dict[str, Any]], edges: list[tuple[int, int, int]],
          policy: str, amount: Callable[[int], str], say: Localizer) -> Path:
    dx, dy = 260, 46
    width = (max((n["x"] for n in nodes), default=0) + 1) * dx + 80
    height = (max((n["y"] for n in nodes), default=0) + 1) * dy + 80
    top = max((v for _a, _b, v in edges), default=1)
    parts = []
    for a, b, v in edges:
        na, nb = nodes[a], nodes[b]
        parts.append(f'<line x1="{na["x"] * dx + 40}" y1="{na["y"] * dy + 40}" '
                     f'x2="{nb["x"] * dx + 40}" y2="{nb["y"] * dy + 40}" '
                     f'stroke-width="{1 + 6 * v / top:.2f}"><title>{html.escape(amount(v))}</title>'
                     '</line>')
    for n in nodes:
        tip = html.escape("\n".join([
            n["address"], say("tr.graph_file.received", amount=amount(n["taint"])),
            say("tr.graph_file.held", amount=amount(n["held"])),
            *([n["label"]] if n["label"] else [])]))
        cls = "stop" if n["stop"] else "node"
        text = html.escape(n["label"] or n["address"][:12] + "…")
        parts.append(f'<g class="{cls}"><circle cx="{n["x"] * dx + 40}" cy="{n["y"] * dy + 40}"'
                     f' r="7"><title>{tip}</title></circle><text x="{n["x"] * dx + 52}" '
                     f'y="{n["y"] * dy + 44}">{text}</text></g>')
    named = say.word("tr.policy", policy)
    title = html.escape(say("tr.graph_file.title", policy=named))
    header = html.escape(say("tr.graph_file.header", policy=named, count=len(nodes)))
    page = f"""<!doctype html>
<html lang="{say.lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{margin:0;font:13px sans-serif}} svg{{width:100vw;height:100vh;cursor:grab}}
line{{stroke:#c0392b;stroke-opacity:.55}} circle{{fill:#c0392b}} .stop circle{{fill:#2c3e50}}
text{{fill:#222}} header{{position:fixed;top:0;left:0;background:#fffc;padding:6px}}</style>
</head><body><header>{header}</header>
<svg id="g" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">
{"".join(parts)}</svg>
<script>
const s=document.getElementById('g');let v=s.viewBox.baseVal,d=null;
s.addEventListener('wheel',e=>{{e.preventDefault();const k=e.deltaY>0?1.15:1/1.15;
const p=s.createSVGPoint();p.x=e.clientX;p.y=e.clientY;
const q=p.matrixTransform(s.getScreenCTM().inverse());
v.x=q.x-(q.x-v.x)*k;v.y=q.y-(q.y-v.y)*k;v.width*=k;v.height*=k;}});
s.addEventListener('mousedown',e=>{{d=[e.clientX,e.clientY];}});
window.addEventListener('mouseup',()=>{{d=null;}});
s.addEventListener('mousemove',e=>{{if(!d)return;const r=v.width/s.clientWidth;
v.x-=(e.clientX-d[0])*r;v.y-=(e.clientY-d[1])*r;d=[e.clientX,e.clientY];}});
</script></body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


def _png(path: Path, nodes: list[dict[str, Any]], edges: list[tuple[int, int, int]],
         policy: str, lang: str) -> Path:
    """The graph as a picture (for reports): title and axis in ``lang`` when a Japanese
    font is installed, else in English (never boxes for missing glyphs)."""
    from matplotlib.collections import LineCollection
    from matplotlib.ticker import MaxNLocator

    plt, ja = pyplot(lang)
    say = Localizer("ja" if ja else "en")
    columns = max((n["x"] for n in nodes), default=0) + 1
    rows = max((n["y"] for n in nodes), default=0) + 1
    fig, ax = plt.subplots(figsize=(min(4 + 2.5 * columns, 16), min(2 + 0.25 * rows, 16)))
    top = max((v for _a, _b, v in edges), default=1)
    if edges:
        ax.add_collection(LineCollection(
            [[(nodes[a]["x"], -nodes[a]["y"]), (nodes[b]["x"], -nodes[b]["y"])]
             for a, b, _v in edges], colors="#c0392b", alpha=0.5,
            linewidths=[0.5 + 4 * v / top for _a, _b, v in edges]))
    if nodes:
        ax.scatter([n["x"] for n in nodes], [-n["y"] for n in nodes], s=30, zorder=3,
                   color=["#2c3e50" if n["stop"] else "#c0392b" for n in nodes])
    for n in nodes:
        ax.annotate(n["label"] or n["address"][:10] + "…", (n["x"], -n["y"]), fontsize=6,
                    xytext=(4, -2), textcoords="offset points")
    ax.autoscale()
    ax.set_title(say("tr.graph_file.png_title", policy=say.word("tr.policy", policy)))
    ax.set_xlabel(say("tr.hops"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# the columns of a trace's addresses table that exporting its tainted addresses reads
_ADDRESS_COLUMNS = ("address", "taint_received", "taint_held", "stop")
_WHOLE = re.compile(r"[0-9]{1,78}")


def _address_records(path: Path) -> tuple[list[str], list[dict[str, str]], list[int]]:
    """The header, rows (a field a row lacks as ``""``) and the line of each row of a
    trace's ``addresses.csv``. kinko wrote it, but a trace folder may come from another
    machine: it is read strictly, a quoted field left open refused on the line where it
    opens (read on, it would take the addresses after it out of the blacklist)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        records = CsvRecords(fh, str(path))
        rows: list[dict[str, str]] = []
        lines: list[int] = []
        try:
            header = next(records, [])
            for record in records:
                if record:  # a blank line
                    rows.append({column: unescape_cell(record[i]) if i < len(record) else ""
                                 for i, column in enumerate(header)})
                    lines.append(records.line_num)
        except csv.Error as exc:  # a quote left open, a field past 131,072 characters
            raise records.refusal(exc) from None
    return header, rows, lines


def _trace_rows(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    try:
        with (folder / "summary.json").open("rb") as fh:
            summary = loads_json(read_stream(fh, str(folder / "summary.json")),
                                 str(folder / "summary.json"), error=InputFileError)
        if (folder / "addresses.parquet").exists():
            table = pq.read_table(str(folder / "addresses.parquet"))
            found = [{k: ("" if v is None else str(v)) for k, v in row.items()}
                     for row in table.to_pylist()]
            lines = list(range(2, len(found) + 2))  # the row a person finds in the file
            columns = set(table.column_names)
            table_file = folder / "addresses.parquet"
        else:
            table_file = folder / "addresses.csv"
            header, found, lines = _address_records(table_file)
            columns = set(header) if header else set(_ADDRESS_COLUMNS)
        missing = [c for c in _ADDRESS_COLUMNS if c not in columns]
        if missing:
            raise InputFileError(
                f"{table_file}:1: missing column(s) {', '.join(missing)} in the header "
                f"(found: {columns_text(sorted(columns))})",
                says=msg("error.customers.missing_columns", file=str(table_file)[:200],
                         missing=", ".join(missing), found=columns_said(sorted(columns))))
        for line, row in zip(lines, found, strict=True):
            for column in ("taint_received", "taint_held"):
                if not _WHOLE.fullmatch(row[column]):
                    raise InputFileError(
                        f"{table_file}:{line}: {column} {row[column][:40]!r} is not a whole "
                        "number", says=msg("error.trace.table_not_whole",
                                           file=str(table_file)[:200], line=str(line),
                                           column=column, value=repr(row[column][:40])))
        rows = [{**r, "stop": r.get("stop") == "yes"} for r in found]
    except OSError as exc:
        raise InputFileError(f"{folder}: not a trace folder ({exc.strerror}: "
                             f"{exc.filename})",
                             says=msg("error.fsa.not_a_trace", folder=str(folder)[:200],
                                      reason=os_refusal(exc),
                                      file=str(exc.filename)[:200])) from None
    except pa.ArrowException as exc:
        raise InputFileError(f"{folder / 'addresses.parquet'}: not readable: {exc}",
                             says=msg("error.tracefile.not_parquet",
                                      file=str(folder / "addresses.parquet")[:200],
                                      reason=str(exc)[:200])) from None
    seeds = summary.get("seeds", {}) if isinstance(summary, dict) else None
    if not isinstance(seeds, dict) or not isinstance(seeds.get("transactions", []), list) or \
            not all(isinstance(t, str) for t in seeds.get("transactions", [])):
        what = "the summary" if not isinstance(summary, dict) else "seeds"
        raise InputFileError(f"{folder / 'summary.json'}: not a trace summary ({what} is not "
                             "what kinko writes there)",
                             says=msg("error.trace.summary_shape",
                                      file=str(folder / "summary.json")[:200], field=what))
    return rows, summary


def tainted(folder: Path, *, min_taint: int = 1
            ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A trace's tainted addresses (never its stops: those are exchanges) that received or
    hold at least ``min_taint``, with the trace's summary."""
    rows, summary = _trace_rows(folder)
    return [r for r in rows if not r["stop"] and max(int(r["taint_received"]),
                                                     int(r["taint_held"])) >= min_taint], summary


def write_blacklist(folder: Path, fmt: str = "tagpack", *, min_taint: int = 1,
                    currency: str = "ETH", out: Path | None = None,
                    assets: Mapping[str, Asset] | None = None) -> tuple[Path, int]:
    """A trace's tainted addresses (never its stops: those are exchanges) as a GraphSense
    TagPack or a CSV list, which ``kinko denylist load`` and other exchanges' tools read.
    A TagPack's labels say the taint in whole units of the asset traced when the summary
    names it and ``assets`` knows it (another exchange reads ``received 175,728,000 XEM``,
    not a bare number of minor units of nothing it is told). Returns the file and how many
    addresses it lists."""
    listed, summary = tainted(folder, min_taint=min_taint)
    named = summary.get("asset")
    unit = assets.get(named) if assets is not None and isinstance(named, str) else None

    def taint(value: object) -> str:
        if unit is None:
            return str(value)
        return f"{format_units(int(str(value)), unit, group=True)} {unit.symbol}"
    seeds = summary.get("seeds", {})
    source = (f"kinko trace, policy {summary.get('policy')}, seeds "
              f"{', '.join(seeds.get('transactions', [])) or 'by address'}")
    target = out or folder / ("blacklist.yaml" if fmt == "tagpack" else "blacklist.csv")
    if fmt == "tagpack":
        target.write_text(tagpack_text(
            {"title": f"kinko trace blacklist ({summary.get('policy')})", "creator": "kinko",
             "description": "Addresses that received stolen funds, with the taint each "
             "received and holds, " + (f"in {unit.symbol}" if unit is not None
                                       else "in minor units"), "currency": currency.upper(),
             "lastmod": datetime.now(UTC).strftime("%Y-%m-%d"), "confidence": "forensic",
             "category": "black_list", "source": source},
            [{"address": r["address"], "label": f"stolen funds: received "
              f"{taint(r['taint_received'])}, holds {taint(r['taint_held'])} "
              f"({summary.get('policy')})"}
             for r in listed]), encoding="utf-8")
    else:
        with target.open("w", newline="", encoding="utf-8") as fh:
            w = csv_writer(fh)
            w.writerow(["address", "label", "source", "taint_received", "taint_held"])
            for r in listed:
                w.writerow([r["address"], "stolen funds", source, r["taint_received"],
                            r["taint_held"]])
    return target, len(listed)
