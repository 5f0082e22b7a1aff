"""Crediting customer deposits from the chain: after N confirmations, exactly once, and
undone if the chain reorganises deeper than that.

Each exchange-controlled deposit address belongs to one customer and one wallet. The scanner
walks blocks from where it stopped up to ``head - confirmations + 1``: a block is read only
once it has ``confirmations`` blocks on top, so a reorganisation shallower than that never
reaches the ledger. Every transfer to a deposit address is credited (``wallet`` debited,
``customer`` credited) under the idempotency key ``deposit:<chain>:<tx>:<index>:<block>``;
a rerun after a crash or a node outage replays instead of paying twice. A transfer that
stands credited in another block kept as the chain (which no chain allows: a node that
reports one transaction in two blocks is wrong or hostile) is not credited again; the scan
reports it as a critical finding. For a token asset
only the token's own ``Transfer`` events count (``log_index`` joins the id). A deposit whose
sender is on a deny list is frozen: booked to ``clearing:frozen`` (the exchange holds it and
owes it to no one until compliance decides), not to the customer; the watch alerts on it.
On a chain with tag tokens (``tag_tokens``: NEM mosaics such as the ones the NEM Foundation
sent in 2018 to every account that received the stolen XEM), a deposit whose sender holds
any of them is frozen the same way; the sender's holdings are read from the node before
the block's unit of work opens, and a deposit, already on chain, cannot be refused.

Each scanned block's hash is kept. If a new block's parent is not the hash kept for the
block below it, the chain was reorganised deeper than the confirmations: the scanner walks
back to the fork, reverses every deposit credited above it (a critical finding: the
confirmations setting was too low for this chain), and rescans the new branch, where a
transaction that made it into the new branch is credited again.

Blocks are read a few ahead on a worker thread, so the node's answer for the next block
overlaps with booking the current one; a block is still only booked after the one below it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from kinko.domain.addresses import canonical_address, canonical_token, chain_key, same_token
from kinko.domain.chain import Block, Transfer
from kinko.domain.custody import CustodyFinding
from kinko.domain.labels import deny_index
from kinko.domain.ledger import Posting, parse_account
from kinko.domain.messages import Message, msg, stored
from kinko.domain.screening import Label
from kinko.errors import ConfigError, InvalidAccount, Overdraft
from kinko.ports import Chain, DepositAddress, DepositRow
from kinko.services.ledger import Draft, Ledger

__all__ = ["Deposits", "ScanReport", "find_fork", "tag_holders", "tag_label"]

_PREFETCH = 4  # blocks read ahead from the node while the current one is booked
FROZEN = "clearing:frozen"  # owed to no customer until compliance decides


@dataclass
class ScanReport:
    head: int = 0
    scanned: int = 0  # blocks read
    credited: int = 0
    reverted: int = 0
    findings: list[CustodyFinding] = field(default_factory=list)


class Deposits:
    def __init__(self, ledger: Ledger, chain: Chain, *, confirmations: int,
                 start_block: int = 0, tag_tokens: Sequence[str] = ()) -> None:
        self.ledger = ledger
        self.chain = chain
        self.confirmations = confirmations
        self.start_block = start_block
        self.tag_tokens = tuple(canonical_token(t, chain.name) for t in tag_tokens)

    def add_address(self, customer: str, asset: str, address: str, wallet: str) -> str:
        """Register an exchange-controlled deposit address of one customer."""
        known = self.ledger.assets[asset]
        if known.chain != self.chain.name:
            raise ConfigError(f"{asset} is on {known.chain}; this node is {self.chain.name}",
                              says=msg("error.deposits.other_chain", asset=asset[:40],
                                       chain=known.chain[:40], node=self.chain.name[:40]))
        parse_account(f"customer:{customer}")
        canonical = canonical_address(address, known.chain)
        wallets = {w.name: w for w in self.ledger.wallets()}
        if wallet not in wallets or wallets[wallet].asset != known.symbol:
            raise InvalidAccount(f"wallet {wallet!r} is not a registered {known.symbol} wallet",
                                 says=msg("error.deposits.not_wallet", wallet=wallet[:80],
                                          asset=known.symbol))
        with self.ledger.store.deposits() as tables:
            tables.put_address(canonical, known.chain, customer, known.symbol, wallet)
        return canonical

    def scan(self, max_blocks: int | None = None) -> ScanReport:
        """Credit every final deposit since the last scan; detect deep reorganisations."""
        name = self.chain.name
        report = ScanReport(head=self.chain.head())
        final = report.head - self.confirmations + 1
        with self.ledger.store.deposits(write=False) as tables:
            last = tables.last_block(name)
            addresses = tables.addresses(name)
        number = self.start_block if last is None else last + 1
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="kinko-fetch") as pool:
            ahead: dict[int, Future[Block]] = {}  # blocks fetched while earlier ones are booked
            while number <= final and (max_blocks is None or report.scanned < max_blocks):
                stop = min(final, number + _PREFETCH)
                if max_blocks is not None:
                    stop = min(stop, number + max_blocks - report.scanned - 1)
                for n in range(number, stop + 1):
                    if n not in ahead:
                        ahead[n] = pool.submit(self.chain.block, n)
                block = ahead.pop(number).result()
                report.scanned += 1
                with self.ledger.store.deposits(write=False) as tables:
                    below = tables.block_hash(name, number - 1)
                if below is not None and block.parent_hash != below:
                    for pending in ahead.values():
                        pending.cancel()
                    ahead.clear()  # fetched from a branch that is no longer the chain
                    number = self._rewind(number - 1, report) + 1
                    continue
                tagged = self._tagged(block, addresses)  # asks the node: outside the unit
                # the block's credits, their records and the block's hash: one unit of work
                # (a credit never stands without the record a reorganisation reverses it by)
                with self.ledger.store.deposits() as tables:
                    self._credit(block, addresses, report, tagged)
                    tables.put_block(name, number, block.hash)
                number += 1
            for pending in ahead.values():
                pending.cancel()
        return report

    def _deposits(self, block: Block, addresses: dict[str, DepositAddress]
                  ) -> Iterator[tuple[Transfer, DepositAddress]]:
        """The block's transfers that are deposits, with their owner (customer, asset,
        wallet)."""
        chain = self.chain.name
        for t in block.transfers:
            owner = addresses.get(chain_key(t.to, chain)) if t.to else None
            if owner is None or t.value <= 0:
                continue
            if same_token(t.token, self.ledger.assets[owner.asset].token, chain):
                yield t, owner

    def _tagged(self, block: Block, addresses: dict[str, DepositAddress]
                ) -> dict[str, str]:
        """Senders of the block's deposits that hold a tag token → the token."""
        return tag_holders(self.chain, [t.sender for t, _ in self._deposits(block, addresses)],
                           self.tag_tokens)

    def _credit(self, block: Block, addresses: dict[str, DepositAddress],
                report: ScanReport, tagged: Mapping[str, str] | None = None) -> None:
        """Credit a block's deposits in one ledger batch, then record them."""
        drafts, rows = [], []
        deny: dict[str, Label] | None = None
        chain = self.chain.name
        found = list(self._deposits(block, addresses))
        if not found:
            return
        with self.ledger.store.deposits() as tables:  # the block's unit (see scan)
            standing = {_transfer(d["id"]): d
                        for d in tables.credited_in(chain, {t.tx_hash for t, _ in found})}
        for t, (customer, asset, wallet) in found:
            if t.to is None:  # a deposit is paid to one of the addresses (_deposits)
                continue
            if deny is None:
                with self.ledger.store.screening(write=False) as tables:
                    deny = deny_index(tables.deny_map())
            listed = deny.get(chain_key(t.sender, chain))
            tag = (tagged or {}).get(chain_key(t.sender, chain))
            why: str | Message | None = None  # why the deposit is frozen: the list's label
            if listed is not None:
                why = listed.label or listed.source
            elif tag is not None:
                why = tag_label(tag)
            index = t.tx_index if t.log_index is None else f"{t.tx_index}.{t.log_index}"
            deposit_id = f"{self.chain.name}:{t.tx_hash}:{index}:{block.hash[:18]}"
            earlier = standing.get(_transfer(deposit_id))
            if earlier is not None and earlier["id"] != deposit_id:
                # credited in another block kept as the chain: no chain includes one
                # transaction twice, the node is wrong (or hostile); credited once
                report.findings.append(CustodyFinding(
                    "deposit_twice", "critical", asset, msg(
                        "finding.deposit_twice", chain=chain, tx=t.tx_hash,
                        block=str(block.number), earlier=str(earlier["block"])),
                    amount=t.value, addresses=(t.to,)))
                continue
            owed = FROZEN if why is not None else f"customer:{customer}"
            drafts.append(Draft(
                f"deposit:{deposit_id}", postings=(
                    Posting(f"wallet:{wallet}", asset, t.value), Posting(owed, asset, -t.value)),
                source=f"tx:{t.tx_hash}",
                memo=f"deposit in block {block.number}" if why is None else stored(msg(
                    "ledger.deposit.frozen", block=str(block.number), customer=customer,
                    sender=t.sender, label=why))))
            rows.append(DepositRow(id=deposit_id, chain=self.chain.name, block=block.number,
                                   block_hash=block.hash, tx_hash=t.tx_hash, address=t.to,
                                   customer=customer, asset=asset, amount=t.value,
                                   state="frozen" if why is not None else "credited"))
        if not drafts:
            return
        results = self.ledger.append(drafts)
        with self.ledger.store.deposits() as tables:
            fresh = tables.put_deposits(rows)
        report.credited += sum(1 for row, result in zip(rows, results, strict=True)
                               if row["id"] in fresh and not result.replayed)

    def _rewind(self, number: int, report: ScanReport) -> int:
        """Find the last block both branches share; reverse the credits above it."""
        name = self.chain.name

        def kept(n: int) -> str | None:
            with self.ledger.store.deposits(write=False) as tables:
                return tables.block_hash(name, n)

        fork = find_fork(self.chain, kept, number, self.start_block)
        with self.ledger.store.deposits() as tables:  # the reversals: one unit of work
            undo = tables.credited_after(name, fork)
            for d in undo:
                self._reverse(d)
                tables.mark_reverted(d["id"])
                report.reverted += 1
            tables.forget_blocks_after(name, fork)
        report.findings.append(CustodyFinding(
            "deep_reorg", "critical", None,
            msg("finding.deep_reorg", chain=name, confirmations=self.confirmations,
                block=str(fork), count=len(undo))))
        return fork

    def _reverse(self, d: DepositRow) -> None:
        """Reverse one credited deposit (in the caller's unit of work)."""
        owed = FROZEN if d["state"] == "frozen" else f"customer:{d['customer']}"
        legs = [Posting(owed, d["asset"], int(d["amount"])),
                Posting(f"wallet:{_wallet_of(self.ledger, d)}", d["asset"], -int(d["amount"]))]
        try:
            with self.ledger.store.unit() as unit, unit.savepoint():
                self.ledger.post(f"reverse:{d['id']}", legs, source=f"reorg:{d['block_hash']}",
                                 memo=f"deposit {d['tx_hash']} left the chain in a reorg")
        except Overdraft:
            # the customer already spent it: the exchange carries the loss
            legs[0] = Posting("loss:reorg", d["asset"], int(d["amount"]))
            self.ledger.post(f"reverse:{d['id']}", legs, source=f"reorg:{d['block_hash']}",
                             memo=f"deposit {d['tx_hash']} left the chain; already spent")


