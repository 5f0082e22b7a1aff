"""The FSA report as a document an exchange signs and submits: HTML (self-contained), PDF
(WeasyPrint) or Markdown, with a CSV appendix.

The report opens with a cover (the addressee, the exchange's name, registration number and
representative from the settings' ``[exchange]`` section, the date, a signature block) and
a table of contents of every section and appendix; then the regulator's four questions and,
for an incident, its own section. It is laid out once (:func:`layout`: numbered sections of
paragraphs, tables and charts) and that layout is written as HTML (inline CSS, charts as
PNG data URIs: it loads nothing from the network and can be filed as it is), as PDF from
that HTML (page numbers in the contents), or as Markdown (charts as PNG files beside it).

Everything in it is the exchange's own record, in the reader's language (Japanese by
default, with the FSA's terms; or English) from the message catalogs: no path of the
machine that wrote it, no file of kinko's own, no command to type. Amounts are exact, in
whole units of each asset; yen are floored to the yen; times are Japan time, timelines to
the millisecond. The red banner means a legal test failed (the 5% limit, the performance
guarantee, reserves), nothing else. What people wrote (notes, reasons) is quoted as
written::

    paths = write_fsa(report, Path("out"), "pdf", "ja")
    # out/fsa-report.ja.pdf, out/fsa-positions.csv, out/fsa-alerts.csv, out/fsa-timeline.csv

The PDF needs Pango (a system library) and, for Japanese, a CJK font: the Makefile installs
``fonts-ipaexfont-gothic``; the CSS names IPAexGothic first, then Noto Sans CJK JP.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from kinko.domain.csvcells import csv_writer
from kinko.domain.custody import CustodyFinding
from kinko.domain.fsa import AlertInfo, Detection, FsaReport, RefundPlan, TimelineEvent
from kinko.domain.messages import N_, msg
from kinko.domain.money import Asset, format_units
from kinko.domain.policy import plain_decimal
from kinko.errors import BadInput, EnvironmentProblem
from kinko.i18n import JST, LANGS, Localizer, environment, in_zone
from kinko.render.custody import finding_basis, keys_text, refusals_text, signing_text
from kinko.render.fsa_charts import charts

__all__ = ["FORMATS", "Section", "Table", "actor", "appendices", "layout", "pdf_bytes",
           "render_html", "render_markdown", "write_fsa"]

FORMATS = ("html", "pdf", "md")
ALERTS_SHOWN = 50  # alerts listed in the document; the CSV appendix has them all
APPENDICES = ("fsa-positions.csv", "fsa-alerts.csv", "fsa-timeline.csv")
_SYSTEM_ACTORS = {"kinko:watch": "actor.watch", "kinko:screening": "actor.screening",
                  "kinko": "actor.kinko", "webhook": "actor.webhook",
                  "kinko trace": "actor.trace"}


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
    anchor: str = ""
    blocks: list[tuple[str, Any]] = field(default_factory=list)  # kind, content

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, table: Table, empty: str) -> None:
        """A table, or the sentence saying there is nothing to list (never a bare "none")."""
        self.blocks.append(("table", table) if table.rows else ("p", empty))


def actor(name: str, L: Localizer) -> str:
    """Who did it: kinko's own parts by their name in the language, people as recorded."""
    found = _SYSTEM_ACTORS.get(name)
    return L(found) if found else name


# ---------------------------------------------------------------------------- formatting

class _Fmt:
    """Numbers, times and words for one report and language."""

    def __init__(self, report: FsaReport, lang: str) -> None:
        self.L = Localizer(lang, JST)
        self.lang = self.L.lang
        self.decimals = report.decimals

    def __call__(self, message_id: str, **params: Any) -> str:
        return self.L(message_id, **params)

    def units(self, asset: str | None, units: int | None, symbol: bool = False) -> str:
        return self.L.units(units, asset, self.decimals.get(asset or "", 0), symbol=symbol)

    def when(self, value: datetime | None, ms: bool = False) -> str:
        return self.L.when(value, ms=ms)

    def ok(self, value: bool | None) -> str:
        return self(N_("fsa.unknown") if value is None
                    else N_("fsa.pass") if value else N_("fsa.fail"))


def _yen_of(report: FsaReport, asset: str, units: int) -> int | None:
    row = next((r for r in report.custody.rows if r.asset == asset), None)
    if row is None or row.price_jpy is None:
        return None
    return _in_yen(units, row.price_jpy, row.decimals)


def _in_yen(units: int, price: Decimal, decimals: int) -> int:
    """``units`` minor units at ``price`` yen per whole unit, exactly, rounded down."""
    p, q = price.as_integer_ratio()
    scale: int = 10**decimals
    return units * p // (q * scale)


# ---------------------------------------------------------------------------- the layout

