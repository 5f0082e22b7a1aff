"""A transfer from a NEM multisig account: what a NEM multisig wallet builds, and what each
of its cosignatories signs.

A NEM multisig account (NIS1, since 2015) has m-of-n cosignatories and can no longer sign
for itself: one cosignatory *initiates* a transfer by signing a multisig transaction that
wraps it (the inner transfer's signer is the account), the others *cosign* it, each with a
cosignature transaction naming the inner transfer's hash and the account, and NIS1 includes
the transfer once the account's minimum of cosignatories has signed; with fewer it expires
at its deadline and nothing moves.

:func:`prepare` builds the unsigned pieces once (:class:`MultisigTransfer`: the inner
transfer, its hash, the wrapper); :func:`initiate` and :func:`cosign` sign them with one
cosignatory's key each, so signatures can be made on different machines (an operations
key, the policy co-signer, an approver offline); :func:`terms` is what a cosignatory
checks field by field before it signs (account, recipient, XEM and mosaics, deadline) and
:func:`check_cosignature` checks a cosignature someone else made (the SDK verifies its
signature; kinko checks it names this transfer and this account, and comes from a
cosignatory). Fees are NIS1's: the inner transfer's by its amount, 0.15 XEM for the
wrapper and for each cosignature, all paid by the multisig account.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kinko.chains.nem import (
    NemKey,
    Signed,
    address_of,
    cosignature,
    decode,
    facade,
    inner_hash,
    multisig,
    transfer,
    verify,
)
from kinko.domain.addresses import canonical_address
from kinko.domain.messages import msg
from kinko.domain.nem import XEM_MOSAIC, check_public_key
from kinko.errors import ApprovalError, BadInput

__all__ = ["MultisigTransfer", "check_cosignature", "cosign", "initiate", "inner_data", "prepare",
           "terms"]


@dataclass(frozen=True)
class MultisigTransfer:
    """A transfer from ``account`` (a multisig account) waiting for its cosignatories."""

    chain: str
    account: str
    account_public_key: str
    initiator_public_key: str
    inner: Any  # the SDK's transfer, signed by no one (the account cannot sign)
    inner_hash: str
    wrapper: Any  # the SDK's multisig transaction, for the initiator to sign
    timestamp: int
    deadline: int


def prepare(chain: str, *, account_public_key: str, initiator_public_key: str, to: str,
            timestamp: int, deadline: int, amount: int = 0,
            mosaics: Sequence[tuple[str, int]] = (),
            mosaic_info: Mapping[str, tuple[int, int]] | None = None) -> MultisigTransfer:
    """The unsigned transfer of ``amount`` micro-XEM (or ``mosaics``) from the multisig
    account to ``to``, and the wrapper ``initiator_public_key`` will sign."""
    account_key = check_public_key(account_public_key)
    initiator = check_public_key(initiator_public_key)
    if initiator == account_key:
        raise BadInput("a multisig account does not sign for itself: the initiator is one "
                       "of its cosignatories", says=msg("error.nem_multisig.self_initiator"))
    inner = transfer(chain, signer_public_key=account_key, recipient=to, amount=amount,
                     mosaics=mosaics, timestamp=timestamp, deadline=deadline,
                     mosaic_info=mosaic_info)
    wrapper = multisig(chain, inner, cosignatory_public_key=initiator, timestamp=timestamp,
                       deadline=deadline)
    return MultisigTransfer(chain, address_of(account_key, chain), account_key, initiator,
                            inner, inner_hash(chain, inner).lower(), wrapper, timestamp,
                            deadline)


def terms(tx: MultisigTransfer) -> dict[str, Any]:
    """What the transfer does, for a cosignatory to compare with what was approved."""
    inner = tx.inner
    mosaics = {f"{m.mosaic.mosaic_id.namespace_id.name.decode()}:"
               f"{m.mosaic.mosaic_id.name.decode()}": m.mosaic.amount.value * inner.amount.value
               // 1_000_000 for m in inner.mosaics}
    xem = mosaics.pop(XEM_MOSAIC, 0) if mosaics else inner.amount.value
    return {"chain": tx.chain, "account": tx.account,
            "to": canonical_address(inner.recipient_address.bytes.decode(), tx.chain),
            "xem": xem, "mosaics": mosaics, "inner_hash": tx.inner_hash,
            "deadline": tx.deadline, "fee": inner.fee.value + tx.wrapper.fee.value}


def inner_data(tx: MultisigTransfer) -> str:
    """The transfer's own bytes (hex, unsigned: the account cannot sign), from which a
    cosignatory reads what it does and computes its hash itself
    (:func:`kinko.domain.nem_tx.read_transfer`)."""
    f = facade(tx.chain)
    return bytes(f.transaction_factory.to_non_verifiable_transaction(tx.inner).serialize()
                 ).hex().upper()


def initiate(tx: MultisigTransfer, key: NemKey) -> Signed:
    """The initiator's signed multisig transaction (``key`` must be the initiator)."""
    if key.public_key != tx.initiator_public_key:
        initiator = address_of(tx.initiator_public_key, tx.chain)
        raise ApprovalError(f"{key.address} is not the initiator of this transfer "
                            f"({initiator})",
                            says=msg("error.nem_multisig.not_initiator", address=key.address,
                                     initiator=initiator))
    return key.sign(tx.wrapper)


