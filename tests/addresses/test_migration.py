"""The migration to canonical addresses, on SQLite and PostgreSQL: a database written by the
previous version (EIP-55 wallets, tokens, deposits, destinations and observations; list keys
as written) is rewritten so that stored addresses compare as they are; what approvers
signed is left alone; downgrading gives EIP-55 back."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from alembic import command
from eth_utils import to_checksum_address
from sqlalchemy import select, text

from kinko.store import SqlStore, open_store
from kinko.store import schema as s
from kinko.store.migrate import _config

HOT = "0x52908400098527886E0F7030069857D2E4169EE7"
TOKEN = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
DEPOSIT = to_checksum_address("0x" + "de" * 20)
DEST = to_checksum_address("0x" + "5a" * 20)
NEM = "NDD2CT6LQLIYQ56KIXI3ENTM6EK3D44P5JFXJ4R4"


def migrate(store: SqlStore, revision: str, down: bool = False) -> None:
    cfg = _config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


@pytest.fixture
def old(store_url: str) -> Iterator[SqlStore]:
    """A database at the previous revision, with what that version wrote."""
    store = open_store(store_url)
    migrate(store, "head")  # a PostgreSQL test database is made at the head already
    migrate(store, "0008", down=True)
    with store.engine.begin() as conn:
        conn.execute(s.assets.insert(), [{"symbol": "USDT", "chain": "ethereum", "decimals": 6,
                                          "token": TOKEN}])
        conn.execute(s.wallets.insert(), [
            {"name": "eth-hot", "asset": "ETH", "tier": "hot", "addresses": json.dumps([HOT])},
            {"name": "usdt-hot", "asset": "USDT", "tier": "hot",
             "addresses": json.dumps([HOT, HOT.lower()])}])
        conn.execute(s.deposit_addresses.insert(), [
            {"address": DEPOSIT, "chain": "ethereum", "customer": "C1", "asset": "ETH",
             "wallet": "eth-hot"}])
        conn.execute(s.deposits.insert(), [
            {"id": "d1", "chain": "ethereum", "block": 1, "block_hash": "0x" + "11" * 32,
             "tx_hash": "0x" + "22" * 32, "address": DEPOSIT, "customer": "C1", "asset": "ETH",
             "amount": 5, "state": "credited"}])
        conn.execute(s.withdrawals.insert(), [
            {"id": w, "customer": "C1", "asset": a, "amount": 1, "destination": d,
             "wallet": "eth-hot", "requested_us": 1, "requester": "C1", "state": "allowed",
             "decision": "{}", "tx_hash": None}
            for w, a, d in (("W1", "ETH", DEST), ("W2", "XEM", NEM.lower()))])
        conn.execute(s.observations.insert(), [
            {"id": "ethereum:0xab:-1", "chain": "ethereum", "tx_hash": "0xab", "direction": "out",
             "wallet": "eth-hot", "asset": "ETH", "sender": HOT, "receiver": DEST, "amount": 1,
             "nonce": 0, "block": 1, "block_hash": "0x" + "11" * 32, "status": "mined",
             "match_ref": None, "first_seen_us": 1, "updated_us": 1}])
        conn.execute(s.allow_list.insert(), [
            {"customer": "C1", "address": DEST.lower(), "added_us": 1},
            {"customer": "C1", "address": NEM.lower(), "added_us": 2},
            {"customer": "C1", "address": NEM, "added_us": 3},  # the same address, later
            {"customer": "C1", "address": "1bvbmseystwetqtfn5au4m4gfg7xjanvn2", "added_us": 4}])
        label = {"label": "x", "source": "s", "category": "", "actor": "", "list_name": "l"}
        conn.execute(s.deny_labels.insert(), [
            {**label, "address": "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"},
            {**label, "address": NEM},
            {**label, "address": "ndd2ct-6lqliy-q56kix-i3entm-6ek3d4-4p5jfx-j4r4"},
            {**label, "address": "1JoktQJhCzuCQkt3GnQ8Xddcq4mUgNyXEa"},
            {**label, "address": "not an address"}])
        conn.execute(text(  # the tags table as that version had it (one tag per address)
            "INSERT INTO tags (address, label, source, category, actor, list_name) VALUES "
            "('qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a', 'x', 's', '', '', 'l')"))
    yield store
    store.close()


def column(store: SqlStore, table: object, name: str) -> list[object]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(select(table.c[name])).scalars())


def test_stored_addresses_become_canonical_and_come_back(old: SqlStore) -> None:
    migrate(old, "head")
    assert column(old, s.assets, "token") == [TOKEN.lower()]
    assert [json.loads(a) for a in column(old, s.wallets, "addresses")] == [[HOT.lower()],
                                                                          [HOT.lower()]]
    assert column(old, s.deposit_addresses, "address") == [DEPOSIT.lower()]
    assert column(old, s.deposits, "address") == [DEPOSIT.lower()]
    assert column(old, s.withdrawals, "destination") == [DEST.lower(), NEM]
    assert column(old, s.observations, "sender") == [HOT.lower()]
    assert column(old, s.observations, "receiver") == [DEST.lower()]
    with old.engine.connect() as conn:
        allowed = {r.address: r.added_us for r in conn.execute(select(s.allow_list))}
    # the older of two spellings is kept; a base58 address stored lower-cased cannot be
    # restored and stays as it was (it matches nothing)
    assert allowed == {DEST.lower(): 1, NEM: 2, "1bvbmseystwetqtfn5au4m4gfg7xjanvn2": 4}
    assert column(old, s.deny_labels, "address") == sorted([
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", NEM, "1JoktQJhCzuCQkt3GnQ8Xddcq4mUgNyXEa",
        "not an address"])
    assert column(old, s.tags, "address") == [
        "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"]

    migrate(old, "0008", down=True)
    assert column(old, s.assets, "token") == [TOKEN]
    assert column(old, s.deposit_addresses, "address") == [DEPOSIT]
    assert column(old, s.withdrawals, "destination") == [DEST, NEM]
    assert column(old, s.observations, "sender") == [HOT]
