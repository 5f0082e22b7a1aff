"""What a thief holding a co-signed Safe's operations key can try on chain, sent as he would
send it: signed, broadcast and mined, with no check of kinko's in between (the chain alone
decides). The demo's third replay of 2018 runs these against the real Safe 1.4.1 bytecode
(:mod:`kinko.services.demo_cosigned`); each answers the mined receipt and, for a refused
call, the Safe's own reason, read first with ``eth_call``.

- :meth:`SafeThief.send_from_owner`: a token transfer from the operations key's own
  address, which holds nothing (the Safe holds the coins);
- :meth:`SafeThief.execute`: ``execTransaction`` with the signatures the thief has (the
  operations key's alone: fewer than the threshold);
- :func:`add_owner_tx`: the SafeTx that would make the thief an owner with threshold 1,
  which he may sign, execute or take to the co-signer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kinko.chains.erc20 import TOKEN_GAS, transfer_call
from kinko.chains.evm import EvmKey, EvmNode
from kinko.chains.safe import encode_call, exec_transaction_data, read_safe
from kinko.domain.safe import SafeTx
from kinko.errors import ChainRejected
from kinko.ports import Receipt

__all__ = ["SAFE_ERRORS", "SafeThief", "Sent", "add_owner_tx"]

SAFE_ERRORS = {  # the Safe 1.4.1 contracts' error codes a thief meets (docs/error_codes.md)
    "GS013": "the inner call failed and no gas was set aside for it",
    "GS020": "signatures data too short: fewer signatures than the threshold",
    "GS025": "the hash was not approved by that owner",
    "GS026": "a signature that is not an owner's, or owners out of order",
    "GS031": "only the Safe itself may call this",
}
OWNER_GAS = 10**17  # wei the thief sends the operations key's address for its gas (0.1 ETH)
EXEC_LIMIT = 300_000  # gas the thief allows an execTransaction (no estimate: it reverts)


@dataclass(frozen=True)
class Sent:
    """A transaction the thief sent: its receipt and, when the chain refused it, why."""

    receipt: Receipt
    reason: str  # "" when it succeeded

    @property
    def refused(self) -> bool:
        return not self.receipt.ok


def _reason(chain: EvmNode, sender: str, to: str, data: bytes) -> str:
    """Why the chain would refuse the call (``eth_call``), in the contract's words."""
    try:
        chain.call(to, data, sender=sender)
    except ChainRejected as exc:
        text = exc.message.rsplit("execution reverted", 1)[-1].lstrip(": ").strip()
        code = text[:5]
        return f"{code} ({SAFE_ERRORS[code]})" if code in SAFE_ERRORS else (text or "reverted")
    return ""


def add_owner_tx(chain: EvmNode, safe: str, new_owner: str, threshold: int,
                 nonce: int) -> SafeTx:
    """The SafeTx calling the Safe's own ``addOwnerWithThreshold``: a transaction to the
    Safe itself, which kinko never signs (:meth:`~kinko.domain.safe.SafeTx.check`)."""
    return SafeTx(safe=safe, chain_id=chain.fee_params()[0], to=safe, value=0,
                  data=encode_call("addOwnerWithThreshold(address,uint256)", new_owner,
                                   threshold), nonce=nonce)


class SafeThief:
    """The thief: ``owner`` is the stolen operations key (it signs whatever he asks, the
    way an HSM signs for whoever holds its session), ``own`` his own funded key, which pays
    the gas of what he sends through the Safe."""

    def __init__(self, chain: EvmNode, owner: EvmKey, own: EvmKey) -> None:
        self.chain = chain
        self.owner = owner
        self.own = own

    def _send(self, key: EvmKey, to: str, data: bytes, gas: int) -> Sent:
        reason = _reason(self.chain, key.address, to, data)
        chain_id, gas_price = self.chain.fee_params()
        raw = key.sign_transfer(to=to, value=0, nonce=self.chain.nonce(key.address),
                                gas_price=gas_price, chain_id=chain_id, gas=gas, data=data)
        tx_hash = self.chain.send_raw(raw)
        self.chain.wait_for(tx_hash, "the thief's")
        receipt = self.chain.receipt(tx_hash)
        assert receipt is not None
        return Sent(receipt, "" if receipt.ok else reason or "reverted")

    def send_from_owner(self, token: str, to: str, amount: int) -> Sent:
        """``amount`` of ``token`` from the operations key's own address (its gas is the
        thief's, sent to it first from his own key)."""
        chain_id, gas_price = self.chain.fee_params()
        raw = self.own.sign_transfer(to=self.owner.address, value=OWNER_GAS,
                                     nonce=self.chain.nonce(self.own.address),
                                     gas_price=gas_price, chain_id=chain_id)
        self.chain.wait_for(self.chain.send_raw(raw), "the thief's gas")
        return self._send(self.owner, token, transfer_call(to, amount), TOKEN_GAS)

    def sign(self, tx: SafeTx) -> bytes:
        """The operations key's signature of ``tx``: whatever it is (the thief skips
        kinko's checks)."""
        return self.owner.sign_digest(tx.hash)

    def execute(self, tx: SafeTx, signatures: Mapping[str, bytes]) -> Sent:
        """``execTransaction`` of ``tx`` with ``signatures``, sent from the thief's own key
        (anyone may send it: the Safe checks the signatures)."""
        return self._send(self.own, tx.safe, exec_transaction_data(tx, signatures),
                          EXEC_LIMIT)

    def transfer_tx(self, safe: str, token: str, to: str, amount: int) -> SafeTx:
        """``amount`` of ``token`` from ``safe`` to ``to``, at the Safe's nonce now."""
        return SafeTx(safe=safe, chain_id=self.chain.fee_params()[0], to=token, value=0,
                      data=transfer_call(to, amount), nonce=read_safe(self.chain, safe).nonce)

    def owner_change(self, safe: str, new_owner: str, nonce: int) -> SafeTx:
        """``new_owner`` added as an owner of ``safe`` with threshold 1."""
        return add_owner_tx(self.chain, safe, new_owner, 1, nonce)
