"""``kinko watch`` (the follower, in the foreground), ``kinko alerts`` and
``kinko incidents``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import typer

from kinko.cli.app import app
from kinko.cli.runtime import emit, format_option, heading, runtime, word
from kinko.domain.addresses import TOKENS
from kinko.domain.messages import Message, msg
from kinko.domain.money import parse_units
from kinko.domain.states import ALERT_STATES, INCIDENT_STATES
from kinko.errors import BadInput, ConfigError
from kinko.i18n import ENGLISH, Localizer
from kinko.ports import AlertNotice, Notifier, SystemClock
from kinko.render.incident import incident_html
from kinko.services.containment import RaceCap
from kinko.services.incidents import Incidents, LossReport
from kinko.services.notify import Webhook
from kinko.services.watch import PollReport, Watch
from kinko.services.withdrawals import Withdrawals

SECRET_ENV = "KINKO_WATCH_WEBHOOK_SECRET"

alerts_app = typer.Typer(help="Alerts raised by the watch.", no_args_is_help=True)
incidents_app = typer.Typer(help="Incidents and their timelines.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
app.add_typer(incidents_app, name="incidents")


class Stdout:
    """A notifier for the operator's terminal: one line per alert, in ``say``'s language."""

    def __init__(self, say: Localizer = ENGLISH) -> None:
        self.say = say

    def notify(self, alert: AlertNotice) -> None:
        detail = alert["detail"]
        say = self.say
        print(say("cli.watch.alert", id=alert["id"],
                  severity=say.word("al.sev", alert["severity"]),
                  kind=say.word("al.kind", alert["kind"]), incident=alert["incident"] or "-",
                  detail=say.text(detail) if isinstance(detail, Message) else str(detail)),
              flush=True)


def report_lines(report: PollReport, say: Localizer) -> list[str]:
    """What one round of the watch tells the operator beyond its alerts: reorganisations,
    movements it could not close, emergency sweeps that failed and were sent again, and the
    withdrawals and proposals it closed."""
    return [*(say.text(m) for m in report.reorgs + report.problems + report.sweeps),
            *(say("cli.watch.closed", ref=ref) for ref in report.closed)]


def _metrics_server(port: int, metrics: Callable[[], dict[str, int]]) -> ThreadingHTTPServer:
    """Prometheus text exposition of the watch's counters at ``/metrics``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/metrics":
                self.send_error(404)
                return
            lines = []
            for name, value in sorted(metrics().items()):
                kind = "gauge" if name in ("head", "checkpoint") else "counter"
                lines += [f"# TYPE kinko_watch_{name} {kind}", f"kinko_watch_{name} {value}"]
            body = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="kinko-metrics", daemon=True).start()
    return server


