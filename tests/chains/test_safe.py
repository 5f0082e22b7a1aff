"""Safe{Wallet} 1.4.1 with the real bytecode, on the in-process chain and on anvil: a 2-of-3
Safe (an HSM key, a key file, an offline recovery key) moves ETH and tokens with two
signatures; one signature, forged, replayed, altered and cross-chain signatures are refused by
kinko before anything is sent and by the chain when sent anyway; an owner change without the
quorum fails; configuration changes and executions are decoded from the logs; the Safe
proves control by EIP-1271; the shipped contracts are the npm package's and the canonical
deployments' code."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import defunct_hash_message
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from softhsm import HSM_PIN, HSM_TOKEN, SoftHsm

from kinko.chains import safe as S
from kinko.chains import safe_logs
from kinko.chains.erc20 import deploy_token, fund_token
from kinko.chains.evm import EvmChain
from kinko.chains.hsm import HsmSigner, HsmToken
from kinko.chains.keystore import KeystoreSigner, throwaway_signer
from kinko.domain.safe import (
    DELEGATECALL,
    ZERO_ADDRESS,
    SafeTx,
    accept_signature,
    domain_separator,
    pack_signatures,
    safe_message_hash,
)
from kinko.errors import ApprovalError, ChainRejected, SafeTxRefused

ROOT = Path(__file__).resolve().parents[2]
ETH = 10**18
XEM = 10**6


# ---------------------------------------------------------------------- the shipped contracts


def test_shipped_contracts_are_the_pinned_npm_package() -> None:
    done = subprocess.run([sys.executable, "scripts/vendor_safe.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    assert pinned["@safe-global/safe-contracts"] == S.VERSION == \
        S.safe_artifacts()["version"]


def test_shipped_bytecode_lands_at_the_canonical_addresses() -> None:
    """CREATE2 through the Safe singleton factory with salt 0, as every public chain got
    them: the shipped bytecode gives exactly the canonical addresses."""
    contracts = S.safe_artifacts()["contracts"]
    factory = bytes.fromhex(S.SINGLETON_FACTORY[2:])
    for role, name in {"singleton": "SafeL2", "proxy_factory": "SafeProxyFactory",
                       "fallback_handler": "CompatibilityFallbackHandler"}.items():
        init = bytes.fromhex(contracts[name]["bytecode"][2:])
        address = to_checksum_address(keccak(b"\xff" + factory + bytes(32) + keccak(init))[12:])
        assert address == getattr(S.CANONICAL, role), name


def test_every_call_and_event_kinko_uses_is_in_the_abi() -> None:
    def signatures(abi: list[dict[str, Any]], kind: str) -> set[str]:
        return {f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                for item in abi if item["type"] == kind}

    contracts = S.safe_artifacts()["contracts"]
    safe_abi = contracts["SafeL2"]["abi"]
    assert set(safe_logs._EVENT_SPECS) <= signatures(safe_abi, "event")
    assert {"setup(address[],uint256,address,bytes,address,address,uint256,address)",
            "execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,"
            "address,bytes)", "getOwners()", "getThreshold()", "nonce()", "VERSION()",
            "getModulesPaginated(address,uint256)", "getStorageAt(uint256,uint256)",
            "addOwnerWithThreshold(address,uint256)", "getTransactionHash(address,uint256,"
            "bytes,uint8,uint256,uint256,uint256,address,address,uint256)"} \
        <= signatures(safe_abi, "function")
    assert {"createProxyWithNonce(address,bytes,uint256)", "proxyCreationCode()"} <= \
        signatures(contracts["SafeProxyFactory"]["abi"], "function")
    assert "isValidSignature(bytes32,bytes)" in \
        signatures(contracts["CompatibilityFallbackHandler"]["abi"], "function")


def test_shipped_files_are_in_the_python_package() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["kinko"]
    for name in ("safe_contracts.json", "safe_contracts.COPYING",
                 "safe_contracts.COPYING.LESSER", "safe_contracts.md"):
        assert any(fnmatch(f"chains/{name}", p) for p in patterns), name
        assert (ROOT / "src" / "kinko" / "chains" / name).exists()


# ---------------------------------------------------------------------- a Safe on a chain


@dataclass
class World:
    chain: EvmChain
    deployment: S.SafeDeployment
    ops: KeystoreSigner  # the operations key: sends transactions, pays gas, is no owner
    owners: list[Any]  # HSM key, key file, offline recovery key
    safe: str
    token: str

    def sign(self, tx: SafeTx, *which: int) -> dict[str, bytes]:
        return {self.owners[i].address: S.sign_safe_tx(self.owners[i], tx) for i in which}

    def force(self, tx: SafeTx, signatures: Mapping[str, bytes]) -> bool:
        """Send ``tx`` past kinko's checks, as an attacker would; whether it succeeded."""
        chain_id, gas_price = self.chain.fee_params()
        raw = self.ops.sign_transfer(to=tx.safe, value=0, gas=500_000, gas_price=gas_price,
                                     chain_id=chain_id, nonce=self.chain.nonce(self.ops.address),
                                     data=S.exec_transaction_data(tx, signatures))
        try:
            tx_hash = self.chain.send_raw(raw)
        except ChainRejected:  # the in-process chain may refuse a reverting one at once
            return False
        return int(self.chain.wait_for(tx_hash, "a forced Safe transaction")["status"]) == 1


