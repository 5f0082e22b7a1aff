"""Wallet kinds on an EVM chain: how a transfer from an exchange wallet is built, authorised,
paid for and proven (the :class:`~kinko.ports.Spender` port).

- :class:`KeyWallet` (kind ``key``): one key (an HSM key or, for development, a keystore
  file) signs a legacy transaction from its own address, and pays its gas. A native
  transfer is a value transfer (21,000 gas; :data:`~kinko.chains.safe.RECEIVE_GAS` when the
  receiver is a contract such as a Safe, whose receive hook costs more); a token transfer is
  the token's ``transfer`` call (:data:`~kinko.chains.erc20.TOKEN_GAS`). An emergency sweep
  racing a thief who holds the same key (:class:`~kinko.ports.RaceTerms`) takes the race's nonce
  and gas price instead of the node's, may first clear an EIP-7702 delegation of the address
  (a type-4 transaction), or revokes an allowance (the token's ``approve(spender, 0)``).
- :class:`SafeWallet` (kind ``multisig``): a Safe{Wallet} 1.4.1 account. The Safe is read
  first and refused if it is not exactly what was registered (owners, threshold, singleton,
  fallback handler, no module, no guard), then one SafeTx is built at the Safe's nonce
  (CALL only, no refunds: :meth:`~kinko.domain.safe.SafeTx.check`), its owners kinko can
  ask sign it (:class:`KeyOwner`: the operations key; :class:`CosignerOwner`: the policy
  co-signer), and ``execTransaction`` is sent by the *relayer*, a key that owns nothing and
  only pays the gas, so the Safe itself pays no fee. A Safe does not race the key that
  leaked (that key alone cannot move it); when owners' keys moved it without kinko, its
  emergency sweep races their pending executions: the race's ``nonce`` is then the Safe's
  own (the SafeTx it signs) and its ``gas_price`` the relayer's bid. It refuses a race that
  would clear a delegation or revoke an allowance (a Safe has neither to race for).

Both keep the two steps of the port apart: :meth:`prepare` asks the node (nonces, gas price,
chain id, gas) and the owners, outside any unit of work; :meth:`sign` only signs, inside the
unit that records the transaction's hash::

    wallet = KeyWallet(chain, key)
    prepared = wallet.prepare(Payment(eth, to, 10**18, ("withdrawal", "W1")))
    out = wallet.sign(prepared)      # recorded as "sending" with out.tx_hash, then
    chain.send_raw(out.raw)          # broadcast once that is committed

Proof of control (reserves): a key signs the proof message EIP-191 (``personal_sign``); a
Safe vouches for it by EIP-1271: its owners sign the SafeMessage hash of the message's
EIP-191 hash, and anyone can ask the Safe, at the snapshot's block, whether those
signatures are valid (``isValidSignature``), which also checks that they are enough owners'
as the Safe stood then. kinko signs with the owner keys it holds; a Safe whose threshold
needs owners kinko does not hold (a co-signed hot wallet's recovery key, a cold Safe's
approvers) is proven with their signatures, made offline and imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_account.messages import defunct_hash_message
from eth_utils.address import to_checksum_address

from kinko.chains.erc20 import TOKEN_GAS, approve_call, transfer_call
from kinko.chains.evm import EvmKey, EvmNode
from kinko.chains.safe import (
    RECEIVE_GAS,
    DigestSigner,
    SafeDeployment,
    check_safe,
    create_safe,
    exec_transaction_data,
    predict_safe_address,
    read_safe,
    sign_safe_tx,
)
from kinko.domain.addresses import canonical_address
from kinko.domain.chain import AUTHORIZATION_GAS
from kinko.domain.custody import Multisig
from kinko.domain.messages import Message, msg
from kinko.domain.money import Asset
from kinko.domain.safe import (
    SafeTx,
    accept_signature,
    check_signatures,
    pack_signatures,
    recover_owner,
    safe_message_hash,
)
from kinko.errors import ApprovalError, ConfigError
from kinko.ports import Cosigner, Fee, Outgoing, Payment, Prepared, SafeOwner

__all__ = ["EXEC_GAS", "CosignerOwner", "KeyOwner", "KeyWallet", "SafeAccounts", "SafeWallet",
           "deployment_of", "request_says"]

NATIVE_GAS = 21_000
EXEC_GAS = 250_000
"""The most gas kinko reserves for one ``execTransaction`` of a transfer (a SafeL2
execution costs about 70-110k; the node's estimate, with a margin, is what is sent)."""
_MARGIN_NUM, _MARGIN_DEN = 6, 5  # 1.2 × the node's estimate, in integers


def _canonical(address: str) -> str:
    return canonical_address(address, "ethereum")


def request_says(kind: str, request_id: str) -> Message:
    """What authorises a payment (``Payment.request``, "withdrawal W-1") as a catalog
    message."""
    if kind == "withdrawal":
        return msg("error.request.withdrawal", id=request_id[:100])
    if kind == "proposal":
        return msg("error.request.proposal", id=request_id[:100])
    return msg("error.request.other", kind=kind[:40], id=request_id[:100])


def _call_of(payment: Payment) -> tuple[str, int, bytes]:
    """(to, value, data) of a transfer: a value transfer, or the token's ``transfer``; for
    a race's revocation, the token's ``approve(spender, 0)``."""
    asset = payment.asset
    revoke = payment.race.revoke if payment.race is not None else None
    if revoke is not None:
        if asset.token is None:
            raise ConfigError(f"{asset.symbol} is no token: there is no allowance to revoke",
                              says=msg("error.wallet.evm.no_token", asset=asset.symbol))
        return asset.token, 0, approve_call(revoke, 0)
    if asset.token is None:
        return payment.to, payment.amount, b""
    return asset.token, 0, transfer_call(payment.to, payment.amount)


def _check_chain(chain: EvmNode, asset: Asset) -> None:
    if asset.chain != chain.name:
        raise ConfigError(f"{asset.symbol} is on {asset.chain}; this wallet is on {chain.name}",
                          says=msg("error.wallet.evm.other_chain", asset=asset.symbol,
                                   asset_chain=asset.chain, chain=chain.name))


class KeyWallet:
    """A wallet of one key; see the module docstring."""

    kind = "key"

    def __init__(self, chain: EvmNode, key: EvmKey) -> None:
        self.chain = chain
        self.key = key
        self.address = _canonical(key.address)

    def __repr__(self) -> str:
        return f"KeyWallet(address={self.address!r}, on={self.chain.name!r})"

    def _gas(self, asset: Asset, to: str | None) -> int:
        if asset.token is not None:
            return TOKEN_GAS
        if to is not None and self.chain.code(to):
            return RECEIVE_GAS  # a contract (a Safe) runs code when it receives
        return NATIVE_GAS

    def fee(self, asset: Asset, to: str | None = None, amount: int | None = None) -> Fee:
        _check_chain(self.chain, asset)
        gas = self._gas(asset, to)
        return Fee(self.address, gas * self.chain.fee_params()[1], gas)

    def prepare(self, payment: Payment) -> Prepared:
        """The node's chain id, gas price and next nonce; a race's own nonce and gas price
        instead (its delegation-clear adds the authorization's gas, which the key adds
        when it signs the type-4 transaction)."""
        _check_chain(self.chain, payment.asset)
        to, value, data = _call_of(payment)
        chain_id, gas_price = self.chain.fee_params()
        gas = self._gas(payment.asset, payment.to)
        race = payment.race
        if race is None:
            nonce, clear, most = self.chain.nonce(self.address), False, gas
        else:
            if race.nonce < 0 or race.gas_price <= 0:
                raise ConfigError(f"a race from {self.address} needs a nonce of 0 or more and "
                                  f"a gas price above 0, not {race.nonce} and {race.gas_price}",
                                  says=msg("error.wallet.evm.race_terms", address=self.address,
                                           nonce=str(race.nonce), price=str(race.gas_price)))
            nonce, gas_price, clear = race.nonce, race.gas_price, race.clear_delegation
            most = gas + (AUTHORIZATION_GAS if clear else 0)
        return Prepared(payment, self.address, Fee(self.address, most * gas_price, most), {
            "to": to, "value": value, "data": data, "gas": gas, "gas_price": gas_price,
            "chain_id": chain_id, "nonce": nonce, "clear_delegation": clear})

    def sign(self, prepared: Prepared) -> Outgoing:
        d = prepared.detail
        raw = self.key.sign_transfer(to=d["to"], value=d["value"], data=d["data"],
                                     gas=d["gas"], gas_price=d["gas_price"],
                                     chain_id=d["chain_id"], nonce=d["nonce"],
                                     clear_delegation=bool(d.get("clear_delegation")))
        return Outgoing(raw, self.chain.tx_hash(raw))

    def prove(self, message: str) -> str:
        return self.key.sign_message(message)

    def authorisation(self, payment: Payment) -> dict[str, Any]:
        return {}  # one key: nothing for anyone else to sign

    def accept(self, payment: Payment, owner: str, signature: bytes) -> bytes:
        raise ApprovalError(f"wallet {self.address} is signed by one key: it takes no "
                            "owners' signatures",
                            says=msg("error.wallet.evm.one_key", address=self.address))


class KeyOwner:
    """A Safe owner whose key kinko holds (the operations key, in an HSM or a file): it
    signs a SafeTx that passes kinko's rules, for any request the use case vouches for."""

    def __init__(self, key: DigestSigner) -> None:
        self.key = key
        self.address = str(to_checksum_address(key.address))

    def sign_safe_tx(self, tx: SafeTx, request: tuple[str, str]) -> bytes:
        return sign_safe_tx(self.key, tx)

    def sign_message_hash(self, digest: bytes) -> bytes:
        return self.key.sign_digest(digest)


class CosignerOwner:
    """The policy co-signer as a Safe owner: asked through the :class:`~kinko.ports.Cosigner`
    port, its answer trusted only if it is the registered co-signer's signature over this
    SafeTx's hash."""

    def __init__(self, cosigner: Cosigner, address: str) -> None:
        self.cosigner = cosigner
        self.address = str(to_checksum_address(address))

    def sign_safe_tx(self, tx: SafeTx, request: tuple[str, str]) -> bytes:
        tx.check()
        answer = self.cosigner.cosign(request[0], request[1], tx)
        if answer.safe_tx_hash != tx.hash or \
                recover_owner(tx.hash, answer.signature) != self.address:
            raise ApprovalError(f"the co-signer's answer for {request[0]} {request[1]} is not "
                                f"{self.address}'s signature of SafeTx 0x{tx.hash.hex()}",
                                says=msg("error.wallet.evm.cosigner_answer",
                                         request=request_says(*request), address=self.address,
                                         hash="0x" + tx.hash.hex()))
        return answer.signature


def deployment_of(multisig: Multisig) -> SafeDeployment:
    """The Safe contracts a registered multisig wallet runs on."""
    contracts = dict(multisig.contracts)
    try:
        return SafeDeployment(**{role: str(to_checksum_address(contracts[role]))
                                 for role in ("singleton", "proxy_factory",
                                              "fallback_handler")})
    except KeyError as missing:
        raise ConfigError(f"the multisig set-up names no {missing.args[0]} contract",
                          says=msg("error.wallet.evm.no_contract",
                                   role=str(missing.args[0]))) from None


class SafeWallet:
    """A Safe{Wallet} account; see the module docstring. ``owners`` are the owners kinko
    asks, in order (the operations key first, then the co-signer); ``relayer`` sends and
    pays the gas."""

    kind = "multisig"

    def __init__(self, chain: EvmNode, address: str, multisig: Multisig, relayer: EvmKey,
                 owners: Sequence[SafeOwner]) -> None:
        self.chain = chain
        self.address = _canonical(address)
        self.multisig = multisig
        self.deployment = deployment_of(multisig)
        self.relayer = relayer
        self.owners = list(owners)
        registered = {_canonical(o) for o in multisig.owners}
        for owner in self.owners:
            if _canonical(owner.address) not in registered:
                raise ConfigError(f"{owner.address} signs for Safe {self.address} but is not "
                                  "one of its registered owners",
                                  says=msg("error.wallet.evm.not_registered",
                                           owner=str(owner.address), safe=self.address))
        if _canonical(relayer.address) in registered:
            raise ConfigError(f"the relayer {relayer.address} is an owner of Safe "
                              f"{self.address}: the key that sends and pays the gas must own "
                              "nothing", says=msg("error.wallet.evm.relayer_owns",
                                                  relayer=str(relayer.address),
                                                  safe=self.address))

    def __repr__(self) -> str:
        return f"SafeWallet(address={self.address!r}, on={self.chain.name!r})"

    def fee(self, asset: Asset, to: str | None = None, amount: int | None = None) -> Fee:
        _check_chain(self.chain, asset)
        return Fee(_canonical(self.relayer.address), EXEC_GAS * self.chain.fee_params()[1],
                   EXEC_GAS)

    def check(self) -> Any:
        """The Safe as the chain has it, refused (naming every difference) unless it is the
        one registered."""
        info = read_safe(self.chain, self.address)
        check_safe(info, self.deployment, owners=self.multisig.owners,
                   threshold=self.multisig.threshold)
        return info

    def _nonce(self, payment: Payment, info: Any) -> int:
        """The Safe nonce the SafeTx takes: the Safe's now, or a race's (see the module
        docstring), never one already used."""
        race = payment.race
        if race is None:
            return int(info.nonce)
        if race.clear_delegation or race.revoke is not None:
            raise ApprovalError(f"Safe {self.address} does not race the key that leaked: it "
                                "has no delegation to clear and no allowance to revoke (send "
                                "the sweep as an ordinary co-signed transaction)",
                                says=msg("error.wallet.evm.safe_race", safe=self.address))
        if race.nonce < info.nonce or race.gas_price <= 0:
            raise ApprovalError(f"a race of Safe {self.address} needs its nonce {info.nonce} "
                                f"or a later one and a gas price above 0, not {race.nonce} "
                                f"and {race.gas_price}", nonce=race.nonce,
                                says=msg("error.wallet.evm.safe_race_terms", safe=self.address,
                                         current=str(info.nonce), nonce=str(race.nonce),
                                         price=str(race.gas_price)))
        return race.nonce

    def prepare(self, payment: Payment) -> Prepared:
        _check_chain(self.chain, payment.asset)
        info = self.check()
        nonce = self._nonce(payment, info)
        chain_id, gas_price = self.chain.fee_params()
        if payment.race is not None:
            gas_price = payment.race.gas_price  # the relayer outbids the pending executions
        to, value, data = _call_of(payment)
        tx = SafeTx(safe=self.address, chain_id=chain_id, to=to, value=value, data=data,
                    nonce=nonce)
        tx.check()
        signatures = {str(to_checksum_address(owner)): self._accept(tx, owner, signature)
                      for owner, signature in payment.signatures}
        asked: list[str] = []
        for owner in self.owners:
            if len(signatures) >= info.threshold:
                break
            if owner.address in signatures:
                continue
            asked.append(owner.address)
            signatures[owner.address] = owner.sign_safe_tx(tx, payment.request)
        if len(signatures) < info.threshold:
            said = msg("error.wallet.evm.offline_owners", safe=self.address,
                       threshold=int(info.threshold), owners=len(self.owners),
                       asked=", ".join(asked)) if asked else \
                msg("error.wallet.evm.offline_owners_none", safe=self.address,
                    threshold=int(info.threshold), owners=len(self.owners))
            raise ApprovalError(
                f"Safe {self.address} needs {info.threshold} owners' signatures; kinko can "
                f"ask {len(self.owners)} ({', '.join(asked) or 'none'}): the others sign "
                "offline", needed=info.threshold, given=len(signatures), says=said)
        check_signatures(tx, signatures, info.owners, info.threshold)
        call = exec_transaction_data(tx, signatures)
        sender = _canonical(self.relayer.address)
        if nonce == info.nonce:
            estimate = self.chain.estimate_gas(sender, self.address, call)
            gas = estimate * _MARGIN_NUM // _MARGIN_DEN
        else:  # a race's later nonce: the node cannot run it before the ones below
            gas = EXEC_GAS
        return Prepared(payment, sender, Fee(sender, gas * gas_price, gas), {
            "to": self.address, "value": 0, "data": call, "gas": gas, "gas_price": gas_price,
            "chain_id": chain_id, "nonce": self.chain.nonce(sender),
            "safe_tx_hash": "0x" + tx.hash.hex(), "safe_nonce": tx.nonce})

    def _safe_tx(self, payment: Payment) -> SafeTx:
        _check_chain(self.chain, payment.asset)
        info = self.check()
        to, value, data = _call_of(payment)
        tx = SafeTx(safe=self.address, chain_id=self.chain.fee_params()[0], to=to,
                    value=value, data=data, nonce=self._nonce(payment, info))
        tx.check()
        return tx

    def _accept(self, tx: SafeTx, owner: str, signature: bytes) -> bytes:
        if _canonical(owner) not in {_canonical(o) for o in self.multisig.owners}:
            raise ApprovalError(f"{owner} is not an owner of Safe {self.address}", owner=owner,
                                says=msg("error.safe.not_an_owner", owner=str(owner)[:100],
                                         safe=self.address))
        try:
            return accept_signature(tx.hash, signature, owner)
        except ApprovalError as exc:
            raise ApprovalError(f"{exc.message} (SafeTx of Safe {self.address} at nonce "
                                f"{tx.nonce}: signed for another transaction or an earlier "
                                "nonce? sign it again)", owner=owner,
                                says=msg("error.wallet.evm.sign_again", problem=exc.said(),
                                         safe=self.address, nonce=str(tx.nonce))) from None

    def authorisation(self, payment: Payment) -> dict[str, Any]:
        """The SafeTx the owners sign for ``payment`` (at the Safe's nonce now) and its hash
        (``digest``): sign the hash itself (``v`` 27/28) or, with a hardware wallet, its 32
        bytes as a message (``eth_sign``/``personal_sign``)."""
        tx = self._safe_tx(payment)
        return {"safe": tx.safe, "chain_id": tx.chain_id, "to": tx.to, "value": str(tx.value),
                "data": "0x" + tx.data.hex(), "operation": tx.operation,
                "safe_tx_gas": 0, "base_gas": 0, "gas_price": 0,
                "gas_token": tx.gas_token, "refund_receiver": tx.refund_receiver,
                "nonce": tx.nonce, "threshold": self.multisig.threshold,
                "digest": "0x" + tx.hash.hex()}

    def accept(self, payment: Payment, owner: str, signature: bytes) -> bytes:
        """An owner's signature of the SafeTx for ``payment``, checked (an owner's, over this
        SafeTx at the Safe's nonce now) and in the form the Safe checks."""
        return self._accept(self._safe_tx(payment), owner, signature)

    def sign(self, prepared: Prepared) -> Outgoing:
        d = prepared.detail
        raw = self.relayer.sign_transfer(to=d["to"], value=0, data=d["data"], gas=d["gas"],
                                         gas_price=d["gas_price"], chain_id=d["chain_id"],
                                         nonce=d["nonce"])
        return Outgoing(raw, self.chain.tx_hash(raw))

    def prove(self, message: str) -> str:
        """EIP-1271: the owners kinko holds sign the SafeMessage hash of ``message``'s
        EIP-191 hash, packed as the Safe reads them; the other owners' signatures are added
        to these (a co-signed Safe's operations key alone never reaches the threshold)."""
        chain_id = self.chain.fee_params()[0]
        digest = safe_message_hash(chain_id, self.address, bytes(defunct_hash_message(
            text=message)))
        signatures = {o.address: o.sign_message_hash(digest) for o in self.owners
                      if isinstance(o, KeyOwner)}
        if not signatures:
            raise ApprovalError(f"kinko holds no owner key of Safe {self.address}: its "
                                "owners sign its proof of control offline",
                                says=msg("error.wallet.evm.no_owner_key", safe=self.address))
        return "0x" + pack_signatures(signatures).hex()



class SafeAccounts:
    """Safe accounts on one chain (the :class:`~kinko.ports.Multisigs` port): created by
    the proxy factory of ``deployment`` with ``payer`` paying the gas, read back and checked
    against what was registered."""

    def __init__(self, chain: EvmNode, deployment: SafeDeployment, payer: EvmKey | None) -> None:
        self.chain = chain
        self.deployment = deployment
        self.payer = payer

    def contracts(self) -> tuple[tuple[str, str], ...]:
        d = self.deployment
        return (("fallback_handler", _canonical(d.fallback_handler)),
                ("proxy_factory", _canonical(d.proxy_factory)),
                ("singleton", _canonical(d.singleton)))

    def _setup(self, owners: Sequence[str], threshold: int, operator: str | None,
               cosigner: str | None) -> Multisig:
        return Multisig(tuple(_canonical(o) for o in owners), threshold, self.contracts(),
                        None if operator is None else _canonical(operator),
                        None if cosigner is None else _canonical(cosigner))

    def create(self, owners: Sequence[str], threshold: int, *, operator: str | None = None,
               cosigner: str | None = None) -> tuple[str, Multisig]:
        setup = self._setup(owners, threshold, operator, cosigner)  # roles checked first
        if self.payer is None:
            raise ConfigError("creating a Safe needs a key to pay its gas (the relayer)",
                              says=msg("error.wallet.evm.no_payer"))
        salt = 0  # the first salt nonce free for these owners: a warm and a cold Safe may
        while self.chain.code(predict_safe_address(  # have the same owners and threshold
                self.chain, self.deployment, list(owners), threshold, salt)):
            salt += 1
        info = create_safe(self.chain, self.payer, self.deployment, list(owners), threshold,
                           salt_nonce=salt)
        return _canonical(info.address), setup

    def check(self, address: str, multisig: Multisig) -> None:
        deployment = deployment_of(multisig)
        if deployment != self.deployment:
            raise ConfigError(f"Safe {address}: registered on contracts {deployment}, not on "
                              f"this chain's Safe {self.deployment}",
                              says=msg("error.wallet.evm.other_contracts",
                                       safe=str(address)[:100], registered=str(deployment),
                                       deployment=str(self.deployment)))
        info = read_safe(self.chain, address)
        check_safe(info, deployment, owners=multisig.owners, threshold=multisig.threshold)
