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
