"""The FSA report as HTML (self-contained), PDF (WeasyPrint) or Markdown, with a CSV appendix.

The report is laid out once, as a list of sections of paragraphs, tables and charts
(:func:`layout`), and that one layout is written as HTML (inline CSS, charts as PNG data
URIs: it loads nothing from the network and can be filed as it is), as PDF from that HTML,
or as Markdown (charts as PNG files beside it). Japanese by default with the FSA's terms
(ホットウォレット, コールドウォレット, 履行保証暗号資産, 分別管理, 不正送金, 返金/補償, 原資,
異常な送金依頼の検知), or English. Amounts are exact, in whole units of each asset; yen are
floored to the yen; times are Japan time with the zone shown. Records written by people or
by the watch (notes, alert details) are quoted as written.

    paths = write_fsa(report, Path("out"), "pdf", "ja")
    # out/fsa-report.ja.pdf, out/fsa-positions.csv, out/fsa-alerts.csv, out/fsa-timeline.csv

The PDF needs Pango (a system library) and, for Japanese, a CJK font: the Makefile installs
``fonts-ipaexfont-gothic``; the CSS names IPAexGothic first, then Noto Sans CJK JP.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from kinko.domain.csvcells import csv_writer
from kinko.domain.fsa import AlertInfo, FsaReport, RefundPlan, TimelineEvent
from kinko.domain.money import Asset, format_units
from kinko.errors import BadInput, EnvironmentProblem
from kinko.render.custody import _SEVERITY, JST, LABELS, finding_text
from kinko.render.fsa_charts import charts
from kinko.render.fsa_text import KIND_DOC, TEXT, WORDS

__all__ = ["FORMATS", "Section", "Table", "layout", "pdf_bytes", "render_html",
           "render_markdown", "write_fsa"]

FORMATS = ("html", "pdf", "md")
ALERTS_SHOWN = 50  # alerts listed in the document; the CSV appendix has them all


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)  # right-aligned columns
    mono: set[int] = field(default_factory=set)  # addresses and hashes: break anywhere
    nowrap: set[int] = field(default_factory=set)  # times and short words: never broken


@dataclass
class Section:
    title: str
    level: int = 2
    blocks: list[tuple[str, Any]] = field(default_factory=list)  # kind, content

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, table: Table, empty: str = "—") -> None:
        self.blocks.append(("table", table) if table.rows else ("p", empty))


# ---------------------------------------------------------------------------- formatting

class _Fmt:
    """Number, time and word formatting for one report and language."""

    def __init__(self, report: FsaReport, lang: str) -> None:
        self.t = TEXT[lang]
        self.w = WORDS[lang]
        self.lang = lang
        self.decimals = report.decimals
        self.none = LABELS[lang]["none"]

    def units(self, asset: str | None, units: int | None, symbol: bool = False) -> str:
        if units is None or asset is None:
            return "-"
        text = format_units(units, Asset(asset, "x", self.decimals.get(asset, 0)), group=True)
        return f"{text} {asset}" if symbol else text

    @staticmethod
    def yen(value: int | None) -> str:
        return "-" if value is None else f"¥{value:,}"

    @staticmethod
    def pct(value: Decimal | None, places: int = 2) -> str:
        return "-" if value is None else f"{value * 100:.{places}f}%"

    @staticmethod
    def when(value: datetime | None) -> str:
        return "-" if value is None else value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST")

    def word(self, value: str | None) -> str:
        return "-" if value is None else self.w.get(value, value)

    def ok(self, value: bool | None) -> str:
        return str(self.t["unknown"] if value is None else self.t["pass"] if value
                   else self.t["fail"])


def _yen_of(report: FsaReport, asset: str, units: int) -> int | None:
    row = next((r for r in report.custody.rows if r.asset == asset), None)
    if row is None or row.price_jpy is None:
        return None
    p, q = row.price_jpy.as_integer_ratio()
    scale: int = 10**row.decimals
    return units * p // (q * scale)


# ---------------------------------------------------------------------------- the layout

def layout(report: FsaReport, lang: str = "ja") -> list[Section]:
    """Every section of the report, in order, in one language."""
    if lang not in TEXT:
        raise BadInput(f"--lang must be ja or en, not {lang!r}")
    f = _Fmt(report, lang)
    sections = [_positions(report, f), *_wallets(report, f), *_detection(report, f),
                *_response(report, f)]
    if report.incident is not None:
        sections += _incident(report, f)
    appendix = Section(f.t["appendix"])
    appendix.p(f.t["appendix_text"])
    return [*sections, appendix]


def _positions(report: FsaReport, f: _Fmt) -> Section:
    t, c, labels = f.t, report.custody, LABELS[f.lang]
    s = Section(t["s1"])
    s.p(t["s1_intro"])
    if report.positions_at is not None:
        s.p(t["s1_as_of"].format(when=_Fmt.when(report.positions_at)))
    s.blocks.append(("verdict", (not c.breaches,
                                 labels["verdict_bad"] if c.breaches else labels["verdict_ok"])))
    rows = []
    for r in c.rows:
        rows.append([r.asset, f"{r.customers:,}", f.units(r.asset, r.liabilities),
                     f.units(r.asset, r.hot), f.units(r.asset, r.warm),
                     f.units(r.asset, r.hot + (r.warm if report.governance.warm_counts_as_hot
                                               else 0)),
                     f.pct(r.online_share), f.pct(r.max_hot_ratio),
                     f.ok(report.ratio_ok.get(r.asset)), f.units(r.asset, r.cold)])
    s.table(Table([t["asset"], labels["customers"], labels["liabilities"], labels["hot"],
                   labels["warm"], t["online"], labels["online_share"], labels["limit"],
                   t["ratio_test"], labels["cold"]], rows, numeric=set(range(1, 10)) - {8},
                  nowrap={0, 8}))
    rows = [[r.asset, "-" if r.price_jpy is None else f"{r.price_jpy:,}", f.yen(r.online_jpy),
             f.yen(r.cold_jpy), f.units(r.asset, r.own_funds),
             f.units(r.asset, r.guarantee_required), f.units(r.asset, r.guarantee_held),
             f.ok(r.guarantee_held >= r.guarantee_required)] for r in c.rows]
    s.table(Table([t["asset"], labels["price"], labels["online_jpy"], labels["cold_jpy"],
                   labels["own"], labels["guarantee_required"], labels["guarantee_held"],
                   t["coverage"]], rows, numeric={1, 2, 3, 4, 5, 6}, nowrap={0, 7}))
    share = (Decimal(c.total_online_jpy) / Decimal(c.total_jpy)
             if c.total_online_jpy is not None and c.total_jpy else None)
    s.p(t["total"].format(online=f.yen(c.total_online_jpy), total=f.yen(c.total_jpy),
                          share=f.pct(share), limit=f.pct(c.total_max_hot_ratio),
                          verdict=f.ok(report.total_ratio_ok)))
    s.blocks.append(("img", "custody"))
    decimals = dict(report.decimals)
    s.table(Table([labels["severity"], t["asset"], labels["finding"]],
                  [[_SEVERITY[f.lang][x.severity], x.asset or "-",
                    finding_text(x, f.lang, decimals)] for x in c.findings]))
    s.blocks.append(("note", labels["note"] + " " + (t["warm_hot"] if report.governance
                                                        .warm_counts_as_hot else t["warm_cold"])))
    return s


def _wallets(report: FsaReport, f: _Fmt) -> list[Section]:
    t, g = f.t, report.governance
    s = Section(t["s2"])
    s.p(t["s2_intro"])
    s.table(Table([t["wallet"], t["asset"], t["tier"], t["addresses"], t["balance"], t["keys"]],
                  [[w.name, w.asset, f.word(w.tier), " ".join(w.addresses) or "-",
                    f.units(w.asset, w.balance), f.word(w.keys)] for w in report.wallets],
                  numeric={4}, mono={3}))
    s.p(t["key_custody"])
    limits = Section(t["s2_limits"], 3)
    limits.table(Table(
        [t["asset"], LABELS[f.lang]["limit"], t["target"], t["hot_min"], t["hot_max"],
         t["cold_wallet"], t["emergency_address"]],
        [[x.asset, f.pct(x.max_hot_ratio), f.pct(x.target_hot_ratio),
          f.units(x.asset, x.hot_min), "-" if x.hot_max is None else f.units(x.asset, x.hot_max),
          x.cold_wallet or "-", x.emergency_address or "-"] for x in report.limits],
        numeric={1, 2, 3, 4}, mono={6}))
    limits.p(t["sweep_rule"])
    limits.p(t["refill_rule"])
    gov = Section(t["s2_governance"], 3)
    if g.policy_version is None:
        gov.p(t["no_policy"])
    else:
        gov.p(t["governance"].format(version=g.policy_version, digest=(g.policy_digest or "")[:16],
                                     quorum=g.quorum, n=len(g.approvers),
                                     ttl=g.proposal_ttl_hours))
        gov.table(Table([t["approver"], t["key_fingerprint"]],
                        [[a.name, a.key_fingerprint] for a in g.approvers], mono={1}))
    moves = Section(t["s2_moves"], 3)
    moves.table(Table([t["id"], t["kind"], t["asset"], t["amount"], t["state"], t["approvals"],
                       t["created"], t["emergency"]],
                      [[m.id, f.word(m.kind), m.asset, f.units(m.asset, m.amount),
                        f.word(m.state), f"{m.approvals} / {m.quorum}", f.when(m.created_at),
                        m.emergency or "-"] for m in report.moves], numeric={3},
                      nowrap={1, 4, 5}), f.none)
    return [s, limits, gov, moves]


def _alert_rows(alerts: tuple[AlertInfo, ...], f: _Fmt) -> list[list[str]]:
    return [[a.id, f.when(a.raised), f.word(a.kind), _SEVERITY[f.lang].get(a.severity,
                                                                          a.severity),
             f.word(a.chain_state), f.units(a.asset, a.amount, symbol=True),
             "-" if a.block is None else str(a.block), a.incident or "-"] for a in alerts]


def _alert_header(f: _Fmt) -> list[str]:
    t = f.t
    return [t["id"], t["raised"], t["kind"], LABELS[f.lang]["severity"], t["chain_state"],
            t["amount"], t["block"], t["incident"]]


def _detection(report: FsaReport, f: _Fmt) -> list[Section]:
    t, w = f.t, report.watch
    s = Section(t["s3"])
    s.p(t["s3_intro"])
    rules = Section(t["s3_rules"], 3)
    rules.p(t["rules_intro"])
    rules.table(Table(
        [t["rule"], t["kind"], t["asset"], t["params"], t["action"], t["reason"]],
        [[r.name, KIND_DOC[f.lang].get(r.kind, r.kind), r.asset or t["all_assets"],
          "; ".join(f"{f.word(k)} {v}" for k, v in r.params) or "-", f.word(r.action), r.reason]
         for r in report.rules]))
    rules.p(t["deny_listed"].format(n=w.deny_listed))
    watch = Section(t["s3_watch"], 3)
    watch.p(t["watch_match"])
    watch.p(t["watch_setup"].format(
        confirmations=w.confirmations,
        node=w.node or t["no_node"], mempool=t["mempool_yes"] if w.mempool else t["mempool_no"]))
    gw = report.governance.watch
    if gw is not None:
        watch.p(t["watch_policy"].format(
            drop=format(gw.balance_drop_percent, "f"),
            window=int(gw.balance_drop_window.total_seconds()),
            sweep=f.word(f"sweep_{gw.emergency_sweep}"),
            trip=t["trip_global"] if gw.trip_global else t["trip_asset"]))
    watch.table(Table([t["chain"], t["checkpoint"]],
                      [[c, "-" if b is None else f"{b:,}"] for c, b in w.chains], numeric={1}))
    alerts = Section(t["s3_alerts"], 3)
    alerts.p(t["alerts_intro"].format(n=w.alerts_total, shown=min(ALERTS_SHOWN,
                                                                  w.alerts_total)))
    alerts.table(Table(_alert_header(f), _alert_rows(w.alerts[:ALERTS_SHOWN], f),
                       numeric={5, 6}, nowrap={1, 2, 3, 4}), f.none)
    alerts.p(t["latency_alerts"])
    latency = Section(t["s3_latency"], 3)
    if w.latency is None:
        latency.p(t["no_latency"])
    else:
        x = w.latency
        latency.p(t["latency_source"].format(source=x.source))
        latency.blocks.append(("quote", x.measured))
        latency.table(Table([t["figure"], t["thefts"], t["broadcast_alarm"],
                             t["inclusion_alarm"], t["before_inclusion"]],
                            [[g.figure, g.thefts, g.broadcast_to_alarm_ms,
                              g.inclusion_to_alarm_ms, g.before_inclusion] for g in x.figures],
                            numeric={1, 2, 3, 4}))
        latency.p(t["latency_note"])
        if x.targets:
            latency.blocks.append(("quote", x.targets))
    return [s, rules, watch, alerts, latency]


def _response(report: FsaReport, f: _Fmt) -> list[Section]:
    t = f.t
    s = Section(t["s4"])
    s.p(t["s4_intro"])
    breaker = Section(t["s4_breaker"], 3)
    breaker.p(t["breaker_rule"])
    if report.breaker_tripped:
        breaker.p(t["breaker_tripped"].format(scopes=", ".join(
            t["global"] if e.scope == "*" else e.scope for e in report.breaker_tripped)))
    else:
        breaker.p(t["breaker_clear"])
    breaker.table(Table([t["at"], t["scope"], t["event"], t["by"], t["reason"]],
                        [[f.when(e.at), t["global"] if e.scope == "*" else e.scope,
                          f.word(e.event), e.by, e.reason] for e in report.breaker_log],
                        nowrap={1, 2}), f.none)
    sweep = Section(t["s4_sweep"], 3)
    gw = report.governance.watch
    sweep.p(t["sweep_mode"].format(mode=f.word(f"sweep_{gw.emergency_sweep}") if gw else "-"))
    sweep.table(Table([t["id"], t["asset"], t["amount"], t["state"], t["approvals"],
                       t["incident"], t["tx"]],
                      [[m.id, m.asset, f.units(m.asset, m.amount), f.word(m.state),
                        f"{m.approvals} / {m.quorum}", m.emergency or "-", m.tx_hash or "-"]
                       for m in report.emergency_sweeps], numeric={2}, mono={6},
                      nowrap={3, 4}), f.none)
    trace = Section(t["s4_trace"], 3)
    x = report.trace
    if x is None:
        trace.p(t["no_trace"])
    else:
        trace.p(t["trace_summary"].format(
            folder=x.folder, policy=x.policy, seeds=x.seed_transactions,
            seeded=f.units(x.asset, x.seeded, True) if x.asset else f"{x.seeded:,}",
            held=f.units(x.asset, x.held, True) if x.asset else f"{x.held:,}",
            absorbed=f.units(x.asset, x.absorbed, True) if x.asset else f"{x.absorbed:,}",
            burned=f.units(x.asset, x.burned, True) if x.asset else f"{x.burned:,}",
            conserved=t["conserved"] if x.conserved else (t["not_checked"]
                                                          if x.conserved is None
                                                          else t["not_conserved"]),
            tainted=x.tainted_addresses))
        trace.table(_exposure(report, f))
        trace.p(t["blacklist"].format(file=x.blacklist, n=x.blacklisted) if x.blacklist
                else t["no_blacklist"])
        if x.graph_png:
            trace.blocks.append(("img", "trace"))
    notices = Section(t["s4_notices"], 3)
    notices.p(t["notices_intro"])
    notices.table(Table([t["id"], t["alert"], t["state"], t["attempts"], t["next"],
                         t["error"]],
                        [[str(n.id), n.alert, f.word(n.state), str(n.attempts),
                          f.when(n.next_at), n.last_error or "-"] for n in report.notices],
                        numeric={0, 3}), f.none)
    return [s, breaker, sweep, trace, notices]


def _exposure(report: FsaReport, f: _Fmt) -> Table:
    x = report.trace
    assert x is not None
    return Table([f.t["entity"], f.t["category"], f.t["exposure"], f.t["addresses_n"]],
                 [[e.entity, e.category,
                   f.units(x.asset, e.taint, True) if x.asset else f"{e.taint:,}",
                   f"{e.addresses:,}"] for e in x.exposure], numeric={2, 3})


def _events(events: tuple[TimelineEvent, ...], f: _Fmt) -> Table:
    return Table([f.t["at"], f.t["kind"], f.t["by"], f.t["detail"]],
                 [[f.when(e.at), f.word(e.kind), e.actor, e.detail] for e in events],
                 nowrap={0, 1, 2})


def _yen_text(text: str) -> str:
    """A yen amount recorded as exact text (whole or fractional yen), shown grouped."""
    try:
        value = Decimal(text)
    except ArithmeticError:
        return text
    return f"¥{value:,}" if value.is_finite() else text


def _when_text(text: str) -> str:
    """A time recorded as ISO 8601 text, in JST (as written when it is not one)."""
    try:
        return _Fmt.when(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text


def _plan_table(plan: RefundPlan, f: _Fmt) -> Table:
    t = f.t
    a = Asset(plan.asset, "x", plan.decimals)
    digest = (t["digest_none"] if plan.csv_verified is None else
              t["digest_ok"] if plan.csv_verified else t["digest_bad"])
    return Table([t["item"], t["value"]], [
        [t["plan_id"], plan.plan_id],
        [t["snapshot"], (_when_text(plan.snapshot) if plan.snapshot else "-")
         + (f" ({plan.snapshot_source})" if plan.snapshot_source else "")],
        [t["ref_price"], f"{plan.price} {plan.currency}/{plan.asset} "
                         f"({f.word('price_' + plan.price_method)})"],
        *[[f.word(k), v] for k, v in plan.price_detail],
        [t["rounding"], f.word(plan.rounding)],
        [t["customers"], f"{plan.customers:,}"],
        [t["total_units"], f"{format_units(plan.total_units, a, group=True)} {plan.asset}"],
        [t["total_yen"], f.yen(plan.total_yen)],
        [t["exact_total"], _yen_text(plan.exact_total_yen) if plan.exact_total_yen else "-"],
        [t["remainder"], _yen_text(plan.remainder_yen) if plan.remainder_yen else "-"],
        [t["csv_digest"], f"{plan.csv_sha256} ({digest})"]])


def _incident(report: FsaReport, f: _Fmt) -> list[Section]:
    t, i = f.t, report.incident
    assert i is not None
    s = Section(t["s5"].format(id=i.id))
    s.p(t["incident_overview"].format(
        title=i.title, state=f.word(i.state), asset=i.asset or "-", wallet=i.wallet or "-",
        opened=f.when(i.opened), closed=f.when(i.closed)))
    timeline = Section(t["s5_timeline"], 3)
    timeline.blocks.append(("img", "timeline"))
    timeline.table(_events(i.timeline, f))
    cause = Section(t["s5_cause"], 3)
    if i.causes:
        cause.p(t["cause_intro"])
        cause.table(_events(i.causes, f))
    else:
        cause.p(t["no_cause"])
    lost = Section(t["s5_lost"], 3)
    assets = sorted(set(i.lost_by_alerts) | set(i.lost_in_ledger))
    lost.table(Table([t["asset"], t["lost_alerts"], t["lost_ledger"], t["lost_yen"]],
                     [[a, f.units(a, i.lost_by_alerts.get(a)), f.units(a, i.lost_in_ledger.get(a)),
                       f.yen(_yen_of(report, a, max(i.lost_by_alerts.get(a, 0),
                                                    i.lost_in_ledger.get(a, 0))))]
                      for a in assets], numeric={1, 2, 3}))
    lost.p(t["lost_note"])
    lost.table(Table(_alert_header(f), _alert_rows(i.alerts, f), numeric={5, 6},
                     nowrap={1, 2, 3, 4}), f.none)
    refund = Section(t["s5_refund"], 3)
    refund.p(t["customers_affected"].format(
        n="-" if i.customers_affected is None else f"{i.customers_affected:,}",
        source=t["from_plan"] if i.customers_source == "plan" else
        t["from_ledger"].format(asset=i.asset or "-")))
    plan = report.refund_plan
    funds = Section(t["s5_funds"], 3)
    if plan is None:
        refund.p(t["no_plan"])
        funds.p(t["no_funds_check"])
    else:
        refund.table(_plan_table(plan, f), f.none)
        verdict = (t["funds_ok"] if plan.funds_confirmed else
                   t["funds_short"].format(short=f.yen(plan.shortfall_yen)))
        detail = dict(plan.funds_detail)
        funds.table(Table([t["item"], t["value"]], [
            *([[t["funds_as_of"], _when_text(detail["as_of"])]] if "as_of" in detail else []),
            *([[t["bank_yen"], _yen_text(detail["bank_yen"])]] if "bank_yen" in detail else []),
            *([[t["customers_yen"], _yen_text(detail["customers_yen"])]]
              if "customers_yen" in detail else []),
            [t["available"], f.yen(plan.available_yen)],
            [t["required"], f.yen(plan.required_yen)],
            [t["funds_check"], verdict]], numeric={1}))
        funds.blocks.append(("verdict", (plan.funds_confirmed, verdict)))
        funds.p(t["funds_note"])
    out = [s, timeline, cause, lost, refund, funds]
    trace = Section(t["s5_trace"], 3)
    if report.trace is None:
        trace.p(t["no_trace"])
    else:
        trace.table(_exposure(report, f))
    measures = Section(t["s5_measures"], 3)
    measures.table(_events(i.measures, f), f.none)
    return [*out, trace, measures]


# ---------------------------------------------------------------------------- outputs

def render_html(report: FsaReport, lang: str = "ja",
                images: dict[str, bytes] | None = None) -> str:
    """One self-contained page: inline CSS, images as PNG data URIs."""
    images = charts(report, lang) if images is None else images
    env = Environment(autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True)
    template = env.from_string(
        resources.files("kinko.render").joinpath("templates/fsa.html.j2").read_text("utf-8"))
    t = TEXT[lang]
    return template.render(
        lang=lang, T=t, sections=layout(report, lang), generated=_Fmt.when(report.generated_at),
        policy=report.governance.policy_version, images={
            k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in images.items()},
        alt={"custody": t["chart_custody"], "timeline": t["chart_timeline"],
             "trace": t["chart_trace"]})


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: FsaReport, lang: str = "ja",
                    images: dict[str, str] | None = None) -> str:
    """The same layout as Markdown; ``images`` maps chart names to files beside it."""
    t = TEXT[lang]
    images = images or {}
    alt = {"custody": t["chart_custody"], "timeline": t["chart_timeline"],
           "trace": t["chart_trace"]}
    lines = [f"# {t['title']}", "",
             f"{t['generated']}: {_Fmt.when(report.generated_at)} · {t['policy']}: "
             f"{report.governance.policy_version or '-'} · {t['built_from']}", "",
             *[f"- {q}" for q in t["questions"]], ""]
    for s in layout(report, lang):
        lines += ["#" * s.level + " " + s.title, ""]
        for kind, content in s.blocks:
            if kind == "p":
                lines += [content, ""]
            elif kind == "note":
                lines += [f"*{content}*", ""]
            elif kind == "quote":
                lines += [f"> {content}", ""]
            elif kind == "verdict":
                lines += [f"**{'✔' if content[0] else '✘'} {content[1]}**", ""]
            elif kind == "img":
                if content in images:
                    lines += [f"![{alt[content]}]({images[content]})", ""]
            else:
                table: Table = content
                lines.append("| " + " | ".join(_md_cell(h) for h in table.header) + " |")
                lines.append("|" + "|".join("---:" if i in table.numeric else "---"
                                            for i in range(len(table.header))) + "|")
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |"
                          for row in table.rows]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def pdf_bytes(html: str) -> bytes:
    """The HTML page as PDF (WeasyPrint; needs the Pango library and a CJK font)."""
    try:
        from weasyprint import HTML  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:
        raise EnvironmentProblem(f"PDF output needs WeasyPrint and the Pango library ({exc}); "
                                 "`make unit` installs them, or write --format html") from None
    return bytes(HTML(string=html).write_pdf())


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv_writer(fh)  # formula injection escaped
        w.writerow(header)
        w.writerows(rows)
    return path


def _plain(report: FsaReport, asset: str | None, units: int | None) -> str:
    if asset is None or units is None:
        return ""
    return format_units(units, Asset(asset, "x", report.decimals.get(asset, 0)))


def write_appendix(report: FsaReport, out: Path) -> list[Path]:
    """The CSV appendix: positions per asset, the alerts (the incident's, or all), the
    timeline. Amounts in whole units, exact; times in ISO 8601 with the JST offset."""
    def iso(d: datetime | None) -> str:
        return "" if d is None else d.astimezone(JST).isoformat()

    c = report.custody
    positions = _write_csv(out / "fsa-positions.csv", [
        "asset", "decimals", "customers", "liabilities", "hot", "warm", "cold", "online_share",
        "max_hot_ratio", "within_limit", "own_funds", "guarantee_required", "guarantee_held",
        "price_jpy", "online_jpy", "cold_jpy"],
        [[r.asset, r.decimals, r.customers, _plain(report, r.asset, r.liabilities),
          _plain(report, r.asset, r.hot), _plain(report, r.asset, r.warm),
          _plain(report, r.asset, r.cold), "" if r.online_share is None else r.online_share,
          "" if r.max_hot_ratio is None else r.max_hot_ratio,
          {True: "yes", False: "no", None: ""}[report.ratio_ok.get(r.asset)],
          _plain(report, r.asset, r.own_funds), _plain(report, r.asset, r.guarantee_required),
          _plain(report, r.asset, r.guarantee_held), "" if r.price_jpy is None else r.price_jpy,
          "" if r.online_jpy is None else r.online_jpy,
          "" if r.cold_jpy is None else r.cold_jpy] for r in c.rows])
    alerts = report.incident.alerts if report.incident is not None else report.watch.alerts
    alert_file = _write_csv(out / "fsa-alerts.csv", [
        "id", "raised", "kind", "severity", "state", "chain_state", "asset", "amount", "wallet",
        "tx_hash", "block", "incident", "detail"],
        [[a.id, iso(a.raised), a.kind, a.severity, a.state, a.chain_state or "", a.asset or "",
          _plain(report, a.asset, a.amount), a.wallet or "", a.tx_hash or "",
          "" if a.block is None else a.block, a.incident or "", a.detail] for a in alerts])
    events = report.incident.timeline if report.incident is not None else ()
    timeline = _write_csv(out / "fsa-timeline.csv", ["at", "kind", "actor", "detail"],
                          [[iso(e.at), e.kind, e.actor, e.detail] for e in events])
    return [positions, alert_file, timeline]


def write_fsa(report: FsaReport, out: Path, fmt: str = "html", lang: str = "ja") -> list[Path]:
    """Write the report (``fsa-report.<lang>.<fmt>``) and its CSV appendix into ``out``;
    Markdown gets its charts as PNG files beside it. Returns every file written."""
    if fmt not in FORMATS:
        raise BadInput(f"--format must be html, pdf or md, not {fmt!r}")
    if lang not in TEXT:
        raise BadInput(f"--lang must be ja or en, not {lang!r}")
    out.mkdir(parents=True, exist_ok=True)
    images = charts(report, lang)
    target = out / f"fsa-report.{lang}.{fmt}"
    written = []
    if fmt == "md":
        names = {}
        for name, data in images.items():
            path = out / f"fsa-chart-{name}.{lang}.png"
            path.write_bytes(data)
            names[name] = path.name
            written.append(path)
        target.write_text(render_markdown(report, lang, names), encoding="utf-8")
    elif fmt == "html":
        target.write_text(render_html(report, lang, images), encoding="utf-8")
    else:
        target.write_bytes(pdf_bytes(render_html(report, lang, images)))
    return [target, *written, *write_appendix(report, out)]
