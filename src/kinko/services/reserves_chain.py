"""Proof of reserves on chain: balances at the snapshot's block and proof of control.

For the snapshot published in ``DIR/root.json`` (:mod:`kinko.services.reserves`), whose root
binds the chain block its reserves are read at:

* :func:`sign_hot` has each hot wallet prove control: its :class:`~kinko.ports.Spender`
  signs :func:`~kinko.domain.reserves_proof.proof_message` (EIP-191 ``personal_sign``; the
  message names the snapshot's root hash), recorded in ``DIR/signatures.json``;
* a multisig wallet (a Safe) proves control the way the Safe itself vouches for a message
  (EIP-1271): its owners sign the SafeMessage hash of the message's EIP-191 hash, and the
  record holds their signatures packed as the Safe reads them. kinko signs for the owners
  whose keys it holds (the operations key); the others' are imported, one or more per entry,
  and added to what is there. The report asks the Safe itself, at the committed block,
  whether it accepts them (``isValidSignature``): owners or threshold changed since, or too
  few signatures, and the Safe's reserves are not proven;
* :func:`import_signatures` adds the signatures the offline signers of cold and warm wallets
  produced (a JSON file ``{"root_hash": ..., "signatures": [{"address", "signature"}]}``),
  each verified by recovering its address; an invalid one never replaces a valid one;
* :func:`build_report` checks root.json against its own root hash (the totals are the
  committed ones), its assets against the asset registry (decimals, chain, token) and the
  node against the committed chain id and block hash, reads every registered address's
  balance at the committed block through the :class:`~kinko.ports.Chain` port (``token=``
  for ERC-20 assets), each address once, and sets the *proven* reserves against the
  liabilities; balances at addresses without a valid proof are shown apart.

Signatures are public data; no key material ever passes through this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from kinko.domain.addresses import address_key, canonical_address, chain_key
from kinko.domain.custody import Wallet
from kinko.domain.messages import Message, msg
from kinko.domain.money import AssetRegistry
from kinko.domain.nem_tx import is_nem, message_signer
from kinko.domain.reserves import AssetSpec, Header, PublishedRoot
from kinko.domain.reserves_proof import (
    DUPLICATE,
    MISSING,
    SIGNATURES_FORMAT,
    SIGNED,
    AddressRow,
    AssetReserves,
    ReservesReport,
    point_of,
    proof_message,
)
from kinko.domain.safe import pack_signatures, recover_owner, safe_message_hash
from kinko.errors import (
    ApprovalError,
    BadInput,
    InputFileError,
    InvalidAddress,
    KinkoError,
)
from kinko.ports import Chain
from kinko.safeload import whole_number
from kinko.services.reserves import chain_point, load_root, read_json, replace_file

__all__ = ["MAX_TIME_GAP", "ContractCheck", "Prover", "SignatureResult", "build_report",
           "import_signatures", "load_root", "read_signatures", "recover", "sign_hot",
           "status_of"]

MAX_TIME_GAP = timedelta(minutes=10)
"""A reserves block further than this from the snapshot's time is flagged in the report."""
SIGNATURES_LIMIT = 16 << 20
"""Largest signatures file read (about 50,000 addresses)."""
MAX_PROBLEMS = 20
"""Entries of a signatures file named at most in one refusal."""


class Prover(Protocol):
    """Proves control of ``address`` by signing a text message (a key wallet's
    :class:`~kinko.ports.Spender`: EIP-191 ``personal_sign``, 65 bytes as 0x-hex)."""

    address: str

    def prove(self, message: str) -> str: ...


ContractCheck = Callable[[str, bytes, bytes, int], bool]
"""Whether the contract account at ``address`` accepts ``signatures`` for the 32-byte
``data_hash`` at ``block`` (for a Safe: EIP-1271 ``isValidSignature``, asked on chain)."""


@dataclass(frozen=True)
class SignatureResult:
    """One signature considered: its address, wallet and status (see ``status_of``)."""

    address: str
    wallet: str
    status: str