@app.command("watch")
def watch(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="One round (mempool, new blocks), then "
                              "exit: 1 if it raised an alert."),
    start_block: int = typer.Option(None, "--from-block", help="Where to start when there "
                                    "is no checkpoint yet (default: the current head)."),
    metrics_port: int = typer.Option(None, "--metrics-port",
                                     help="Serve Prometheus metrics on 127.0.0.1:PORT."),
    lang: str = typer.Option(None, "--lang", help="en or ja: the language of what is "
                             "printed (default: the lang setting)."),
) -> None:
    """Follow the chain: every outflow from our wallets must match an approved movement."""
    rt = runtime(ctx)
    say = Localizer(rt.lang_for(lang))
    chain = rt.chain()
    if chain is None:
        raise ConfigError("kinko watch needs a node: set KINKO_EVM_RPC_URL or KINKO_CHAINS "
                          "(or --evm-rpc-url, --chains)", says=msg("error.watch.no_node"))
    withdrawals = Withdrawals(rt.custody())
    notifiers: list[Notifier] = [Stdout(say)]
    webhook = None
    if rt.settings.watch_webhook_url:
        webhook = Webhook(rt.store(), SystemClock(), rt.settings.watch_webhook_url,
                          os.environ.get(SECRET_ENV, ""))
        webhook.start()  # deliver what an earlier run left queued
        notifiers.append(webhook)
    with rt.store().watch(write=False) as tables:
        resume = tables.last_block(chain.name)
    first = start_block if start_block is not None else chain.head()
    tags = rt.settings.nem_tag_mosaics if chain.name in TOKENS else ()  # NEM mosaics
    watcher = Watch(withdrawals, chain, confirmations=rt.settings.confirmations,
                    notifiers=notifiers, start_block=first, tag_tokens=tags,
                    interval_ms=rt.settings.watch_interval_ms,
                    race_cap=RaceCap(rt.settings.race_max_gwei * 10**9,
                                     rt.settings.race_max_fee_percent))
    stop = threading.Event()  # SIGTERM stops the loop: caught before anyone can see it run
    if not once and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = _metrics_server(metrics_port, lambda: dict(watcher.metrics)) \
        if metrics_port else None
    print(say("cli.watch.start", chain=chain.name,
              block=str(first if resume is None else resume + 1),
              confirmations=rt.settings.confirmations), flush=True)
    raised = 0

    def show(report: PollReport) -> None:
        nonlocal raised
        raised += len(report.alerts)
        for line in report_lines(report, say):
            print(line, flush=True)

    try:
        if once:
            raised += len(watcher.audit())  # allowances and delegations from before
            report = watcher.poll()
            show(report)
            print(say("cli.watch.round", head=str(report.head), blocks=report.blocks,
                      pending=report.pending, observed=report.observed,
                      matched=report.matched, alerts=len(report.alerts)))
        else:
            with contextlib.suppress(KeyboardInterrupt):
                watcher.run(rt.settings.watch_interval_ms / 1000, stop.is_set, show,
                            sleep=stop.wait)
    finally:
        if webhook is not None:
            webhook.close()
        if server is not None:
            server.shutdown()
    if raised:
        raise typer.Exit(1)


def _incidents(ctx: typer.Context) -> Incidents:
    rt = runtime(ctx)
    return Incidents(rt.store(), SystemClock())


def _time(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def _amount(ctx: typer.Context, row: Mapping[str, Any]) -> str:
    if row.get("amount") is None or not row.get("asset"):
        return ""
    return runtime(ctx).show(str(row["asset"]), int(row["amount"]))


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    state: str = typer.Option(None, "--state", help=" or ".join(ALERT_STATES) + "."),
    fmt: str = format_option(),
) -> None:
    """Alerts, oldest first."""
    runtime(ctx).ledger()
    rows = _incidents(ctx).alerts(state)
    cells = runtime(ctx).cells(fmt)
    emit(["id", "raised", "kind", "severity", "state", "chain", "wallet", "amount", "asset",
          "tx", "incident"],
         [[a["id"], _time(a["raised"]), word(cells, "al.kind", a["kind"]),
           word(cells, "al.sev", a["severity"]), word(cells, "al.state", a["state"]),
           a["chain_state"] or "", a["wallet"] or "", _amount(ctx, a), a["asset"] or "",
           a["tx_hash"] or "", a["incident"] or ""] for a in rows], fmt, right=("amount",))


def _plain(value: Any, say: Localizer = ENGLISH) -> Any:
    """A stored value as the CLI shows it: times in ISO 8601, messages in ``say``'s
    language (English in JSON)."""
    if hasattr(value, "isoformat"):
        return _time(value)
    return say.text(value) if isinstance(value, Message) else value


def _json(row: Mapping[str, Any]) -> str:
    return json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False, indent=2)


@alerts_app.command("show")
def alerts_show(ctx: typer.Context, alert_id: str = typer.Argument(...),
                fmt: str = format_option()) -> None:
    """One alert in full."""
    runtime(ctx).ledger()
    row = _incidents(ctx).alert(alert_id)
    if fmt == "json":
        print(_json(row))
        return
    cells = runtime(ctx).cells(fmt)
    emit(["field", "value"], [[_alert_field(cells, k), _alert_value(ctx, cells, row, k)]
                              for k in row], fmt)


_ALERT_WORDS = {"kind": "al.kind", "severity": "al.sev", "state": "al.state",
                "chain_state": "al.chain"}


def _alert_field(cells: Localizer, key: str) -> str:
    """A field of ``alerts show`` as the reader's language names it (as recorded in
    English: ``chain_state``, which scripts search for; the dashboard's words else)."""
    if cells.lang == "en":
        return key
    return heading(cells, "id") if key == "id" else cells("al.tx" if key == "tx_hash"
                                                          else f"al.{key}")


