"""The custody report as a table, CSV, JSON or a self-contained HTML page, in Japanese or
English.

Japanese headings follow the FSA's wording (ホットウォレット, コールドウォレット,
履行保証暗号資産, 分別管理). Amounts are shown exactly in whole units of each asset; yen
values are floored to the yen. The HTML page has no scripts and loads nothing from the
network, so it can be printed, archived or handed in as it is.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta, timezone
from decimal import Decimal
from importlib import resources
from typing import Any

from jinja2 import Environment, select_autoescape

from kinko.domain.custody import CustodyFinding
from kinko.domain.money import Asset, format_units
from kinko.domain.report import CustodyReport, CustodyRow
from kinko.render.tables import render_rows

__all__ = ["LABELS", "render_custody"]

JST = timezone(timedelta(hours=9), "JST")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Custody report: segregation of customer crypto-assets",
        "generated": "Generated", "policy": "Policy version", "asset": "Asset",
        "customers": "Customers", "liabilities": "Owed to customers",
        "hot": "Hot wallet", "warm": "Warm wallet", "cold": "Cold wallet",
        "online_share": "Online share", "limit": "Limit", "own": "Own funds",
        "guarantee_required": "Guarantee required", "guarantee_held": "Guarantee held",
        "price": "JPY per unit", "online_jpy": "Online (JPY)", "cold_jpy": "Cold (JPY)",
        "total": "All assets by yen value", "findings": "Findings", "severity": "Severity",
        "finding": "Finding", "pending": "Pending moves", "state": "State",
        "approvals": "Approvals", "kind": "Kind", "amount": "Amount", "none": "None",
        "verdict_ok": "No breach of the custody rules.",
        "verdict_bad": "Breaches found: see the findings below.",
        "note": ("Online = hot (and warm, unless the policy says otherwise). Guarantee: the "
                 "exchange's own crypto held offline must cover the customer crypto held "
                 "online (Payment Services Act Art. 63-11-2). Limit: at most 5% of customer "
                 "crypto by yen value online (Cabinet Office Ordinance Art. 27)."),
    },
    "ja": {
        "title": "暗号資産の分別管理状況報告書",
        "generated": "作成日時", "policy": "管理方針の版", "asset": "暗号資産",
        "customers": "顧客数", "liabilities": "顧客預り暗号資産",
        "hot": "ホットウォレット", "warm": "ウォームウォレット", "cold": "コールドウォレット",
        "online_share": "オンライン管理比率", "limit": "上限", "own": "自己保有",
        "guarantee_required": "履行保証暗号資産（必要額）",
        "guarantee_held": "履行保証暗号資産（保有額）",
        "price": "単価（円）", "online_jpy": "オンライン管理（円換算）",
        "cold_jpy": "コールドウォレット（円換算）", "total": "全暗号資産（円換算）",
        "findings": "検出事項", "severity": "重要度", "finding": "内容",
        "pending": "未完了の移動提案", "state": "状態", "approvals": "承認", "kind": "種別",
        "amount": "数量", "none": "なし",
        "verdict_ok": "分別管理に関する規制違反は検出されていません。",
        "verdict_bad": "規制違反が検出されました。下記の検出事項を参照してください。",
        "note": ("オンライン管理＝ホットウォレット（管理方針で別段の定めがない限り"
                 "ウォームウォレットを含む）。履行保証暗号資産：オンラインで管理する顧客暗号資産と同種・同量以上の"
                 "自己の暗号資産をオフラインで保有すること（資金決済法第63条の11の2）。"
                 "上限：顧客暗号資産の円換算額の5%以下（暗号資産交換業者に関する内閣府令第27条）。"),
    },
}

# Japanese wording of each finding; the English message comes from the domain
_JA_FINDINGS = {
    "hot_ratio_breach": "{asset}：オンライン管理比率が上限を超えています（超過 {amount}）",
    "total_hot_ratio_breach": "全暗号資産：円換算のオンライン管理比率が上限（5%）を超えています"
                              "（内閣府令第27条）",
    "guarantee_shortfall": "{asset}：履行保証暗号資産が不足しています（不足 {amount}）"
                           "（資金決済法第63条の11の2）",
    "reserve_shortfall": "{asset}：保有額が顧客預り額に対して不足しています（不足 {amount}）",
    "hot_above_max": "{asset}：ホットウォレットの残高が上限を超えています（超過 {amount}）",
    "hot_below_min": "{asset}：ホットウォレットの残高が下限を下回っています（不足 {amount}）",
    "no_policy": "{asset}：管理方針に上限が定められていません",
    "no_price": "{asset}：円換算の参照価格がありません",
    "not_reconciled": "{wallet}：このチェーンのノードが未設定のため、残高照合を行っていません",
    "no_addresses": "{wallet}：ウォレットのアドレスが登録されていません",
    "wallet_short": "{wallet}：オンチェーン残高が帳簿残高より {amount} 少ない"
                    "（記帳されていない流出）",
    "wallet_unbooked": "{wallet}：オンチェーン残高が帳簿残高より {amount} 多い（未記帳の入金）",
    "deep_reorg": "承認数を超える深さのチェーン再編成を検出し、入金記帳を取り消しました",
}


def finding_text(f: CustodyFinding, lang: str, decimals: dict[str, int]) -> str:
    if lang == "ja" and f.code == "no_policy" and f.asset is None:
        return "管理方針が読み込まれていません（kinko policy load で読み込みます）"
    template = _JA_FINDINGS.get(f.code) if lang == "ja" else None
    if template is None:
        return f.message
    amount = "-"
    if f.amount is not None and f.asset is not None and f.asset in decimals:
        amount = f"{format_units(f.amount, Asset(f.asset, 'x', decimals[f.asset]), group=True)} "\
                 f"{f.asset}"
    return template.format(asset=f.asset or "-", amount=amount, wallet=f.wallet or f.asset or "-")


_SEVERITY = {"en": {"critical": "critical", "warning": "warning", "info": "info"},
             "ja": {"critical": "重大", "warning": "注意", "info": "情報"}}


def _units(row: CustodyRow, value: int) -> str:
    return format_units(value, Asset(row.asset, "x", row.decimals), group=True)


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _yen(value: int | None) -> str:
    return "-" if value is None else f"¥{value:,}"


def _table_rows(report: CustodyReport) -> list[list[str]]:
    return [[r.asset, f"{r.customers:,}", _units(r, r.liabilities), _units(r, r.hot),
             _units(r, r.warm), _units(r, r.cold), _pct(r.online_share), _pct(r.max_hot_ratio),
             _units(r, r.own_funds), _units(r, r.guarantee_required),
             _units(r, r.guarantee_held), _yen(r.online_jpy), _yen(r.cold_jpy)]
            for r in report.rows]


_COLUMNS = ["asset", "customers", "liabilities", "hot", "warm", "cold", "online_share", "limit",
            "own", "guarantee_required", "guarantee_held", "online_jpy", "cold_jpy"]


def _json(report: CustodyReport) -> str:
    def row(r: CustodyRow) -> dict[str, Any]:
        return {
            "asset": r.asset, "customers": r.customers,
            "liabilities": str(r.liabilities), "hot": str(r.hot), "warm": str(r.warm),
            "cold": str(r.cold), "own_funds": str(r.own_funds),
            "online_share": None if r.online_share is None else str(r.online_share),
            "max_hot_ratio": None if r.max_hot_ratio is None else str(r.max_hot_ratio),
            "guarantee_required": str(r.guarantee_required),
            "guarantee_held": str(r.guarantee_held),
            "price_jpy": None if r.price_jpy is None else str(r.price_jpy),
            "online_jpy": r.online_jpy, "cold_jpy": r.cold_jpy, "unit": "minor units",
        }

    return json.dumps({
        "generated_at": report.generated_at.isoformat(),
        "policy_version": report.policy_version,
        "assets": [row(r) for r in report.rows],
        "total_online_jpy": report.total_online_jpy, "total_jpy": report.total_jpy,
        "findings": [{"code": f.code, "severity": f.severity, "asset": f.asset,
                      "wallet": f.wallet,
                      "message": f.message, "amount": None if f.amount is None else str(f.amount),
                      "addresses": list(f.addresses)} for f in report.findings],
        "pending": [p.__dict__ for p in report.pending],
        "breach": bool(report.breaches),
    }, indent=2, ensure_ascii=False) + "\n"


def render_custody(report: CustodyReport, fmt: str, lang: str = "ja") -> str:
    labels = LABELS[lang]
    if fmt == "json":
        return _json(report)
    header = [labels[c] for c in _COLUMNS]
    if fmt in ("table", "csv"):
        text = render_rows(header, _table_rows(report), fmt, title=labels["title"],
                           right=header[1:])
        if fmt == "table":
            text += (labels["verdict_bad"] if report.breaches else labels["verdict_ok"]) + "\n"
            decimals = {r.asset: r.decimals for r in report.rows}
            for f in report.findings:
                text += f"  [{_SEVERITY[lang][f.severity]}] {finding_text(f, lang, decimals)}\n"
        return text
    env = Environment(autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True)
    template = env.from_string(
        resources.files("kinko.render").joinpath("templates/custody.html.j2").read_text("utf-8"))
    share = (Decimal(report.total_online_jpy) / Decimal(report.total_jpy)
             if report.total_online_jpy is not None and report.total_jpy else None)
    decimals = {r.asset: r.decimals for r in report.rows}
    zone = JST if lang == "ja" else UTC
    return template.render(
        L=labels, lang=lang, report=report, header=header, rows=_table_rows(report),
        generated=report.generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
        findings=[(f, finding_text(f, lang, decimals)) for f in report.findings],
        severity=_SEVERITY[lang], total_share=_pct(share),
        total_limit=_pct(report.total_max_hot_ratio), yen=_yen,
        fmt_amount=lambda asset, decimals, v: format_units(v, Asset(asset, "x", decimals),
                                                           group=True),
        decimals=decimals)
