"""Wallet kinds on NEM (NIS1): how a transfer from an exchange's NEM account is built,
authorised, paid for and proven (the :class:`~kinko.ports.Spender` port).

- :class:`NemKeyWallet` (kind ``key``): one NEM key signs a version 2 transfer from its own
  account, which pays NIS1's fee. What Coincheck had in 2018; ``kinko check`` says so of a
  hot wallet (``single_key_hot``), and of a key in a file (``key_in_file``).
- :class:`NemMultisigWallet` (kind ``multisig``): a NEM multisig account, m-of-n
  cosignatories (:mod:`kinko.chains.nem_multisig`). The account is read first and refused
  unless its minimum and cosignatories are exactly what was registered; the transfer is
  built once (its bytes and hash fixed); kinko's operations key *initiates* it (the
  multisig transaction), the policy co-signer (:class:`~kinko.ports.NemCosigner`) cosigns
  it only when it pays exactly what kinko approved, and cosignatures given with the payment
  are accepted after they are checked (kinko does not yet gather offline cosignatures for a
  proposal: :meth:`NemMultisigWallet.authorisation` says so). With fewer than the account's
  minimum nothing is signed for sending: NIS1 would keep the transfer waiting until its
  deadline and then drop it, and kinko does not announce one that cannot be included. The
  account pays every fee (the inner transfer's, the wrapper's, each cosignature's).

Amounts are integers: micro-XEM for XEM, the smallest unit for a mosaic (``Asset.token`` is
its ``namespace:name``). NIS1 computes a transfer's fee from the mosaic's supply and
divisibility and adds a levied mosaic's levy (:class:`~kinko.domain.nem.Levy`), paid by
the sender to the levy's recipient: :meth:`fee` says both (``Fee.levies``), exactly.

What is sent (:class:`~kinko.ports.Outgoing`'s ``raw``) is the JSON NIS1 announces: one
``{"data", "signature"}``, or, for a multisig account, the list of them, the initiator's
multisig transaction first and then each cosignature; its hash is the multisig
transaction's, the one NIS1, explorers and the watch see::

    wallet = NemMultisigWallet(chain, account, multisig, operations_key, cosigner)
    prepared = wallet.prepare(Payment(xem, to, 5_000_000, ("withdrawal", "W1")))
    out = wallet.sign(prepared)  # recorded as "sending" with out.tx_hash, then
    chain.send_raw(out.raw)      # announced once that is committed

NEM has no nonce and no gas: a payment carrying an emergency sweep's race
(:class:`~kinko.ports.RaceTerms`) is refused (a NEM transfer is not replaced by a later one;
the sweep is sent as an ordinary transfer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from kinko.chains import nem_multisig
from kinko.chains.nem import NemKey, Signed, network_time, transfer
from kinko.domain.addresses import canonical_address
from kinko.domain.custody import Multisig
from kinko.domain.messages import Message, joined, msg
from kinko.domain.money import Asset
from kinko.domain.nem import XEM_MOSAIC, MosaicDefinition
from kinko.errors import ApprovalError, ConfigError
from kinko.ports import Fee, NemCosigner, Outgoing, Payment, Prepared

__all__ = ["DEADLINE", "NemAccounts", "NemCosignerOwner", "NemKeyWallet", "NemMultisigWallet"]

DEADLINE = timedelta(hours=1)
"""How long NIS1 may take to include a transfer kinko signs (at most a day): after its
deadline it is dropped, and the co-signer refuses one that outlives kinko's reservation."""
COSIGNATURE_FEE = 150_000  # NIS1: 0.15 XEM for a multisig wrapper and for each cosignature


def _now() -> datetime:
    return datetime.now(UTC)


def _check_chain(chain: Any, asset: Asset) -> None:
    if asset.chain != chain.name:
        raise ConfigError(f"{asset.symbol} is on {asset.chain}; this wallet is on {chain.name}",
                          says=msg("error.nem_wallet.other_chain", asset=asset.symbol,
                                   chain=str(asset.chain)[:80], wallet_chain=str(chain.name)[:80]))