def recover(message: str, signature: str) -> str | None:
    """The address that signed ``message`` (EIP-191), or None if the signature is malformed."""
    from eth_account import Account  # eth_account when a signature is read: a second to load
    from eth_account.messages import encode_defunct

    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        if len(raw) != 65:
            return None
        return str(Account.recover_message(encode_defunct(text=message), signature=raw))
    except Exception:  # malformed signatures raise assorted errors inside eth_account
        return None


def status_of(message: str, address: str, signature: str | None,
              chain: str = "ethereum") -> str:
    """``signed and verified``, ``missing`` or ``invalid (recovers 0x…)`` for a signature
    of ``message`` by ``address`` on ``chain`` (EIP-191; on NEM, the signer's public key and
    its signature, :func:`~kinko.domain.nem_tx.message_signer`)."""
    if not signature:
        return MISSING
    signer = message_signer(chain, message, signature) if is_nem(chain) else \
        recover(message, signature)
    if signer is None:
        return "invalid (malformed signature)"
    if address_key(signer) != address_key(address):
        return f"invalid (recovers {signer})"
    return SIGNED


def _spec(header: Header, asset: str) -> AssetSpec | None:
    return next((a for a in header.assets if a.symbol == asset), None)


def _bound(directory: Path) -> PublishedRoot:
    """DIR's root, refused when it binds no chain block (nothing to prove control at)."""
    root = load_root(directory)
    if not root.header.reserves_at:
        raise BadInput(f"snapshot {root.header.snapshot_id.hex()} binds no block of any chain: "
                       "its reserves cannot be proven at the moment of its liabilities; take "
                       "the snapshot with a node configured (or --block N)",
                       says=msg("error.reserves.unbound", id=root.header.snapshot_id.hex()))
    return root


def _message(root: PublishedRoot, chain: str, address: str) -> str:
    return proof_message(root.root_hash.hex(), root.header, chain, address)


Records = dict[tuple[str, str], dict[str, str]]
"""Signatures by (chain, canonical address)."""
Owners = dict[tuple[str, str], Wallet]
"""(chain, canonical address) -> the wallet holding it (see :func:`_owners`)."""


def read_signatures(directory: Path, root: PublishedRoot) -> Records:
    """``DIR/signatures.json`` by (chain, canonical address); empty when absent. Refused when
    it signs another root (or another snapshot)."""
    path = directory / "signatures.json"
    if not path.exists():
        return {}
    data = read_json(path, "signatures", SIGNATURES_LIMIT)
    if not isinstance(data, dict) or not isinstance(data.get("signatures"), list):
        raise InputFileError(f"{path}: not a kinko signatures file",
                             says=msg("error.reserves.not_signatures_file", file=str(path)[:200]))
    if data.get("format") != SIGNATURES_FORMAT:
        raise InputFileError(f"{path}: format {str(data.get('format'))[:40]!r} is not "
                             f"{SIGNATURES_FORMAT} (signatures of an older snapshot format "
                             "sign no root; sign this snapshot again)",
                             says=msg("error.reserves.signatures_format", file=str(path)[:200],
                                      format=str(data.get("format"))[:40],
                                      expected=str(SIGNATURES_FORMAT)))
    sid, own = root.header.snapshot_id.hex(), root.root_hash.hex()
    if data.get("snapshot_id") != sid or data.get("root_hash") != own:
        raise BadInput(f"{path} signs another root ({str(data.get('root_hash'))[:64]}, snapshot "
                       f"{str(data.get('snapshot_id'))[:32]}), not this snapshot's ({own}, "
                       f"snapshot {sid})",
                       says=msg("error.reserves.signs_other_root", file=str(path)[:200],
                                root=str(data.get("root_hash"))[:64],
                                snapshot=str(data.get("snapshot_id"))[:32], own=own, sid=sid))
    out: Records = {}
    for rec in data["signatures"]:
        if isinstance(rec, dict) and all(isinstance(rec.get(k), str)
                                         for k in ("address", "signature", "chain")):
            out[(rec["chain"], chain_key(rec["address"], rec["chain"]))] = {
                k: str(v) for k, v in rec.items()}
    return out


