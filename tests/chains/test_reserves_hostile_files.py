"""Hostile and clumsy files named to ``kinko reserves``: the offline signers' file of
``import-signatures``, the snapshot folder's root.json and signatures.json. Each gets one
line naming the file (and the entry or address), exit 2, and signatures.json left as it
was; never a traceback, and never a signatures.json that kinko can no longer read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import CliRun, cli_runner
from dbtemplate import migrated_store

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner, throwaway_signer
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.domain.reserves import verify_root
from kinko.domain.reserves_proof import proof_message
from kinko.errors import InputFileError
from kinko.ports import FixedClock
from kinko.services import reserves
from kinko.services.ledger import Ledger

E = 10**18


@dataclass
class Snap:
    chain: EvmChain
    ledger: Ledger
    cold: KeystoreSigner
    out: Path
    run: CliRun

    def sign(self, address: str | None = None) -> str:
        """The cold wallet's proof of control, as its offline signer makes it."""
        header, _totals, root = verify_root(json.loads((self.out / "root.json").read_text()))
        return str(self.cold.sign_message(
            proof_message(root.hex(), header, "ethereum", address or self.cold.address)))

    def imports(self, body: bytes | str, *, lang: str = "en") -> tuple[int, str, str]:
        """``kinko reserves import-signatures`` of a file holding ``body``."""
        file = self.out.parent / "offline.json"
        file.write_bytes(body.encode() if isinstance(body, str) else body)
        return self.run("--lang", lang, "reserves", "import-signatures", str(self.out),
                        str(file))

    def signatures(self) -> bytes | None:
        path = self.out / "signatures.json"
        return path.read_bytes() if path.exists() else None


@pytest.fixture
def snap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> Snap:
    """A snapshot bound to a block of an in-process chain, its cold wallet's signature
    imported, and ``kinko`` on the same database."""
    chain = EvmChain.in_process()
    store = migrated_store(tmp_path / "k.db")
    ledger = Ledger(store, FixedClock(datetime.now(UTC)), AssetRegistry.default())
    ledger.sync_assets()
    cold = throwaway_signer()
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (cold.address,)))
    chain.fund(cold.address, 200 * E)
    ledger.post("open", [Posting("wallet:eth-cold", "ETH", 125 * E),
                         Posting("customer:C1", "ETH", -100 * E),
                         Posting("customer:C2", "ETH", -25 * E)], source="opening")
    out = tmp_path / "snap"
    reserves.publish(reserves.snapshot(ledger, min_height=2, chain=chain), out)
    run = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    s = Snap(chain, ledger, cold, out, run)
    code, _, err = s.imports(json.dumps([{"address": cold.address, "signature": s.sign()}]))
    assert code == 0, err
    return s


def refused(result: tuple[int, str, str], *words: str) -> str:
    code, out, err = result
    assert code == 2, (out, err)
    assert err.startswith(("error: ", "エラー：")) and "Traceback" not in out + err, err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize(("body", "says"), [
    (b'{"signatures": [], "signatures": []}', 'duplicate key "signatures"'),
    (b'{"signatures": [], "fee": 1.5}', "number 1.5 is not an integer"),
    (b'{"signatures": [], "snapshot_id": ' + b"9" * 10_000 + b"}", "is too long"),
    (b'{"signatures": [], "x": NaN}', "NaN is not allowed"),
], ids=["key twice", "float", "10,000 digits", "NaN"])
def test_what_the_json_reader_refuses_names_the_file(snap: Snap, body: bytes,
                                                     says: str) -> None:
    """A key given twice, a fraction, a number of 10,000 digits: the message said what, but
    not in which file ("error: duplicate key "signatures" in one JSON object")."""
    before = snap.signatures()
    refused(snap.imports(body), "offline.json: the signatures", says)
    assert snap.signatures() == before


def test_a_file_of_no_signatures_is_refused_not_reported_as_imported(snap: Snap) -> None:
    """``[]`` exited 0, said the signatures were imported and rewrote signatures.json."""
    before = snap.signatures()
    for body in ("[]", '{"signatures": []}'):
        refused(snap.imports(body), "offline.json holds no signatures: nothing was imported")
    refused(snap.imports("[]", lang="ja"), "offline.json に署名がありません")
    assert snap.signatures() == before


