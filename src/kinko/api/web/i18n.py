# ruff: noqa: E501  (Japanese text: ruff counts each wide character twice)
"""The dashboard's words in English and Japanese.

Each page module adds its own words with :func:`add` (``{key: (english, japanese)}``) when
it is imported; templates call ``t("key")`` (with ``str.format`` fields as keyword
arguments). A key missing in a language is a programming error, found by the tests that
render every page in both. Japanese follows the FSA's wording (ホットウォレット, コールド
ウォレット, 履行保証暗号資産, 不正送金, 出金, 承認).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LANGS", "add", "translate", "words"]

LANGS = ("en", "ja")
_WORDS: dict[str, tuple[str, str]] = {}


def add(words: dict[str, tuple[str, str]]) -> None:
    for key, pair in words.items():
        if key in _WORDS and _WORDS[key] != pair:
            raise ValueError(f"dashboard word {key!r} is declared twice, differently")
        _WORDS[key] = pair


def words() -> dict[str, tuple[str, str]]:
    return dict(_WORDS)


def translate(lang: str, key: str, **fields: Any) -> str:
    pair = _WORDS.get(key)
    if pair is None:
        raise KeyError(f"no dashboard word {key!r}")
    text = pair[1] if lang == "ja" else pair[0]
    return text.format(**fields) if fields else text


add({
    "kinko": ("kinko", "kinko（金庫）"),
    "nav.overview": ("Overview", "概要"),
    "nav.withdrawals": ("Withdrawals", "出金"),
    "nav.alerts": ("Alerts", "アラート"),
    "nav.incidents": ("Incidents", "インシデント"),
    "nav.breaker": ("Breaker", "サーキットブレーカー"),
    "nav.trace": ("Trace", "追跡"),
    "nav.custody": ("Custody and reports", "管理状況・報告"),
    "nav.reserves": ("Reserves", "準備金証明"),
    "signed_in_as": ("{name} ({role})", "{name}（{role}）"),
    "sign_out": ("Sign out", "サインアウト"),
    "sign_in": ("Sign in", "サインイン"),
    "sign_in.title": ("Sign in to kinko", "kinko にサインイン"),
    "sign_in.key": ("API key", "API キー"),
    "sign_in.help": ("Your API key (kinko apikeys create) is exchanged for a session of {hours} hours; the key itself is not kept in the browser.",
                     "API キー（kinko apikeys create で発行）をセッション（{hours}時間有効）に交換します。キー自体はブラウザに保存されません。"),
    "times_in": ("Times in {zone}", "時刻は {zone}"),
    "role.auditor": ("auditor", "監査"), "role.operator": ("operator", "オペレーター"),
    "role.approver": ("approver", "承認者"), "role.admin": ("admin", "管理者"),
    "error": ("Error", "エラー"),
    "back": ("Back", "戻る"),
    "none": ("none", "なし"),
    "lang.switch": ("日本語", "English"),
    "live.connected": ("live", "ライブ更新中"),
    "live.lost": ("live updates lost; retrying", "ライブ更新が途切れました（再接続中）"),
    "live.changed": ("Something changed since this page was shown (alerts, incidents, approvals, the ledger).",
                     "このページの表示後に更新がありました（アラート、インシデント、承認、帳簿）。"),
    "live.reload": ("Show it", "最新の内容を表示"),
})