def layout(report: FsaReport, lang: str = "ja") -> list[Section]:
    """Every section of the report, numbered, in order, in one language."""
    if lang not in LANGS:
        raise BadInput(f"--lang must be ja or en, not {lang!r}",
                       says=msg("error.cli.lang", lang=lang[:20]))
    f = _Fmt(report, lang)
    sections = [_positions(report, f), *_wallets(report, f), *_detection(report, f),
                *_response(report, f)]
    if report.incident is not None:
        sections += _incident(report, f)
    appendix = Section(f("fsa.appendix"))
    appendix.p(f("fsa.appendix_text"))
    appendix.table(Table([f("fsa.appendix_no"), f("fsa.appendix_file"),
                          f("fsa.appendix_what")],
                         [[f("fsa.appendix_n", n=i), name, f(f"fsa.appendix.{i}")]
                          for i, name in enumerate(appendices(report), 1)], mono={1}),
                   f("fsa.appendix_text"))
    sections.append(appendix)
    for n, s in enumerate(sections, 1):
        s.anchor = f"s{n}"
    return sections


def _legal_verdict(report: FsaReport, f: _Fmt) -> tuple[bool, str]:
    legal = report.custody.legal_breaches
    if legal:
        return False, f("fsa.verdict_legal", laws=f.L.join(dict.fromkeys(
            finding_basis(x, f.L) for x in legal)))
    if report.custody.breaches:
        return True, f("fsa.verdict_policy")
    return True, f("fsa.verdict_ok")


def _positions(report: FsaReport, f: _Fmt) -> Section:
    c = report.custody
    s = Section(f("fsa.s1"))
    s.p(f("fsa.s1_intro"))
    if report.positions_at is not None:
        s.p(f("fsa.s1_as_of", when=f.when(report.positions_at)))
    s.blocks.append(("verdict", _legal_verdict(report, f)))
    warm_online = report.governance.warm_counts_as_hot
    rows = [[r.asset, f.L.number(r.customers), f.units(r.asset, r.liabilities),
             f.units(r.asset, r.hot), f.units(r.asset, r.warm),
             f.units(r.asset, r.hot + (r.warm if warm_online else 0)),
             f.L.percent(r.online_share), f.L.percent(r.max_hot_ratio),
             f.units(r.asset, r.cold)] for r in c.rows]
    s.table(Table([f("fsa.asset"), f("cr.customers"), f("cr.liabilities"), f("cr.hot"),
                   f("cr.warm"), f("fsa.online"), f("cr.online_share"), f("cr.limit"),
                   f("cr.cold")], rows, numeric=set(range(1, 9)), nowrap={0}),
            f("fsa.no_assets"))
    rows = [[r.asset, "—" if r.price_jpy is None else f"{r.price_jpy:,f}",
             f.L.yen(r.online_jpy), f.L.yen(r.cold_jpy), f.units(r.asset, r.own_funds),
             f.units(r.asset, r.guarantee_required), f.units(r.asset, r.guarantee_held),
             f.ok(r.guarantee_held >= r.guarantee_required)] for r in c.rows]
    s.table(Table([f("fsa.asset"), f("cr.price"), f("cr.online_jpy"), f("cr.cold_jpy"),
                   f("cr.own"), f("cr.guarantee_required"), f("cr.guarantee_held"),
                   f("fsa.coverage")], rows, numeric={1, 2, 3, 4, 5, 6}, nowrap={0, 7}),
            f("fsa.no_assets"))
    if c.not_offline_share is not None:
        s.p(f("fsa.total", owed=f.L.yen(c.total_owed_jpy),
              outside=f.L.yen(c.total_not_offline_jpy), share=f.L.percent(c.not_offline_share),
              limit=f.L.percent(c.total_max_hot_ratio), verdict=f.ok(report.total_ratio_ok)))
    else:
        s.p(f("fsa.total_unpriced", verdict=f.ok(report.total_ratio_ok),
              limit=f.L.percent(c.total_max_hot_ratio)))
    s.blocks.append(("img", "custody"))
    s.table(Table([f("cr.severity"), f("fsa.asset"), f("cr.finding"), f("cr.basis")],
                  [[f.L.word("cu.sev", x.severity), x.asset or "—", f.L.text(x.message),
                    finding_basis(x, f.L)] for x in c.findings if _shown(x)],
                  nowrap={0, 1}),
            f("fsa.no_findings"))
    s.blocks.append(("note", f("cr.note") + " " + f(
        N_("fsa.warm_hot") if warm_online else N_("fsa.warm_cold"))))
    return s


def _shown(x: CustodyFinding) -> bool:
    """Findings about this report's own reading of the chain (no node was asked) are not
    the exchange's findings."""
    return x.code != "not_reconciled"