def test_malformed_signatures_are_refused_and_never_recorded(snap: Snap) -> None:
    """A signature that is no hex, or of the wrong length, was recorded as given (status
    "invalid (malformed signature)", exit 1): two imports of 8 MiB of hex each made a
    signatures.json larger than kinko reads, and every later sign, import and report of
    the snapshot was refused. Now such a file is refused by entry and address, exit 2,
    with nothing written."""
    before = snap.signatures()
    junk = "ab" * (4 * 2**20 + 10)
    other = throwaway_signer()
    snap.ledger.add_wallet(Wallet("eth-cold2", "ETH", "cold", (other.address,)))
    for address in (snap.cold.address, other.address):
        refused(snap.imports(json.dumps([{"address": address, "signature": junk}])),
                "offline.json: 1 problem(s); nothing was imported",
                f"offline.json: signatures[0] ('{address}'): the signature is "
                f"{len(junk) // 2:,} bytes, not 65")
    assert snap.signatures() == before
    good = snap.sign()
    err = refused(snap.imports(json.dumps([
        {"address": snap.cold.address, "signature": good},
        {"address": snap.cold.address, "signature": "zz"},
        {"address": other.address, "signature": good[:-2]},
        {"address": other.address, "signature": None},
        ["not", "an", "object"]])), "4 problem(s)")
    assert "signatures[1] ('" + snap.cold.address + "'): the signature is not hex" in err
    assert "signatures[2] ('" + other.address + "'): the signature is 64 bytes, not 65" in err
    assert "signatures[3]: expected an object with address and signature, both text" in err
    assert "signatures[4]: expected an object with address and signature" in err
    assert "signatures[0]" not in err and snap.signatures() == before
    err = refused(snap.imports(json.dumps([{"address": other.address, "signature": "zz"}]),
                  lang="ja"), "取り込めない署名が 1 件あります", "署名が 16 進数ではありません")
    assert "the signature is not hex" not in err  # each problem in Japanese too
    # a copy with its line end, in upper case, is a signature all the same
    code, out, _ = snap.imports(json.dumps([
        {"address": snap.cold.address, "signature": "0x" + good[2:].upper() + "\n"}]))
    assert code == 0 and "signed and verified" in out


def test_an_address_not_the_exchanges_is_named_safely(snap: Snap) -> None:
    """Text that is no address was echoed as written, escape sequences and all (one in a
    signatures file recoloured the operator's terminal); an address with a bad checksum
    was said to be no address of the exchange's wallets. Each is named, quoted and
    escaped, with what is wrong with it."""
    good = snap.sign()
    cold = snap.cold.address
    typo = cold[:2] + cold[2:].swapcase()  # the exchange's address, checksum broken
    stranger = throwaway_signer().address
    err = refused(snap.imports(json.dumps([
        {"address": "\x1b[31mRED\x07", "signature": good},
        {"address": typo, "signature": good},
        {"address": stranger, "signature": good}])), "3 problem(s)")
    assert "\x1b" not in err and "\x07" not in err
    assert "signatures[0]: address '\\x1b[31mRED\\x07' is not" in err
    assert f"signatures[1]: address '{typo}' is not an Ethereum address: bad EIP-55 checksum" in err
    assert f"signatures[2]: '{stranger}' is not an address of the exchange's wallets" in err


def test_writing_signatures_never_follows_a_link_out_of_the_folder(snap: Snap,
                                                                   tmp_path: Path) -> None:
    """signatures.json was written through ``signatures.json.tmp``, following a symbolic
    link of that name: an import overwrote the file it pointed to, outside the folder."""
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("precious\n")
    (snap.out / "signatures.json.tmp").symlink_to(victim)
    code, out, err = snap.imports(json.dumps([{"address": snap.cold.address,
                                               "signature": snap.sign()}]))
    assert code == 0 and "signed and verified" in out, err
    assert victim.read_text() == "precious\n"
    written = snap.out / "signatures.json"
    assert not written.is_symlink() and snap.cold.address.lower() in written.read_text()