def _no_race(address: str, payment: Payment) -> None:
    if payment.race is not None:
        raise ApprovalError(f"NEM account {address} does not race: NEM has no nonce and no gas "
                            "price, so a transfer is not replaced by a later one (send the "
                            "sweep as an ordinary transfer)",
                            says=msg("error.nem_wallet.no_race", address=str(address)[:120]))


def _amounts(chain: Any, asset: Asset, amount: int
             ) -> tuple[int, list[tuple[str, int]], dict[str, tuple[int, int]],
                        MosaicDefinition | None]:
    """(micro-XEM, mosaics, their supply and divisibility, the mosaic's definition) of a
    transfer of ``amount`` of ``asset``; an unknown mosaic is :class:`BadInput` naming it."""
    if asset.token is None:
        return amount, [], {}, None
    definition: MosaicDefinition = chain.mosaic(asset.token)
    if definition.divisibility != asset.decimals:
        raise ConfigError(f"{asset.symbol} is registered with {asset.decimals} decimals, but "
                          f"mosaic {definition.mosaic} has divisibility "
                          f"{definition.divisibility}", asset=asset.symbol,
                          says=msg("error.nem_wallet.decimals", asset=asset.symbol,
                                   decimals=int(asset.decimals), mosaic=definition.mosaic[:120],
                                   divisibility=int(definition.divisibility)))
    return 0, [(definition.mosaic, amount)], {definition.mosaic: (
        definition.supply, definition.divisibility)}, definition


def _most(chain: Any, asset: Asset) -> int:
    """The largest amount of ``asset`` a transfer can move (its whole supply, in the smallest
    unit): NIS1's fee for it is the most any transfer of it pays."""
    definition: MosaicDefinition = chain.mosaic(asset.token or XEM_MOSAIC)
    return int(definition.supply * 10 ** definition.divisibility)


def _request(request: tuple[str, str]) -> str:
    """A request of kinko's as one identifier (``withdrawal:W1``), cut short."""
    return f"{request[0]}:{request[1]}"[:120]


def _raw(signed: Sequence[Signed]) -> bytes:
    bodies = [s.announce() for s in signed]
    return json.dumps(bodies[0] if len(bodies) == 1 else bodies).encode()


class NemKeyWallet:
    """A NEM account of one key; see the module docstring."""

    kind = "key"

    def __init__(self, chain: Any, key: NemKey,
                 clock: Callable[[], datetime] = _now) -> None:
        if key.chain != chain.name:
            raise ConfigError(f"the key of {key.address} is for {key.chain}, not {chain.name}",
                              says=msg("error.nem_wallet.key_chain", address=key.address,
                                       key_chain=key.chain[:80], chain=str(chain.name)[:80]))
        self.chain = chain
        self.key = key
        self.address = key.address
        self.clock = clock

    def __repr__(self) -> str:
        return f"NemKeyWallet(address={self.address!r}, on={self.chain.name!r})"

    def _transfer(self, asset: Asset, to: str, amount: int) -> tuple[Any, Fee]:
        xem, mosaics, info, definition = _amounts(self.chain, asset, amount)
        now = network_time(self.chain.name, self.clock())
        tx = transfer(self.chain.name, signer_public_key=self.key.public_key, recipient=to,
                      amount=xem, mosaics=mosaics, mosaic_info=info, timestamp=now,
                      deadline=now + int(DEADLINE.total_seconds()))
        levies = definition.levies(amount) if definition is not None else ()
        return tx, Fee(self.address, tx.fee.value, 0, levies)

    def fee(self, asset: Asset, to: str | None = None, amount: int | None = None) -> Fee:
        """NIS1's fee of a transfer of ``amount`` and the levy it pays; without an amount,
        the most any transfer of ``asset`` pays in fee (NIS1's fee grows with the amount,
        up to a cap), no levy."""
        _check_chain(self.chain, asset)
        fee = self._transfer(asset, to or self.address, _most(self.chain, asset)
                             if amount is None else amount)[1]
        return fee if amount is not None else Fee(fee.payer, fee.amount)

    def prepare(self, payment: Payment) -> Prepared:
        _check_chain(self.chain, payment.asset)
        _no_race(self.address, payment)
        tx, fee = self._transfer(payment.asset, payment.to, payment.amount)
        return Prepared(payment, self.address, fee, {"transaction": tx})

    def sign(self, prepared: Prepared) -> Outgoing:
        raw = _raw([self.key.sign(prepared.detail["transaction"])])
        return Outgoing(raw, self.chain.tx_hash(raw))

    def prove(self, message: str) -> str:
        """The key's public key and its NEM signature of ``message`` (hex)."""
        return self.key.sign_message(message)

    def authorisation(self, payment: Payment) -> dict[str, Any]:
        return {}  # one key: nothing for anyone else to sign

    def accept(self, payment: Payment, owner: str, signature: bytes) -> bytes:
        raise ApprovalError(f"NEM account {self.address} is signed by one key: it takes no "
                            "cosignatures",
                            says=msg("error.nem_wallet.one_key", address=self.address))


