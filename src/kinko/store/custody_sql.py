"""Policy versions, proposals and approvals in SQL (the custody half of the store).

Runs inside a transaction opened by :meth:`SqlStore.writer` / :meth:`SqlStore.reader`, so a
proposal's state change and the ledger entry that executes it commit together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from kinko.domain.approvals import Approval, Proposal
from kinko.domain.messages import Message, decode, msg
from kinko.domain.policy_lock import StoredPolicy, Veto
from kinko.domain.states import ProposalState
from kinko.errors import ApprovalError, ConfigError
from kinko.ports import DepositAddress, DepositRow, OwnerSignatureRow, ProposalRow
from kinko.store import schema as s
from kinko.store.driver import defer
from kinko.store.stamps import untouched
from kinko.store.values import from_us, to_us

__all__ = ["ProposalRow", "SqlCustody", "SqlDeposits", "parse_proposal"]


def _proposal_row(row: Any) -> ProposalRow:
    # the state column holds only what set_state and close wrote: a ProposalState
    return ProposalRow(parse_proposal(row.canonical), cast(ProposalState, str(row.state)),
                       row.tx_hash, decode(row.detail))


def parse_proposal(canonical: str) -> Proposal:
    data = json.loads(canonical)
    return Proposal(
        id=data["id"], kind=data["kind"], payload=data["payload"], proposer=data["proposer"],
        created_at=datetime.fromisoformat(data["created_at"].replace("Z", "+00:00")),
        expires_at=datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00")),
        policy_version=int(data["policy_version"]),
    )


_ACTIVATIONS: dict[str, Proposal] = {}


def _activation(canonical: str) -> Proposal | None:
    """The proposal that activated a policy version, parsed once per process (it carries
    the whole policy: every screening reads it); None when it cannot be read."""
    found = _ACTIVATIONS.get(canonical)
    if found is None:
        try:
            found = parse_proposal(canonical)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        if len(_ACTIVATIONS) >= 256:
            _ACTIVATIONS.clear()
        _ACTIVATIONS[canonical] = found
    return found


class SqlCustody:
    def __init__(self, conn: Connection, touch: Callable[[str], None] | None = None) -> None:
        self.conn = conn
        self._touch = touch or untouched  # a stamped table is written (SqlUnit.touch)

    def policy_rows(self) -> list[StoredPolicy]:
        """Every stored policy version, oldest first, with the proposal that activated it
        (the version it was proposed under and when: what its approvers signed)."""
        rows = self.conn.execute(
            select(s.policies, s.proposals.c.canonical)
            .join(s.proposals, s.proposals.c.id == s.policies.c.activated_by, isouter=True)
            .order_by(s.policies.c.version))
        out = []
        for row in rows:
            proposal = _activation(row.canonical) if row.canonical is not None else None
            out.append(StoredPolicy(
                int(row.version), str(row.digest), str(row.body),
                from_us(int(row.activated_us)), str(row.activated_by),
                int(row.time_lock_s), proposal))
        return out

    def put_policy(self, version: int, digest: str, body: dict[str, Any], at: datetime,
                   via: str, time_lock_s: int = 0) -> None:
        self._touch("policies")
        try:
            self.conn.execute(s.policies.insert().values(
                version=version, digest=digest, activated_us=to_us(at), activated_by=via,
                time_lock_s=time_lock_s,
                body=json.dumps(body, sort_keys=True, separators=(",", ":"))))
        except IntegrityError:
            raise ConfigError(f"policy version {version} is already loaded",
                              says=msg("error.policy.version_loaded", version=version)
                              ) from None

    def vetoes(self) -> list[Veto]:
        rows = self.conn.execute(select(s.policy_vetoes).order_by(
            s.policy_vetoes.c.version, s.policy_vetoes.c.vetoed_us))
        return [Veto(int(r.version), str(r.approver), str(r.signature), from_us(int(r.vetoed_us)),
                     str(r.reason)) for r in rows]

    def put_veto(self, veto: Veto) -> None:
        self._touch("policies")  # a veto changes which version is in force
        try:
            self.conn.execute(s.policy_vetoes.insert().values(
                version=veto.version, approver=veto.approver, signature=veto.signature,
                reason=veto.reason, vetoed_us=to_us(veto.at)))
        except IntegrityError:
            raise ApprovalError(f"{veto.approver} has already vetoed policy version "
                                f"{veto.version}", approver=veto.approver,
                                says=msg("error.vetoed_already", name=veto.approver,
                                         version=str(veto.version))) from None

    def put_proposal(self, proposal: Proposal, detail: Message) -> None:
        """Insert a proposal (sent with the unit's next statement: see ``driver.defer``)."""
        p = "?" if self.conn.dialect.name == "sqlite" else "%s"
        defer(self.conn,
            "INSERT INTO proposals (id, kind, canonical, state, tx_hash, detail) VALUES "
            f"({p}, {p}, {p}, 'pending', NULL, {p})",
            (proposal.id, proposal.kind, proposal.canonical(), detail.to_json()))

    def proposal(self, proposal_id: str) -> ProposalRow | None:
        row = self.conn.execute(select(s.proposals).where(s.proposals.c.id == proposal_id)).first()
        if row is None:
            return None
        return _proposal_row(row)

    def proposals(self, state: str | None = None) -> list[ProposalRow]:
        q = select(s.proposals).order_by(s.proposals.c.id)
        if state is not None:
            q = q.where(s.proposals.c.state == state)
        return [_proposal_row(r) for r in self.conn.execute(q)]

    def set_state(self, proposal_id: str, old: str, new: str, tx_hash: str | None = None) -> None:
        values: dict[str, Any] = {"state": new}
        if tx_hash is not None:
            values["tx_hash"] = tx_hash
        done = self.conn.execute(update(s.proposals).where(
            s.proposals.c.id == proposal_id, s.proposals.c.state == old).values(**values))
        if done.rowcount != 1:
            raise ApprovalError(f"proposal {proposal_id} is no longer {old}",
                                says=msg("error.proposal_moved_on", id=proposal_id))

    def close(self, proposal_id: str, new: str) -> bool:
        """Close a proposal still open (pending or approved) as ``new``; False when it was
        closed already (or does not exist)."""
        done = self.conn.execute(update(s.proposals).where(
            s.proposals.c.id == proposal_id, s.proposals.c.state.in_(("pending", "approved")))
            .values(state=new))
        return bool(done.rowcount == 1)

    def add_approval(self, proposal_id: str, approval: Approval) -> None:
        try:
            self.conn.execute(s.approvals.insert().values(
                proposal_id=proposal_id, approver=approval.approver,
                signature=approval.signature, approved_us=to_us(approval.approved_at)))
        except IntegrityError:
            raise ApprovalError(f"{approval.approver} has already approved {proposal_id}",
                                approver=approval.approver,
                                says=msg("error.approved_already", name=approval.approver,
                                         id=proposal_id)) from None

    def put_owner_signature(self, proposal_id: str, owner: str, digest: str, signature: str,
                            at: datetime) -> None:
        """An owner's signature for a proposal (a second one by the same owner replaces
        the first: signed again after the multisig's nonce moved on)."""
        table = s.owner_signatures
        self.conn.execute(table.delete().where(table.c.proposal_id == proposal_id,
                                               table.c.owner == owner))
        self.conn.execute(table.insert().values(proposal_id=proposal_id, owner=owner,
                                                digest=digest, signature=signature,
                                                signed_us=to_us(at)))

    def owner_signatures(self, proposal_id: str) -> list[OwnerSignatureRow]:
        table = s.owner_signatures
        rows = self.conn.execute(select(table).where(table.c.proposal_id == proposal_id)
                                 .order_by(table.c.owner))
        return [OwnerSignatureRow(owner=r.owner, digest=r.digest, signature=r.signature,
                                  signed_at=from_us(int(r.signed_us))) for r in rows]

    def approvals(self, proposal_id: str) -> list[Approval]:
        # the driver's SQL, not a Core statement: a list of pending proposals reads this once
        # per proposal (every withdrawal held for review is one), and building the statement
        # took three quarters of the time
        mark = "?" if self.conn.dialect.name == "sqlite" else "%s"
        rows = self.conn.exec_driver_sql(
            "SELECT approver, signature, approved_us FROM approvals WHERE proposal_id = "
            f"{mark} ORDER BY approved_us", (proposal_id,))
        return [Approval(approver, signature, from_us(int(at))) for approver, signature, at in rows]

    def approvals_of(self, proposal_ids: list[str]) -> dict[str, list[Approval]]:
        """The approvals of many proposals in one query per 500 ids (a list of every
        pending proposal: each withdrawal held for review is one)."""
        mark = "?" if self.conn.dialect.name == "sqlite" else "%s"
        out: dict[str, list[Approval]] = {pid: [] for pid in proposal_ids}
        for i in range(0, len(proposal_ids), 500):
            chunk = proposal_ids[i : i + 500]
            rows = self.conn.exec_driver_sql(
                "SELECT proposal_id, approver, signature, approved_us FROM approvals WHERE "
                f"proposal_id IN ({', '.join([mark] * len(chunk))}) "
                "ORDER BY proposal_id, approved_us", tuple(chunk))
            for pid, approver, signature, at in rows:
                out[pid].append(Approval(approver, signature, from_us(int(at))))
        return out


class SqlDeposits:
    """Deposit addresses, the scanned chain's block hashes, and credited deposits."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def put_address(self, address: str, chain: str, customer: str, asset: str,
                    wallet: str) -> None:
        existing = self.conn.execute(select(s.deposit_addresses).where(
            s.deposit_addresses.c.address == address)).first()
        if existing is not None:
            if (existing.customer, existing.asset) != (customer, asset):
                raise ConfigError(f"address {address} already belongs to customer "
                                  f"{existing.customer} ({existing.asset})",
                                  says=msg("error.deposits.address_taken",
                                           address=address[:200],
                                           customer=str(existing.customer)[:200],
                                           asset=str(existing.asset)[:40]))
            return
        self.conn.execute(s.deposit_addresses.insert().values(
            address=address, chain=chain, customer=customer, asset=asset, wallet=wallet))

    def addresses(self, chain: str) -> dict[str, DepositAddress]:
        """Address (canonical form, as stored) → (customer, asset, wallet)."""
        rows = self.conn.execute(select(s.deposit_addresses).where(
            s.deposit_addresses.c.chain == chain))
        return {r.address: DepositAddress(r.customer, r.asset, r.wallet) for r in rows}

    def block_hash(self, chain: str, number: int) -> str | None:
        row = self.conn.execute(select(s.chain_blocks.c.hash).where(
            s.chain_blocks.c.chain == chain, s.chain_blocks.c.number == number)).first()
        return None if row is None else str(row.hash)

    def last_block(self, chain: str) -> int | None:
        from sqlalchemy import func

        value = self.conn.execute(select(func.max(s.chain_blocks.c.number)).where(
            s.chain_blocks.c.chain == chain)).scalar()
        return None if value is None else int(value)

    def put_block(self, chain: str, number: int, block_hash: str) -> None:
        self.conn.execute(s.chain_blocks.insert().values(chain=chain, number=number,
                                                         hash=block_hash))

    def forget_blocks_after(self, chain: str, number: int) -> None:
        self.conn.execute(s.chain_blocks.delete().where(
            s.chain_blocks.c.chain == chain, s.chain_blocks.c.number > number))

    def put_deposits(self, rows: list[DepositRow]) -> set[str]:
        """Record credited deposits; return the ids that were new."""
        ids = [r["id"] for r in rows]
        seen: set[str] = set()
        for i in range(0, len(ids), 900):
            seen.update(self.conn.execute(select(s.deposits.c.id).where(
                s.deposits.c.id.in_(ids[i : i + 900]))).scalars())
        fresh = [r for r in rows if r["id"] not in seen]
        if fresh:
            self.conn.execute(s.deposits.insert(), fresh)
        return {r["id"] for r in fresh}

    def credited_after(self, chain: str, number: int) -> list[DepositRow]:
        rows = self.conn.execute(select(s.deposits).where(
            s.deposits.c.chain == chain, s.deposits.c.block > number,
            s.deposits.c.state.in_(("credited", "frozen"))).order_by(s.deposits.c.block))
        return [cast(DepositRow, dict(r._mapping)) for r in rows]

    def credited_in(self, chain: str, tx_hashes: Collection[str]) -> list[DepositRow]:
        wanted = sorted(set(tx_hashes))
        out: list[DepositRow] = []
        for i in range(0, len(wanted), 900):
            out += [cast(DepositRow, dict(r._mapping)) for r in self.conn.execute(
                select(s.deposits).where(s.deposits.c.chain == chain,
                                         s.deposits.c.tx_hash.in_(wanted[i : i + 900]),
                                         s.deposits.c.state.in_(("credited", "frozen"))))]
        return out

    def mark_reverted(self, deposit_id: str) -> None:
        self.conn.execute(update(s.deposits).where(s.deposits.c.id == deposit_id)
                          .values(state="reverted"))

    def deposits(self, chain: str | None = None) -> list[DepositRow]:
        q = select(s.deposits).order_by(s.deposits.c.block, s.deposits.c.id)
        if chain is not None:
            q = q.where(s.deposits.c.chain == chain)
        return [cast(DepositRow, dict(r._mapping)) for r in self.conn.execute(q)]