def _wallets(report: FsaReport, f: _Fmt) -> list[Section]:
    g = report.governance
    s = Section(f("fsa.s2"))
    s.p(f("fsa.s2_intro"))
    signing = {w.wallet: w for w in report.custody.wallets}
    s.table(Table([f("fsa.wallet"), f("fsa.asset"), f("fsa.tier"), f("fsa.addresses"),
                   f("fsa.balance"), f("cw.signing"), f("fsa.keys"), f("cw.refusals")],
                  [[w.name, w.asset, f.L.word("tier", w.tier), " ".join(w.addresses) or "—",
                    f.units(w.asset, w.balance),
                    signing_text(signing[w.name], f.L) if w.name in signing else "—",
                    keys_text(signing[w.name], f.L) if w.name in signing
                    else f.L.word("keys", w.keys),
                    refusals_text(signing[w.name], f.L) if w.name in signing else "—"]
                   for w in report.wallets], numeric={4}, mono={3}),
            f("fsa.no_wallets"))
    s.p(f("fsa.key_custody"))
    limits = Section(f("fsa.s2_limits"), 3)
    limits.table(Table(
        [f("fsa.asset"), f("cr.limit"), f("fsa.target"), f("fsa.hot_min"), f("fsa.hot_max"),
         f("fsa.cold_wallet"), f("fsa.emergency_address")],
        [[x.asset, f.L.percent(x.max_hot_ratio), f.L.percent(x.target_hot_ratio),
          f.units(x.asset, x.hot_min),
          "—" if x.hot_max is None else f.units(x.asset, x.hot_max),
          x.cold_wallet or "—", x.emergency_address or "—"] for x in report.limits],
        numeric={1, 2, 3, 4}, mono={6}), f("fsa.no_limits"))
    limits.p(f("fsa.sweep_rule"))
    limits.p(f("fsa.refill_rule"))
    gov = Section(f("fsa.s2_governance"), 3)
    if g.policy_version is None:
        gov.p(f("fsa.no_policy"))
    else:
        gov.p(f("fsa.governance", version=g.policy_version,
                digest=(g.policy_digest or "")[:16], quorum=g.quorum, n=len(g.approvers),
                ttl=g.proposal_ttl_hours))
        gov.table(Table([f("fsa.approver"), f("fsa.key_fingerprint")],
                        [[a.name, a.key_fingerprint] for a in g.approvers], mono={1}),
                  f("fsa.no_approvers"))
    moves = Section(f("fsa.s2_moves"), 3)
    moves.table(Table([f("fsa.id"), f("fsa.kind"), f("fsa.asset"), f("fsa.amount"),
                       f("fsa.state"), f("fsa.approvals"), f("fsa.created"),
                       f("fsa.emergency")],
                      [[m.id, f.L.word("prop.kind", m.kind), m.asset,
                        f.units(m.asset, m.amount), f.L.word("prop.state", m.state),
                        _approvals(m.approvals, m.quorum, m.preauthorised, f),
                        f.when(m.created_at), m.emergency or "—"] for m in report.moves],
                      numeric={3}, nowrap={6}), f("fsa.no_moves"))
    return [s, limits, gov, moves]


def _approvals(done: int, quorum: int, preauthorised: tuple[int, str] | None,
               f: _Fmt) -> str:
    """m of n, or the clause of the quorum-approved policy that authorised it in advance."""
    if preauthorised is not None:
        version, clause = preauthorised
        return f("fsa.preauthorised", version=version, clause=_clause(clause))
    return f("cr.progress", done=done, quorum=quorum)


def _clause(clause: str) -> str:
    """``watch.emergency_sweep=auto`` as the policy file writes it."""
    key, _, value = clause.partition("=")
    section, _, name = key.rpartition(".")
    return f'[{section or "watch"}] {name} = "{value}"'


def _alert_rows(alerts: tuple[AlertInfo, ...], f: _Fmt) -> list[list[str]]:
    return [[a.id, f.when(a.raised, ms=True), f.L.word("al.kind", a.kind),
             f.L.word("al.sev", a.severity), f.L.word("al.chain", a.chain_state),
             f.units(a.asset, a.amount, symbol=True),
             "—" if a.block is None else f"{a.block:,}", a.incident or "—"] for a in alerts]


def _alert_header(f: _Fmt) -> list[str]:
    return [f("fsa.id"), f("fsa.raised"), f("fsa.kind"), f("cr.severity"),
            f("fsa.chain_state"), f("fsa.amount"), f("fsa.block"), f("fsa.incident")]