class NemCosignerOwner:
    """The policy co-signer as a cosignatory, asked through the
    :class:`~kinko.ports.NemCosigner` port; its answer trusted only if it is the registered
    co-signer's valid cosignature of this transfer."""

    def __init__(self, cosigner: NemCosigner, address: str) -> None:
        self.cosigner = cosigner
        self.address = address

    def cosign(self, tx: nem_multisig.MultisigTransfer, request: tuple[str, str],
               cosignatories: Sequence[str]) -> Signed:
        answer = self.cosigner.cosign_nem(request[0], request[1], tx.chain,
                                          nem_multisig.inner_data(tx))
        signed = Signed(answer.data.upper(), answer.signature.upper(), "", tx.chain)
        try:
            signer = nem_multisig.check_cosignature(tx, signed, cosignatories)
        except ApprovalError as exc:
            raise ApprovalError(f"the co-signer's answer for {request[0]} {request[1]} is not "
                                f"a cosignature of this transfer: {exc.message}",
                                says=msg("error.nem_wallet.cosigner_answer",
                                         request=_request(request), reason=exc.said())
                                ) from None
        if signer != self.address:
            raise ApprovalError(f"the co-signer's answer for {request[0]} {request[1]} was "
                                f"signed by {signer}, not by the registered co-signer "
                                f"{self.address}",
                                says=msg("error.nem_wallet.cosigner_signer",
                                         request=_request(request), signer=signer,
                                         cosigner=self.address))
        return signed