def _alert_value(ctx: typer.Context, cells: Localizer, row: Mapping[str, Any],
                 key: str) -> Any:
    """A value of ``alerts show``: the amount in whole units of its asset, as ``alerts
    list`` shows it; kinds, severities and states in the reader's language."""
    value = row[key]
    if value is None:
        return ""
    if key == "amount":
        return _amount(ctx, row)
    if key in _ALERT_WORDS:
        return word(cells, _ALERT_WORDS[key], str(value))
    return _plain(value, cells)


@alerts_app.command("ack")
def alerts_ack(ctx: typer.Context, alert_id: str = typer.Argument(...),
               by: str = typer.Option(..., "--by", help="Who acknowledges it."),
               note: str = typer.Option("", "--note", help="A note kept with the "
                                        "acknowledgement: in the audit log, and on the "
                                        "timeline of the alert's incident if it has one.")
               ) -> None:
    """Acknowledge an alert (it stays on record; the breaker stays tripped)."""
    runtime(ctx).ledger()
    row = _incidents(ctx).ack(alert_id, by, note, actor=f"cli:{by.strip()}")
    print(runtime(ctx).say("cli.alerts.acked", id=row["id"], by=row["acked_by"],
                           at=_time(row["acked"])))


@incidents_app.command("list")
def incidents_list(ctx: typer.Context,
                   state: str = typer.Option(None, "--state",
                                  help=", ".join(INCIDENT_STATES) + "."),
                   fmt: str = format_option()) -> None:
    """Incidents, oldest first."""
    runtime(ctx).ledger()
    rows = _incidents(ctx).incidents(state)
    cells = runtime(ctx).cells(fmt)
    emit(["id", "state", "opened", "asset", "wallet", "title"],
         [[i["id"], word(cells, "inc.state", i["state"]), _time(i["opened"]),
           i["asset"] or "", i["wallet"] or "", i["title"]] for i in rows], fmt)


@incidents_app.command("show")
def incidents_show(ctx: typer.Context, incident_id: str = typer.Argument(...),
                   fmt: str = typer.Option("table", "--format", "-f",
                                           help="table, json, csv or html."),
                   lang: str = typer.Option(None, "--lang", help="ja or en (html; default: "
                                            "the lang setting when set, else ja)."),
                   out: Path = typer.Option(None, "--out", help="File for html.")) -> None:
    """An incident with its alerts and timeline."""
    rt = runtime(ctx)
    lang = rt.lang_for(lang, document=True)
    rt.ledger()
    view = _incidents(ctx).incident(incident_id)
    if fmt == "html":
        page = incident_html(view, lang, lambda asset, units: rt.show(asset, int(units)))
        if out is None:
            print(page)
        else:
            out.write_text(page, encoding="utf-8")
            print(rt.say("cli.incidents.written", path=str(out)))
        return
    if fmt == "json":
        print(json.dumps({"incident": json.loads(_json(view.incident)),
                          "alerts": [json.loads(_json(a)) for a in view.alerts],
                          "timeline": [json.loads(_json(e)) for e in view.timeline]},
                         ensure_ascii=False, indent=2))
        return
    i = view.incident
    if fmt == "table":
        say = rt.say
        print(say("cli.incidents.heading", id=i["id"], state=word(say, "inc.state", i["state"]),
                  title=_plain(i["title"], say), opened=_time(i["opened"])))
    cells = rt.cells(fmt)
    emit(["at", "kind", "actor", "detail"],
         [[_time(e["at"]), word(cells, "inc.ev", e["kind"]), e["actor"], e["detail"]]
          for e in view.timeline], fmt, title=cells("cli.incidents.timeline"))


@incidents_app.command("note")
def incidents_note(ctx: typer.Context, incident_id: str = typer.Argument(...),
                   text: str = typer.Argument(...),
                   by: str = typer.Option(..., "--by", help="Who writes it (named on the "
                                          "timeline as the line's author).")) -> None:
    """Add a line to an incident's timeline."""
    runtime(ctx).ledger()
    _incidents(ctx).note(incident_id, by, text, actor=f"cli:{by.strip()}")
    print(runtime(ctx).say("cli.incidents.noted", id=incident_id))





