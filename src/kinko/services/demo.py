"""The demo exchange: 260,000 customers holding XEM, ETH and JPY, reproducible from a seed,
its custody brought back within the rules, and the Coincheck theft replayed against it.

The customer book is generated deterministically (``random.Random(seed)``) and written as
the same CSV format an exchange would import; the XEM balances add up to exactly the
523,000,000 XEM Coincheck held for its customers in January 2018. Coincheck kept all of it
in one hot wallet; this exchange keeps 4% of its XEM hot. XEM is an ERC-20 token (6
decimals) on an in-process Ethereum chain (there is no NEM node in the demo); the exchange's
ETH lives there too, funded on chain, and starts 30% hot: the policy flags the breach, kinko
proposes a sweep, two of three approvers sign it with Ed25519 keys (the proposer may not),
the hot wallet's key signs the transaction, and once it has enough confirmations the sweep
is booked and the custody report is clean. Yen sit in a segregated trust account; the
exchange's own yen in another. Withdrawals are screened; then a thief with the hot key
replays Coincheck's transfers while the watch runs (:mod:`kinko.services.replay`).
:func:`run_2018` is the same thief against the same customers in Coincheck's setup:
everything hot, nobody watching.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kinko.domain.addresses import address_key, same_token
from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.chain import Transfer
from kinko.domain.csvcells import csv_writer
from kinko.domain.custody import AssetPosition, CustodyFinding, Wallet
from kinko.domain.ledger import Posting, normal_balance
from kinko.domain.money import Asset, AssetRegistry, format_units
from kinko.domain.report import CustodyReport
from kinko.domain.screening import Label
from kinko.errors import ApprovalError
from kinko.ports import Notifier, Prices, Spender
from kinko.services.custody import Custody, ProposalView, custody_positions, custody_report
from kinko.services.customers import ImportReport, import_customers
from kinko.services.ledger import Draft, Ledger, VerifyReport
from kinko.services.replay import DevChain, ReplayRun, Theft, launder, replay
from kinko.services.trace import TraceReport, account_transfers, run_trace
from kinko.services.watch import Watch
from kinko.services.withdrawals import Withdrawals, WithdrawalView

__all__ = ["PRICES", "DemoResult", "TraceDemo", "generate_customers", "run_2018", "run_demo",
           "trace_demo", "write_transfers"]

# the 2018 setup's cold ETH wallet (watch-only: nothing is sent from it)
ETH_COLD_2018 = "0x2018000000000000000000000000000000000c01"

# illustrative reference prices: the refund price Coincheck used, and ETH in January 2018
PRICES = {"XEM": Decimal("88.549"), "ETH": Decimal("120000")}

XEM_TOTAL = 523_000_000 * 10**6  # micro-XEM
OWN_JPY = 50_000_000_000


def _allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` exactly in proportion to integer ``weights`` (largest remainders)."""
    w_sum = sum(weights)
    shares = [total * w // w_sum for w in weights]
    rest = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % w_sum), i))
    for i in order[:rest]:
        shares[i] += 1
    return shares


def generate_customers(path: Path, count: int = 260_000, seed: int = 2018) -> dict[str, int]:
    """Write the demo customers' CSV; return the exact total per asset in minor units."""
    rng = random.Random(seed)
    xem_weights = [int(rng.lognormvariate(0, 1.6) * 1_000_000) + 1 for _ in range(count)]
    xem = _allocate(XEM_TOTAL, xem_weights)
    assets = AssetRegistry.default()
    totals = {"XEM": 0, "ETH": 0, "JPY": 0}
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv_writer(fh)
        out.writerow(["customer_id", "asset", "balance"])
        for i in range(count):
            cid = f"C{i + 1:07d}"
            rows = [("XEM", xem[i])]
            if rng.random() < 0.4:
                rows.append(("ETH", int(rng.lognormvariate(-1.5, 1.4) * 10**6) * 10**12))
            if rng.random() < 0.7:
                rows.append(("JPY", int(rng.lognormvariate(10, 1.5))))
            for symbol, units in rows:
                totals[symbol] += units
                out.writerow([cid, symbol, format_units(units, assets[symbol])])
    return totals


@dataclass(frozen=True)
class DemoResult:
    customers: int
    csv_path: Path
    import_report: ImportReport
    import_seconds: float
    opening: list[AssetPosition]
    before: list[CustodyFinding]
    proposal: ProposalView
    refused: str  # why the proposer could not approve their own proposal
    confirmations: int
    after: CustodyReport
    withdrawals: list[tuple[str, WithdrawalView]]
    tripped: list[str]
    replay: ReplayRun
    verify: VerifyReport