class NemMultisigWallet:
    """A NEM multisig account; see the module docstring. ``operator`` is kinko's operations
    key (a cosignatory, who initiates); ``cosigner`` the policy co-signer, if the account is
    co-signed."""

    kind = "multisig"

    def __init__(self, chain: Any, address: str, multisig: Multisig, operator: NemKey,
                 cosigner: NemCosignerOwner | None = None,
                 clock: Callable[[], datetime] = _now) -> None:
        self.chain = chain
        self.address = canonical_address(address, chain.name)
        self.multisig = multisig
        self.operator = operator
        self.cosigner = cosigner
        self.clock = clock
        owners = set(multisig.owners)
        if operator.address not in owners or operator.address != multisig.operator:
            raise ConfigError(f"the operations key {operator.address} is not the registered "
                              f"operator of NEM account {self.address} "
                              f"({multisig.operator or 'none'})",
                              says=msg("error.nem_wallet.not_operator",
                                       address=operator.address, account=self.address,
                                       operator=multisig.operator
                                       or msg("error.nem_wallet.no_operator")))
        if cosigner is not None and cosigner.address not in owners:
            raise ConfigError(f"{cosigner.address} cosigns for NEM account {self.address} but "
                              "is not one of its registered cosignatories",
                              says=msg("error.nem_wallet.cosigner_not_cosignatory",
                                       address=cosigner.address, account=self.address))

    def __repr__(self) -> str:
        return f"NemMultisigWallet(address={self.address!r}, on={self.chain.name!r})"

    def check(self) -> None:
        """The account as the chain has it, refused (naming every difference) unless it is
        the one registered."""
        NemAccounts(self.chain).check(self.address, self.multisig)

    def _build(self, payment: Payment) -> tuple[nem_multisig.MultisigTransfer, Fee]:
        _check_chain(self.chain, payment.asset)
        _no_race(self.address, payment)
        self.check()
        xem, mosaics, info, definition = _amounts(self.chain, payment.asset, payment.amount)
        now = network_time(self.chain.name, self.clock())
        tx = nem_multisig.prepare(
            self.chain.name, account_public_key=self.chain.public_key(self.address),
            initiator_public_key=self.operator.public_key, to=payment.to, amount=xem,
            mosaics=mosaics, mosaic_info=info, timestamp=now,
            deadline=now + int(DEADLINE.total_seconds()))
        terms = nem_multisig.terms(tx)
        cosignatures = self.multisig.threshold - 1
        levies = definition.levies(payment.amount) if definition is not None else ()
        return tx, Fee(self.address, terms["fee"] + cosignatures * COSIGNATURE_FEE, 0, levies)

    def fee(self, asset: Asset, to: str | None = None, amount: int | None = None) -> Fee:
        """As :meth:`NemKeyWallet.fee`, plus the multisig wrapper and the cosignatures (one
        less than the minimum), all paid by the account."""
        _check_chain(self.chain, asset)
        moved = _most(self.chain, asset) if amount is None else amount
        xem, mosaics, info, definition = _amounts(self.chain, asset, moved)
        inner = transfer(self.chain.name, signer_public_key=self.operator.public_key,
                         recipient=to or self.address, amount=xem, mosaics=mosaics,
                         mosaic_info=info, timestamp=0)
        total = inner.fee.value + COSIGNATURE_FEE * self.multisig.threshold
        levies = definition.levies(moved) if definition and amount is not None else ()
        return Fee(self.address, total, 0, levies)

    def prepare(self, payment: Payment) -> Prepared:
        tx, fee = self._build(payment)
        cosignatories = self.multisig.owners
        signatures: dict[str, Signed] = {}
        for owner, raw in payment.signatures:
            signed = self._read(tx, owner, raw)
            signatures[signed[0]] = signed[1]
        asked: list[str] = []
        needed = self.multisig.threshold - 1  # the operations key initiates
        if len(signatures) < needed and self.cosigner is not None \
                and self.cosigner.address not in signatures:
            asked.append(self.cosigner.address)
            signatures[self.cosigner.address] = self.cosigner.cosign(tx, payment.request,
                                                                     cosignatories)
        if len(signatures) < needed:
            raise ApprovalError(
                f"NEM account {self.address} needs {self.multisig.threshold} cosignatories' "
                f"signatures; kinko has {1 + len(signatures)} (the operations key"
                + (f", {', '.join(asked)}" if asked else "") + "): the others sign offline",
                needed=self.multisig.threshold, given=1 + len(signatures),
                says=msg("error.nem_wallet.too_few_asked", address=self.address,
                         needed=self.multisig.threshold, have=1 + len(signatures),
                         asked=", ".join(asked)) if asked
                else msg("error.nem_wallet.too_few", address=self.address,
                         needed=self.multisig.threshold, have=1 + len(signatures)))
        return Prepared(payment, self.address, fee, {
            "transfer": tx, "inner_hash": tx.inner_hash,
            "cosignatures": tuple(signatures.values())})

    def _read(self, tx: nem_multisig.MultisigTransfer, owner: str,
              raw: bytes) -> tuple[str, Signed]:
        try:
            body = json.loads(raw)
            signed = Signed(str(body["data"]).upper(), str(body["signature"]).upper(), "",
                            tx.chain)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ApprovalError(f"{owner}'s cosignature is not NIS1's {{\"data\", "
                                "\"signature\"}} of a cosignature transaction",
                                owner=owner,
                                says=msg("error.nem_wallet.cosignature_shape",
                                         owner=str(owner)[:120])) from None
        signer = nem_multisig.check_cosignature(tx, signed, self.multisig.owners)
        if signer != canonical_address(owner, tx.chain):
            raise ApprovalError(f"the cosignature given as {owner}'s is {signer}'s",
                                owner=owner,
                                says=msg("error.nem_wallet.cosignature_of_other",
                                         owner=str(owner)[:120], signer=signer))
        return signer, signed

    def sign(self, prepared: Prepared) -> Outgoing:
        tx = prepared.detail["transfer"]
        raw = _raw([nem_multisig.initiate(tx, self.operator),
                    *prepared.detail["cosignatures"]])
        return Outgoing(raw, self.chain.tx_hash(raw))

    def prove(self, message: str) -> str:
        raise ApprovalError(f"NEM account {self.address} is a multisig account: it signs "
                            "nothing itself, and one cosignatory's signature proves only "
                            "that cosignatory's key (its proof of control is not built yet)",
                            says=msg("error.nem_wallet.no_proof", address=self.address))

    def authorisation(self, payment: Payment) -> dict[str, Any]:
        raise ApprovalError(f"NEM account {self.address}: kinko does not yet gather offline "
                            "cosignatures for its transfers (a NEM transfer is built when it "
                            "is sent and expires within a day): its operations key and the "
                            "co-signer sign; other cosignatories cosign the announced transfer "
                            "in their own wallet (NanoWallet) before its deadline",
                            says=msg("error.nem_wallet.no_offline_cosignatures",
                                     address=self.address))

    def accept(self, payment: Payment, owner: str, signature: bytes) -> bytes:
        raise ApprovalError(f"NEM account {self.address}: a cosignature is checked against the "
                            "transfer it names when the transfer is sent, not before (NEM "
                            "transfers expire within a day)",
                            says=msg("error.nem_wallet.cosignature_at_send",
                                     address=self.address))