def _detection(report: FsaReport, f: _Fmt) -> list[Section]:
    w = report.watch
    s = Section(f("fsa.s3"))
    s.p(f("fsa.s3_intro"))
    rules = Section(f("fsa.s3_rules"), 3)
    rules.p(f("fsa.rules_intro"))
    rules.table(Table(
        [f("fsa.rule"), f("fsa.kind"), f("fsa.asset"), f("fsa.params"), f("fsa.action"),
         f("fsa.reason")],
        [[r.name, f.L.word("rule.kind", r.kind), r.asset or f("fsa.all_assets"),
          "; ".join(f"{f.L.word('rule.param', k)} {_param(k, v, f)}" for k, v in r.params)
          or "—",
          f.L.word("wd.outcome", r.action), f.L.text(r.reason)] for r in report.rules]),
        f("fsa.no_rules"))
    rules.p(f("fsa.deny_listed", n=w.deny_listed))
    watch = Section(f("fsa.s3_watch"), 3)
    watch.p(f("fsa.watch_match"))
    watch.p(f("fsa.watch_setup", confirmations=w.confirmations,
              node=w.node or f("fsa.no_node"),
              mempool=f(N_("fsa.mempool_yes") if w.mempool else N_("fsa.mempool_no"))))
    gw = report.governance.watch
    if gw is not None:
        watch.p(f("fsa.watch_policy", drop=f.L.percent(gw.balance_drop_percent / 100, 0),
                  window=int(gw.balance_drop_window.total_seconds()),
                  sweep=f(f"sweep_mode.{gw.emergency_sweep}"),
                  trip=f(N_("fsa.trip_global") if gw.trip_global else N_("fsa.trip_asset"))))
    beats = {chain: (at, last, head) for chain, at, last, head in w.heartbeats}
    watch.table(Table([f("fsa.chain"), f("fsa.checkpoint"), f("fsa.last_round"),
                       f("fsa.node_head")],
                      [[c, "—" if b is None else f"{b:,}",
                        f.when(beats[c][0]) if c in beats else f("fsa.never_ran"),
                        "—" if c not in beats or beats[c][2] is None else f"{beats[c][2]:,}"]
                       for c, b in w.chains], numeric={1, 3}, nowrap={2}),
                f("fsa.no_chains"))
    alerts = Section(f("fsa.s3_alerts"), 3)
    if w.alerts_total:
        alerts.p(f("fsa.alerts_intro", n=w.alerts_total,
                   shown=min(ALERTS_SHOWN, w.alerts_total)))
    alerts.table(Table(_alert_header(f), _alert_rows(w.alerts[:ALERTS_SHOWN], f),
                       numeric={5, 6}, nowrap={1, 2, 3, 4}), f("fsa.no_alerts"))
    latency = Section(f("fsa.s3_latency"), 3)
    latency.p(f("fsa.latency_intro"))
    latency.table(_detections(w.detections, f), f("fsa.no_detections"))
    if w.detections:
        latency.p(f("fsa.latency_note"))
    return [s, rules, watch, alerts, latency]


def _detections(rows: tuple[Detection, ...], f: _Fmt) -> Table:
    def seconds(value: float | None) -> str:  # a negative one: the clocks disagree
        return "—" if value is None or value < 0 else f"{value:,.0f}"

    return Table([f("fsa.alert"), f("fsa.tx"), f("fsa.block"), f("fsa.block_time"),
                  f("fsa.first_seen"), f("fsa.raised"), f("fsa.seen_to_alarm"),
                  f("fsa.block_to_alarm")],
                 [[d.alert, _short(d.tx_hash), "—" if d.block is None else f"{d.block:,}",
                   f.when(d.block_time), f.when(d.first_seen, ms=True),
                   f.when(d.raised, ms=True),
                   "—" if d.seen_to_alarm_ms is None else f"{d.seen_to_alarm_ms:,}",
                   seconds(d.block_to_alarm_s)] for d in rows],
                 numeric={2, 6, 7}, mono={1}, nowrap={3, 4, 5})


def _short(tx_hash: str) -> str:
    """A transaction hash fitted to a table cell (in full in the alerts appendix)."""
    return tx_hash if len(tx_hash) <= 20 else f"{tx_hash[:10]}…{tx_hash[-6:]}"