def run_demo(ledger: Ledger, folder: Path, chain: DevChain, signer: Spender,
             cold: tuple[str, str], attacker: str, fund_xem: Callable[[str, int], object],
             prices: Prices, deny_list: Path, *, customers: int = 260_000, seed: int = 2018,
             batch_size: int = 5000, confirmations: int = 12,
             notifiers: Sequence[Notifier] = (),
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Set up the demo exchange in ``ledger`` (an empty, initialised store whose XEM is a
    token on ``chain``), run its custody and withdrawal acts, then the Coincheck thief
    against it with the watch running. ``signer`` holds the hot wallets' key; ``cold`` are
    two watch-only cold addresses (the second is fresh, kept for the emergency sweep);
    ``fund_xem`` mints test XEM to an address."""
    dev = chain
    csv_path = folder / "customers.csv"
    totals = generate_customers(csv_path, customers, seed)
    hot_address = signer.address
    for wallet in (Wallet("xem-hot", "XEM", "hot", (hot_address,)),
                   Wallet("xem-cold", "XEM", "cold", cold),
                   Wallet("eth-hot", "ETH", "hot", (hot_address,)),
                   Wallet("eth-cold", "ETH", "cold", cold)):
        ledger.add_wallet(wallet)
    started = time.perf_counter()
    report = import_customers(ledger, csv_path, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - started
    xem_hot = totals["XEM"] * 4 // 100
    own_xem = totals["XEM"] * 5 // 100  # performance-guarantee crypto, held cold
    own_eth = totals["ETH"] * 5 // 100
    eth_hot = totals["ETH"] * 30 // 100
    eth_cold = totals["ETH"] - eth_hot + own_eth
    dev.fund(hot_address, eth_hot)
    dev.fund(cold[0], eth_cold)
    fund_xem(hot_address, xem_hot)
    fund_xem(cold[0], totals["XEM"] - xem_hot + own_xem)
    opening = "clearing:opening"
    ledger.append([
        Draft("demo:holdings", postings=(
            Posting("wallet:xem-hot", "XEM", xem_hot),
            Posting("wallet:xem-cold", "XEM", totals["XEM"] - xem_hot),
            Posting("wallet:eth-hot", "ETH", eth_hot),
            Posting("wallet:eth-cold", "ETH", totals["ETH"] - eth_hot),
            Posting("bank:jpy-trust", "JPY", totals["JPY"]),
            Posting(opening, "XEM", -totals["XEM"]),
            Posting(opening, "ETH", -totals["ETH"]),
            Posting(opening, "JPY", -totals["JPY"]),
        ), source="demo:opening", memo="wallet and trust-account holdings at opening"),
        Draft("demo:own-funds", postings=(
            Posting("bank:jpy-own", "JPY", OWN_JPY),
            Posting("wallet:eth-cold", "ETH", own_eth),
            Posting("wallet:xem-cold", "XEM", own_xem),
            Posting("own", "JPY", -OWN_JPY),
            Posting("own", "ETH", -own_eth),
            Posting("own", "XEM", -own_xem),
        ), source="demo:opening", memo="the exchange's own funds"),
    ])
    approvers = {name: Ed25519PrivateKey.generate() for name in ("alice", "bob", "carol")}
    policy_path = folder / "policy.toml"
    policy_path.write_text(_policy_toml(approvers, cold[1]), encoding="utf-8")
    # the hot wallets sign with one key, from the keystore file; kinko holds no cold key
    custody = Custody(ledger, chain=chain, spender_for=lambda _w: signer,
                      prices=prices, confirmations=confirmations,
                      key_location=lambda w: "file" if w.tier == "hot" else None)
    custody.load_policy(policy_path, "carol")
    before = custody.check().findings
    (view,) = custody.propose_rebalance("carol")
    proposal = view.proposal
    try:
        custody.approve(proposal.id, "carol", sign_proposal(proposal, approvers["carol"]))
        refused = ""
    except ApprovalError as exc:
        refused = exc.message
    for name in ("alice", "bob"):
        custody.approve(proposal.id, name, sign_proposal(proposal, approvers[name]))
    custody.execute(proposal.id)
    dev.mine(confirmations)
    custody.settle(proposal.id)
    done = custody.proposal(proposal.id)
    assert done is not None
    after = custody_report(custody)
    service = Withdrawals(custody)
    steps = _withdrawals_act(service, dev, hot_address, approvers, deny_list, confirmations)
    tripped = sorted(service.breaker())
    watch = Watch(service, chain, confirmations=confirmations, notifiers=notifiers,
                  start_block=chain.head() + 1)
    watch.poll()  # caught up before the thief starts
    run = replay("kinko", chain=dev, key=signer, xem=ledger.assets["XEM"], attacker=attacker,
                 customers=customers, customer_xem=totals["XEM"], watch=watch,
                 withdrawals=service, customer_ids=tuple(f"C{i:07d}" for i in range(1, 6)),
                 destination=_dest(7))
    return DemoResult(customers, csv_path, report, seconds, custody_positions(ledger), before,
                      done, refused, confirmations, after, steps, tripped, run, ledger.verify())


def run_2018(ledger: Ledger, csv_path: Path, chain: DevChain, signer: Spender, attacker: str,
             fund_xem: Callable[[str, int], object], *, batch_size: int = 5000,
             progress: Callable[[int, int], None] | None = None) -> tuple[ReplayRun, float]:
    """Coincheck's setup: the same customers, every XEM in one hot wallet, nobody watching
    the chain; then the same thief. The customers' ETH is held in a cold wallet (what the
    story is not about is held as it should be, so the reports show the XEM alone short
    of the law). Returns the run and the import's seconds."""
    ledger.add_wallet(Wallet("xem-hot", "XEM", "hot", (signer.address,)))
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (ETH_COLD_2018,)))
    started = time.perf_counter()
    import_customers(ledger, csv_path, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - started
    total = sum(normal_balance(r.account, r.state)
                for r in ledger.balances(kind="customer", asset="XEM"))
    yen = sum(normal_balance(r.account, r.state)
              for r in ledger.balances(kind="customer", asset="JPY"))
    eth = sum(normal_balance(r.account, r.state)
              for r in ledger.balances(kind="customer", asset="ETH"))
    fund_xem(signer.address, total)
    chain.fund(signer.address, 10**18)  # gas for the exchange's own transfers
    chain.fund(ETH_COLD_2018, eth)
    ledger.post("demo:holdings", [Posting("wallet:xem-hot", "XEM", total),
                                  Posting("clearing:opening", "XEM", -total),
                                  Posting("wallet:eth-cold", "ETH", eth),
                                  Posting("clearing:opening", "ETH", -eth),
                                  Posting("bank:jpy-trust", "JPY", yen),
                                  Posting("clearing:opening", "JPY", -yen)],
                source="demo:opening", memo="all customer XEM in one hot wallet (2018); their "
                "ETH in a cold wallet, their yen in trust")
    run = replay("2018 setup", chain=chain, key=signer, xem=ledger.assets["XEM"],
                 attacker=attacker, customers=len({r.account for r in ledger.balances(
                     kind="customer", asset="XEM")}), customer_xem=total)
    return run, seconds


@dataclass(frozen=True)
class TraceDemo:
    reports: dict[str, TraceReport]  # policy -> the trace
    labels: dict[str, Label]  # the three exchanges' deposit addresses
    transfers: list[Transfer]  # what the trace read from the chain, in processing order


def trace_demo(chain: DevChain, thief: Spender, xem: Asset,
               fund_xem: Callable[[str, int], object], new_key: Callable[[], Spender],
               thefts: Sequence[Theft]) -> TraceDemo:
    """The thief launders the stolen XEM into three exchanges' deposit addresses (tagged as
    exchanges); trace it from the theft transactions under haircut and poison."""
    assert xem.token is not None and thefts
    exchanges = [new_key().address for _ in range(3)]
    labels = {address_key(a): Label(address_key(a), f"Exchange {n} (deposit address)",
                                     "kinko demo", "exchange", f"exchange-{n.lower()}")
              for n, a in zip("ABC", exchanges, strict=True)}
    bystander = new_key()
    fund_xem(bystander.address, 40_000_000 * 10**6)
    launder(chain, thief, xem, exchanges, bystander, new_key)
    records = [t for n in range(thefts[0].block, chain.head() + 1)
               for t in chain.block(n).transfers
               if t.token is not None and same_token(t.token, xem.token, xem.chain)
               and t.value > 0]
    records.sort(key=_position)
    data = account_transfers(records)
    seeds = [t.tx_hash for t in thefts]
    return TraceDemo({policy: run_trace(data, policy=policy, seed_txs=seeds, labels=labels)
                      for policy in ("haircut", "poison")}, labels, records)


def _position(t: Transfer) -> tuple[int, int, int]:
    return t.block, t.tx_index, -1 if t.log_index is None else t.log_index


def write_transfers(transfers: Sequence[Transfer], path: Path, asset: str) -> Path:
    """The transfers as the generic CSV ``kinko trace run --format csv`` reads: one row per
    transfer in processing order (block, tx_index, log_index), amounts in minor units."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv_writer(fh)
        out.writerow(["tx_hash", "block", "tx_index", "log_index", "from", "to", "value",
                      "asset"])
        for t in sorted(transfers, key=_position):
            out.writerow([t.tx_hash, t.block, t.tx_index, t.log_index or 0, t.sender,
                          t.to or "", t.value, asset])
    return path


def _dest(n: int) -> str:
    return "0x" + hashlib.sha256(f"demo destination {n}".encode()).hexdigest()[:40]


def _withdrawals_act(service: Withdrawals, chain: DevChain, hot_address: str,
                     approvers: dict[str, Ed25519PrivateKey], deny_list: Path,
                     confirmations: int) -> list[tuple[str, WithdrawalView]]:
    """Twelve customers deposit 100 ETH each; then normal withdrawals pass, a large one
    waits for two approvers, one to a listed address is blocked, and a burst trips the
    breaker."""
    service.load_deny_list(deny_list)
    ids = [f"C{i + 1:07d}" for i in range(12)]
    deposit = 100 * 10**18
    chain.fund(hot_address, deposit * len(ids))
    service.ledger.post("demo:deposits", [
        Posting("wallet:eth-hot", "ETH", deposit * len(ids)),
        *(Posting(f"customer:{c}", "ETH", -deposit) for c in ids)],
        source="demo:deposits", memo="deposits before the withdrawals")
    steps: list[tuple[str, WithdrawalView]] = []

    sent = []
    for i in range(3):
        steps.append(("normal", service.request(f"D-{i}", ids[i], "ETH", 5 * 10**17, _dest(i))))
        sent.append(f"D-{i}")
    big = service.request("D-large", ids[3], "ETH", 80 * 10**18, _dest(99))
    steps.append(("large, new address", big))
    proposal = service.custody.proposal("withdrawal-D-large")
    assert proposal is not None
    for name in ("alice", "bob"):
        service.approve("D-large", name, sign_proposal(proposal.proposal, approvers[name]))
    steps.append(("large, after alice and bob", service.get("D-large")))
    sent.append("D-large")
    target = _listed_eth_address(deny_list)
    steps.append(("to a TagPack-listed address", service.request("D-listed", ids[4], "ETH",
                                                                 10**18, target)))
    for wid in sent:
        service.send(wid)
    chain.mine(confirmations)
    for wid in sent:
        service.confirm(wid)
    for i in range(5):  # within the hour: the outflow-rate rule sees a burst
        steps.append((f"burst {i + 1}", service.request(f"D-burst-{i}", ids[5 + i], "ETH",
                                                         49 * 10**18, _dest(200 + i))))
    steps.append(("after the breaker tripped", service.request("D-after", ids[11], "ETH",
                                                               10**17, _dest(300))))
    return steps


def _listed_eth_address(path: Path) -> str:
    from kinko.domain.labels import parse_label_file

    found = parse_label_file(path.read_text(encoding="utf-8"), str(path))
    return next(lbl.address for lbl, currency in zip(found.labels, found.currencies, strict=True)
                if currency in ("ETH", "") and lbl.address.startswith("0x"))


def _policy_toml(approvers: dict[str, Ed25519PrivateKey], fresh_cold: str) -> str:
    lines = ["# demo custody policy: 2 of 3 approvers move funds or change this file",
             "version = 1", "quorum = 2", "proposal_ttl_hours = 24",
             'total_max_hot_ratio = "0.05"', ""]
    for name, key in approvers.items():
        lines += ["[[approvers]]", f'name = "{name}"', f'public_key = "{public_key_hex(key)}"',
                  ""]
    lines += ["[assets.XEM]", 'max_hot_ratio = "0.05"', 'target_hot_ratio = "0.04"',
              'cold_wallet = "xem-cold"', f'emergency_address = "{fresh_cold}"', "",
              "[assets.ETH]", 'max_hot_ratio = "0.05"', 'target_hot_ratio = "0.03"',
              'hot_min = "10"', 'cold_wallet = "eth-cold"', f'emergency_address = "{fresh_cold}"',
              "",
              "# a theft seen by the watch sweeps what is left at once (pre-authorised here)",
              "[watch]", 'emergency_sweep = "auto"', "",
              "[[screening.rules]]", 'kind = "deny_list"', 'action = "block"',
              'reason = "destination on a deny list"', "",
              "[[screening.rules]]", 'kind = "max_amount"', 'asset = "ETH"', 'amount = "50"',
              'action = "review"', 'reason = "large withdrawal"', "",
              "[[screening.rules]]", 'name = "burst"', 'kind = "outflow_rate"', 'asset = "ETH"',
              'duration = "1h"', "baseline_windows = 24", 'factor = "5"', 'min_amount = "200"',
              'action = "review"', 'reason = "ETH outflow far above its baseline"', ""]
    return "\n".join(lines)