def _write_signatures(directory: Path, root: PublishedRoot, records: Records) -> Path:
    path = directory / "signatures.json"
    chains = sorted({chain for chain, _a in records} | {p.chain for p in
                                                        root.header.reserves_at})
    body = {"format": SIGNATURES_FORMAT, "snapshot_id": root.header.snapshot_id.hex(),
            "root_hash": root.root_hash.hex(),
            "messages": {c: _message(root, c, "<address>") for c in chains
                         if root.header.point(c) is not None},
            "signatures": [records[k] for k in sorted(records)]}
    replace_file(path, json.dumps(body, indent=2) + "\n")
    return path


def _owners(wallets: Iterable[Wallet], header: Header) -> Owners:
    """(chain, canonical address) -> the first wallet of a snapshot asset holding it."""
    out: Owners = {}
    for w in wallets:
        spec = _spec(header, w.asset)
        if spec is not None:
            for a in w.addresses:
                out.setdefault((spec.chain, chain_key(a, spec.chain)), w)
    return out


def _merge(records: Records, root: PublishedRoot, chain: str, wallet: Wallet, address: str,
           signature: str, source: str) -> SignatureResult:
    message = _message(root, chain, address)
    status = status_of(message, address, signature, chain)
    key = (chain, chain_key(address, chain))
    old = records.get(key)
    keeps_old = (status != SIGNED and old is not None
                 and status_of(message, address, old["signature"], chain) == SIGNED)
    if not keeps_old:
        records[key] = {"address": address, "chain": chain, "wallet": wallet.name,
                        "tier": str(wallet.tier), "signature": signature, "source": source}
    return SignatureResult(address, wallet.name, status)


def _safe_digest(root: PublishedRoot, chain: str, address: str) -> tuple[bytes, bytes]:
    """(the message's EIP-191 hash, which the Safe is asked about; the SafeMessage hash of
    it, which its owners sign) for a Safe's proof of control."""
    point = point_of(root.header, chain)
    namespace, _, reference = point.chain_id.partition(":")
    chain_id = whole_number(reference, digits=20) if reference == reference.strip() else None
    if namespace != "eip155" or chain_id is None:
        raise BadInput(f"a Safe proves control on an EVM chain; {chain} is {point.chain_id}",
                       says=msg("error.reserves.safe_not_evm", chain=chain[:80],
                                chain_id=str(point.chain_id)[:80]))
    from eth_account.messages import defunct_hash_message

    data_hash = bytes(defunct_hash_message(text=_message(root, chain, address)))
    return data_hash, safe_message_hash(chain_id, address, data_hash)