def _response(report: FsaReport, f: _Fmt) -> list[Section]:
    s = Section(f("fsa.s4"))
    s.p(f("fsa.s4_intro"))
    breaker = Section(f("fsa.s4_breaker"), 3)
    breaker.p(f("fsa.breaker_rule"))

    def scope(value: str) -> str:
        return f("brk.all") if value == "*" else value

    if report.breaker_tripped:
        breaker.p(f("fsa.breaker_tripped", scopes=f.L.join(
            scope(e.scope) for e in report.breaker_tripped)))
    else:
        breaker.p(f("fsa.breaker_clear"))
    breaker.table(Table([f("fsa.at"), f("fsa.scope"), f("fsa.event"), f("fsa.by"),
                         f("fsa.reason")],
                        [[f.when(e.at, ms=True), scope(e.scope), f.L.word("brk.ev", e.event),
                          actor(e.by, f.L), f.L.text(e.reason)] for e in report.breaker_log],
                        nowrap={0, 1, 2}), f("fsa.no_breaker_events"))
    sweep = Section(f("fsa.s4_sweep"), 3)
    gw = report.governance.watch
    sweep.p(f("fsa.sweep_mode", mode=f(f"sweep_mode.{gw.emergency_sweep}") if gw
              else f("sweep_mode.none")))
    sweep.table(Table([f("fsa.id"), f("fsa.asset"), f("fsa.amount"), f("fsa.state"),
                       f("fsa.approvals"), f("fsa.incident"), f("fsa.tx")],
                      [[m.id, m.asset, f.units(m.asset, m.amount),
                        f.L.word("prop.state", m.state),
                        _approvals(m.approvals, m.quorum, m.preauthorised, f),
                        m.emergency or "—", m.tx_hash or "—"]
                       for m in report.emergency_sweeps], numeric={2}, mono={6}, nowrap={3}),
                f("fsa.no_sweeps"))
    trace = Section(f("fsa.s4_trace"), 3)
    x = report.trace
    if x is None:
        trace.p(f("fsa.no_trace"))
    else:
        def amount(value: int) -> str:
            return f.units(x.asset, value, True) if x.asset else f"{value:,}"

        trace.p(f("fsa.trace_summary", policy=f.L.word("tr.policy", x.policy),
                  seeds=x.seed_transactions, seeded=amount(x.seeded), held=amount(x.held),
                  absorbed=amount(x.absorbed), burned=amount(x.burned),
                  conserved=f(N_("fsa.conserved") if x.conserved else N_("fsa.not_checked")
                              if x.conserved is None else N_("fsa.not_conserved")),
                  tainted=x.tainted_addresses))
        if x.at_hop_limit:
            trace.p(f("fsa.trace_hop_limit", at_hop_limit=amount(x.at_hop_limit)))
        trace.table(_exposure(report, f), f("fsa.no_exposure"))
        trace.p(f("fsa.blacklist", file=Path(x.blacklist).name, n=x.blacklisted)
                if x.blacklist else f("fsa.no_blacklist"))
        if x.graph_png:
            trace.blocks.append(("img", "trace"))
    notices = Section(f("fsa.s4_notices"), 3)
    notices.p(f("fsa.notices_intro"))
    notices.table(Table([f("fsa.id"), f("fsa.alert"), f("fsa.state"), f("fsa.attempts"),
                         f("fsa.next"), f("fsa.error")],
                        [[str(n.id), n.alert, f.L.word("notice.state", n.state),
                          str(n.attempts), f.when(n.next_at), n.last_error or "—"]
                         for n in report.notices], numeric={0, 3}), f("fsa.no_notices"))
    return [s, breaker, sweep, trace, notices]


def _exposure(report: FsaReport, f: _Fmt) -> Table:
    x = report.trace
    assert x is not None
    return Table([f("fsa.entity"), f("fsa.category"), f("fsa.exposure"), f("fsa.addresses_n")],
                 [[e.entity, f.L.word("label.category", e.category),
                   f.units(x.asset, e.taint, True) if x.asset else f"{e.taint:,}",
                   f"{e.addresses:,}"] for e in x.exposure], numeric={2, 3})


def _events(events: tuple[TimelineEvent, ...], f: _Fmt) -> Table:
    return Table([f("fsa.at"), f("fsa.kind"), f("fsa.by"), f("fsa.detail")],
                 [[f.when(e.at, ms=True), f.L.word("inc.ev", e.kind), actor(e.actor, f.L),
                   f.L.text(e.detail)] for e in events], nowrap={0, 1})


def _yen_text(text: str) -> str:
    """A yen amount recorded as exact text (whole or fractional yen), shown grouped."""
    try:
        value = Decimal(text)
    except ArithmeticError:
        return text
    return f"¥{value:,f}" if value.is_finite() else text


