"""The FSA report's charts as PNG (matplotlib, Agg): the hot/warm/cold share of each asset
with its limit, and the incident's timeline in Japan time. Japanese labels need a CJK font:
the first of :data:`FONTS` found on the system is registered with matplotlib; without one
the charts fall back to English labels rather than draw missing-glyph boxes. The trace's
flow graph is the trace folder's own ``graph.png``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from kinko.domain.fsa import FsaReport
from kinko.render.custody import JST, LABELS
from kinko.render.fsa_text import TEXT, WORDS

__all__ = ["FONTS", "charts", "custody_chart", "timeline_chart"]

FONTS = ("ipaexg.ttf", "NotoSansCJK-Regular.ttc", "NotoSansCJKjp-Regular.otf")


def _pyplot(lang: str) -> tuple[Any, bool]:
    """matplotlib's pyplot (Agg) with a CJK font registered; (plt, Japanese possible)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    if lang != "ja":
        return plt, False
    for path in font_manager.findSystemFonts():
        if Path(path).name in FONTS:
            font_manager.fontManager.addfont(path)
            name = font_manager.FontProperties(fname=path).get_name()
            plt.rcParams["font.family"] = [name, "DejaVu Sans"]
            return plt, True
    return plt, False


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def custody_chart(report: FsaReport, lang: str) -> bytes | None:
    """Hot, warm and cold share of each asset's holdings, with each asset's limit."""
    rows = [r for r in report.custody.rows if r.hot + r.warm + r.cold > 0]
    if not rows:
        return None
    plt, ja = _pyplot(lang)
    t = TEXT["ja" if ja else "en"]
    fig, ax = plt.subplots(figsize=(7.5, 0.7 + 0.55 * len(rows)))
    left = [0.0] * len(rows)
    for tier, color in (("hot", "#c0392b"), ("warm", "#e67e22"), ("cold", "#2c6fbb")):
        values = [100 * getattr(r, tier) / (r.hot + r.warm + r.cold) for r in rows]
        ax.barh([r.asset for r in rows], values, left=left, color=color,
                label=LABELS["ja" if ja else "en"][tier])
        left = [a + b for a, b in zip(left, values, strict=True)]
    for y, r in enumerate(rows):
        if r.max_hot_ratio is not None:
            x = float(r.max_hot_ratio * 100)
            ax.plot([x, x], [y - 0.4, y + 0.4], color="black", linestyle="--", linewidth=1)
        ax.annotate(f"{(r.hot + r.warm) * 100 / (r.hot + r.warm + r.cold):.2f}%", (100, y),
                    xytext=(4, -3), textcoords="offset points", fontsize=8)
    ax.set_xlim(0, 112)
    ax.set_xlabel(t["chart_share"])
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data


def timeline_chart(report: FsaReport, lang: str) -> bytes | None:
    """The incident's timeline: each entry at its time (JST), one row per kind."""
    if report.incident is None or not report.incident.timeline:
        return None
    plt, ja = _pyplot(lang)
    from matplotlib import dates
    from matplotlib.ticker import FuncFormatter

    words = WORDS["ja" if ja else "en"]
    events = report.incident.timeline
    kinds = list(dict.fromkeys(e.kind for e in events))
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.38 * len(kinds)))
    for e in events:
        ax.scatter([e.at.astimezone(JST)], [kinds.index(e.kind)], s=30, zorder=3,
                   color="#c0392b" if e.kind == "alert" else "#2c3e50")
    ax.set_yticks(range(len(kinds)), [words.get(k, k) for k in kinds], fontsize=8)
    ax.invert_yaxis()
    times = [e.at for e in events]
    span = (max(times) - min(times)).total_seconds()
    pattern = ("%H:%M:%S.%f" if span < 10 else "%H:%M:%S" if span < 86_400
               else "%m-%d %H:%M")
    cut = -3 if span < 10 else None  # milliseconds, not microseconds
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda x, _pos: dates.num2date(x, tz=JST)  # type: ignore[no-untyped-call]
        .strftime(pattern)[:cut]))
    ax.set_xlabel(TEXT["ja" if ja else "en"]["chart_time"])
    ax.grid(axis="x", alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data


def charts(report: FsaReport, lang: str) -> dict[str, bytes]:
    """The report's images by name: custody, timeline, trace (those that exist)."""
    out = {"custody": custody_chart(report, lang), "timeline": timeline_chart(report, lang),
           "trace": report.trace.graph_png if report.trace is not None else None}
    return {k: v for k, v in out.items() if v}