def test_publishing_never_follows_a_link_out_of_the_folder(snap: Snap, tmp_path: Path) -> None:
    """The same for root.json, written through ``.root.json.tmp``."""
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("precious\n")
    out = tmp_path / "next"
    out.mkdir()
    (out / ".root.json.tmp").symlink_to(victim)
    reserves.publish(reserves.snapshot(snap.ledger, min_height=2, chain=snap.chain), out)
    assert victim.read_text() == "precious\n"
    assert json.loads((out / "root.json").read_text())["format"] == "kinko-por-v2"
    assert (out / "root.json").stat().st_mode & 0o777 == 0o644  # published: readable by all


@pytest.mark.parametrize("layout", ["files", "jsonl"])
@pytest.mark.parametrize("link", ["proofs", "proof", "verify_proof.py"])
def test_a_proof_never_goes_through_a_link_out_of_the_folder(snap: Snap, tmp_path: Path,
                                                             link: str, layout: str) -> None:
    """A proof (or the folder of proofs, or the verifier) was written through a symbolic
    link of its name already in the output folder, overwriting what it pointed to."""
    victim = tmp_path / "elsewhere"
    victim.mkdir()
    (victim / "precious.txt").write_text("precious\n")
    out = tmp_path / "next"
    (out / "proofs").mkdir(parents=True)
    shot = reserves.snapshot(snap.ledger, min_height=2, chain=snap.chain)
    if link == "proofs":
        (out / "proofs").rmdir()
        (out / "proofs").symlink_to(victim)
    elif link == "verify_proof.py":
        (out / "verify_proof.py").symlink_to(victim / "precious.txt")
    else:
        names = [reserves.proof_file_name(c) for c, _ in shot.tree.proofs()]
        name = names[0] if layout == "files" else "proofs-0000.jsonl"
        (out / "proofs" / name).symlink_to(victim / "precious.txt")
    with pytest.raises(InputFileError, match="is a symbolic link: kinko writes a snapshot's "
                                             "files only in the folder itself"):
        reserves.publish(shot, out, layout=layout)
    assert [p.name for p in victim.iterdir()] == ["precious.txt"]
    assert (victim / "precious.txt").read_text() == "precious\n"


def test_a_safes_record_edited_by_hand_is_read_as_holding_nothing(snap: Snap,
                                                                  tmp_path: Path) -> None:
    """A Safe's record in signatures.json that is no hex (edited by hand): the report
    stopped on a ValueError (exit 70, a 500 on the dashboard) and an import for the Safe was
    refused with "not hex", naming neither file nor address. Now the report says the
    record is malformed and an import replaces it."""
    from eth_account.messages import defunct_hash_message

    from kinko.domain.custody import Multisig
    from kinko.domain.safe import safe_message_hash
    from kinko.services import reserves_chain

    owner, other = throwaway_signer(), throwaway_signer()
    safe = throwaway_signer().address
    snap.ledger.add_wallet(Wallet("eth-safe", "ETH", "hot", (safe,), kind="multisig",
                                  multisig=Multisig((owner.address.lower(),
                                                     other.address.lower()), 1)))
    path = snap.out / "signatures.json"
    held = json.loads(path.read_text())
    held["signatures"].append({"address": safe, "chain": "ethereum", "wallet": "eth-safe",
                               "tier": "hot", "signature": "0xnot hex", "source": "hot"})
    path.write_text(json.dumps(held))
    asked: list[bytes] = []

    def check(_address: str, _data: bytes, signatures: bytes, _block: int) -> bool:
        asked.append(signatures)
        return True

    report = reserves_chain.build_report(snap.out, snap.ledger.wallets(), snap.ledger.assets,
                                         snap.chain, check)
    (row,) = [r for a in report.assets for r in a.rows if r.wallet == "eth-safe"]
    assert row.status == "invalid (malformed signature)" and not asked
    header, _totals, root = verify_root(json.loads((snap.out / "root.json").read_text()))
    message = proof_message(root.hex(), header, "ethereum", safe)
    data_hash = bytes(defunct_hash_message(text=message))
    digest = safe_message_hash(snap.chain.fee_params()[0], safe, data_hash)
    piece = "0x" + owner.sign_digest(digest).hex()
    code, out, err = snap.imports(json.dumps([{"address": safe, "signature": piece}]))
    assert code == 0 and "eth-safe" in out and "signed and verified" in out, (out, err)
    (kept,) = [r for r in json.loads(path.read_text())["signatures"]  # as registered
               if r["address"] == safe.lower()]
    assert kept["signature"] == piece and kept["owners"] == owner.address.lower()