@pytest.fixture(scope="module")
def hsm_owner(hsm: SoftHsm) -> Iterator[HsmSigner]:
    with HsmToken.open(hsm.module, HSM_TOKEN, HSM_PIN) as token:
        yield token.generate_key(f"safe-owner-{Account.create().address[2:10]}")


@pytest.fixture(scope="module", params=["inprocess", "anvil"])
def world(request: pytest.FixtureRequest, hsm_owner: HsmSigner) -> World:
    if request.param == "inprocess":
        chain = EvmChain.in_process()
    else:
        chain = EvmChain.connect(request.getfixturevalue("anvil").url)
    deployment = S.deploy_safe_contracts(chain)
    ops = throwaway_signer()
    chain.fund(ops.address, 10 * ETH)
    owners = [hsm_owner, throwaway_signer(), throwaway_signer()]
    info = S.create_safe(chain, ops, deployment, [o.address for o in owners], 2)
    token = deploy_token(chain, name="XEM", symbol="XEM", decimals=6, supply=10**9 * XEM)
    chain.fund(info.address, 5 * ETH)
    fund_token(chain, token, info.address, 1_000_000 * XEM)
    return World(chain, deployment, ops, owners, info.address, token)


def _state(world: World, *addresses: str) -> tuple[int, dict[str, int], dict[str, int]]:
    return (S.read_safe(world.chain, world.safe).nonce,
            world.chain.balances([world.safe, *addresses]),
            world.chain.balances([world.safe, *addresses], token=world.token))


@pytest.mark.slow
def test_deployment_is_canonical_on_anvil_and_checked(world: World) -> None:
    # anvil lets the singleton factory be placed: the canonical addresses, as on mainnet
    assert (world.deployment == S.CANONICAL) == world.chain.label.startswith("node at")
    S.check_deployment(world.chain, world.deployment)
    assert S.deploy_safe_contracts(world.chain) == world.deployment  # idempotent
    if world.deployment == S.CANONICAL:
        assert S.canonical_deployment(world.chain) == S.CANONICAL
    else:
        with pytest.raises(ChainRejected, match="not deployed at its canonical addresses"):
            S.canonical_deployment(world.chain)
    wrong = replace(world.deployment, singleton=world.token)
    with pytest.raises(ChainRejected, match=r"is not SafeL2 1\.4\.1"):
        S.check_deployment(world.chain, wrong)
    with pytest.raises(ChainRejected, match="no SafeProxyFactory"):
        S.check_deployment(world.chain, replace(world.deployment,
                                                proxy_factory=Account.create().address))