def cosign(tx: MultisigTransfer, key: NemKey, *, timestamp: int | None = None) -> Signed:
    """``key``'s cosignature of the transfer (another cosignatory than the initiator)."""
    if key.public_key in (tx.initiator_public_key, tx.account_public_key):
        raise ApprovalError(f"{key.address} initiated this transfer or is the account: its "
                            "cosignature would not count",
                            says=msg("error.nem_multisig.would_not_count", address=key.address))
    return key.sign(cosignature(tx.chain, cosignatory_public_key=key.public_key,
                                inner_transaction_hash=tx.inner_hash,
                                multisig_address=tx.account,
                                timestamp=tx.timestamp if timestamp is None else timestamp,
                                deadline=tx.deadline))


def check_cosignature(tx: MultisigTransfer, signed: Signed,
                      cosignatories: Collection[str]) -> str:
    """The address of the cosignatory whose valid cosignature of ``tx`` ``signed`` is;
    :class:`~kinko.errors.ApprovalError` naming what is wrong otherwise (a signature that
    does not verify, another transfer or account, a key that is no cosignatory)."""
    if not verify(signed):
        raise ApprovalError("the cosignature's signature does not verify",
                            says=msg("error.nem_multisig.signature_unverified"))
    body = decode(signed.data)
    if type(body).__name__ != "NonVerifiableCosignatureV1":
        raise ApprovalError("not a cosignature transaction",
                            says=msg("error.nem_multisig.not_a_cosignature"))
    signer = address_of(str(body.signer_public_key), tx.chain)
    if str(body.other_transaction_hash).lower() != tx.inner_hash:
        raise ApprovalError(f"{signer} cosigned transaction {body.other_transaction_hash!s}"
                            f", not this transfer ({tx.inner_hash})",
                            says=msg("error.nem_multisig.other_transfer", signer=signer,
                                     tx=str(body.other_transaction_hash)[:80],
                                     inner_hash=tx.inner_hash))
    if body.multisig_account_address.bytes.decode() != tx.account:
        named = body.multisig_account_address.bytes.decode()
        raise ApprovalError(f"{signer} cosigned for account "
                            f"{named}, not {tx.account}",
                            says=msg("error.nem_multisig.other_account", signer=signer,
                                     account=named[:80], expected=tx.account))
    allowed = {canonical_address(c, tx.chain) for c in cosignatories}
    if signer not in allowed or str(body.signer_public_key) == tx.initiator_public_key:
        raise ApprovalError(f"{signer} is not a cosignatory of {tx.account} other than the "
                            "initiator", says=msg("error.nem_multisig.not_cosignatory",
                                                  signer=signer, account=tx.account))
    return signer