def _owner_pieces(signature: str, digest: bytes, owners: set[str]) -> dict[str, bytes]:
    """Owners' 65-byte signatures in ``signature`` (0x-hex, one or several packed) by the
    owner each recovers to; :class:`~kinko.errors.KinkoError` for a malformed one or one
    that is not a registered owner's."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise BadInput("not hex", says=msg("error.reserves.signature_not_hex")) from None
    if not raw or len(raw) % 65:
        raise BadInput(f"{len(raw)} bytes: owners' signatures are 65 bytes each",
                       says=msg("error.reserves.owner_signature_size", size=len(raw)))
    out = {}
    for i in range(0, len(raw), 65):
        piece = raw[i:i + 65]
        owner = recover_owner(digest, piece)
        if address_key(owner) not in owners:
            raise BadInput(f"recovers {owner}, not an owner of the Safe",
                           says=msg("error.reserves.not_owner", owner=str(owner)[:80]))
        out[address_key(owner)] = piece
    return out


def _recorded_pieces(signature: str, digest: bytes, owners: set[str]) -> dict[str, bytes]:
    """The owners' signatures a record holds (see :func:`_owner_pieces`), none of what is
    malformed or no owner's (a record edited by hand, an owner since removed): what is
    imported replaces it."""
    hexed = _HEX.fullmatch(signature.strip())
    raw = bytes.fromhex(hexed.group(1)) if hexed else b""
    out = {}
    for i in range(0, len(raw) - len(raw) % 65, 65):
        try:
            out.update(_owner_pieces(raw[i:i + 65].hex(), digest, owners))
        except KinkoError:
            continue
    return out


def _merge_owners(records: Records, root: PublishedRoot, chain: str, wallet: Wallet,
                  address: str, signature: str, source: str) -> SignatureResult:
    """Add owners' signatures of a Safe's proof to what is recorded for it; ``signed``
    once they are as many as its registered threshold (the report asks the Safe)."""
    multisig = wallet.multisig
    assert multisig is not None
    owners = {address_key(o) for o in multisig.owners}
    _data, digest = _safe_digest(root, chain, address)
    key = (chain, chain_key(address, chain))
    old = records.get(key)
    held = _recorded_pieces(old["signature"], digest, owners) if old else {}
    try:
        held.update(_owner_pieces(signature, digest, owners))
    except KinkoError as exc:
        return SignatureResult(address, wallet.name, f"invalid ({exc.message})")
    records[key] = {"address": address, "chain": chain, "wallet": wallet.name,
                    "tier": str(wallet.tier), "signature": "0x" + pack_signatures(held).hex(),
                    "owners": ",".join(sorted(held)), "source": source}
    if len(held) < multisig.threshold:
        return SignatureResult(address, wallet.name, f"{MISSING} ({len(held)} of "
                               f"{multisig.threshold} owners' signatures: import the others')")
    return SignatureResult(address, wallet.name, SIGNED)


def sign_hot(directory: Path, wallets: Sequence[Wallet],
             prover_for: Callable[[Wallet], Prover]) -> list[SignatureResult]:
    """Each hot wallet's signer signs the snapshot for its addresses; written to
    ``DIR/signatures.json`` (other signatures there are kept)."""
    root = _bound(directory)
    records = read_signatures(directory, root)
    results = []
    for wallet in wallets:
        spec = _spec(root.header, wallet.asset)
        if wallet.tier != "hot" or not wallet.addresses or spec is None:
            continue
        point_of(root.header, spec.chain)  # refused when the snapshot binds no block
        signer = prover_for(wallet)
        if wallet.multisig is not None:  # the owners kinko holds sign for the Safe
            address = wallet.addresses[0]
            try:
                proof = signer.prove(_message(root, spec.chain, address))
            except ApprovalError as exc:  # a multisig account that proves nothing itself
                results.append(SignatureResult(address, wallet.name,
                                               f"{MISSING} ({exc.message})"))
                continue
            results.append(_merge_owners(records, root, spec.chain, wallet, address, proof,
                                         "hot"))
            continue
        for address in wallet.addresses:
            if address.lower() != signer.address.lower():
                results.append(SignatureResult(address, wallet.name,
                                               f"missing (the signer holds {signer.address})"))
                continue
            signature = signer.prove(_message(root, spec.chain, address))
            results.append(_merge(records, root, spec.chain, wallet, address, signature, "hot"))
    _write_signatures(directory, root, records)
    return results


def import_signatures(directory: Path, file: Path,
                      wallets: Sequence[Wallet]) -> list[SignatureResult]:
    """Add offline signatures from ``file``; each is verified and its status returned.

    Refuses a file of another snapshot or root, and one with any entry that cannot be
    imported (see :func:`_entries`): nothing of it is written then.
    """
    root = _bound(directory)
    data = read_json(file, "signatures", SIGNATURES_LIMIT)
    if isinstance(data, dict):
        for name, own in (("snapshot_id", root.header.snapshot_id.hex()),
                          ("root_hash", root.root_hash.hex())):
            if data.get(name) not in (None, own):
                raise BadInput(f"{file} is for {name.replace('_', ' ')} "
                               f"{str(data.get(name))[:64]}, not {own}",
                               says=msg("error.reserves.import_other", file=str(file)[:200],
                                        what=msg(f"error.reserves.field.{name}"),
                                        value=str(data.get(name))[:64], own=own))
        data = data.get("signatures")
    if not isinstance(data, list):
        raise InputFileError(f"{file}: expected signatures as [{{address, signature}}]",
                             says=msg("error.reserves.signatures_expected", file=str(file)[:200]))
    if not data:  # the wrong file, most likely: say so rather than report nothing
        raise InputFileError(f"{file} holds no signatures: nothing was imported",
                             says=msg("error.no_signatures", file=str(file)[:200]))
    owners = _owners(wallets, root.header)
    found = _entries(file, data, owners)
    for chain in {key[0] for key, _r in found}:
        point_of(root.header, chain)
    records = read_signatures(directory, root)
    # each under the address as the wallet registers it, whatever the file's spelling
    # (case, a NEM address's dashes): the text it proves control by is that address's, as
    # for the hot wallets' signatures and in the report
    results = [(_merge_owners if owners[key].multisig is not None else _merge)(
        records, root, key[0], owners[key], _registered(owners[key], key),
        r["signature"], "imported") for key, r in found]
    _write_signatures(directory, root, records)
    return results


def _registered(wallet: Wallet, key: tuple[str, str]) -> str:
    """The address of ``wallet`` that ``key`` (chain, canonical address) names, as the
    wallet registers it."""
    return next(a for a in wallet.addresses if chain_key(a, key[0]) == key[1])


def _entries(file: Path, data: list[Any], owners: Owners
             ) -> list[tuple[tuple[str, str], dict[str, str]]]:
    """The signatures of ``file`` by (chain, canonical address); :class:`InputFileError`
    naming every entry (``signatures[i]``) that is not an object of two strings, names no
    address of the exchange's wallets, or holds a signature of no possible form."""
    chains = sorted({chain for chain, _a in owners})
    found: list[tuple[tuple[str, str], dict[str, str]]] = []
    problems: list[str] = []
    first: Message | None = None  # the first problem, as a catalog message
    problems_said: list[Message] = []  # every problem, as a catalog message naming the file
    shown = str(file)[:200]
    for i, r in enumerate(data):
        if len(problems) >= MAX_PROBLEMS:
            problems.append(f"{file}: stopped after {MAX_PROBLEMS} problems")
            problems_said.append(msg("error.file.stopped_after", file=shown, most=MAX_PROBLEMS))
            break
        where = f"{file}: signatures[{i}]"
        entry = f"signatures[{i}]"
        if not (isinstance(r, dict) and isinstance(r.get("address"), str)
                and isinstance(r.get("signature"), str)):
            problems.append(f"{where}: expected an object with address and signature, "
                            "both text")
            said = msg("error.reserves.entry_at", where=entry,
                       problem=msg("error.reserves.entry.not_object"))
            first = first or said
            problems_said.append(msg("error.reserves.in_file", file=shown, what=said))
            continue
        key = next((k for c in chains for k in ((c, chain_key(r["address"], c)),)
                    if k in owners), None)
        if key is None:
            text, said = _stranger(r["address"], chains)
            problems.append(f"{where}: {text}")
            said = msg("error.reserves.entry_at", where=entry, problem=said)
            first = first or said
            problems_said.append(msg("error.reserves.in_file", file=shown, what=said))
            continue
        why = _form_problem(r["signature"], key[0], owners[key])
        if why is not None:
            problems.append(f"{where} ({_quoted(r['address'])}): {why[0]}")
            said = msg("error.reserves.entry_address_at", where=entry,
                       address=_quoted(r["address"]), problem=why[1])
            first = first or said
            problems_said.append(msg("error.reserves.in_file", file=shown, what=said))
            continue
        found.append((key, r))
    if problems:
        raise InputFileError(f"{file}: {len(problems)} problem(s); nothing was imported",
                             problems=problems, file=str(file),
                             says=msg("error.reserves.signatures_refused",
                                      file=str(file)[:200], count=len(problems),
                                      first=first or ""),
                             problems_said=problems_said)
    return found


