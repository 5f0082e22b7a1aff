"""Export the journal as a Beancount file: an independent check of the books.

``bean-check`` re-verifies, with code kinko does not share, that every transaction
balances. Account kinds map to Beancount's five roots (customers are ``Liabilities``,
wallets ``Assets``, own funds ``Equity``, fees and losses ``Expenses``); names that
Beancount would not accept are written as ``X-`` plus their hex bytes, and the original is
kept in the ``kinko_account`` metadata of the ``open`` directive. Holds are not postings
and are not exported; a hold that was posted appears as its transfer. A memo kinko wrote as
a catalog message (a frozen deposit's) is written in English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC

from kinko.domain.ledger import ACCOUNT_KINDS, Entry
from kinko.domain.messages import decode
from kinko.domain.money import AssetRegistry, format_units
from kinko.i18n import ENGLISH

__all__ = ["beancount_account", "export_beancount"]

_COMPONENT = re.compile(r"^[A-Z0-9][A-Za-z0-9-]*$")


def _component(text: str) -> str:
    """A valid, collision-free account component: as is, or ``X-`` and the hex bytes."""
    if _COMPONENT.match(text) and not text.startswith("X-"):
        return text
    return "X-" + text.encode().hex()


def beancount_account(account: str) -> str:
    kind_name, _, name = account.partition(":")
    root = ACCOUNT_KINDS[kind_name].beancount_root
    if not name:
        return root
    return root + ":" + ":".join(_component(part) for part in name.split(":"))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def export_beancount(entries: Iterable[Entry], assets: AssetRegistry) -> Iterator[str]:
    """Yield the Beancount text in chunks; ``open`` directives come first."""
    transfers = [e for e in entries if e.postings]
    yield f"; kinko ledger export: {len(transfers)} transactions\n"
    yield 'option "title" "kinko ledger"\n'
    yield 'option "booking_method" "NONE"\n\n'
    for symbol, asset in assets.items():
        yield f"1970-01-01 commodity {symbol}\n  precision: {asset.decimals}\n"
    yield "\n"
    opened: dict[str, str] = {}
    for e in transfers:
        day = e.timestamp.astimezone(UTC).date().isoformat()
        for p in e.postings:
            if p.account not in opened or day < opened[p.account]:
                opened[p.account] = day
    for account, day in sorted(opened.items(), key=lambda kv: (kv[1], kv[0])):
        yield f"{day} open {beancount_account(account)}\n  kinko_account: {_quote(account)}\n"
    yield "\n"
    for e in transfers:
        day = e.timestamp.astimezone(UTC).date().isoformat()
        memo = ENGLISH.text(decode(e.memo)) if e.memo else e.kind  # kinko's words: English
        lines = [f"{day} * {_quote(e.source)} {_quote(memo)}",
                 f"  kinko_seq: {e.seq}", f"  kinko_key: {_quote(e.key)}"]
        for p in e.postings:
            amount = format_units(p.amount, assets[p.asset])
            lines.append(f"  {beancount_account(p.account)}  {amount} {p.asset}")
        yield "\n".join(lines) + "\n\n"