@incidents_app.command("open")
def incidents_open(ctx: typer.Context, title: str = typer.Argument(...),
                   by: str = typer.Option(..., "--by", help="Who opens it (named on its "
                                          "timeline)."),
                   asset: str = typer.Option(
                       None, "--asset", help="The asset it concerns: while the incident is "
                       "open or contained, that asset's breaker tripped by hand or reset is "
                       "written on its timeline."),
                   wallet: str = typer.Option(
                       None, "--wallet", help="A wallet whose key leaked: nothing is paid from "
                       "it (or from wallets sharing its key) while the incident is open or "
                       "contained.")) -> None:
    """Open an incident by hand."""
    rt = runtime(ctx)
    rt.ledger()
    if asset is not None:
        asset = rt.assets[asset].symbol
    opened = _incidents(ctx).open(title, by, asset=asset, wallet=wallet,
                                  actor=f"cli:{by.strip()}")
    print(rt.say("cli.incidents.opened", id=opened))


@incidents_app.command("move")
def incidents_move(ctx: typer.Context, incident_id: str = typer.Argument(...),
                   state: str = typer.Argument(..., help=", ".join(INCIDENT_STATES) + "."),
                   by: str = typer.Option(..., "--by", help="Who moves it (named on the "
                                          "incident's timeline)."),
                   reason: str = typer.Option(..., "--reason", help="Why, as written (on the "
                                              "incident's timeline).")) -> None:
    """Move an incident: open → contained → resolved (or reopen it)."""
    runtime(ctx).ledger()
    row = _incidents(ctx).move(incident_id, state, by, reason, actor=f"cli:{by.strip()}")
    say = runtime(ctx).say
    print(say("cli.incidents.moved", id=row["id"], state=word(say, "inc.state", row["state"])))


@incidents_app.command("loss")
def incidents_loss(ctx: typer.Context, incident_id: str = typer.Argument(...),
                   by: str = typer.Option(..., "--by", help="Who books the losses (named on "
                                          "the incident's timeline when any are booked)."),
                   asset: str = typer.Option(None, "--asset", help="With --wallet and "
                                             "--amount: book a loss no alert saw (found by "
                                             "people, or on a chain kinko does not watch), "
                                             "once per asset and wallet."),
                   wallet: str = typer.Option(None, "--wallet", help="The wallet it left."),
                   amount: str = typer.Option(None, "--amount", help="How much left, in "
                                              "whole units, e.g. 523000000."),
                   source: str = typer.Option("", "--source", help="Where the loss is "
                                              "recorded: the theft's transaction, a report.")
                   ) -> None:
    """Book the incident's final thefts in the ledger (loss:INCIDENT / wallet), once; or,
    with --asset, --wallet and --amount, a loss no alert saw."""
    rt = runtime(ctx)
    incidents = Incidents(rt.store(), SystemClock(), rt.ledger())
    given = [o for o, v in (("--asset", asset), ("--wallet", wallet), ("--amount", amount))
             if v is not None]
    if given and len(given) < 3:
        raise BadInput("--asset, --wallet and --amount go together (a loss no alert saw), "
                       f"not {' '.join(given)} alone",
                       says=msg("error.incident.loss_options", given=" ".join(given)))
    if given:
        coin = rt.assets[asset.strip().upper()]
        units = parse_units(amount, coin)
        booked = incidents.book_loss(incident_id, coin.symbol, wallet.strip(), units,
                                     source=source.strip() or "kinko incidents loss",
                                     by=by.strip(), actor=f"cli:{by.strip()}")
        report = LossReport(incident_id, {coin.symbol: units} if booked else {},
                            incidents.losses(incident_id), 0)
    else:
        report = incidents.record_losses(incident_id, by, actor=f"cli:{by.strip()}")
    say = rt.say
    for asset, units in sorted(report.total.items()):
        print(say("cli.incidents.loss", account=f"loss:{incident_id}",
                  amount=f"{rt.show(asset, units)} {asset}",
                  booked=f"{rt.show(asset, report.booked.get(asset, 0))}"))
    if report.pending:
        print(say("cli.incidents.pending", count=str(report.pending)))
    if not report.total and not report.pending:
        print(say("cli.incidents.no_loss", id=incident_id))
