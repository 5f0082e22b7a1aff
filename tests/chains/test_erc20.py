"""ERC-20 tokens at the chain layer, on the in-process chain and on a real anvil node: the
token contract deploys, keystore-signed token transfers show in blocks as token transfers
(and a reverted one does not), token balances are read at a block, the mempool is read where
the node shows it, and the committed contract artifact is what the pinned solc compiles."""

from __future__ import annotations

import dataclasses
import doctest
import json
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak
from keyfiles import new_keystore

import kinko.domain.chain
from kinko.chains import erc20
from kinko.chains.erc20 import (
    TOKEN_GAS,
    TRANSFER_TOPIC,
    decode_call,
    decode_transfer,
    deploy_token,
    fund_token,
    token_artifact,
    transfer_call,
)
from kinko.chains.evm import EvmChain, Transient
from kinko.chains.keystore import KeystoreSigner
from kinko.chains.retry import Retrying
from kinko.domain.chain import Transfer
from kinko.errors import ChainRejected, ChainUnavailable, InvalidAccount, InvalidAmount

ROOT = Path(__file__).resolve().parents[2]
ETH = 10**18
XEM = 10**6  # micro-XEM per XEM
PASSWORD = "correct horse battery"


def fresh_address() -> str:
    return str(Account.create().address)


def node_accounts(chain: EvmChain) -> list[str]:
    """The development node's unlocked, funded accounts (the first one deploys and funds)."""
    eth: Any = chain.w3.eth
    return [str(a) for a in eth.accounts]


def new_signer(chain: EvmChain, tmp_path: Path, name: str = "hot.json") -> KeystoreSigner:
    new_keystore(tmp_path / name, PASSWORD)
    signer = KeystoreSigner.open(tmp_path / name, PASSWORD)
    chain.fund(signer.address, ETH)
    return signer


def sign_token_transfer(chain: EvmChain, signer: KeystoreSigner, token: str, to: str,
                        amount: int, nonce: int | None = None) -> bytes:
    chain_id, gas_price = chain.fee_params()
    return signer.sign_transfer(to=token, value=0, data=transfer_call(to, amount),
                                gas=TOKEN_GAS, chain_id=chain_id, gas_price=gas_price,
                                nonce=chain.nonce(signer.address) if nonce is None else nonce)


def canonical(transfers: list[Transfer]) -> list[Transfer]:
    """What the port gives: addresses in canonical form (lower-case hex)."""
    def c(a: str | None) -> str | None:
        return None if a is None else a.lower()

    return [dataclasses.replace(t, sender=c(t.sender), to=c(t.to), token=c(t.token))
            for t in transfers]


@contextmanager
def mining_held(chain: EvmChain) -> Iterator[None]:
    """Sent transactions wait in the mempool until ``chain.mine()``; automine is restored."""
    provider: Any = chain.w3.provider
    if not hasattr(provider, "ethereum_tester"):  # a node (anvil)
        assert provider.make_request("evm_setAutomine", [False]).get("error") is None
        try:
            yield
        finally:
            provider.make_request("evm_setAutomine", [True])
    else:
        tester = provider.ethereum_tester
        tester.disable_auto_mine_transactions()
        try:
            yield
        finally:
            tester.enable_auto_mine_transactions()


# ---------------------------------------------------------------------- call data, no chain


def test_transfer_topic_and_selector_are_the_erc20_ones() -> None:
    assert TRANSFER_TOPIC == "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    data = transfer_call(fresh_address(), 1)
    assert data[:4].hex() == "a9059cbb" and len(data) == 4 + 64


def test_transfer_call_and_decode_round_trip() -> None:
    to, owner = fresh_address(), fresh_address()  # EIP-55; decoded: canonical (lower case)
    for amount in (0, 1, 2_500_000, 2**256 - 1):
        data = transfer_call(to, amount)
        assert decode_call(data) == ("transfer", to.lower(), amount)
        assert decode_call("0x" + data.hex()) == ("transfer", to.lower(), amount)  # as a node
        assert decode_transfer(data, owner) == (owner.lower(), to.lower(), amount)
    # transferFrom(owner, to, amount): the tokens leave the owner, not the caller
    data = keccak(text="transferFrom(address,address,uint256)")[:4] + abi_encode(
        ["address", "address", "uint256"], [owner, to, 7])
    assert decode_call(data) == ("transferFrom", to.lower(), 7)
    assert decode_transfer(data, fresh_address()) == (owner.lower(), to.lower(), 7)