def _when_text(text: str, f: _Fmt) -> str:
    """A time recorded as ISO 8601 text, in JST (as written when it is not one)."""
    try:
        return f.when(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text


def _param(name: str, value: str, f: _Fmt) -> str:
    """A rule's parameter as shown: a window's scope in words, the rest as written."""
    return f.L.word("rule.scope", value) if name == "scope" else value


def _source(text: str, f: _Fmt) -> str:
    """What fixed a refund plan's snapshot, in the plan file's words ("alert A-1" or
    "incident opened"), in the reader's language."""
    alert = re.fullmatch(r"alert (\S+)", text)
    if alert:
        return f("fsa.source_alert", alert=alert.group(1))
    return f("fsa.source_opened") if text == "incident opened" else text


def _plan_table(plan: RefundPlan, f: _Fmt) -> Table:
    a = Asset(plan.asset, "x", plan.decimals)
    digest = f(N_("fsa.digest_none") if plan.csv_verified is None else
               N_("fsa.digest_ok") if plan.csv_verified else N_("fsa.digest_bad"))
    source = f"（{_source(plan.snapshot_source, f)}）" if plan.snapshot_source else ""
    return Table([f("fsa.item"), f("fsa.value")], [
        [f("fsa.plan_id"), plan.plan_id],
        [f("fsa.snapshot"), (_when_text(plan.snapshot, f) if plan.snapshot else "—")
         + (source if f.lang == "ja" else source.replace("（", " (").replace("）", ")"))],
        [f("fsa.ref_price"), f("fsa.price", price=f"{plan.price:f}", currency=plan.currency,
                                asset=plan.asset,
                                method=f.L.word("price", plan.price_method))],
        *[[f(f"price.{k}"), v] for k, v in plan.price_detail],
        [f("fsa.rounding"), f.L.word("rounding", plan.rounding)],
        [f("fsa.customers"), f"{plan.customers:,}"],
        [f("fsa.total_units"), f"{format_units(plan.total_units, a, group=True)} {plan.asset}"],
        [f("fsa.total_yen"), f.L.yen(plan.total_yen)],
        [f("fsa.exact_total"), _yen_text(plan.exact_total_yen) if plan.exact_total_yen
         else "—"],
        [f("fsa.remainder"), _yen_text(plan.remainder_yen) if plan.remainder_yen else "—"],
        [f("fsa.csv_digest"), f"{plan.csv_sha256} ({digest})"]])


def _detected(report: FsaReport, f: _Fmt) -> str:
    """When the incident was detected, from what kinko recorded."""
    i = report.incident
    assert i is not None
    d = i.detection
    if d is None:
        return f("fsa.detect_none", opened=f.when(i.opened, ms=True))
    seen = f(N_("fsa.detect_seen_mempool") if d.pending_first else N_("fsa.detect_seen_block"),
             when=f.when(d.first_seen, ms=True) if d.first_seen else "—")
    text = f("fsa.detect", tx=d.tx_hash, block="—" if d.block is None else f"{d.block:,}",
             block_time=f.when(d.block_time), seen=seen, raised=f.when(d.raised, ms=True))
    if d.seen_to_alarm_ms is not None:
        text += f("fsa.detect_seen_delay", ms=f"{d.seen_to_alarm_ms:,}")
    if d.block_to_alarm_s is not None and d.block_to_alarm_s >= 0:  # else: clocks disagree
        text += f("fsa.detect_block_delay", s=f"{d.block_to_alarm_s:,.0f}")
    return text


def _incident(report: FsaReport, f: _Fmt) -> list[Section]:
    i = report.incident
    assert i is not None
    s = Section(f("fsa.s5", id=i.id))
    s.p(f("fsa.incident_overview", title=f.L.text(i.title), state=f.L.word("inc.state", i.state),
          asset=i.asset or "—", wallet=i.wallet or "—", opened=f.when(i.opened),
          closed=f.when(i.closed) if i.closed else f("fsa.not_closed")))
    s.p(_detected(report, f))
    timeline = Section(f("fsa.s5_timeline"), 3)
    timeline.blocks.append(("img", "timeline"))
    timeline.table(_events(i.timeline, f), f("fsa.no_events"))
    cause = Section(f("fsa.s5_cause"), 3)
    if i.causes:
        cause.p(f("fsa.cause_intro"))
        cause.table(_events(i.causes, f), f("fsa.no_cause"))
    else:
        cause.p(f("fsa.no_cause"))
    lost = Section(f("fsa.s5_lost"), 3)
    assets = sorted(set(i.lost_by_alerts) | set(i.lost_in_ledger))
    at_plan: set[str] = set()  # valued at the refund plan's price: no reference price set

    def lost_yen(a: str) -> int | None:
        units = max(i.lost_by_alerts.get(a, 0), i.lost_in_ledger.get(a, 0))
        yen = _yen_of(report, a, units)
        held = report.refund_plan
        if yen is None and held is not None and held.asset == a and held.currency == "JPY":
            at_plan.add(a)
            return _in_yen(units, held.price, held.decimals)
        return yen

    lost.table(Table([f("fsa.asset"), f("fsa.lost_alerts"), f("fsa.lost_ledger"),
                      f("fsa.lost_yen")],
                     [[a, f.units(a, i.lost_by_alerts.get(a)), f.units(a, i.lost_in_ledger.get(a)),
                       f.L.yen(lost_yen(a))] for a in assets], numeric={1, 2, 3}),
               f("fsa.no_loss"))
    lost.p(f("fsa.lost_note"))
    if at_plan and report.refund_plan is not None:
        valued = report.refund_plan
        lost.p(f("fsa.lost_at_plan_price", price=f"{valued.price:f}",
                 currency=valued.currency, asset=valued.asset))
    lost.table(Table(_alert_header(f), _alert_rows(i.alerts, f), numeric={5, 6},
                     nowrap={1, 2, 3, 4}), f("fsa.no_incident_alerts"))
    refund = Section(f("fsa.s5_refund"), 3)
    short = f.L.join(f.units(a, v, True) for a, v in i.shortfall.items())
    refund.p(f(f"fsa.affected.{i.customers_source}",
               n="—" if i.customers_affected is None else f"{i.customers_affected:,}",
               asset=i.asset or "—", short=short or "—"))
    plan = report.refund_plan
    funds = Section(f("fsa.s5_funds"), 3)
    if plan is None:
        refund.p(f("fsa.no_plan"))
        funds.p(f("fsa.no_funds_check"))
    else:
        refund.table(_plan_table(plan, f), f("fsa.no_plan"))
        verdict = (f("fsa.funds_ok") if plan.funds_confirmed else
                   f("fsa.funds_short", short=f.L.yen(plan.shortfall_yen)))
        detail = dict(plan.funds_detail)
        funds.table(Table([f("fsa.item"), f("fsa.value")], [
            *([[f("fsa.funds_as_of"), _when_text(detail["as_of"], f)]]
              if "as_of" in detail else []),
            *([[f("fsa.bank_yen"), _yen_text(detail["bank_yen"])]]
              if "bank_yen" in detail else []),
            *([[f("fsa.customers_yen"), _yen_text(detail["customers_yen"])]]
              if "customers_yen" in detail else []),
            [f("fsa.available"), f.L.yen(plan.available_yen)],
            [f("fsa.required"), f.L.yen(plan.required_yen)],
            [f("fsa.funds_check"), verdict]], numeric={1}), f("fsa.no_funds_check"))
        funds.blocks.append(("funds", (plan.funds_confirmed, verdict)))
        funds.p(f("fsa.funds_note"))
    trace = Section(f("fsa.s5_trace"), 3)
    if report.trace is None:
        trace.p(f("fsa.no_trace"))
    else:
        trace.table(_exposure(report, f), f("fsa.no_exposure"))
    measures = Section(f("fsa.s5_measures"), 3)
    measures.table(_events(i.measures, f), f("fsa.no_measures"))
    return [s, timeline, cause, lost, refund, funds, trace, measures]


# ---------------------------------------------------------------------------- the cover

def _cover(report: FsaReport, f: _Fmt) -> dict[str, str]:
    sub = report.submitter
    addressee = (f(f"fsa.addressee.{sub.addressee}")
                 if sub.addressee in ("fsa", "kanto") else f("fsa.addressee_as",
                                                              who=sub.addressee))
    title = f(N_("fsa.title_incident") if report.incident is not None else N_("fsa.title"))
    return {"addressee": addressee, "title": title, "date": f.L.date(report.generated_at),
            "name": sub.name, "registration": sub.registration,
            "representative": sub.representative, "address": sub.address,
            "lead": f(N_("fsa.lead_incident") if report.incident is not None else N_("fsa.lead"))}


# ---------------------------------------------------------------------------- outputs

def _images(images: dict[str, bytes]) -> dict[str, str]:
    return {k: "data:image/png;base64," + base64.b64encode(v).decode()
            for k, v in images.items()}


def render_html(report: FsaReport, lang: str = "ja",
                images: dict[str, bytes] | None = None) -> str:
    """One self-contained document: cover, contents, sections; inline CSS, images as PNG
    data URIs."""
    images = charts(report, lang) if images is None else images
    f = _Fmt(report, lang)
    template = environment(None, f.lang).from_string(
        resources.files("kinko.render").joinpath("templates/fsa.html.j2").read_text("utf-8"))
    return template.render(
        L=f.L, sections=layout(report, lang), cover=_cover(report, f),
        generated=f.when(report.generated_at), policy=report.governance.policy_version,
        images=_images(images), alt={k: f(f"fsa.chart_{k}") for k in ("custody", "timeline",
                                                                       "trace")})


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: FsaReport, lang: str = "ja",
                    images: dict[str, str] | None = None) -> str:
    """The same layout as Markdown; ``images`` maps chart names to files beside it."""
    f = _Fmt(report, lang)
    images = images or {}
    cover = _cover(report, f)
    sections = layout(report, lang)
    lines = [cover["date"], "", cover["addressee"], "", f"# {cover['title']}", "",
             *[f"{f(f'fsa.cover_{k}')}: {cover[k] or '＿＿＿＿＿＿＿＿'}"
               for k in ("name", "registration", "representative", "address")], "",
             cover["lead"], "", f"## {f('fsa.toc')}", "",
             *[f"{'  ' * (s.level - 2)}- {s.title}" for s in sections], ""]
    for s in sections:
        lines += ["#" * s.level + " " + s.title, ""]
        for kind, content in s.blocks:
            if kind == "p":
                lines += [content, ""]
            elif kind == "note":
                lines += [f"*{content}*", ""]
            elif kind in ("verdict", "funds"):
                lines += [f"**{'✔' if content[0] else '✘'} {content[1]}**", ""]
            elif kind == "img":
                if content in images:
                    lines += [f"![{f(f'fsa.chart_{content}')}]({images[content]})", ""]
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
    """The HTML document as PDF (WeasyPrint; needs the Pango library and a CJK font)."""
    try:
        from weasyprint import HTML  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:
        raise EnvironmentProblem(f"PDF output needs WeasyPrint and the Pango library ({exc}); "
                                 "`make unit` installs them, or write --format html",
                                 says=msg("error.fsa.pdf_unavailable",
                                          reason=str(exc)[:200])) from None
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


