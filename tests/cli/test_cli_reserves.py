"""``kinko reserves``: snapshot from the ledger, verify with kinko and the standalone file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from clirun import cli_runner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from saying import english_left

from kinko import verify_proof as standalone
from kinko.domain.custody import Wallet
from kinko.domain.ledger import BalanceState, Posting, normal_balance
from kinko.domain.money import AssetRegistry
from kinko.domain.reserves import verify_proof
from kinko.errors import BadInput
from kinko.ports import FixedClock
from kinko.services import reserves as svc
from kinko.services.ledger import Ledger
from kinko.store import open_store, upgrade


def _with_customers(run, tmp_path: Path):  # type: ignore[no-untyped-def]
    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,asset,balance\nC1,XEM,10.5\nC2,XEM,0.000001\n"
                   "C1,JPY,30000\nC3,ETH,1.000000000000000001\n", encoding="utf-8")
    assert run("customers", "import", str(csv))[0] == 0
    return run


@pytest.fixture
def cli(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """kinko on SQLite and on PostgreSQL, three customers imported."""
    return _with_customers(cli_runner(monkeypatch, capsys, tmp_path, store_url), tmp_path)


@pytest.fixture
def one_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """The same on SQLite only: for what does not depend on the store."""
    return _with_customers(cli_runner(monkeypatch, capsys, tmp_path,
                                      f"sqlite:///{tmp_path / 'k.db'}"), tmp_path)


def test_snapshot_and_verify(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "por"
    code, text, err = cli("reserves", "snapshot", "--out", str(out), "--min-height", "4")
    assert code == 0, err
    assert "3 customers" in text
    root = json.loads((out / "root.json").read_text())
    totals = dict(zip([a["symbol"] for a in root["snapshot"]["assets"]], root["totals"],
                      strict=True))
    assert totals == {"BTC": "0", "ETH": "1000000000000000001", "JPY": "30000",
                      "XEM": "10500001"}
    assert root["snapshot"]["height"] == 4 and root["leaves"] == 16
    assert root["snapshot"]["ledger_seq"] >= 1 and root["snapshot"]["reserves_at"] == []
    proofs = sorted((out / "proofs").glob("*.json"))
    assert [p.name for p in proofs] == ["C1.json", "C2.json", "C3.json"]
    code, text, _ = cli("reserves", "verify", str(out / "proofs" / "C1.json"),
                        "--root", str(out / "root.json"))
    assert code == 0, text
    assert "XEM 10.5" in text and "JPY 30000" in text
    assert "  XEM 10.500001 (6 decimals, chain nem)" in text  # the committed total
    for spelled in (root["root_hash"].upper(), "0x" + root["root_hash"]):  # as copied
        code, said, _ = cli("reserves", "verify", str(out / "proofs" / "C1.json"),
                            "--root", spelled)
        assert code == 0 and said == text, said
    # the copied standalone verifier, run as a customer would
    run = subprocess.run([sys.executable, str(out / "verify_proof.py"),
                          str(out / "proofs" / "C3.json"), root["root_hash"], "--customer", "C3"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "ETH 1.000000000000000001" in run.stdout

    # tampered balance
    bad = json.loads((out / "proofs" / "C2.json").read_text())
    bad["customer"]["balances"][3] = "2"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    code, text, _ = cli("reserves", "verify", str(tmp_path / "bad.json"),
                        "--root", str(out / "root.json"))
    assert code == 1 and "leads to root" in text
    run = subprocess.run([sys.executable, str(out / "verify_proof.py"),
                          str(tmp_path / "bad.json"), root["root_hash"], "--customer", "C2"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "FAIL" in run.stderr

    # a root of another snapshot
    other = tmp_path / "por2"
    assert cli("reserves", "snapshot", "--out", str(other), "--min-height", "4")[0] == 0
    code, text, _ = cli("reserves", "verify", str(out / "proofs" / "C1.json"),
                        "--root", str(other / "root.json"))
    assert code == 1 and "another" in text and "snapshot" in text

    # customer id absent from the snapshot: a proof renamed to another customer fails
    renamed = json.loads((out / "proofs" / "C1.json").read_text())
    renamed["customer"]["id"] = "C999"
    (tmp_path / "renamed.json").write_text(json.dumps(renamed))
    code, text, _ = cli("reserves", "verify", str(tmp_path / "renamed.json"),
                        "--root", str(out / "root.json"))
    assert code == 1 and "FAIL" in text

    # missing, malformed, unknown version
    code, text, _ = cli("reserves", "verify", str(tmp_path / "nope.json"),
                        "--root", str(out / "root.json"))
    assert code == 1 and "no such proof file" in text
    (tmp_path / "mal.json").write_text("{")
    code, text, _ = cli("reserves", "verify", str(tmp_path / "mal.json"),
                        "--root", str(out / "root.json"))
    assert code == 1 and "not valid JSON" in text
    v2 = json.loads((out / "proofs" / "C1.json").read_text())
    v2["format"] = "kinko-por-v9"
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    code, text, _ = cli("reserves", "verify", str(tmp_path / "v2.json"),
                        "--root", str(out / "root.json"))
    assert code == 1 and "unknown format" in text

    # snapshot at an earlier entry: before the import nothing is owed
    code, text, err = cli("reserves", "snapshot", "--out", str(tmp_path / "p0"), "--at", "0",
                          "--min-height", "2")
    assert code == 0, err
    assert json.loads((tmp_path / "p0" / "root.json").read_text())["totals"] == ["0"] * 4


def test_old_format_files_get_a_clear_error(one_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "por"
    assert one_cli("reserves", "snapshot", "--out", str(out), "--min-height", "2")[0] == 0
    v1 = {"format": "kinko-por-v1", "snapshot_id": "00" * 16, "height": 1, "assets": [],
          "customer": {}, "path": [], "root_hash": "00" * 32}
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    code, text, _ = one_cli("reserves", "verify", str(tmp_path / "v1.json"), "--root",
                        str(out / "root.json"))
    assert code == 1 and "old format kinko-por-v1" in text
    (tmp_path / "root-v1.json").write_text(json.dumps({**v1, "totals": []}))
    code, text, _ = one_cli("reserves", "verify", str(out / "proofs" / "C1.json"), "--root",
                        str(tmp_path / "root-v1.json"))
    assert code == 1 and "old format kinko-por-v1" in text


def test_okx_format_missing_verifier(cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kinko.domain.okx", None)  # import raises ImportError
    (tmp_path / "okx.json").write_text("{}")
    code, _, err = cli("reserves", "verify", "--format", "okx-v1", str(tmp_path / "okx.json"),
                       "--root", "00" * 32)
    assert code == 2 and "OKX v1 verifier" in err


def test_negative_balance_refused() -> None:
    """The ledger forbids customer overdrafts, so feed the service a stub ledger."""
    rows = [SimpleNamespace(account="customer:C1", asset="XEM", state=BalanceState(-5)),
            SimpleNamespace(account="customer:C2", asset="XEM", state=BalanceState(7))]
    stub: Any = SimpleNamespace(head=lambda: (3, "h"), clock=FixedClock(),
                                assets=AssetRegistry.default(),
                                balances=lambda **_: rows)
    with pytest.raises(BadInput, match=r"negative customer balances.*customer:C2 XEM"):
        svc.snapshot(stub, min_height=1)  # C1 is owed 5, C2 owes 7: refuse


amounts = st.lists(st.tuples(st.sampled_from(["A", "B", "C", "D"]),
                             st.sampled_from(["XEM", "ETH"]), st.integers(1, 10**24)),
                   max_size=10)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amounts)
def test_random_ledger_totals_equal_liabilities(deposits: list[tuple[str, str, int]]) -> None:
    store = open_store("sqlite://")
    upgrade(store)
    ledger = Ledger(store, FixedClock(), AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("xem-hot", "XEM", "hot"))
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot"))
    for i, (cid, asset, units) in enumerate(deposits):
        wallet = "wallet:xem-hot" if asset == "XEM" else "wallet:eth-hot"
        ledger.post(f"d{i}", [Posting(wallet, asset, units),
                              Posting(f"customer:{cid}", asset, -units)], source=f"tx{i}")
    snap = svc.snapshot(ledger, min_height=3)
    owed: dict[str, int] = {}
    for row in ledger.balances(kind="customer"):
        owed[row.asset] = owed.get(row.asset, 0) + normal_balance(row.account, row.state)
    tree = snap.tree
    symbols = [a.symbol for a in tree.header.assets]
    assert dict(zip(symbols, tree.totals, strict=True)) == {s: owed.get(s, 0) for s in symbols}
    for _cid, text in tree.proofs():
        proof = json.loads(text)
        verify_proof(proof, tree.root, snap.root_json(), customer=_cid)
        standalone.verify(proof, tree.root.hex(), _cid)
    store.close()


def test_snapshot_okx_v1(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "okx"
    code, text, err = cli("reserves", "snapshot", "--format", "okx-v1", "--out", str(out))
    assert code != 0 and not (out / "root.json").exists()  # XEM, JPY: OKX v1 cannot hold them
    assert "only BTC, ETH, USDT" in err and "JPY" in err
    code, text, err = cli("reserves", "snapshot", "--format", "okx-v1", "--out", str(out),
                          "--skip-other-assets")
    assert code == 0, err
    assert "binds only" in text
    root = json.loads((out / "root.json").read_text())
    assert root["format"] == "okx-v1" and root["users"] == 3
    assert sorted(root["assets_left_out"]) == ["JPY", "XEM"]
    assert root["balances"] == {"BTC": "0", "ETH": "1.00000001", "USDT": "0"}  # rounded up
    for proof in sorted((out / "proofs").glob("*.json")):
        code, text, _ = cli("reserves", "verify", "--format", "okx-v1", str(proof),
                            "--root", str(out / "root.json"))
        assert code == 0, text
        assert text.startswith("OK")
    c3 = json.loads((out / "proofs" / "C3.json").read_text())
    assert c3["self"]["balances"]["ETH"] == "1.00000001"
    c3["self"]["balances"]["ETH"] = "2"
    bad = tmp_path / "C3-changed.json"
    bad.write_text(json.dumps(c3), encoding="utf-8")
    code, text, _ = cli("reserves", "verify", "--format", "okx-v1", str(bad),
                        "--root", str(out / "root.json"))
    assert code == 1 and text.startswith("FAIL")


def test_okx_amount() -> None:
    assert svc._okx_amount(150_000_000, 8) == "1.5"
    assert svc._okx_amount(0, 18) == "0"
    assert svc._okx_amount(1, 18) == "0.00000001"
    assert svc._okx_amount(30000, 0) == "30000"
    assert svc._okx_amount(10**18, 18) == "1"


def test_snapshot_jsonl_layout(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "por"
    code, _text, err = cli("reserves", "snapshot", "--out", str(out), "--min-height", "3",
                           "--layout", "jsonl")
    assert code == 0, err
    root = json.loads((out / "root.json").read_text())
    lines = (out / "proofs" / "proofs-0000.jsonl").read_text().splitlines()
    assert len(lines) == 3
    ids = {verify_proof(json.loads(line), bytes.fromhex(root["root_hash"]), root).customer
           for line in lines}
    assert ids == {"C1", "C2", "C3"}
    code, _text, err = cli("reserves", "snapshot", "--out", str(tmp_path / "x"),
                           "--layout", "zip")
    assert code != 0 and "layout" in err


# ------------------------------------------------------------- attacks a skeptic replays


def test_wallets_add_refuses_an_address_already_registered(  # type: ignore[no-untyped-def]
        cli) -> None:
    a = "0x52908400098527886E0F7030069857D2E4169EE7"
    assert cli("wallets", "add", "eth-cold", "--asset", "ETH", "--tier", "cold",
               "--address", a)[0] == 0
    code, _, err = cli("wallets", "add", "eth-cold2", "--asset", "ETH", "--tier", "cold",
                       "--address", a.lower())
    assert code == 2 and "already registered to wallet eth-cold" in err
    code, _, err = cli("wallets", "add", "eth-cold3", "--asset", "ETH", "--tier", "cold",
                       "--address", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
                       "--address", "0x8617e340b3d01fa5f11f306f4090fd50e238070d")
    assert code == 2 and "twice" in err
    # re-registering a wallet with its own addresses is an update, not a duplicate
    assert cli("wallets", "add", "eth-cold", "--asset", "ETH", "--tier", "cold",
               "--address", a, "--address",
               "0x8617E340B3D01FA5F11F306F4090FD50E238070D")[0] == 0
    code, text, _ = cli("wallets", "list", "--format", "json")
    assert [w["name"] for w in json.loads(text)].count("eth-cold2") == 0


def test_verify_ties_the_proof_to_the_customer(one_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "por"
    assert one_cli("reserves", "snapshot", "--out", str(out), "--min-height", "3")[0] == 0
    c1 = str(out / "proofs" / "C1.json")
    code, text, _ = one_cli("reserves", "verify", c1, "--root", str(out / "root.json"),
                        "--customer", "C1")
    assert code == 0 and 'OK: customer "C1"' in text and "committed to these totals" in text
    code, text, _ = one_cli("reserves", "verify", c1, "--root", str(out / "root.json"),
                        "--customer", "C2")
    assert code == 1 and text.startswith('FAIL: this proof is for customer "C1", not "C2"')
    code, text, _ = one_cli("--lang", "ja", "reserves", "verify", c1, "--root",
                            str(out / "root.json"), "--customer", "C2")
    assert code == 1 and text == 'FAIL（不一致）：この証明は顧客 "C1" のもので、"C2" のものではありません\n'
    code, text, _ = one_cli("--lang", "ja", "reserves", "snapshot", "--out",
                            str(tmp_path / "ja"), "--min-height", "3")
    assert code == 0 and text.startswith("スナップショット ") and "利用者 " in text, text
    assert "注意：チェーンのブロックが束縛されていない" in text and "を出力した" in text
    code, text, _ = one_cli("reserves", "verify", c1, "--root", str(out / "root.json"),
                        "--customer", "C1\x1b[2J")
    assert code == 1 and "\x1b" not in text and "\\x1b" in text
    root = json.loads((out / "root.json").read_text())
    run = subprocess.run([sys.executable, str(out / "verify_proof.py"), c1, root["root_hash"]],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1 and run.stderr.startswith("FAIL: usage:")


def test_a_proof_and_a_snapshot_are_described_in_the_command_lines_language(  # type: ignore[no-untyped-def]
        one_cli, tmp_path: Path) -> None:
    # in Japanese, what a proof counts and what its snapshot commits to were English lines
    # (the standalone verifier's), under a Japanese first line or none at all
    out = tmp_path / "por"
    code, text, _ = one_cli("--lang", "ja", "reserves", "snapshot", "--out", str(out),
                            "--min-height", "3")
    assert code == 0 and "  基準日時：" in text and "  顧客数：非公表（最大 8）" in text, text
    assert "taken at" not in text and "customers:" not in text
    c1, root = str(out / "proofs" / "C1.json"), str(out / "root.json")
    code, text, _ = one_cli("--lang", "ja", "reserves", "verify", c1, "--root", root,
                            "--customer", "C1")
    assert code == 0 and text.startswith('OK：顧客 "C1" はルート '), text
    assert "  XEM 10.500001（小数 6 桁、チェーン nem）" in text and "スナップショット：" in text
    assert "committed to these totals" not in text and "ledger entry" not in text
    # in English, kinko says exactly what the customer's own verify_proof.py says
    code, text, _ = one_cli("--lang", "en", "reserves", "verify", c1, "--root", root,
                            "--customer", "C1")
    run = subprocess.run([sys.executable, str(out / "verify_proof.py"), c1,
                          json.loads((out / "root.json").read_text())["root_hash"],
                          "--customer", "C1"], capture_output=True, text=True, check=False)
    assert code == 0 and run.returncode == 0 and text.strip() == run.stdout.strip()


def test_a_proof_that_does_not_hold_is_said_in_the_command_lines_language(  # type: ignore[no-untyped-def]
        one_cli, tmp_path: Path) -> None:
    """In Japanese the FAIL line gave the verifier's English words after a Japanese FAIL;
    now it is Japanese throughout, with the same specifics. In English it is what it was:
    the verifier's own words, as the customer's verify_proof.py says them."""
    out = tmp_path / "por"
    assert one_cli("reserves", "snapshot", "--out", str(out), "--min-height", "3")[0] == 0
    root = str(out / "root.json")
    root_hash = json.loads((out / "root.json").read_text())["root_hash"]
    c1 = json.loads((out / "proofs" / "C1.json").read_text())
    tampered, old = tmp_path / "tampered.json", tmp_path / "old.json"
    changed = json.loads(json.dumps(c1))
    changed["customer"]["balances"][-1] = "7"
    tampered.write_text(json.dumps(changed))
    old.write_text(json.dumps(dict(c1, format="kinko-por-v1")))
    dup, nan = tmp_path / "dup.json", tmp_path / "nan.json"
    dup.write_bytes(b'{"format": 1, "format": 2}')
    nan.write_bytes(b'{"format": NaN}')
    with pytest.raises(standalone.ProofError) as altered:
        standalone.verify(changed, root_hash, "C1")
    assert "leads to root" in str(altered.value)
    for args, english in (
            ((str(tampered), "--root", root, "--customer", "C1"), f"FAIL: {altered.value}"),
            ((str(tampered), "--root", root_hash), f"FAIL: {altered.value}"),
            ((str(out / "proofs" / "C1.json"), "--root", root, "--customer", "C2"),
             'FAIL: this proof is for customer "C1", not "C2"'),
            ((str(old), "--root", root), "FAIL: proof is in the old format kinko-por-v1, which "
             "binds neither the reserves side nor the customer count: ask the exchange for a "
             "kinko-por-v2 proof"),
            ((str(dup), "--root", root),
             f'FAIL: {dup}: the proof: duplicate key "format" in one JSON object'),
            ((str(nan), "--root", root), f"FAIL: {nan}: the proof: NaN is not allowed in JSON")):
        code, text, _ = one_cli("--lang", "en", "reserves", "verify", *args)
        assert code == 1 and text == english + "\n", (args, text)
        code, text, _ = one_cli("--lang", "ja", "reserves", "verify", *args)
        assert code == 1 and text.startswith("FAIL（不一致）：") and text.count("\n") == 1, text
        left = english_left(text.removeprefix("FAIL（不一致）："), str(tmp_path),
                            standalone.FORMAT, *standalone.OLD_FORMATS,
                            *re.findall(r'"[^"]*"|[0-9a-f]{64}|NaN', text))
        assert not left, (args, text)
    code, text, _ = one_cli("--lang", "ja", "reserves", "verify", str(tampered), "--root", root)
    assert text.startswith("FAIL（不一致）：証明から計算したルートは ") and root_hash in text
    assert "改ざんされたか、別のスナップショットのものです" in text
    code, text, _ = one_cli("--lang", "ja", "reserves", "verify", str(dup), "--root", root)
    assert text == f'FAIL（不一致）：{dup} の証明：一つの JSON オブジェクトの中でキー "format" が重複しています\n'


def test_verify_refuses_hostile_files(one_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "por"
    assert one_cli("reserves", "snapshot", "--out", str(out), "--min-height", "2")[0] == 0
    root = str(out / "root.json")
    for name, data in (("deep", b"[" * 100_000), ("dup", b'{"format": 1, "format": 2}'),
                       ("big", b'"' + b"a" * (3 << 20) + b'"'), ("nan", b"NaN"),
                       ("bytes", b"\xff\xfe")):
        bad = tmp_path / f"{name}.json"
        bad.write_bytes(data)
        for fmt in ("kinko", "okx-v1"):
            code, text, err = one_cli("reserves", "verify", "--format", fmt, str(bad),
                                  "--root", root, "--customer", "C1")
            assert code == 1 and text.startswith("FAIL: ") and text.count("\n") == 1, (
                name, fmt, text, err)
            assert "Traceback" not in text + err
    edited = json.loads((out / "root.json").read_text())
    edited["totals"][0] = "1"
    (tmp_path / "root.json").write_text(json.dumps(edited))
    code, text, _ = one_cli("reserves", "verify", str(out / "proofs" / "C1.json"),
                        "--root", str(tmp_path / "root.json"), "--customer", "C1")
    assert code == 1 and "does not match its root hash" in text


def test_snapshot_ids_are_never_reused(one_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    monkeypatch.setattr(secrets, "token_bytes", lambda n: b"\x07" * n)
    assert one_cli("reserves", "snapshot", "--out", str(tmp_path / "a"), "--min-height", "2")[0] == 0
    code, _, err = one_cli("reserves", "snapshot", "--out", str(tmp_path / "b"), "--min-height", "2")
    assert code == 2 and "snapshot id 07070707" in err and "already" in err
    assert not (tmp_path / "b" / "root.json").exists()
    code, _, err = one_cli("reserves", "snapshot", "--out", str(tmp_path / "a"), "--min-height", "2")
    assert code == 2


def test_customer_count_option(one_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for mode, expected in (("none", None), ("exact", {"min": 3, "max": 3}),
                           ("range:2", {"min": 2, "max": 3})):
        out = tmp_path / mode.replace(":", "-")
        code, _, err = one_cli("reserves", "snapshot", "--out", str(out), "--min-height", "3",
                           "--customer-count", mode)
        assert code == 0, err
        assert json.loads((out / "root.json").read_text())["snapshot"]["customers"] == expected
        code, text, _ = one_cli("reserves", "verify", str(out / "proofs" / "C2.json"), "--root",
                            str(out / "root.json"), "--customer", "C2")
        assert code == 0, text
    code, _, err = one_cli("reserves", "snapshot", "--out", str(tmp_path / "x"),
                       "--customer-count", "some")
    assert code == 2 and "--customer-count" in err


def test_okx_verify_honours_the_root(one_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A private one-customer OKX v1 tree verifies on its own; against the published
    root it is refused."""
    from kinko.domain.okx import okx_proof_files

    out = tmp_path / "okx"
    assert one_cli("reserves", "snapshot", "--format", "okx-v1", "--out", str(out),
               "--skip-other-assets")[0] == 0
    root = out / "root.json"
    published = json.loads(root.read_text())
    c3 = out / "proofs" / "C3.json"
    code, text, _ = one_cli("reserves", "verify", "--format", "okx-v1", str(c3), "--root", str(root))
    assert code == 0 and published["root_hash"] in text
    code, text, _ = one_cli("reserves", "verify", "--format", "okx-v1", str(c3), "--root",
                        published["root_hash"])
    assert code == 0
    private = tmp_path / "private.json"
    private.write_text(okx_proof_files([("C3", {"ETH": "1.00000001"})], b"k" * 32)["C3"])
    code, text, _ = one_cli("reserves", "verify", "--format", "okx-v1", str(private),
                        "--root", str(root))
    assert code == 1 and text.startswith("FAIL: ") and "published root" in text
    code, text, err = one_cli("reserves", "verify", "--format", "okx-v1", str(private))
    assert code == 2 and "--root" in err