@pytest.mark.slow
def test_safe_reads_back_as_created(world: World) -> None:
    info = S.read_safe(world.chain, world.safe)
    assert info.version == "1.4.1" and info.threshold == 2
    assert info.owners == tuple(o.address for o in world.owners)
    assert info.singleton == world.deployment.singleton
    assert info.fallback_handler == world.deployment.fallback_handler
    assert info.modules == () and info.guard == ZERO_ADDRESS
    S.check_safe(info, world.deployment, owners=[o.address for o in world.owners],
                 threshold=2)
    other = Account.create().address
    with pytest.raises(ChainRejected) as differs:
        S.check_safe(info, world.deployment, owners=[world.owners[0].address, other],
                     threshold=1)
    message = differs.value.message
    assert other in message and world.owners[2].address in message and "threshold 2" in message
    with pytest.raises(ChainRejected, match="has no code"):
        S.read_safe(world.chain, Account.create().address)
    with pytest.raises(ChainRejected, match="is not a Safe"):
        S.read_safe(world.chain, world.token)


@pytest.mark.slow
def test_hashes_are_the_contracts_own(world: World) -> None:
    chain_id = world.chain.fee_params()[0]
    tx = S.token_transfer(world.chain, world.safe, world.token, Account.create().address, 7)
    (onchain,) = S._read(world.chain, world.safe,
                         "getTransactionHash(address,uint256,bytes,uint8,uint256,uint256,"
                         "uint256,address,address,uint256)", ["bytes32"], tx.to, tx.value,
                         tx.data, tx.operation, 0, 0, 0, ZERO_ADDRESS, ZERO_ADDRESS, tx.nonce)
    assert onchain == tx.hash and tx.chain_id == chain_id
    (separator,) = S._read(world.chain, world.safe, "domainSeparator()", ["bytes32"])
    assert separator == domain_separator(chain_id, world.safe)
    message = keccak(b"proof")
    (expected,) = S._read(world.chain, world.deployment.fallback_handler,
                          "getMessageHashForSafe(address,bytes)", ["bytes32"], world.safe,
                          message)
    assert expected == safe_message_hash(chain_id, world.safe, message)


@pytest.mark.slow
def test_two_of_three_moves_eth_and_tokens(world: World) -> None:
    to = Account.create().address
    nonce, eth, xem = _state(world, to)
    tx = S.eth_transfer(world.chain, world.safe, to, ETH)
    receipt = world.chain.wait_for(S.execute(world.chain, world.ops, tx, world.sign(tx, 0, 1)),
                                   "test")
    assert int(receipt["status"]) == 1
    tx2 = S.token_transfer(world.chain, world.safe, world.token, to, 2_500 * XEM)
    assert tx2.nonce == nonce + 1
    receipt2 = world.chain.wait_for(
        S.execute(world.chain, world.ops, tx2, world.sign(tx2, 1, 2)), "test")
    assert int(receipt2["status"]) == 1
    after = _state(world, to)
    assert after[0] == nonce + 2
    assert after[1][to] == ETH and after[1][world.safe] == eth[world.safe] - ETH
    assert after[2][to] == 2_500 * XEM and after[2][world.safe] == xem[world.safe] - 2_500 * XEM
    events = S.safe_events(world.chain, [world.safe], int(receipt["blockNumber"]),
                           int(receipt2["blockNumber"]))
    done = [e for e in events if e.kind == "execution_success"]
    assert [e.fields["safe_tx_hash"] for e in done] == ["0x" + tx.hash.hex(),
                                                        "0x" + tx2.hash.hex()]
    detail = [e for e in events if e.kind == "multisig_transaction"]
    assert [(d.fields["to"], d.fields["value"], d.fields["data"], d.fields["nonce"],
             d.fields["executor"], d.fields["operation"]) for d in detail] == [
        (to, ETH, b"", nonce, world.ops.address, 0),
        (world.token, 0, tx2.data, nonce + 1, world.ops.address, 0)]
    assert detail[1].fields["signatures"] == pack_signatures(world.sign(tx2, 1, 2))