def _stranger(address: str, chains: Sequence[str]) -> tuple[str, Message]:
    """Why ``address`` is no address of the exchange's wallets: not an address of the
    snapshot's chains at all (and why, by the first chain), or nobody's of them; in English
    and as a catalog message."""
    reasons: list[tuple[str, Message]] = []
    for chain in chains:
        try:
            canonical_address(address, chain)
        except InvalidAddress as exc:
            reasons.append((exc.message, exc.said()))
            continue
        break
    else:
        if reasons:
            return reasons[0]
    return (f"{_quoted(address)} is not an address of the exchange's wallets",
            msg("error.reserves.not_our_address", address=_quoted(address)))


def _quoted(address: str) -> str:
    """An address of the file for a message: quoted, what cannot be printed escaped, cut."""
    return repr(address if len(address) <= 60 else address[:60] + "…")


_HEX = re.compile(r"(?:0x)?((?:[0-9a-fA-F]{2})*)")


def _form_problem(signature: str, chain: str, wallet: Wallet) -> tuple[str, Message] | None:
    """Why ``signature`` cannot be ``wallet``'s proof of control on ``chain``, whatever it
    signs (None when its form is right): it is not hex, or not as long as such a proof; in
    English and as a catalog message. Such text is refused, never recorded: signatures.json
    holds proofs of bounded size."""
    hexed = _HEX.fullmatch(signature.strip())
    if hexed is None:
        return "the signature is not hex", msg("error.reserves.form.not_hex")
    size = len(hexed.group(1)) // 2
    if is_nem(chain):
        return None if size == 96 else (f"the signature is {size:,} bytes; on NEM it is the "
                                        "signer's public key and its signature, 96 bytes",
                                        msg("error.reserves.form.nem", size=size))
    if wallet.multisig is None:
        return None if size == 65 else (f"the signature is {size:,} bytes, not 65",
                                        msg("error.reserves.form.single", size=size))
    most = len(wallet.multisig.owners)
    if size and not size % 65 and size // 65 <= most:
        return None
    return (f"the signature is {size:,} bytes: owners' signatures are 65 bytes each, at most "
            f"{most} of them", msg("error.reserves.form.owners", size=size, most=most))