def tag_label(mosaic: str) -> Message:
    """What a deposit from an account holding a tag mosaic is listed as (in the ledger's
    memo and the alert), in the reader's language."""
    return msg("deposit.tag_label", mosaic=mosaic)


def tag_holders(chain: Chain, senders: Iterable[str], tokens: Sequence[str]
                ) -> dict[str, str]:
    """Which of ``senders`` hold any of the tag ``tokens`` (NEM mosaics), as the node says
    now: their key (:func:`~kinko.domain.addresses.chain_key`) → the first token held."""
    wanted = sorted(set(senders))
    found: dict[str, str] = {}
    if not wanted:
        return found
    for token in tokens:
        held = chain.balances(wanted, token=token)
        for sender in wanted:
            if held.get(sender, 0) > 0:
                found.setdefault(chain_key(sender, chain.name), token)
    return found


def find_fork(chain: Chain, kept: Callable[[int], str | None], number: int,
              floor: int) -> int:
    """The highest block at or below ``number`` whose kept hash the chain still has (or that
    was never kept): where a reorganisation's two branches meet. ``floor - 1`` if none."""
    fork = number
    while fork >= floor:
        stored = kept(fork)
        if stored is None or stored == chain.block(fork).hash:
            break
        fork -= 1
    return fork


def _transfer(deposit_id: str) -> str:
    """The transfer a deposit id names, whatever block it was credited in (the id without
    its block: ``<chain>:<tx>:<index>``)."""
    return deposit_id.rpartition(":")[0]


def _wallet_of(ledger: Ledger, deposit: DepositRow) -> str:
    with ledger.store.deposits(write=False) as tables:
        chain = str(deposit["chain"])
        owner = tables.addresses(chain).get(chain_key(str(deposit["address"]), chain))
    if owner is None:
        raise InvalidAccount(f"deposit address {deposit['address']} is no longer registered",
                             says=msg("error.deposits.address_unregistered",
                                      address=str(deposit["address"])[:200]))
    return owner.wallet
