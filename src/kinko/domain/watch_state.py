"""The state watch: what an exchange address holds must change only as its transfers say.

A thief holding a hot key need not send a transaction *from* it: he can delegate the
account to his own contract with an EIP-7702 authorization signed by the key and call it,
or spend an allowance the key granted; the value then leaves by an internal call no
transfer record shows. So, for every watched address, the watch compares what it holds
(:class:`~kinko.domain.chain.AccountState`: native balance, each registered token's balance,
nonce, code) at a block with what it held at the block before, and explains the difference
with what that block shows (:func:`judge`):

- **native balance**: what successful transactions carried in and out of the address, and
  the fees of the transactions it sent; anything more that left is a *hidden outflow*;
- **token balances**: the token's ``Transfer`` events in and out; anything more is a hidden
  outflow (a token that moves balances without events is not a token kinko can hold);
- **nonce**: one per transaction the address sent; more means an EIP-7702 authorization
  the key signed was used by someone else;
- **code**: an account kinko holds has none; ``0xef0100 ‖ delegate`` means it is delegated
  (anything that calls it runs the delegate's code), any other code is foreign too; code
  cleared (kinko's sweep clears a delegation) is no alarm;
- **allowances**: an ``Approval`` the address granted (a spender may then take its tokens
  with ``transferFrom``); kinko grants none, it only revokes (value 0).

Each unexplained change is a :class:`Finding` attributed to the transaction that explains
it best (an authorization naming the address, a call to it from someone else, the
transaction that emitted the event), so the mempool sighting of that transaction and the
mined change are one alarm. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from kinko.domain.chain import AccountState, Allowance, Authorization, Transfer, delegate_of
from kinko.domain.messages import Message, Units, msg

__all__ = ["Finding", "FindingKind", "Flows", "flows_of", "judge", "span_words", "suspects"]

# what an unexplained change is; each becomes an alert of the same kind (a hidden outflow:
# a theft), kinko.domain.watch.state_alert
FindingKind = Literal["hidden_outflow", "nonce", "delegation", "code", "allowance", "call"]


@dataclass
class Flows:
    """What one block shows for one address: successful value in and out (native, and per
    token contract), fees of the transactions it sent, how many it sent."""

    native_in: int = 0
    native_out: int = 0
    fees: int = 0
    sent: int = 0
    tokens_in: dict[str, int] = field(default_factory=dict)
    tokens_out: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """An unexplained change of one watched address at one block (or in the mempool)."""

    address: str
    kind: FindingKind
    asset: str | None  # the asset that left (hidden_outflow); None otherwise
    amount: int
    detail: Message  # what changed, for people (kinko.domain.messages)
    tx_hash: str | None  # the transaction it is attributed to; None if none is visible


def span_words(first: int, last: int) -> Message:
    """Where a change was seen: one block, or a span of blocks read without their state."""
    return msg("state.where.block", block=str(last)) if first == last else \
        msg("state.where.blocks", first=str(first), last=str(last))


def flows_of(transfers: Sequence[Transfer], address: str,
             receipts: Mapping[str, tuple[bool, int]],
             internal: Sequence[Transfer] = ()) -> Flows:
    """The flows of ``address`` (canonical) in a block's transfers; ``receipts`` maps
    lower-case hashes of the transactions it sent or received to (succeeded, fee paid);
    ``internal``: native value a contract account (a Safe) sent by an internal call of a
    successful transaction someone else paid for (no fee, no nonce of its own)."""
    out = Flows()
    for t in internal:
        if t.token is None and t.sender == address:
            out.native_out += t.value
        if t.token is None and t.to == address:
            out.native_in += t.value
    for t in transfers:
        ok, fee = receipts.get(t.tx_hash.lower(), (True, 0))
        if t.token is None:
            if t.sender == address:
                out.sent += 1
                out.fees += fee
                if ok:
                    out.native_out += t.value
            if t.to == address and ok:
                out.native_in += t.value
            continue
        if t.sender == address:  # events exist only for successful transactions
            out.tokens_out[t.token] = out.tokens_out.get(t.token, 0) + t.value
        if t.to == address:
            out.tokens_in[t.token] = out.tokens_in.get(t.token, 0) + t.value
    return out


def suspects(address: str, transfers: Sequence[Transfer],
             authorizations: Sequence[Authorization], ours: Collection[str]) -> list[str]:
    """The transactions of a block that may have changed ``address`` without a transfer
    of its own, best first: those carrying an authorization it signed, then calls to it
    from an address that is not ours."""
    out = [a.tx_hash.lower() for a in authorizations if a.authority == address]
    out += [t.tx_hash.lower() for t in transfers
            if t.token is None and t.to == address and t.sender not in ours]
    return list(dict.fromkeys(out))


def judge(address: str, before: AccountState, after: AccountState, flows: Flows, *,
          native: str, tokens: Mapping[str, str], suspected: Sequence[str],
          allowances: Sequence[Allowance] = (), own_authorizations: int = 0,
          where: Message | None = None, decimals: Mapping[str, int] | None = None
          ) -> list[Finding]:
    """The unexplained changes of ``address`` from ``before`` to ``after`` (see the module
    docstring). ``native`` is the chain's coin, ``tokens`` maps watched token contracts to
    their assets, ``suspected`` the transactions to blame (:func:`suspects`),
    ``own_authorizations`` how many authorizations kinko's own transactions carried for it
    (each bumps its nonce: clearing a delegation); ``where`` the block(s) (:func:`span_words`),
    ``decimals`` each asset's, to show amounts (minor units when not given)."""
    blame = suspected[0] if suspected else None
    where = where if where is not None else msg("state.where.unknown")

    def units(amount: int, asset: str) -> Units:
        return Units(amount, asset, (decimals or {}).get(asset, 0))

    found: list[Finding] = []
    left = before.native - after.native
    explained = flows.native_out + flows.fees - flows.native_in
    if left > explained:
        found.append(Finding(address, "hidden_outflow", native, left - explained,
                             msg("state.hidden_outflow.native", address=address,
                                 amount=units(left - explained, native), where=where),
                             blame))
    for contract, asset in tokens.items():
        gone = before.token(contract) - after.token(contract)
        shown = flows.tokens_out.get(contract, 0) - flows.tokens_in.get(contract, 0)
        if gone > shown:
            found.append(Finding(address, "hidden_outflow", asset, gone - shown,
                                 msg("state.hidden_outflow.token", address=address,
                                     amount=units(gone - shown, asset), where=where), blame))
    bumped = after.nonce - before.nonce - flows.sent - own_authorizations
    if bumped > 0:
        found.append(Finding(address, "nonce", None, 0,
                             msg("state.nonce", address=address, bumped=str(bumped),
                                 where=where), blame))
    if after.code != before.code and after.code:
        delegate = delegate_of(after.code)
        if delegate is not None:
            found.append(Finding(address, "delegation", None, 0,
                                 msg("state.delegation", address=address, delegate=delegate,
                                     where=where), blame))
        else:
            found.append(Finding(address, "code", None, 0,
                                 msg("state.code", address=address, size=str(len(after.code)),
                                     where=where), blame))
    for grant in allowances:
        if grant.owner == address and grant.value > 0:
            asset = tokens.get(grant.token, grant.token)
            found.append(Finding(address, "allowance", tokens.get(grant.token), 0,
                                 msg("state.allowance", address=address, spender=grant.spender,
                                     amount=units(grant.value, asset), where=where,
                                     tx=grant.tx_hash), grant.tx_hash))
    return found
