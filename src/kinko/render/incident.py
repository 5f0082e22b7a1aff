"""An incident as one HTML page: its state, alerts and timeline, times in Japan time (JST)
with the zone shown, in Japanese or English. Data only from the incident view; every text
from the data is escaped (a label or a note can carry markup)."""

from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["incident_html"]

JST = timezone(timedelta(hours=9), "JST")

_TEXT: dict[str, dict[str, Any]] = {
    "ja": {"title": "インシデント", "state": "状態", "opened": "発生", "asset": "暗号資産",
           "wallet": "ウォレット", "alerts": "アラート", "timeline": "時系列",
           "at": "日時 (JST)", "kind": "種別", "actor": "実施者", "detail": "内容",
           "amount": "数量", "chain": "チェーン上の状態", "severity": "重大度",
           "states": {"open": "対応中", "contained": "封じ込め済み", "resolved": "解決済み"}},
    "en": {"title": "Incident", "state": "State", "opened": "Opened", "asset": "Asset",
           "wallet": "Wallet", "alerts": "Alerts", "timeline": "Timeline",
           "at": "Time (JST)", "kind": "Kind", "actor": "By", "detail": "Detail",
           "amount": "Amount", "chain": "On chain", "severity": "Severity",
           "states": {"open": "open", "contained": "contained", "resolved": "resolved"}},
}


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST")


def incident_html(view: Any, lang: str = "ja", amount: Any = None) -> str:
    """``view``: an :class:`~kinko.services.incidents.IncidentView`; ``amount(asset, units)``
    formats an amount (default: minor units)."""
    t = _TEXT["ja" if lang == "ja" else "en"]
    show = amount or (lambda _asset, units: str(units))
    i = view.incident
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(a['id'])}</td><td>{e(_when(a['raised']))}</td><td>{e(a['kind'])}</td>"
        f"<td>{e(a['severity'])}</td><td class=n>"
        f"{e(show(a['asset'], a['amount']) if a['amount'] is not None else '')}</td>"
        f"<td>{e(a['asset'] or '')}</td><td>{e(a['chain_state'] or '')}</td>"
        f"<td>{e(a['detail'])}</td></tr>" for a in view.alerts)
    events = "".join(
        f"<tr><td>{e(_when(ev['at']))}</td><td>{e(ev['kind'])}</td><td>{e(ev['actor'])}</td>"
        f"<td>{e(ev['detail'])}</td></tr>" for ev in view.timeline)
    return f"""<!doctype html>
<html lang="{e(lang)}"><head><meta charset="utf-8">
<title>{e(t['title'])} {e(i['id'])}</title>
<style>body{{font-family:"IPAexGothic","Noto Sans CJK JP",sans-serif;margin:2em}}
table{{border-collapse:collapse;margin-bottom:1.5em}} td,th{{border:1px solid #ccc;
padding:3px 6px;vertical-align:top;font-size:13px}} .n{{text-align:right}}</style></head>
<body><h1>{e(t['title'])} {e(i['id'])}: {e(i['title'])}</h1>
<p>{e(t['state'])}: <b>{e(t['states'].get(i['state'], i['state']))}</b> ·
{e(t['opened'])}: {e(_when(i['opened']))} · {e(t['asset'])}: {e(i['asset'] or '-')} ·
{e(t['wallet'])}: {e(i['wallet'] or '-')}</p>
<h2>{e(t['alerts'])}</h2><table><tr><th>ID</th><th>{e(t['at'])}</th><th>{e(t['kind'])}</th>
<th>{e(t['severity'])}</th><th>{e(t['amount'])}</th><th>{e(t['asset'])}</th>
<th>{e(t['chain'])}</th><th>{e(t['detail'])}</th></tr>{rows}</table>
<h2>{e(t['timeline'])}</h2><table><tr><th>{e(t['at'])}</th><th>{e(t['kind'])}</th>
<th>{e(t['actor'])}</th><th>{e(t['detail'])}</th></tr>{events}</table></body></html>
"""
