"""The SQL schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Amounts are arbitrary-precision integers: ``NUMERIC(78, 0)`` on PostgreSQL (enough for any
uint256) and decimal text on SQLite, whose integers stop at 2⁶³ (9.2 ETH in wei). Times are
integer microseconds since the Unix epoch (UTC), exact and sortable on both.

Alembic migrations in ``migrations/`` create exactly this; a test compares the two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

metadata = MetaData()


class Amount(TypeDecorator[int]):
    """An exact integer of any size: NUMERIC(78,0) on PostgreSQL, text on SQLite."""

    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(80))
        return dialect.type_descriptor(Numeric(78, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


assets = Table(
    "assets", metadata,
    Column("symbol", String(16), primary_key=True),
    Column("chain", String(64), nullable=False),
    Column("decimals", Integer, nullable=False),
    Column("token", String(128), nullable=True),  # contract address; NULL: the native coin
)

wallets = Table(
    "wallets", metadata,
    Column("name", String(64), primary_key=True),
    Column("asset", String(16), nullable=False),
    Column("tier", String(8), nullable=False),
    Column("addresses", Text, nullable=False),  # JSON list
    Column("kind", String(16), nullable=False, server_default="key"),  # key | multisig
    Column("setup", Text, nullable=True),  # JSON: a multisig's owners, threshold, contracts
)

ledger_head = Table(
    "ledger_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

stamps = Table(  # per read-mostly table, a counter its triggers move on every change
    "stamps", metadata,
    Column("name", String(32), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

# On SQLite the journal is stored by its keys (migration 0017): an entry's seq is the row id
# (INTEGER PRIMARY KEY), postings and balances are WITHOUT ROWID tables; an insert then
# writes one B-tree fewer. PostgreSQL has no row ids: the same tables, as declared.
entries = Table(
    "entries", metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
           autoincrement=False),
    Column("key", String(200), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("memo", Text, nullable=False),
    Column("hold_id", String(128), nullable=True),
    Column("resolves_hold", String(128), nullable=True),
    Column("digest", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("key", name="uq_entries_key"),
    UniqueConstraint("resolves_hold", name="uq_entries_resolves_hold"),
    Index("ix_entries_ts", "ts_us"),
)

postings = Table(
    "postings", metadata,
    Column("entry_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("account", String(160), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("amount", Amount, nullable=False),
    Index("ix_postings_account", "account", "asset", "entry_seq"),
    sqlite_with_rowid=False,
)

balances = Table(
    "balances", metadata,
    Column("account", String(160), primary_key=True),
    Column("asset", String(16), primary_key=True),
    Column("balance", Amount, nullable=False),
    Column("pending_debit", Amount, nullable=False),
    Column("pending_credit", Amount, nullable=False),
    sqlite_with_rowid=False,
)

holds = Table(
    "holds", metadata,
    Column("id", String(128), primary_key=True),
    Column("debit", String(160), nullable=False),
    Column("credit", String(160), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("expires_us", BigInteger, nullable=True),
    Column("state", String(8), nullable=False),
    Column("created_seq", BigInteger, nullable=False),
    Column("resolved_seq", BigInteger, nullable=True),
    Index("ix_holds_state_expiry", "state", "expires_us"),
)

policies = Table(
    "policies", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON
    Column("activated_us", BigInteger, nullable=False),
    Column("activated_by", String(200), nullable=False),  # "bootstrap" or a proposal id
    # the time lock it was approved under: a version that loosens takes effect this long
    # after activated_us (kinko.domain.policy_lock)
    Column("time_lock_s", BigInteger, nullable=False, server_default="0"),
)

policy_vetoes = Table(
    "policy_vetoes", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("approver", String(64), primary_key=True),
    Column("signature", String(128), nullable=False),  # over policy_lock.veto_bytes
    Column("reason", Text, nullable=False),
    Column("vetoed_us", BigInteger, nullable=False),
)

proposals = Table(
    "proposals", metadata,
    Column("id", String(128), primary_key=True),  # withdrawal-<its id, up to 100>: 111
    Column("kind", String(10), nullable=False),
    Column("canonical", Text, nullable=False),  # exactly what approvers sign
    Column("state", String(10), nullable=False),  # pending, approved, sent, executed, rejected
    Column("tx_hash", String(66), nullable=True),
    Column("detail", Text, nullable=False),
    Index("ix_proposals_state", "state"),
)

approvals = Table(
    "approvals", metadata,
    Column("proposal_id", String(128), primary_key=True),
    Column("approver", String(64), primary_key=True),
    Column("signature", String(128), nullable=False),
    Column("approved_us", BigInteger, nullable=False),
)

owner_signatures = Table(  # a multisig's owners' signatures made offline, per proposal
    "owner_signatures", metadata,
    Column("proposal_id", String(128), primary_key=True),
    Column("owner", String(128), primary_key=True),
    Column("digest", String(66), nullable=False),  # what was signed (a SafeTx hash)
    Column("signature", Text, nullable=False),
    Column("signed_us", BigInteger, nullable=False),
)

deposit_addresses = Table(
    "deposit_addresses", metadata,
    Column("address", String(128), primary_key=True),
    Column("chain", String(32), nullable=False),
    Column("customer", String(128), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("wallet", String(64), nullable=False),
)

chain_blocks = Table(
    "chain_blocks", metadata,
    Column("chain", String(32), primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(66), nullable=False),
)

deposits = Table(
    "deposits", metadata,
    Column("id", String(200), primary_key=True),  # chain:tx_hash:index:block_hash
    Column("chain", String(32), nullable=False),
    Column("block", BigInteger, nullable=False),
    Column("block_hash", String(66), nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("address", String(128), nullable=False),
    Column("customer", String(128), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("state", String(10), nullable=False),  # credited, reverted
    Index("ix_deposits_block", "chain", "block"),
    Index("ix_deposits_tx", "chain", "tx_hash"),
)

withdrawals = Table(
    "withdrawals", metadata,
    Column("id", String(128), primary_key=True),
    Column("customer", String(128), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("destination", String(128), nullable=False),
    Column("wallet", String(64), nullable=False),
    Column("requested_us", BigInteger, nullable=False),
    Column("requester", String(128), nullable=False),
    Column("state", String(10), nullable=False),
    Column("decision", Text, nullable=False),  # JSON: outcome, hits, policy version
    Column("tx_hash", String(66), nullable=True),
    Index("ix_withdrawals_customer", "customer", "requested_us"),
    Index("ix_withdrawals_customer_destination", "customer", "destination"),
    Index("ix_withdrawals_time", "requested_us"),
    Index("ix_withdrawals_state", "state", "requested_us"),
)

outflows = Table(  # running totals of the withdrawals screening counts, per scope, in time order
    "outflows", metadata,
    Column("scope", String(12), primary_key=True),  # customer, destination, asset
    Column("asset", String(16), primary_key=True),
    Column("key", String(128), primary_key=True),  # the customer, the destination; "" (asset)
    Column("at_us", BigInteger, primary_key=True, autoincrement=False),  # requested
    Column("withdrawal", String(128), primary_key=True),
    Column("amount", Amount, nullable=False),
    Column("total", Amount, nullable=False),  # this row's amount and every earlier row's
    Column("n", BigInteger, nullable=False),  # how many rows up to this one
)

outflow_removals = Table(  # counted withdrawals that stopped counting (rejected, expired)
    "outflow_removals", metadata,
    Column("scope", String(12), primary_key=True),
    Column("asset", String(16), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("at_us", BigInteger, primary_key=True, autoincrement=False),  # requested
    Column("withdrawal", String(128), primary_key=True),
    Column("amount", Amount, nullable=False),
)

customer_history = Table(  # per customer: the withdrawals recorded, and those screening counts
    "customer_history", metadata,
    Column("customer", String(128), primary_key=True),
    Column("recorded", BigInteger, nullable=False),
    Column("counted", BigInteger, nullable=False),
)

customer_tiers = Table(  # a customer's tier (KYC level), for tiered screening rules
    "customer_tiers", metadata,
    Column("customer", String(128), primary_key=True),
    Column("tier", String(32), nullable=False),
    Column("set_us", BigInteger, nullable=False),
    Column("set_by", String(200), nullable=False),
)

allow_list = Table(
    "allow_list", metadata,
    Column("customer", String(128), primary_key=True),
    Column("address", String(128), primary_key=True),  # canonical form
    Column("added_us", BigInteger, nullable=False),
)

def _labels(name: str) -> Table:
    """An address → label table (the loaded lists' TagPack fields)."""
    return Table(
        name, metadata,
        Column("address", String(128), primary_key=True),  # canonical form
        Column("label", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("category", Text, nullable=False),
        Column("actor", Text, nullable=False),
        Column("list_name", String(200), nullable=False),
    )


deny_labels = _labels("deny_labels")  # screening refuses, the watch freezes
# attribution (exchanges, services, ...): never a reason to refuse. An address keeps every
# tag each list gives it (GraphSense allows several); loading a list again replaces its own.
tags = Table(
    "tags", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("address", String(128), nullable=False),  # address_key()
    Column("label", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("concepts", Text, nullable=False),  # the TagPack's concepts, comma-separated
    Column("list_name", String(200), nullable=False),
    Index("ix_tags_address", "address"),
)

breaker_events = Table(
    "breaker_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(16), nullable=False),  # an asset symbol, or "*" for global
    Column("event", String(8), nullable=False),  # trip, reset
    Column("at_us", BigInteger, nullable=False),
    Column("by", String(200), nullable=False),
    Column("reason", Text, nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False),  # SHA-256 of the secret; never the secret
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger, nullable=True),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at_us", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

watch_blocks = Table(
    "watch_blocks", metadata,  # the watch's checkpoint: every block it has read, by hash
    Column("chain", String(32), primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(66), nullable=False),
    Column("ts", BigInteger, nullable=False),  # the block's own timestamp (seconds)
)

observations = Table(
    "observations", metadata,
    Column("id", String(200), primary_key=True),  # chain:tx_hash:log_index (-1: native)
    Column("chain", String(32), nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("direction", String(3), nullable=False),  # out, in
    Column("wallet", String(64), nullable=False),
    Column("asset", String(16), nullable=False),
    Column("sender", String(128), nullable=False),
    Column("receiver", String(128), nullable=True),
    Column("amount", Amount, nullable=False),
    Column("nonce", BigInteger, nullable=False),
    Column("block", BigInteger, nullable=True),  # NULL while pending or after a reorg
    Column("block_hash", String(66), nullable=True),
    Column("status", String(10), nullable=False),  # pending, mined, final, retracted
    Column("match_ref", String(200), nullable=True),  # withdrawal:<id> / proposal:<id>
    Column("first_seen_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_observations_block", "chain", "block"),
    Index("ix_observations_status", "status"),
)

signed_moves = Table(  # what kinko signed for each approved movement, before broadcast
    "signed_moves", metadata,
    Column("ref", String(200), primary_key=True),  # withdrawal:<id> / proposal:<id>
    Column("chain", String(32), nullable=False),
    Column("sender", String(128), nullable=False),  # the address that sends it
    Column("nonce", BigInteger, nullable=True),  # the sender's nonce it takes (EVM)
    Column("tx_hash", String(66), nullable=False),
    Column("safe", String(128), nullable=True),  # a Safe's execution: the Safe,
    Column("safe_tx_hash", String(66), nullable=True),  # its SafeTx hash
    Column("safe_nonce", BigInteger, nullable=True),  # and the Safe's nonce it takes
    Column("signed_us", BigInteger, nullable=False),
    Index("ix_signed_moves_safe_tx_hash", "safe_tx_hash"),
)

incidents = Table(
    "incidents", metadata,
    Column("id", String(64), primary_key=True),
    Column("state", String(10), nullable=False),  # open, contained, resolved
    Column("title", Text, nullable=False),
    Column("asset", String(16), nullable=True),
    Column("wallet", String(64), nullable=True),
    Column("opened_us", BigInteger, nullable=False),
    Column("closed_us", BigInteger, nullable=True),
)

alerts = Table(
    "alerts", metadata,
    Column("id", String(64), primary_key=True),
    Column("key", String(240), nullable=False, unique=True),  # the same finding never twice
    Column("kind", String(32), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("state", String(10), nullable=False),  # open, acked
    Column("chain_state", String(10), nullable=True),  # pending, mined, final, retracted
    Column("asset", String(16), nullable=True),
    Column("wallet", String(64), nullable=True),
    Column("tx_hash", String(66), nullable=True),
    Column("amount", Amount, nullable=True),
    Column("block", BigInteger, nullable=True),
    Column("detail", Text, nullable=False),
    Column("incident", String(64), nullable=True),
    Column("raised_us", BigInteger, nullable=False),
    Column("acked_by", String(200), nullable=True),
    Column("acked_us", BigInteger, nullable=True),
    Index("ix_alerts_raised", "raised_us"),
)

timeline = Table(
    "timeline", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident", String(64), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),  # alert, breaker, sweep, note, notice, ...
    Column("actor", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_timeline_incident", "incident", "at_us"),
)

notifications = Table(
    "notifications", metadata,  # the webhook outbox: delivered at least once, in order
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(10), nullable=False),  # queued, sent, failed
    Column("attempts", Integer, nullable=False),
    Column("next_us", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
)

watch_heartbeat = Table(
    "watch_heartbeat", metadata,  # one row per chain the watch follows, written every round
    Column("chain", String(32), primary_key=True),
    Column("round_us", BigInteger, nullable=False),  # the last round's end
    Column("started_us", BigInteger, nullable=False),  # when this watch process began
    Column("rounds", BigInteger, nullable=False),
    Column("last_block", BigInteger, nullable=True),  # the checkpoint after that round
    Column("node_head", BigInteger, nullable=True),  # the node's head in that round
    Column("interval_ms", Integer, nullable=False),  # how long it waits between rounds
)

balance_samples = Table(
    "balance_samples", metadata,
    Column("wallet", String(64), primary_key=True),
    Column("block", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", BigInteger, nullable=False),
    Column("balance", Amount, nullable=False),
)

web_sessions = Table(
    "web_sessions", metadata,  # the dashboard's sign-ins; only the token's SHA-256 is kept
    Column("id_hash", String(64), primary_key=True),
    Column("key_id", String(32), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("ended_us", BigInteger, nullable=True),
)

artifacts = Table(
    "artifacts", metadata,  # files kinko wrote (traces, plans, snapshots, reports), by folder
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # trace, refunds, reserves, fsa
    Column("incident", String(64), nullable=True),
    Column("title", Text, nullable=False),
    Column("folder", Text, nullable=False),
    Column("state", String(10), nullable=False),  # running, done, failed
    Column("created_us", BigInteger, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("detail", Text, nullable=False),  # JSON
    Index("ix_artifacts_kind", "kind", "created_us"),
)