def test_other_call_data_is_not_a_transfer() -> None:
    data = transfer_call(fresh_address(), 5)
    dirty = data[:4] + b"\x01" + data[5:]  # non-zero padding before the address
    approve = keccak(text="approve(address,uint256)")[:4] + data[4:]
    for other in (b"", "0x", data[:4], data[:-1], dirty, approve, "0xzz", b"\x00" * 68):
        assert decode_call(other) is None and decode_transfer(other, fresh_address()) is None
    for bad in (-1, 2**256, True):
        with pytest.raises(InvalidAmount, match="between 0 and"):
            transfer_call(fresh_address(), bad)
    with pytest.raises(InvalidAccount, match="checksum"):
        transfer_call("0x52908400098527886E0F7030069857D2E4169Ee7", 1)  # a capital mistyped


def test_module_examples_hold() -> None:
    for module in (erc20, kinko.domain.chain):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_new_transfer_fields_default_to_native() -> None:
    t = Transfer("0xab", 1, 0, "0xA", "0xB", 5, 0)
    assert t.token is None and t.log_index is None


# ---------------------------------------------------------------------- the artifact


def test_committed_artifact_matches_a_fresh_compile() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed (make test installs the npm tools)"
    done = subprocess.run([node, "scripts/compile_token.mjs", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["solc"]
    artifact = token_artifact()
    assert artifact["contract"] == "KinkoToken"
    assert artifact["solc_version"].startswith(pinned + "+")
    assert artifact["bytecode"].startswith("0x60") and len(artifact["bytecode"]) > 1000
    names = {item.get("name") for item in artifact["abi"]}
    assert {"transfer", "transferFrom", "approve", "allowance", "balanceOf", "totalSupply",
            "name", "symbol", "decimals", "Transfer", "Approval"} <= names


def test_artifact_is_shipped_in_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["kinko"]
    assert any(fnmatch("chains/kinko_token.json", p) for p in patterns)


# ---------------------------------------------------------------------- on a chain


def test_token_deploys_with_its_supply_at_the_deployer(chain: EvmChain) -> None:
    token = deploy_token(chain, name="NEM", symbol="XEM", decimals=6, supply=9 * 10**9 * XEM)
    deployer = node_accounts(chain)[0]
    contract = chain.w3.eth.contract(address=token, abi=token_artifact()["abi"])  # type: ignore[call-overload]
    assert contract.functions.decimals().call() == 6
    assert contract.functions.symbol().call() == "XEM"
    assert contract.functions.totalSupply().call() == 9 * 10**9 * XEM
    assert chain.balances([deployer], token=token) == {deployer: 9 * 10**9 * XEM}
    # the mint is a Transfer from the zero address, in the block that created the contract
    minted = [t for t in chain.block(chain.head()).transfers if t.token == token.lower()]
    assert [(t.sender, t.to, t.value) for t in minted] == [
        ("0x" + "0" * 40, deployer.lower(), 9 * 10**9 * XEM)]


def test_signed_token_transfer_shows_in_block_and_balances(chain: EvmChain,
                                                           tmp_path: Path) -> None:
    token = deploy_token(chain, name="NEM", symbol="XEM", decimals=6, supply=10**6 * XEM)
    signer = new_signer(chain, tmp_path)
    fund_token(chain, token, signer.address, 1000 * XEM)
    funded_at = chain.head()
    thief = fresh_address()
    nonce = chain.nonce(signer.address)
    tx_hash = chain.send_raw(sign_token_transfer(chain, signer, token, thief, 523 * XEM))
    chain.mine(1)
    receipt = chain.receipt(tx_hash)
    assert receipt is not None and receipt.ok
    mine = [t for t in chain.block(receipt.block).transfers if t.tx_hash == tx_hash]
    assert mine == canonical([
        Transfer(tx_hash=tx_hash, block=receipt.block, tx_index=mine[0].tx_index,
                 sender=signer.address, to=token, value=0, nonce=nonce),
        Transfer(tx_hash=tx_hash, block=receipt.block, tx_index=mine[0].tx_index,
                 sender=signer.address, to=thief, value=523 * XEM, nonce=nonce, token=token,
                 log_index=mine[1].log_index),
    ])
    assert mine[1].log_index is not None and mine[1].log_index >= 0
    who = [signer.address, thief]
    assert chain.balances(who, block=receipt.block, token=token) == {
        signer.address: 477 * XEM, thief: 523 * XEM}
    # history: before the theft, at the block that funded the hot wallet
    assert chain.balances(who, block=funded_at, token=token) == {
        signer.address: 1000 * XEM, thief: 0}
    # the native balances are not the token's
    assert chain.balances([thief], block=receipt.block) == {thief: 0}


def test_reverted_token_transfer_emits_no_transfer(chain: EvmChain, tmp_path: Path) -> None:
    token = deploy_token(chain, name="NEM", symbol="XEM", decimals=6, supply=10**6 * XEM)
    signer = new_signer(chain, tmp_path)
    fund_token(chain, token, signer.address, 10 * XEM)
    to = fresh_address()
    # gas is given (TOKEN_GAS), so the node does not estimate and the call is mined, reverting
    tx_hash = chain.send_raw(sign_token_transfer(chain, signer, token, to, 10 * XEM + 1))
    chain.mine(1)
    receipt = chain.receipt(tx_hash)
    assert receipt is not None and not receipt.ok
    mine = [t for t in chain.block(receipt.block).transfers if t.tx_hash == tx_hash]
    assert [(t.token, t.value) for t in mine] == [(None, 0)]  # the call, no token transfer
    assert chain.balances([signer.address, to], token=token) == {signer.address: 10 * XEM,
                                                                 to: 0}
    # a development transfer that would revert is refused (when the node estimates its gas)
    with pytest.raises(ChainRejected, match="insufficient balance"):
        fund_token(chain, token, to, 10**7 * XEM)


def test_transfers_in_one_block_are_ordered(chain: EvmChain) -> None:
    token = deploy_token(chain, name="NEM", symbol="XEM", decimals=6, supply=10**6 * XEM)
    # three of the node's unlocked accounts send (eth-tester cannot hold back signed legacy
    # transactions for a later block: it fails to re-validate their EIP-155 v on mining)
    a, b, c = node_accounts(chain)[1:4]
    fund_token(chain, token, a, 100 * XEM)
    fund_token(chain, token, c, 100 * XEM)
    x, y = fresh_address(), fresh_address()

    def send(sender: str, to: str, data: bytes = b"", value: int = 0) -> str:
        tx: Any = {"from": sender, "to": to, "value": value, "gas": TOKEN_GAS,
                   "data": "0x" + data.hex()}
        return "0x" + bytes(chain.w3.eth.send_transaction(tx)).hex()

    with mining_held(chain):
        h1 = send(a, token, transfer_call(x, 1 * XEM))
        h2 = send(b, y, value=5)
        h3 = send(c, token, transfer_call(y, 2 * XEM))
        chain.mine(1)
    receipts = [chain.receipt(h) for h in (h1, h2, h3)]
    assert all(r is not None and r.ok for r in receipts), receipts
    assert len({r.block for r in receipts if r is not None}) == 1
    number = receipts[0].block if receipts[0] is not None else -1
    transfers = chain.block(number).transfers
    got = [(t.tx_hash, t.token, t.to, t.value) for t in transfers]
    order = list(dict.fromkeys(g[0] for g in got))  # the transactions, in block order
    assert sorted(order) == sorted((h1, h2, h3))
    expected: list[tuple[str, str | None, str | None, int]] = []
    for h in order:
        if h == h2:
            expected.append((h2, None, y.lower(), 5))
        else:
            amount, receiver = (1 * XEM, x) if h == h1 else (2 * XEM, y)
            expected += [(h, None, token.lower(), 0),
                         (h, token.lower(), receiver.lower(), amount)]
    assert got == expected
    keys = [(t.tx_index, -1 if t.log_index is None else t.log_index) for t in transfers]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert len({t.tx_index for t in transfers}) == 3
    assert [t.log_index for t in transfers if t.token] == [0, 1]  # numbered in the block


def test_pending_transfers_on_anvil(anvil: Any, tmp_path: Path) -> None:
    chain = EvmChain.connect(anvil.url)
    token = deploy_token(chain, name="NEM", symbol="XEM", decimals=6, supply=10**6 * XEM)
    signer = new_signer(chain, tmp_path)
    fund_token(chain, token, signer.address, 10 * XEM)
    owner = node_accounts(chain)[0]
    # the hot wallet may spend 50 XEM of the owner's: transferFrom(owner, to, amount)
    approve = keccak(text="approve(address,uint256)")[:4] + abi_encode(
        ["address", "uint256"], [signer.address, 50 * XEM])
    chain.dev_transact({"to": token, "data": "0x" + approve.hex()}, "approving")
    to, spent_to = fresh_address(), fresh_address()
    chain_id, gas_price = chain.fee_params()
    nonce = chain.nonce(signer.address)
    from_call = keccak(text="transferFrom(address,address,uint256)")[:4] + abi_encode(
        ["address", "address", "uint256"], [owner, spent_to, 40 * XEM])
    with mining_held(chain):
        # nonce + 2 first: it waits in the queue until the gap is filled
        h3 = chain.send_raw(signer.sign_transfer(to=token, value=0, data=from_call,
                                                 gas=TOKEN_GAS, nonce=nonce + 2,
                                                 chain_id=chain_id, gas_price=gas_price))
        assert [(t.tx_hash, t.token) for t in chain.pending()] == [(h3, None),
                                                                   (h3, token.lower())]
        h1 = chain.send_raw(signer.sign_transfer(to=to, value=7, nonce=nonce,
                                                 chain_id=chain_id, gas_price=gas_price))
        h2 = chain.send_raw(sign_token_transfer(chain, signer, token, to, 3 * XEM,
                                                nonce=nonce + 1))
        seen = Retrying(chain).pending()
        assert list(seen) == canonical([
            Transfer(h1, -1, -1, signer.address, to, 7, nonce),
            Transfer(h2, -1, -1, signer.address, token, 0, nonce + 1),
            Transfer(h2, -1, -1, signer.address, to, 3 * XEM, nonce + 1, token=token,
                     log_index=-1),
            Transfer(h3, -1, -1, signer.address, token, 0, nonce + 2),
            Transfer(h3, -1, -1, owner, spent_to, 40 * XEM, nonce + 2, token=token,
                     log_index=-1),
        ])
        chain.mine(1)
        assert chain.pending() == ()
    assert all((r := chain.receipt(h)) is not None and r.ok for h in (h1, h2, h3))
    mined = [t for t in chain.block(chain.head()).transfers if t.token == token.lower()]
    assert [(t.sender, t.to, t.value) for t in mined] == [
        (signer.address.lower(), to.lower(), 3 * XEM), (owner.lower(), spent_to.lower(), 40 * XEM)]


def test_eth_tester_shows_no_mempool() -> None:
    chain = EvmChain.in_process()
    tx: Any = {"from": node_accounts(chain)[1], "to": fresh_address(), "value": 1}
    with mining_held(chain):
        tx_hash = chain.w3.eth.send_transaction(tx)
        assert chain.receipt("0x" + bytes(tx_hash).hex()) is None  # waiting,
        assert chain.pending() == ()  # and not shown
        chain.mine(1)
    assert chain.receipt("0x" + bytes(tx_hash).hex()) is not None


def test_balance_of_something_that_is_not_a_token_is_refused(chain: EvmChain) -> None:
    with pytest.raises(ChainRejected, match="no ERC-20 contract"):
        chain.balances([fresh_address()], token=fresh_address())


# ---------------------------------------------------------------------- reorgs and retries


def test_block_and_logs_from_different_blocks_are_read_again(anvil: Any) -> None:
    chain = EvmChain.connect(anvil.url)
    token = deploy_token(chain, name="NEM", symbol="XEM", decimals=6, supply=10**6 * XEM)
    fund_token(chain, token, fresh_address(), XEM)
    number = chain.head()
    provider: Any = chain.w3.provider
    real = provider.make_batch_request
    calls: list[int] = []

    def reorged(requests: list[tuple[str, Any]], times: int) -> Any:
        calls.append(1)
        answers = real(requests)
        if len(calls) <= times:  # the logs come from a block that replaced this one
            for log in answers[1]["result"]:
                log["blockHash"] = "0x" + "11" * 32
        return answers

    provider.make_batch_request = lambda requests: reorged(requests, 1)
    with pytest.raises(Transient, match="reorganised"):
        chain.block(number)
    calls.clear()
    block = Retrying(chain, sleep=lambda _s: None).block(number)
    assert len(calls) == 2 and [t.value for t in block.transfers if t.token] == [XEM]
    calls.clear()
    provider.make_batch_request = lambda requests: reorged(requests, 99)
    with pytest.raises(ChainUnavailable):
        Retrying(chain, attempts=3, sleep=lambda _s: None).block(number)
    assert len(calls) == 3


class Recording:
    """A Chain that records what it was asked, failing transiently once per call."""

    name = "ethereum"

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []

    def _once(self, what: str, args: Any) -> None:
        self.asked.append((what, args))
        if len(self.asked) % 2:
            raise Transient("busy")

    def pending(self) -> tuple[Transfer, ...]:
        self._once("pending", ())
        return (Transfer("0x1", -1, -1, "0xA", "0xB", 1, 0),)

    def balances(self, addresses: list[str], block: int | None = None,
                 token: str | None = None) -> dict[str, int]:
        self._once("balances", (tuple(addresses), block, token))
        return dict.fromkeys(addresses, 3)


def test_retry_wrapper_passes_pending_and_token_through() -> None:
    inner = Recording()
    chain = Retrying(inner, sleep=lambda _s: None)  # type: ignore[arg-type]
    assert chain.pending() == (Transfer("0x1", -1, -1, "0xA", "0xB", 1, 0),)
    assert chain.balances(["0xA"], 5, token="0xT") == {"0xA": 3}
    assert inner.asked == [("pending", ()), ("pending", ()),
                           ("balances", (("0xA",), 5, "0xT")),
                           ("balances", (("0xA",), 5, "0xT"))]