class NemAccounts:
    """NEM multisig accounts on one chain (the :class:`~kinko.ports.Multisigs` port): read
    back and checked against what was registered. kinko does not create them: converting an
    account to multisig is signed by the account's own key, which kinko never holds."""

    def __init__(self, chain: Any) -> None:
        self.chain = chain

    def contracts(self) -> tuple[tuple[str, str], ...]:
        return ()  # a NEM multisig account is a property of the account, not a contract

    def create(self, owners: Sequence[str], threshold: int, *, operator: str | None = None,
               cosigner: str | None = None) -> tuple[str, Multisig]:
        raise ConfigError("kinko does not create NEM multisig accounts: the account converts "
                          "itself with its own key (a multisig modification, e.g. in "
                          "NanoWallet); then register it with its cosignatories",
                          says=msg("error.nem_wallet.no_create"))

    def check(self, address: str, multisig: Multisig) -> None:
        minimum, cosignatories = self.chain.multisig(address)
        problems = []
        said: list[Message] = []  # the same, as catalog messages (the node's values cut short)
        if minimum != multisig.threshold:
            problems.append(f"minimum {minimum} on chain, {multisig.threshold} registered")
            said.append(msg("error.nem_wallet.minimum_differs", minimum=str(minimum)[:40],
                            registered=int(multisig.threshold)))
        extra = sorted(set(cosignatories) - set(multisig.owners))
        missing = sorted(set(multisig.owners) - set(cosignatories))
        if extra:
            problems.append(f"cosignatories not registered: {', '.join(extra)}")
            said.append(msg("error.nem_wallet.extra_cosignatories",
                            addresses=", ".join(extra)[:400]))
        if missing:
            problems.append(f"registered cosignatories not on chain: {', '.join(missing)}")
            said.append(msg("error.nem_wallet.missing_cosignatories",
                            addresses=", ".join(missing)[:400]))
        if problems:
            raise ConfigError(f"NEM account {address} is not the multisig account registered: "
                              + "; ".join(problems), address=address,
                              says=msg("error.nem_wallet.not_registered",
                                       address=str(address)[:120], problems=joined(said)))