def write_appendix(report: FsaReport, out: Path, lang: str = "ja") -> list[Path]:
    """The CSV appendix: positions per asset, the alerts (the incident's, or all), the
    timeline. Amounts in whole units, exact; times in ISO 8601 with the JST offset; the
    words for people in the report's language."""
    L = Localizer(lang, JST)

    def iso(d: datetime | None) -> str:
        return "" if d is None else in_zone(d, JST).isoformat()

    c = report.custody
    positions = _write_csv(out / APPENDICES[0], [
        "asset", "decimals", "customers", "liabilities", "hot", "warm", "cold", "online_share",
        "max_hot_ratio", "within_limit", "own_funds", "guarantee_required", "guarantee_held",
        "price_jpy", "online_jpy", "cold_jpy"],
        [[r.asset, r.decimals, r.customers, _plain(report, r.asset, r.liabilities),
          _plain(report, r.asset, r.hot), _plain(report, r.asset, r.warm),
          _plain(report, r.asset, r.cold),
          "" if r.online_share is None else plain_decimal(r.online_share),
          "" if r.max_hot_ratio is None else plain_decimal(r.max_hot_ratio),
          {True: "yes", False: "no", None: ""}[report.ratio_ok.get(r.asset)],
          _plain(report, r.asset, r.own_funds), _plain(report, r.asset, r.guarantee_required),
          _plain(report, r.asset, r.guarantee_held),
          "" if r.price_jpy is None else plain_decimal(r.price_jpy),
          "" if r.online_jpy is None else r.online_jpy,
          "" if r.cold_jpy is None else r.cold_jpy] for r in c.rows])
    alerts = report.incident.alerts if report.incident is not None else report.watch.alerts
    alert_file = _write_csv(out / APPENDICES[1], [
        "id", "raised", "kind", "severity", "state", "chain_state", "asset", "amount", "wallet",
        "tx_hash", "block", "incident", "detail"],
        [[a.id, iso(a.raised), a.kind, a.severity, a.state, a.chain_state or "", a.asset or "",
          _plain(report, a.asset, a.amount), a.wallet or "", a.tx_hash or "",
          "" if a.block is None else a.block, a.incident or "", L.text(a.detail)]
         for a in alerts])
    if report.incident is None:
        return [positions, alert_file]
    timeline = _write_csv(out / APPENDICES[2], ["at", "kind", "actor", "detail"],
                          [[iso(e.at), e.kind, e.actor, L.text(e.detail)]
                           for e in report.incident.timeline])
    return [positions, alert_file, timeline]


def appendices(report: FsaReport) -> tuple[str, ...]:
    """The CSV files filed with the report: the timeline only with an incident."""
    return APPENDICES if report.incident is not None else APPENDICES[:2]


def write_fsa(report: FsaReport, out: Path, fmt: str = "html", lang: str = "ja") -> list[Path]:
    """Write the report (``fsa-report.<lang>.<fmt>``) and its CSV appendix into ``out``;
    Markdown gets its charts as PNG files beside it. Returns every file written."""
    if fmt not in FORMATS:
        raise BadInput(f"--format must be html, pdf or md, not {fmt!r}",
                       says=msg("error.cli.format", formats=", ".join(FORMATS),
                                format=fmt[:20]))
    if lang not in LANGS:
        raise BadInput(f"--lang must be ja or en, not {lang!r}",
                       says=msg("error.cli.lang", lang=lang[:20]))
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
    return [target, *written, *write_appendix(report, out, lang)]