def _check_registry(header: Header, assets: AssetRegistry) -> None:
    """The snapshot's assets must be the registry's: another decimals value scales every
    liability (a tree in units of 10**17 ETH shows customers the right amounts and a ratio
    ten times too high), another chain or token reads other balances."""
    wrong = []
    said: list[Message] = []  # the same, as catalog messages
    registered = set(assets)  # (``in`` on the registry raises for an unknown symbol)
    for a in header.assets:
        symbol = a.symbol[:40]
        if a.symbol not in registered:
            wrong.append(f"{a.symbol} is not in the asset registry")
            said.append(msg("error.reserves.asset.not_registered", asset=symbol))
            continue
        known = assets[a.symbol]
        if a.decimals != known.decimals:
            wrong.append(f"{a.symbol} has {a.decimals} decimals in the snapshot, "
                         f"{known.decimals} in the asset registry")
            said.append(msg("error.reserves.asset.decimals", asset=symbol,
                            snapshot=a.decimals, registry=known.decimals))
        if a.chain != known.chain:
            wrong.append(f"{a.symbol} is on chain {a.chain} in the snapshot, {known.chain} in "
                         "the asset registry")
            said.append(msg("error.reserves.asset.chain", asset=symbol, snapshot=a.chain[:80],
                            registry=known.chain))
        if (a.token or "").lower() != (known.token or "").lower():
            wrong.append(f"{a.symbol} is token {a.token or '(none)'} in the snapshot, "
                         f"{known.token or '(none)'} in the asset registry")
            none = msg("error.reserves.asset.no_token")
            said.append(msg("error.reserves.asset.token", asset=symbol,
                            snapshot=(a.token or "")[:80] or none,
                            registry=known.token or none))
    if wrong:
        raise BadInput("refusing the report: the snapshot's assets are not the registry's: "
                       + "; ".join(wrong),
                       says=msg("error.reserves.registry_mismatch", first=said[0],
                                count=len(said)))


