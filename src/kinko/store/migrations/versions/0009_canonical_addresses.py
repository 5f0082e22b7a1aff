"""Every stored address in its canonical form (kinko.domain.addresses): Ethereum hex in lower
case instead of EIP-55 mixed case, NEM in upper case without dashes, Bech32 in lower case,
CashAddr with its prefix. Screening, deposits, the watch and the lists then compare stored
addresses as they are.

What is rewritten: asset token contracts, wallet addresses, deposit addresses and deposits,
withdrawal destinations, the watch's observations (by their chain), allow lists and the
deny and tag lists (by the address's shape: the lists did not keep their currency). What is
not: policies and proposals (their exact bytes are what approvers signed; kinko compares
their addresses canonically when it reads them), and text written for people (alerts,
timelines). An address no format accepts is left as it was. An allow-list entry of a
case-sensitive format (base58) that an earlier version stored in lower case cannot be
restored: it stays, matches nothing, and the withdrawal goes to review until the customer's
address is added again.

Two stored rows that become one address: a deny or tag label, or an allow-list entry, keeps
the first (oldest for the allow list); two deposit addresses of different customers stop
the migration with both named (nothing is changed), to be resolved by hand.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from kinko.domain.addresses import CHAINS, address_key, canonical_address
from kinko.domain.addresses.formats import eip55
from kinko.domain.money import DEFAULT_ASSETS
from kinko.errors import InvalidAddress

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _on(chain: str | None) -> Callable[[str], str]:
    """The canonical form on ``chain`` (by shape when the chain has no formats), or the
    text unchanged when no format accepts it."""
    def canonical(text: str) -> str:
        if chain is None or chain not in CHAINS:
            return address_key(text)
        try:
            return canonical_address(text, chain)
        except InvalidAddress:
            return text
    return canonical


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


def _chains(conn: sa.Connection) -> dict[str, str]:
    """Asset symbol → chain: the recorded assets, over the shipped defaults."""
    out = {a.symbol: a.chain for a in DEFAULT_ASSETS}
    assets = _table("assets", "symbol", "chain")
    out.update({r.symbol: r.chain for r in conn.execute(sa.select(assets.c.symbol,
                                                                     assets.c.chain))})
    return out


def _rewrite(conn: sa.Connection, table: sa.TableClause, key: list[str], column: str,
             canonical: Callable[[Any], str], order: str | None = None) -> None:
    """Set ``column`` to ``canonical(row)`` in every row (rows found by ``key``). When
    ``column`` is part of the key, rows that become the same key are one: the first (by
    ``order``) is kept, the others deleted. Canonical forms are idempotent, so a kept row
    never takes a key another row still has."""
    q = sa.select(table)
    if order is not None:
        q = q.order_by(table.c[order])
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for row in conn.execute(q).all():
        old = getattr(row, column)
        new = old if old is None else canonical(row)
        moved = tuple(new if k == column else getattr(row, k) for k in key)
        groups.setdefault(moved if column in key else (id(row),), []).append((row, new))

    def where(row: Any) -> list[Any]:
        return [table.c[k] == getattr(row, k) for k in key]

    for members in groups.values():
        for row, _ in members[1:]:
            conn.execute(table.delete().where(*where(row)))
    for (row, new), *_ in groups.values():
        if new != getattr(row, column):
            conn.execute(table.update().where(*where(row)).values({column: new}))


def upgrade() -> None:
    conn = op.get_bind()
    chains = _chains(conn)

    assets = _table("assets", "symbol", "chain", "token")
    _rewrite(conn, assets, ["symbol"], "token", lambda r: _on(r.chain)(r.token))

    wallets = _table("wallets", "name", "asset", "addresses")
    _rewrite(conn, wallets, ["name"], "addresses", lambda r: json.dumps(list(dict.fromkeys(
        _on(chains.get(r.asset))(a) for a in json.loads(r.addresses)))))

    deposit_addresses = _table("deposit_addresses", "address", "chain", "customer")
    owners: dict[str, tuple[str, str]] = {}
    for r in conn.execute(sa.select(deposit_addresses.c.address, deposit_addresses.c.chain,
                                    deposit_addresses.c.customer)).all():
        new = _on(r.chain)(r.address)
        if new in owners and owners[new][1] != r.customer:
            raise RuntimeError(
                f"deposit addresses {owners[new][0]} and {r.address} are the same address "
                f"but belong to customers {owners[new][1]} and {r.customer}: resolve this by "
                "hand before upgrading")
        owners.setdefault(new, (r.address, r.customer))
    _rewrite(conn, deposit_addresses, ["address"], "address",
             lambda r: _on(r.chain)(r.address))
    deposits = _table("deposits", "id", "chain", "address")
    _rewrite(conn, deposits, ["id"], "address", lambda r: _on(r.chain)(r.address))

    withdrawals = _table("withdrawals", "id", "asset", "destination")
    _rewrite(conn, withdrawals, ["id"], "destination",
             lambda r: _on(chains.get(r.asset))(r.destination))

    observations = _table("observations", "id", "chain", "sender", "receiver")
    _rewrite(conn, observations, ["id"], "sender", lambda r: _on(r.chain)(r.sender))
    _rewrite(conn, observations, ["id"], "receiver", lambda r: _on(r.chain)(r.receiver))

    allow_list = _table("allow_list", "customer", "address", "added_us")
    _rewrite(conn, allow_list, ["customer", "address"], "address",
             lambda r: address_key(r.address), "added_us")
    for name in ("deny_labels", "tags"):
        _rewrite(conn, _table(name, "address"), ["address"], "address",
                 lambda r: address_key(r.address))


def downgrade() -> None:
    """Ethereum addresses back to EIP-55 where earlier versions kept them so; the other
    formats stay canonical (earlier versions compared them as written)."""
    conn = op.get_bind()
    chains = _chains(conn)

    def mixed(chain: str | None) -> Callable[[str], str]:
        evm = chain in CHAINS and CHAINS[chain] == CHAINS["ethereum"]
        return lambda a: eip55(a) if evm and a.startswith("0x") and len(a) == 42 else a

    assets = _table("assets", "symbol", "chain", "token")
    _rewrite(conn, assets, ["symbol"], "token", lambda r: mixed(r.chain)(r.token))
    wallets = _table("wallets", "name", "asset", "addresses")
    _rewrite(conn, wallets, ["name"], "addresses", lambda r: json.dumps(
        [mixed(chains.get(r.asset))(a) for a in json.loads(r.addresses)]))
    deposit_addresses = _table("deposit_addresses", "address", "chain")
    _rewrite(conn, deposit_addresses, ["address"], "address",
             lambda r: mixed(r.chain)(r.address))
    deposits = _table("deposits", "id", "chain", "address")
    _rewrite(conn, deposits, ["id"], "address", lambda r: mixed(r.chain)(r.address))
    withdrawals = _table("withdrawals", "id", "asset", "destination")
    _rewrite(conn, withdrawals, ["id"], "destination",
             lambda r: mixed(chains.get(r.asset))(r.destination))
    observations = _table("observations", "id", "chain", "sender", "receiver")
    _rewrite(conn, observations, ["id"], "sender", lambda r: mixed(r.chain)(r.sender))
    _rewrite(conn, observations, ["id"], "receiver", lambda r: mixed(r.chain)(r.receiver))