def test_an_okx_proof_is_said_in_the_command_lines_language(  # type: ignore[no-untyped-def]
        one_cli, tmp_path: Path) -> None:
    """In Japanese the OK line and the FAIL line of an OKX v1 proof gave the verifier's
    English words; now they are Japanese throughout, with the same specifics. In English
    they are what they were, byte for byte."""
    from kinko.domain.okx import okx_proof_files

    out = tmp_path / "okx"
    assert one_cli("reserves", "snapshot", "--format", "okx-v1", "--out", str(out),
                   "--skip-other-assets")[0] == 0
    root = out / "root.json"
    published = json.loads(root.read_text())
    r = published["root_hash"]
    c3 = out / "proofs" / "C3.json"
    changed = json.loads(c3.read_text())
    changed["self"]["balances"]["ETH"] = "2"
    tampered = tmp_path / "C3-changed.json"
    tampered.write_text(json.dumps(changed))
    private = tmp_path / "private.json"
    private.write_text(okx_proof_files([("C3", {"ETH": "1.00000001"})], b"k" * 32)["C3"])
    p = json.loads(private.read_text())["path"][-1]["hash"]
    other_root = tmp_path / "root-other.json"
    other_root.write_text(json.dumps(dict(published, balances={"BTC": "0", "ETH": "1",
                                                                "USDT": "0"})))
    counted = "  BTC 0\n  ETH 1.00000001\n  USDT 0\n"
    for args, code, english, japanese in (
            ((str(c3), "--root", str(root)), 0,
             f"OK: leaf and 2 level(s) recomputed; root {r} at height 3 (BTC 0, "
             f"ETH 1.00000001, USDT 0)\n{counted}",
             f"OK：葉と 2 段の親ノードを再計算し、高さ 3 のルート {r}（合計 BTC 0、"
             f"ETH 1.00000001、USDT 0）と一致しました\n{counted}"),
            ((str(c3), "--root", r), 0,
             f"OK: leaf and 2 level(s) recomputed; root {r} at height 3 (BTC 0, "
             f"ETH 1.00000001, USDT 0)\n{counted}",
             f"OK：葉と 2 段の親ノードを再計算し、高さ 3 のルート {r}（合計 BTC 0、"
             f"ETH 1.00000001、USDT 0）と一致しました\n{counted}"),
            ((str(tampered), "--root", str(root)), 1,
             "FAIL: self.hash is not sha256(nonce + balances): the leaf was altered\n",
             "FAIL（不一致）：C3-changed.json：OKX v1 の証明の検証に失敗しました。self.hash が "
             "sha256(nonce + balances) と一致しません。顧客自身の葉が改ざんされています\n"),
            ((str(private), "--root", str(root)), 1,
             f"FAIL: the proof ends in root {p}, not in the published root {r}: it belongs "
             "to another tree\n",
             f"FAIL（不一致）：private.json：OKX v1 の証明の検証に失敗しました。この証明はルート "
             f"{p} に至り、公開されたルート {r} には至りません。別の木の証明です\n"),
            ((str(c3), "--root", str(other_root)), 1,
             "FAIL: the proof's root balances differ from the published root's balances\n",
             "FAIL（不一致）：C3.json：OKX v1 の証明の検証に失敗しました。この証明のルートの"
             "残高が、公開されたルートの残高と異なります\n")):
        said = one_cli("--lang", "en", "reserves", "verify", "--format", "okx-v1", *args)
        assert said[:2] == (code, english), (args, said)
        said = one_cli("--lang", "ja", "reserves", "verify", "--format", "okx-v1", *args)
        assert said[:2] == (code, japanese), (args, said)
        first = said[1].splitlines()[0].removeprefix("FAIL（不一致）：").removeprefix("OK：")
        left = english_left(first, r, p, "sha256(nonce + balances)", "self", "BTC", "ETH",
                            "USDT", "OKX", tampered.name, private.name, c3.name)
        assert not left, (args, first)


def test_long_commands_show_progress_on_a_terminal_and_keep_their_data_clean(
        one_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FORCE_COLOR", "1")  # as on a terminal
    code, text, err = one_cli("reserves", "snapshot", "--out", str(tmp_path / "bar"),
                              "--min-height", "4")
    assert code == 0 and "writing proofs" in err and "3/3" in err
    code, text, err = one_cli("ledger", "verify", "--format", "json")
    assert code == 0 and "verifying entries" in err
    assert json.loads(text)["ok"] is True  # the bar is not in the data
    code, text, err = one_cli("ledger", "export")
    assert code == 0 and "exporting entries" in err and text.startswith("; kinko ledger export")