@pytest.mark.slow
def test_one_signature_is_refused_by_kinko_and_by_the_chain(world: World) -> None:
    to = Account.create().address
    before = _state(world, to)
    tx = S.eth_transfer(world.chain, world.safe, to, ETH)
    one = world.sign(tx, 0)  # the thief holds one owner key
    with pytest.raises(ApprovalError, match="needs 2 owners' signatures, 1 given"):
        S.execute(world.chain, world.ops, tx, one)
    assert not world.force(tx, one)
    assert _state(world, to) == before


@pytest.mark.slow
def test_forged_altered_replayed_and_cross_chain_signatures_are_refused(world: World) -> None:
    to = Account.create().address
    chain_id = world.chain.fee_params()[0]
    tx = S.token_transfer(world.chain, world.safe, world.token, to, 10 * XEM)
    good = world.sign(tx, 0, 1)
    thief = throwaway_signer()
    forged = {world.owners[0].address: good[world.owners[0].address],
              world.owners[1].address: thief.sign_digest(tx.hash)}
    cases: list[tuple[str, SafeTx, dict[str, bytes], type[Exception]]] = [
        ("forged", tx, forged, ApprovalError),
        ("to", replace(tx, to=Account.create().address), good,
         ApprovalError),
        ("value", replace(tx, value=1), good, ApprovalError),
        ("data", replace(tx, data=S.encode_call("transfer(address,uint256)", thief.address,
                                                10 * XEM)), good, ApprovalError),
        ("operation", replace(tx, operation=DELEGATECALL), good, SafeTxRefused),
        ("gas token", replace(tx, gas_token=world.token), good, SafeTxRefused),
        ("refund receiver", replace(tx, refund_receiver=thief.address), good, SafeTxRefused),
        ("cross-chain", replace(tx, chain_id=1), {
            o.address: o.sign_digest(replace(tx, chain_id=1).hash) for o in world.owners[:2]},
         SafeTxRefused),
    ]
    before = _state(world, to, thief.address)
    for name, candidate, signatures, refusal in cases:
        with pytest.raises(refusal):
            S.execute(world.chain, world.ops, candidate, signatures)
        if name == "cross-chain":  # signed for chain 1, sent here: the Safe hashes with its id
            assert not world.force(replace(candidate, chain_id=chain_id), signatures), name
        else:
            assert not world.force(candidate, signatures), name
        assert _state(world, to, thief.address) == before, name
    # the genuine one still goes through, once; sent again (replayed) it is refused
    assert world.chain.wait_for(S.execute(world.chain, world.ops, tx, good), "t")["status"] == 1
    moved = _state(world, to, thief.address)
    with pytest.raises(ApprovalError, match=r"nonce \d+ of Safe .* is already used"):
        S.execute(world.chain, world.ops, tx, good)
    assert not world.force(tx, good)
    assert _state(world, to, thief.address) == moved and moved[2][to] == 10 * XEM


@pytest.mark.slow
def test_eth_sign_signature_from_a_hardware_wallet_executes(world: World) -> None:
    to = Account.create().address
    tx = S.eth_transfer(world.chain, world.safe, to, 3)
    device = world.owners[2]  # the offline recovery key, signing as a hardware wallet would
    pasted = device.sign_digest(bytes(defunct_hash_message(primitive=tx.hash)))
    signatures = {device.address: accept_signature(tx.hash, pasted, device.address),
                  **world.sign(tx, 0)}
    assert signatures[device.address][64] in (31, 32)
    receipt = world.chain.wait_for(S.execute(world.chain, world.ops, tx, signatures), "t")
    assert int(receipt["status"]) == 1 and world.chain.balances([to])[to] == 3


