"""The FSA report's charts as PNG (matplotlib, Agg), sized and lettered for print: the
hot/warm/cold share of each asset with its limit, and the incident's timeline in Japan time
to the millisecond. They are drawn at the width of an A4 page's text (180 mm) at 200 dpi,
with 9-10 pt letters, so they read on paper as on screen. Japanese labels need a CJK font:
the first of :data:`FONTS` found on the system is registered with matplotlib; without one
the charts fall back to English labels rather than draw missing-glyph boxes. The trace's
flow graph is the trace folder's own ``graph.png``.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

from kinko.domain.fsa import FsaReport
from kinko.i18n import JST, Localizer

__all__ = ["DPI", "FONTS", "WIDTH_IN", "charts", "custody_chart", "pyplot", "timeline_chart"]

FONTS = ("ipaexg.ttf", "NotoSansCJK-Regular.ttc", "NotoSansCJKjp-Regular.otf")
WIDTH_IN = 7.1  # the text width of an A4 page with the report's margins (180 mm)
DPI = 200
_FONT_PT = 9.5


def pyplot(lang: str) -> tuple[Any, bool]:
    """matplotlib's pyplot (Agg) with a CJK font registered; (plt, Japanese possible)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.rcParams.update({"font.size": _FONT_PT, "axes.titlesize": _FONT_PT + 1,
                         "axes.labelsize": _FONT_PT, "xtick.labelsize": _FONT_PT - 0.5,
                         "ytick.labelsize": _FONT_PT, "legend.fontsize": _FONT_PT - 0.5})
    if lang != "ja":
        plt.rcParams["font.family"] = ["DejaVu Sans"]
        return plt, False
    name = _cjk_font()
    if name is None:
        return plt, False
    plt.rcParams["font.family"] = [name, "DejaVu Sans"]
    return plt, True


@functools.cache
def _cjk_font() -> str | None:
    """The name of the first of :data:`FONTS` on the system, registered with matplotlib
    (looked for once a process: the search lists every font of the system)."""
    from matplotlib import font_manager

    for path in font_manager.findSystemFonts():
        if Path(path).name in FONTS:
            font_manager.fontManager.addfont(path)
            return str(font_manager.FontProperties(fname=path).get_name())
    return None


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def custody_chart(report: FsaReport, lang: str) -> bytes | None:
    """Hot, warm and cold share of each asset's holdings, with each asset's limit."""
    rows = [r for r in report.custody.rows if r.hot + r.warm + r.cold > 0]
    if not rows:
        return None
    plt, ja = pyplot(lang)
    L = Localizer("ja" if ja else "en")
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.3 + 0.55 * len(rows)))
    left = [0.0] * len(rows)
    for tier, color in (("hot", "#c0392b"), ("warm", "#e67e22"), ("cold", "#2c6fbb")):
        values = [100 * getattr(r, tier) / (r.hot + r.warm + r.cold) for r in rows]
        ax.barh([r.asset for r in rows], values, left=left, color=color,
                label=L(f"cr.{tier}"))
        left = [a + b for a, b in zip(left, values, strict=True)]
    for y, r in enumerate(rows):
        if r.max_hot_ratio is not None:
            x = float(r.max_hot_ratio * 100)
            ax.plot([x, x], [y - 0.42, y + 0.42], color="black", linestyle="--", linewidth=1.2)
        online = (r.hot + r.warm) * 100 / (r.hot + r.warm + r.cold)
        ax.annotate(f"{online:.2f}%", (100, y), xytext=(5, -4), textcoords="offset points")
    ax.set_xlim(0, 115)
    ax.set_xlabel(L("fsa.chart_share"))
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data


def timeline_chart(report: FsaReport, lang: str) -> bytes | None:
    """The incident's timeline: each entry at its time (JST), one row per kind."""
    if report.incident is None or not report.incident.timeline:
        return None
    plt, ja = pyplot(lang)
    from matplotlib import dates
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    L = Localizer("ja" if ja else "en")
    events = report.incident.timeline
    kinds = list(dict.fromkeys(e.kind for e in events))
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.4 + 0.42 * len(kinds)))
    for e in events:
        ax.scatter([e.at.astimezone(JST)], [kinds.index(e.kind)], s=36, zorder=3,
                   color="#c0392b" if e.kind == "alert" else "#2c3e50")
    ax.set_yticks(range(len(kinds)), [L.word("inc.ev", k) for k in kinds])
    ax.invert_yaxis()
    times = [e.at for e in events]
    span = (max(times) - min(times)).total_seconds()
    pattern = ("%H:%M:%S.%f" if span < 60 else "%H:%M:%S" if span < 86_400
               else "%m-%d %H:%M")
    cut = -3 if span < 60 else None  # milliseconds, not microseconds
    ax.xaxis.set_major_locator(MaxNLocator(6))
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda x, _pos: dates.num2date(x, tz=JST)  # type: ignore[no-untyped-call]
        .strftime(pattern)[:cut]))
    ax.set_xlabel(L("fsa.chart_time"))
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
