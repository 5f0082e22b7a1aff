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

import csv
import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kinko.domain.csvcells import csv_writer, unescape_cell
from kinko.domain.labels import tagpack_text
from kinko.errors import InputFileError
from kinko.safeload import loads_json, read_stream

__all__ = ["write_blacklist", "write_trace"]

GRAPH_NODES = 150
FLOW_CHUNK = 1 << 20  # tainted transfers whose hashes are fetched at once (flows.csv)


def _int(value: Any) -> int:
    return int(value)


def _hashes(report: Any, positions: Sequence[int]) -> list[Any]:
    """The transaction hashes of the report's transfers at ``positions``: from the report
    (``hashes_of``: an engine may keep them out of memory), else from ``tx_hash``."""
    hashes_of = getattr(report, "hashes_of", None)
    if hashes_of is not None:
        return list(hashes_of(positions))
    return [report.transfers.tx_hash[j] for j in positions]


def write_trace(report: Any, out: Path, *, min_taint: int = 0,
                graph_nodes: int = GRAPH_NODES) -> list[Path]:
    """Write ``addresses.csv``, ``flows.csv``, ``exposure.csv``, ``summary.json``,
    ``graph.json``, ``graph.html`` and ``graph.png`` for a
    :class:`~kinko.services.trace.TraceReport`."""
    out.mkdir(parents=True, exist_ok=True)
    t, r = report.transfers, report.result
    paths = []
    received = np.asarray(r.received, dtype=object)
    held = np.asarray(r.held, dtype=object)
    keep = [i for i in range(len(received))
            if (received[i] > 0 or held[i] > 0) and max(received[i], held[i]) >= min_taint]
    path = out / "addresses.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv_writer(fh)
        w.writerow(["address", "taint_received", "taint_sent", "taint_held",
                    "first_tainted_block", "hops", "label", "category", "stop"])
        for i in sorted(keep, key=lambda i: (-_int(received[i]), str(t.addresses[i]))):
            first = int(r.first_tainted[i])
            label = report.labels.get(i)
            w.writerow([t.addresses[i], received[i], _int(r.sent[i]), held[i],
                        int(t.block[first]) if first >= 0 else "", int(r.hops[i]),
                        label.label if label else "", label.category if label else "",
                        "yes" if report.stops[i] else ""])
    paths.append(path)
    flow = np.asarray(r.flow, dtype=object)
    tainted = [j for j in range(len(flow)) if flow[j] > 0]
    path = out / "flows.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv_writer(fh)
        w.writerow(["tx_hash", "block", "tx_index", "log_index", "from", "to", "value",
                    "tainted_value"])
        for first in range(0, len(tainted), FLOW_CHUNK):
            chunk = tainted[first:first + FLOW_CHUNK]
            for j, tx_hash in zip(chunk, _hashes(report, chunk), strict=True):
                w.writerow([tx_hash, int(t.block[j]), int(t.tx_index[j]), int(t.log_index[j]),
                            t.addresses[t.src[j]], t.addresses[t.dst[j]], _int(t.value[j]),
                            flow[j]])
    paths.append(path)
    path = out / "exposure.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv_writer(fh)
        w.writerow(["entity", "category", "taint_received", "addresses"])
        for e in report.exposure:
            w.writerow([e.entity, e.category, e.taint, e.addresses])
    paths.append(path)
    path = out / "summary.json"
    path.write_text(json.dumps(report.summary(), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    paths.append(path)
    nodes, edges = _graph(report, tainted, graph_nodes)
    paths.append(_graph_json(out / "graph.json", nodes, edges, report.policy))
    paths.append(_html(out / "graph.html", nodes, edges, report.policy))
    paths.append(_png(out / "graph.png", nodes, edges, report.policy))
    return paths


def _graph(report: Any, tainted: Sequence[int], limit: int
           ) -> tuple[list[dict[str, Any]], list[tuple[int, int, int]]]:
    """The most tainted addresses, laid out in columns by hops; edges between them."""
    t, r = report.transfers, report.result
    weight: dict[int, int] = {}
    for j in tainted:
        for a in (int(t.src[j]), int(t.dst[j])):
            weight[a] = max(weight.get(a, 0), int(r.received[a]), int(r.sent[a]))
    chosen = sorted(weight, key=lambda a: (-weight[a], a))[:limit]
    columns: dict[int, list[int]] = {}
    for a in chosen:
        columns.setdefault(max(0, int(r.hops[a])), []).append(a)
    nodes: list[dict[str, Any]] = []
    index: dict[int, int] = {}
    for hop in sorted(columns):
        for row, a in enumerate(sorted(columns[hop], key=lambda a: -weight[a])):
            label = report.labels.get(a)
            index[a] = len(nodes)
            nodes.append({"address": str(t.addresses[a]), "x": hop, "y": row,
                          "taint": int(r.received[a]), "held": int(r.held[a]),
                          "label": f"{label.label} ({label.category})" if label else "",
                          "tag": label.label if label else "",
                          "category": label.category if label else "",
                          "actor": (label.actor or "") if label else "",
                          "hops": int(r.hops[a]), "stop": bool(report.stops[a])})
    sums: dict[tuple[int, int], int] = {}
    for j in tainted:
        a, b = int(t.src[j]), int(t.dst[j])
        if a in index and b in index:
            key = (index[a], index[b])
            sums[key] = sums.get(key, 0) + int(r.flow[j])
    return nodes, [(a, b, v) for (a, b), v in sums.items()]


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


def _html(path: Path, nodes: list[dict[str, Any]], edges: list[tuple[int, int, int]],
          policy: str) -> Path:
    dx, dy = 260, 46
    width = (max((n["x"] for n in nodes), default=0) + 1) * dx + 80
    height = (max((n["y"] for n in nodes), default=0) + 1) * dy + 80
    top = max((v for _a, _b, v in edges), default=1)
    parts = []
    for a, b, v in edges:
        na, nb = nodes[a], nodes[b]
        parts.append(f'<line x1="{na["x"] * dx + 40}" y1="{na["y"] * dy + 40}" '
                     f'x2="{nb["x"] * dx + 40}" y2="{nb["y"] * dy + 40}" '
                     f'stroke-width="{1 + 6 * v / top:.2f}"><title>{v}</title></line>')
    for n in nodes:
        tip = html.escape(f"{n['address']}\ntaint received {n['taint']}\nheld {n['held']}"
                          + (f"\n{n['label']}" if n["label"] else ""))
        cls = "stop" if n["stop"] else "node"
        text = html.escape(n["label"] or n["address"][:12] + "…")
        parts.append(f'<g class="{cls}"><circle cx="{n["x"] * dx + 40}" cy="{n["y"] * dy + 40}"'
                     f' r="7"><title>{tip}</title></circle><text x="{n["x"] * dx + 52}" '
                     f'y="{n["y"] * dy + 44}">{text}</text></g>')
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kinko trace ({html.escape(policy)})</title>
<style>body{{margin:0;font:13px sans-serif}} svg{{width:100vw;height:100vh;cursor:grab}}
line{{stroke:#c0392b;stroke-opacity:.55}} circle{{fill:#c0392b}} .stop circle{{fill:#2c3e50}}
text{{fill:#222}} header{{position:fixed;top:0;left:0;background:#fffc;padding:6px}}</style>
</head><body><header>kinko trace, policy {html.escape(policy)}: {len(nodes)} most tainted
addresses by hops from the seed (dark: exchanges and other stops). Wheel to zoom, drag to pan,
hover for an address.</header>
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
         policy: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    columns = max((n["x"] for n in nodes), default=0) + 1
    rows = max((n["y"] for n in nodes), default=0) + 1
    fig, ax = plt.subplots(figsize=(min(4 + 2.5 * columns, 30), min(2 + 0.35 * rows, 40)))
    top = max((v for _a, _b, v in edges), default=1)
    for a, b, v in edges:
        ax.plot([nodes[a]["x"], nodes[b]["x"]], [-nodes[a]["y"], -nodes[b]["y"]],
                color="#c0392b", alpha=0.5, linewidth=0.5 + 4 * v / top)
    for n in nodes:
        ax.scatter([n["x"]], [-n["y"]], s=30, color="#2c3e50" if n["stop"] else "#c0392b",
                   zorder=3)
        ax.annotate(n["label"] or n["address"][:10] + "…", (n["x"], -n["y"]), fontsize=6,
                    xytext=(4, -2), textcoords="offset points")
    ax.set_title(f"kinko trace ({policy}): taint by hops from the seed")
    ax.set_xlabel("hops from the seed")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _trace_rows(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    try:
        with (folder / "summary.json").open("rb") as fh:
            summary = loads_json(read_stream(fh, str(folder / "summary.json")),
                                 str(folder / "summary.json"), error=InputFileError)
        with (folder / "addresses.csv").open(encoding="utf-8", newline="") as fh:
            rows = [{**{k: unescape_cell(v or "") for k, v in r.items()},
                     "stop": r.get("stop") == "yes"} for r in csv.DictReader(fh)]
    except OSError as exc:
        raise InputFileError(f"{folder}: not a trace folder ({exc.strerror}: "
                             f"{exc.filename})") from None
    return rows, summary


def write_blacklist(folder: Path, fmt: str = "tagpack", *, min_taint: int = 1,
                    currency: str = "ETH", out: Path | None = None) -> tuple[Path, int]:
    """A trace's tainted addresses (never its stops: those are exchanges) as a GraphSense
    TagPack or a CSV list, which ``kinko denylist load`` and other exchanges' tools read.
    Returns the file and how many addresses it lists."""
    rows, summary = _trace_rows(folder)
    listed = [r for r in rows if not r["stop"] and max(int(r["taint_received"]),
                                                       int(r["taint_held"])) >= min_taint]
    seeds = summary.get("seeds", {})
    source = (f"kinko trace, policy {summary.get('policy')}, seeds "
              f"{', '.join(seeds.get('transactions', [])) or 'by address'}")
    target = out or folder / ("blacklist.yaml" if fmt == "tagpack" else "blacklist.csv")
    if fmt == "tagpack":
        target.write_text(tagpack_text(
            {"title": f"kinko trace blacklist ({summary.get('policy')})", "creator": "kinko",
             "description": "Addresses that received stolen funds, with the taint each "
             "received and holds, in minor units", "currency": currency.upper(),
             "lastmod": datetime.now(UTC).strftime("%Y-%m-%d"), "confidence": "forensic",
             "category": "black_list", "source": source},
            [{"address": r["address"], "label": f"stolen funds: received "
              f"{r['taint_received']}, holds {r['taint_held']} ({summary.get('policy')})"}
             for r in listed]), encoding="utf-8")
    else:
        with target.open("w", newline="", encoding="utf-8") as fh:
            w = csv_writer(fh)
            w.writerow(["address", "label", "source", "taint_received", "taint_held"])
            for r in listed:
                w.writerow([r["address"], "stolen funds", source, r["taint_received"],
                            r["taint_held"]])
    return target, len(listed)