@pytest.mark.slow
def test_failing_token_transfer_is_refused_before_sending(world: World) -> None:
    to = Account.create().address
    before = _state(world, to)
    ops_nonce = world.chain.nonce(world.ops.address)
    tx = S.token_transfer(world.chain, world.safe, world.token, to, 10**15 * XEM)  # too much
    with pytest.raises(ChainRejected):
        S.execute(world.chain, world.ops, tx, world.sign(tx, 0, 1))
    assert world.chain.nonce(world.ops.address) == ops_nonce  # nothing was sent
    assert _state(world, to) == before


@pytest.mark.slow
def test_proof_of_control_by_eip1271(world: World) -> None:
    chain_id = world.chain.fee_params()[0]
    challenge = bytes(defunct_hash_message(text="kinko proof of reserves, 2018-01-26"))
    sigs = {o.address: S.sign_safe_message(o, chain_id, world.safe, challenge)
            for o in world.owners[:2]}
    assert S.is_valid_signature(world.chain, world.safe, challenge, pack_signatures(sigs))
    one = dict(list(sigs.items())[:1])
    assert not S.is_valid_signature(world.chain, world.safe, challenge, pack_signatures(one))
    other = bytes(defunct_hash_message(text="another challenge"))
    assert not S.is_valid_signature(world.chain, world.safe, other, pack_signatures(sigs))
    thief = throwaway_signer()
    stranger = {**one, thief.address: S.sign_safe_message(thief, chain_id, world.safe,
                                                           challenge)}
    assert not S.is_valid_signature(world.chain, world.safe, challenge,
                                    pack_signatures(stranger))


@pytest.mark.slow
def test_owner_change_needs_the_quorum_and_every_change_is_decoded(world: World) -> None:
    """A separate Safe: the thief (holding one owner key) cannot add himself; with the quorum
    (forced past kinko, which never signs calls to the Safe itself) owners, threshold,
    modules, guard and fallback handler change, and the watch decodes each change."""
    owners = [throwaway_signer() for _ in range(3)]
    info = S.create_safe(world.chain, world.ops, world.deployment,
                         [o.address for o in owners], 2, salt_nonce=7)
    thief = owners[0]
    add = S.encode_call("addOwnerWithThreshold(address,uint256)", world.ops.address, 1)
    tx = SafeTx(safe=info.address, chain_id=world.chain.fee_params()[0],
                to=info.address, value=0, data=add, nonce=0)
    with pytest.raises(SafeTxRefused, match="to the Safe itself"):
        S.sign_safe_tx(thief, tx)
    alone = {thief.address: thief.sign_digest(tx.hash)}
    assert not world.force(tx, alone)
    assert S.read_safe(world.chain, info.address).owners == info.owners
    start = world.chain.head() + 1
    module, handler = Account.create().address, Account.create().address
    calls = [add, S.encode_call("changeThreshold(uint256)", 2),
             S.encode_call("removeOwner(address,address,uint256)", S.SENTINEL,
                           world.ops.address, 2),
             S.encode_call("enableModule(address)", module),
             S.encode_call("disableModule(address,address)", S.SENTINEL, module),
             S.encode_call("setGuard(address)", ZERO_ADDRESS),
             S.encode_call("setFallbackHandler(address)", handler)]
    for nonce, data in enumerate(calls):
        change = SafeTx(safe=info.address, chain_id=tx.chain_id, to=info.address, value=0,
                        data=data, nonce=nonce)
        quorum = {o.address: o.sign_digest(change.hash) for o in owners[:2]}
        assert world.force(change, quorum), data[:4].hex()
    kinds = [(e.kind, dict(e.fields)) for e in
             S.safe_events(world.chain, [info.address], start, world.chain.head())
             if e.kind not in ("multisig_transaction", "execution_success")]
    assert kinds == [
        ("added_owner", {"owner": world.ops.address}),
        ("changed_threshold", {"threshold": 1}),
        ("changed_threshold", {"threshold": 2}),
        ("removed_owner", {"owner": world.ops.address}),  # threshold unchanged: no event
        ("enabled_module", {"module": module}),
        ("disabled_module", {"module": module}),
        ("changed_guard", {"guard": ZERO_ADDRESS}),
        ("changed_fallback_handler", {"handler": handler}),
    ]
    assert {k for k, _ in kinds} <= S.CONFIGURATION_CHANGES
    changed = S.read_safe(world.chain, info.address)
    assert changed.fallback_handler == handler and changed.nonce == len(calls)
    with pytest.raises(ChainRejected, match="fallback handler"):
        S.check_safe(changed, world.deployment)


