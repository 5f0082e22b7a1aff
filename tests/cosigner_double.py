"""A TEST DOUBLE of the policy co-signer, in process: what kinko's sending path asks through
the :class:`~kinko.ports.Cosigner` port, for tests only.

The real co-signer is a separate process with its own key, its own database credentials and
its own durable log (``kinko cosign``); this double stands in for it where a test needs a
Safe's second signature. It signs a SafeTx with its own key only when kinko's database holds
a matching approved request, read in one consistent snapshot:

- ``("withdrawal", id)``: the withdrawal is ``allowed`` or ``approved`` and its hold is
  still pending, and the SafeTx pays exactly its amount of its asset to its destination
  from the wallet it was screened against;
- ``("proposal", id)``: a sweep or refill proposal that is ``approved``, and the SafeTx pays
  exactly its amount from its source wallet to its target address.

Field by field (Safe, to, value, data; CALL only, no refunds), once per request: asking
again with the same SafeTx gives the same signature, another SafeTx for the same request or
for a Safe nonce already signed is refused. Every answer is kept in ``decisions``. It keeps
no rolling limit, no breaker check and no durable log: those are the real co-signer's.
"""

from __future__ import annotations

from typing import Any

from kinko.chains.erc20 import transfer_call
from kinko.domain.addresses import same_address
from kinko.domain.money import AssetRegistry
from kinko.domain.safe import SafeTx
from kinko.errors import ApprovalError, KinkoError
from kinko.ports import CoSignature, Signer, Store


class CosignRefusedByDouble(ApprovalError):
    """The double's refusal (the real co-signer has its own error)."""

    code = "cosign_refused"


class ApprovedRequestsCosigner:
    """See the module docstring."""

    def __init__(self, store: Store, assets: AssetRegistry, key: Signer) -> None:
        self.store = store
        self.assets = assets
        self.key = key
        self.address = key.address
        self.decisions: list[tuple[str, str]] = []  # request, outcome or refusal reason
        self._signed: dict[str, tuple[bytes, bytes]] = {}  # request -> (hash, signature)
        self._nonces: dict[tuple[str, int, int], str] = {}

    def _refuse(self, request: str, reason: str) -> CosignRefusedByDouble:
        self.decisions.append((request, reason))
        return CosignRefusedByDouble(f"co-signer (test double) refuses {request}: {reason}")

    def _expected(self, kind: str, request_id: str) -> tuple[str, str, str, int] | str:
        """(asset, source wallet, destination, amount) the request pays, or why none."""
        with self.store.unit(write=False) as u:
            if kind == "withdrawal":
                row = u.screening.withdrawal(request_id)
                if row is None or row["state"] not in ("allowed", "approved"):
                    return "no allowed or approved withdrawal"
                hold = u.ledger.hold_state(f"withdrawal:{request_id}")
                if hold is None or hold[1] != "pending":
                    return "its hold is not open"
                return row["asset"], row["wallet"], row["destination"], int(row["amount"])
            if kind == "proposal":
                found = u.custody.proposal(request_id)
                if found is None or found[1] != "approved" \
                        or found[0].kind not in ("sweep", "refill"):
                    return "no approved sweep or refill"
                p = found[0].payload
                return (str(p["asset"]), str(p["from_wallet"]), str(p["to_address"]),
                        int(str(p["amount"])))
        return f"unknown request kind {kind!r}"

    def cosign(self, kind: str, request_id: str, tx: SafeTx) -> CoSignature:
        request = f"{kind}:{request_id}"
        earlier = self._signed.get(request)
        if earlier is not None:
            if earlier[0] != tx.hash:
                raise self._refuse(request, "already signed another SafeTx")
            self.decisions.append((request, "repeated"))
            return CoSignature(request, tx.hash, self.address, earlier[1],
                               len(self.decisions), repeated=True)
        slot = (tx.safe.lower(), tx.chain_id, tx.nonce)
        if slot in self._nonces:
            raise self._refuse(request, f"nonce {tx.nonce} signed for {self._nonces[slot]}")
        try:
            tx.check()
        except KinkoError as exc:
            raise self._refuse(request, exc.message) from None
        expected = self._expected(kind, request_id)
        if isinstance(expected, str):
            raise self._refuse(request, expected)
        asset_symbol, wallet_name, destination, amount = expected
        asset = self.assets[asset_symbol]
        with self.store.unit(write=False) as u:
            wallet = next((w for w in u.ledger.wallets() if w.name == wallet_name), None)
        if wallet is None or not any(same_address(a, tx.safe, asset.chain)
                                     for a in wallet.addresses):
            raise self._refuse(request, f"the SafeTx is from {tx.safe}, not {wallet_name}")
        want: dict[str, Any] = (
            {"to": destination, "value": amount, "data": b""} if asset.token is None
            else {"to": asset.token, "value": 0, "data": transfer_call(destination, amount)})
        if not same_address(tx.to, want["to"], asset.chain) or tx.value != want["value"] \
                or tx.data != want["data"]:
            raise self._refuse(request, "the SafeTx does not pay what was approved")
        signature = self.key.sign_digest(tx.hash)
        self.decisions.append((request, "signed"))
        self._signed[request] = (tx.hash, signature)
        self._nonces[slot] = request
        return CoSignature(request, tx.hash, self.address, signature, len(self.decisions))