def _check_node(header: Header, chain: Chain) -> timedelta | None:
    """The node must be on the committed chain, with the committed block at that height.
    Returns how long before the snapshot's time the block was made (None without a time)."""
    point = point_of(header, chain.name)
    here, timestamp = chain_point(chain, point.block)
    if here.chain_id != point.chain_id:
        raise BadInput(f"the node is on chain id {here.chain_id}; the snapshot's reserves are "
                       f"bound to chain id {point.chain_id}",
                       says=msg("error.reserves.node_chain", node=str(here.chain_id)[:80],
                                snapshot=str(point.chain_id)[:80]))
    if here.block_hash != point.block_hash:
        raise BadInput(f"block {point.block} on this node has hash {here.block_hash.hex()}; the "
                       f"snapshot commits to {point.block_hash.hex()} (another chain or fork)",
                       says=msg("error.reserves.node_block", block=str(point.block),
                                hash=here.block_hash.hex(), committed=point.block_hash.hex()))
    if header.time is None:
        return None
    taken = datetime.strptime(header.time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return taken - datetime.fromtimestamp(timestamp, UTC)


def build_report(directory: Path, wallets: Sequence[Wallet], assets: AssetRegistry,
                 chain: Chain, contract_check: ContractCheck | None = None) -> ReservesReport:
    """Per asset of the snapshot: the committed liabilities against the balances, at the
    committed block, of every registered address (each counted once), split by proof of
    control (a multisig wallet's is asked of the contract itself, ``contract_check``).
    Refuses a root.json that does not reproduce its root hash, assets that are not the
    registry's, and a node of another chain or fork."""
    root = load_root(directory)
    header = root.header
    _check_registry(header, assets)
    gap = _check_node(header, chain)
    point = point_of(header, chain.name)
    records = read_signatures(directory, root)
    out = []
    for spec, total in zip(header.assets, root.totals, strict=True):
        if spec.chain != point.chain:
            out.append(AssetReserves(spec.symbol, spec.decimals, total, (), note=(
                f"no reserves read: the snapshot binds no block of chain {spec.chain}")))
            continue
        held = [w for w in wallets if w.asset == spec.symbol and w.addresses]
        first: dict[str, str] = {}  # canonical address -> the wallet it is counted in
        unique: list[str] = []
        for w in held:
            for a in w.addresses:
                key = chain_key(a, spec.chain)
                if key not in first:
                    first[key] = w.name
                    unique.append(a)
        balances = chain.balances(unique, point.block, token=spec.token) if unique else {}
        seen: set[str] = set()
        rows = []
        for w in held:
            for a in w.addresses:
                key = chain_key(a, spec.chain)
                if key in seen:
                    status = f"{DUPLICATE} (counted in wallet {first[key]})"
                else:
                    seen.add(key)
                    signature = records.get((spec.chain, key), {}).get("signature")
                    status = (_contract_status(root, spec.chain, a, signature, point.block,
                                               contract_check) if w.multisig is not None
                              else status_of(_message(root, spec.chain, a), a, signature,
                                             spec.chain))
                rows.append(AddressRow(w.name, str(w.tier), a, _balance(balances, a), status))
        out.append(AssetReserves(spec.symbol, spec.decimals, total, tuple(rows)))
    gaps = {point.chain: gap} if gap is not None else {}
    warnings = [_gap_warning(point.chain, point.block, g) for g in gaps.values()
                if abs(g) > MAX_TIME_GAP]
    return ReservesReport(header, root.root_hash.hex(), tuple(out), gaps, warnings)


def _contract_status(root: PublishedRoot, chain: str, address: str, signature: str | None,
                     block: int, check: ContractCheck | None) -> str:
    if not signature:
        return MISSING
    if check is None:
        return f"{MISSING} (no contract account check for chain {chain})"
    hexed = _HEX.fullmatch(signature.strip())
    if hexed is None:
        return "invalid (malformed signature)"
    data_hash, _digest = _safe_digest(root, chain, address)
    if check(address, data_hash, bytes.fromhex(hexed.group(1)), block):
        return SIGNED
    return (f"invalid (the Safe does not accept its owners' signatures at block {block}: "
            "too few, or its owners or threshold differ)")


def _gap_warning(chain: str, block: int, gap: timedelta) -> str:
    minutes = int(abs(gap).total_seconds() // 60)
    when = "before" if gap > timedelta(0) else "after"
    return (f"block {block} of {chain} was made {minutes // 60} h {minutes % 60} min {when} "
            "the snapshot's time: the reserves are not read at the moment of the liabilities")


def _balance(balances: dict[str, int], address: str) -> int:
    if address in balances:
        return balances[address]
    key = address_key(address)
    return next((v for k, v in balances.items() if address_key(k) == key), 0)