@pytest.mark.slow
def test_create_safe_refuses_bad_owners_before_sending(world: World) -> None:
    a, b = Account.create().address, Account.create().address
    sent = world.chain.nonce(world.ops.address)
    for owners, threshold in (([a, a], 1), ([a, b], 0), ([a, b], 3), ([a, ZERO_ADDRESS], 1)):
        with pytest.raises(SafeTxRefused):
            S.create_safe(world.chain, world.ops, world.deployment, owners, threshold)
    assert world.chain.nonce(world.ops.address) == sent
    owners = [o.address for o in world.owners]
    with pytest.raises(ChainRejected, match="already exists at " + world.safe):
        S.create_safe(world.chain, world.ops, world.deployment, owners, 2)
    predicted = S.predict_safe_address(world.chain, world.deployment, owners, 2, salt_nonce=1)
    assert predicted != world.safe and not world.chain.code(predicted)


@pytest.mark.slow
def test_eth_received_is_decoded(world: World) -> None:
    start = world.chain.head() + 1
    world.chain.fund(world.safe, 12345)
    received = [e for e in S.safe_events(world.chain, [world.safe], start, world.chain.head())
                if e.kind == "safe_received"]
    assert [e.fields["value"] for e in received] == [12345]


@pytest.mark.slow
def test_paying_a_safe_needs_more_than_21000_gas(world: World) -> None:
    """The proxy and its SafeReceived event cost more than a plain transfer's 21,000 gas:
    such a payment fails (the money stays with the sender); RECEIVE_GAS is enough."""
    chain_id, gas_price = world.chain.fee_params()
    before = world.chain.balances([world.safe])[world.safe]
    outcomes = []
    for gas in (21_000, S.RECEIVE_GAS):
        raw = world.ops.sign_transfer(to=world.safe, value=777, gas=gas, gas_price=gas_price,
                                      chain_id=chain_id, nonce=world.chain.nonce(world.ops.address))
        try:
            receipt = world.chain.wait_for(world.chain.send_raw(raw), "paying a Safe")
            outcomes.append(int(receipt["status"]))
        except ChainRejected:
            outcomes.append(0)
    assert outcomes == [0, 1]
    assert world.chain.balances([world.safe])[world.safe] == before + 777


def test_logs_that_only_look_like_safe_events_are_skipped() -> None:
    topic = keccak(text="AddedOwner(address)")
    log = {"address": "0x" + "11" * 20, "topics": [topic], "data": b"", "block": 1,
           "tx_hash": "0x" + "22" * 32, "log_index": 0}
    assert S.decode_log(log) is None  # the indexed owner is missing
    assert S.decode_log({**log, "topics": [keccak(text="Other(address)"), bytes(32)]}) is None
    threshold = {**log, "topics": [keccak(text="ChangedThreshold(uint256)")], "data": b"\x01"}
    assert S.decode_log(threshold) is None  # data too short for a uint256
    good = {**threshold, "data": abi_encode(["uint256"], [3])}
    event = S.decode_log(good)
    assert event is not None and event.kind == "changed_threshold" and event.fields == {
        "threshold": 3}
