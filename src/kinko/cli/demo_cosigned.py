"""``kinko demo``'s third replay of 2018: the co-signed exchange wired from real parts and
shown (the act itself is :mod:`kinko.services.demo_cosigned`).

Real parts: SoftHSM2 tokens in a token directory of the demo's own (``demo/softhsm``), one
for the operations key and one for the co-signer's, keys generated inside them; the Safe
1.4.1 contracts deployed on an in-process chain of this act's own; kinko's database
(``demo/kinko-cosigned.db``); the policy co-signer as ``kinko cosign serve`` runs it
(:class:`~kinko.services.cosign.CosignService` with its own settings file, its own
hash-chained log ``demo/cosign.db``, reading kinko's database and the chain), called in
process rather than over its socket.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from eth_account import Account

from kinko.chains import softhsm
from kinko.chains.erc20 import fund_token
from kinko.chains.evm import EvmChain
from kinko.chains.hsm import HsmSigner, HsmToken
from kinko.chains.keystore import KeystoreSigner, throwaway_signer
from kinko.chains.safe import deploy_safe_contracts
from kinko.chains.safe_attacks import SafeThief
from kinko.chains.safe_reader import ChainSafes
from kinko.chains.wallets import CosignerOwner, KeyOwner, SafeAccounts, SafeWallet
from kinko.cli.cosign import cosign_policy
from kinko.cli.progress import progress
from kinko.cli.runtime import Runtime, emit, word
from kinko.domain.messages import N_
from kinko.domain.money import Asset, AssetRegistry
from kinko.i18n import Localizer
from kinko.ports import SystemClock
from kinko.services.access import Access
from kinko.services.cosign import AlertDelivery, CosignService
from kinko.services.custody import Custody
from kinko.services.demo_cosigned import CosignedRun, attack, insider, open_cosigned
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger
from kinko.services.watch import Watch
from kinko.services.withdrawals import Withdrawals
from kinko.settings import load_cosign_settings
from kinko.store import open_store, upgrade
from kinko.store.cosign_sql import open_cosign_log
from kinko.store.cosign_view import KinkoAlertSink, SqlKinkoView

__all__ = ["HSM_PIN", "Cosigned", "cosigned_act", "show_attempts", "show_insider"]

HSM_PIN = "demo-pin-2018"  # the demo tokens' user PIN, shown openly: a demo, not a secret
LIMIT_XEM = 300_000  # the co-signer's rolling limit for the Safe, whole XEM per 24 hours

WORDS = {  # what each try was, for the demo's table
    "owner_address": N_("cli.demo.try.owner_address"),
    "one_signature": N_("cli.demo.try.one_signature"),
    "cosigner_forged": N_("cli.demo.try.cosigner_forged"),
    "owner_change_cosigner": N_("cli.demo.try.owner_change_cosigner"),
    "owner_change_chain": N_("cli.demo.try.owner_change_chain"),
}


@dataclass
class Cosigned:
    result: CosignedRun
    database: Path
    cosign_config: Path
    safe: str
    seconds: float  # the whole act, set-up and import included
    import_seconds: float


def _clean(folder: Path) -> None:
    """The files of an earlier run."""
    for name in ("kinko-cosigned.db", "cosign.db"):
        for stale in (name, name + "-wal", name + "-shm"):
            (folder / stale).unlink(missing_ok=True)


def cosigned_act(rt: Runtime, folder: Path, csv_path: Path, chain: EvmChain, xem: Asset,
                 thief_key: KeystoreSigner, *, customers: int,
                 confirmations: int) -> Cosigned:
    """Set up the co-signed exchange on ``chain`` (whose XEM token is ``xem``), run the
    thief's tries and the insider's withdrawals against it."""
    started = time.perf_counter()
    _clean(folder)
    tokens = softhsm.start(folder / "softhsm", {"kinko-ops": HSM_PIN,
                                                 "kinko-cosigner": HSM_PIN},
                           module=rt.settings.hsm_module or softhsm.MODULE)
    ops_token = HsmToken.open(tokens.module, "kinko-ops", HSM_PIN)
    co_token = HsmToken.open(tokens.module, "kinko-cosigner", HSM_PIN)
    try:
        return _act(rt, folder, csv_path, chain, xem, thief_key, ops_token.generate_key(
            "operations"), co_token.generate_key("cosigner"), tokens.module, started,
            customers=customers, confirmations=confirmations)
    finally:
        ops_token.close()
        co_token.close()


def _act(rt: Runtime, folder: Path, csv_path: Path, chain: EvmChain, xem: Asset,
         thief_key: KeystoreSigner, ops: HsmSigner, co_key: HsmSigner, module: str,
         started: float, *, customers: int, confirmations: int) -> Cosigned:
    recovery = str(Account.create().address)  # kept offline: kinko knows only its address
    deployment = deploy_safe_contracts(chain)
    relayer = throwaway_signer()  # owns nothing; pays the gas of execTransaction
    chain.fund(relayer.address, 10**20)
    url = f"sqlite:///{folder / 'kinko-cosigned.db'}"
    store = open_store(url, sqlite_synchronous="NORMAL")
    upgrade(store)
    ledger = Ledger(store, SystemClock(), AssetRegistry.default([xem]))
    ledger.sync_assets()
    imported = time.perf_counter()
    with progress(rt.say("cli.demo.progress_cosigned")) as advance:
        ex = open_cosigned(ledger, csv_path, folder, chain,
                           SafeAccounts(chain, deployment, relayer), operator=ops.address,
                           cosigner=co_key.address, recovery=recovery,
                           cold=(str(Account.create().address),),
                           fund_xem=lambda to, amount: fund_token(chain, str(xem.token), to,
                                                                  amount),
                           batch_size=rt.settings.import_batch_size,
                           progress=advance)
    imported = time.perf_counter() - imported
    safe = ex.hot.addresses[0]
    config = _cosign_config(folder, url, safe, xem, ex.cold.addresses[0], module)
    settings = load_cosign_settings(config, env={})
    log = open_cosign_log(settings.database_url)
    clock = SystemClock()
    service = CosignService(policy=cosign_policy(settings), kinko=SqlKinkoView(url),
                            chain=ChainSafes(chain), log=log, signer=co_key, clock=clock,
                            sinks=("kinko",))
    sink = KinkoAlertSink(url)
    delivery = AlertDelivery(log, {"kinko": sink}, clock)
    wallet = SafeWallet(chain, safe, ex.hot.multisig, relayer,  # type: ignore[arg-type]
                        [KeyOwner(ops), CosignerOwner(service, co_key.address)])
    custody = Custody(ledger, chain=chain, spender_for=lambda _w: wallet,
                      confirmations=confirmations)
    withdrawals = Withdrawals(custody)
    # first the insider (his withdrawals are kinko's own: the watch expects them) ...
    insider_run = insider(ex, withdrawals, Access(store, clock), chain,
                          destination=str(Account.create().address),
                          limit=LIMIT_XEM * 10**6, confirmations=confirmations)
    delivery.deliver_due()
    # ... then the thief, with the watch following every block as in the kinko column
    watch = Watch(withdrawals, chain, confirmations=confirmations,
                  start_block=chain.head() + 1)
    watch.poll()
    chain.fund(thief_key.address, 10**18)
    result = attack(ex, chain, SafeThief(chain, ops, thief_key), thief_key.address, service,
                    delivery.deliver_due, clock, customers=customers, watch=watch)
    result.insider = insider_run
    delivery.deliver_due()
    sink.close()
    store.close()
    return Cosigned(result, folder / "kinko-cosigned.db", config, safe,
                    time.perf_counter() - started, imported)


def _cosign_config(folder: Path, kinko_url: str, safe: str, xem: Asset, cold: str,
                   module: str) -> Path:
    """The co-signer's settings file, as an exchange would write it."""
    path = folder / "cosign.toml"
    path.write_text(f"""# the demo co-signer's settings (kinko cosign serve --config {path.name})
database_url = "sqlite:///{folder / 'cosign.db'}"
kinko_database_url = "{kinko_url}"
evm_rpc_url = "http://127.0.0.1:8545"
signer = "hsm"
hsm_module = "{module}"
hsm_token = "kinko-cosigner"
hsm_key = "cosigner"

[[safes]]
address = "{safe}"
asset = "XEM"
token = "{xem.token}"
limit = "{LIMIT_XEM} XEM"
window = "24h"

[cold]
XEM = ["{cold}"]
""", encoding="utf-8")
    return path


def _xem(rt: Runtime, units: int) -> str:
    return format(Decimal(rt.show("XEM", units)), ",")


def show_attempts(rt: Runtime, act: Cosigned) -> None:
    """The thief's tries and what refused each; the incident's timeline."""
    run = act.result.run
    say = rt.say
    print(say("cli.demo.thief", safe=act.safe))
    emit(["try", "refused by", "why", "tx / record"],
         [[say(WORDS[a.what]), a.refused_by or say("cli.demo.nobody"), a.reason,
           (say("cli.demo.tx_block", tx=f"{a.tx_hash[:18]}…", block=str(a.block))
            if a.tx_hash else say("cli.demo.record", record=str(a.record)))]
          for a in act.result.attempts], "table")
    if run.incident is not None:
        _timeline(act.database, run.incident, say)
    print(say("cli.demo.cosigned_took", seconds=f"{act.seconds:.1f}",
              imported=f"{act.import_seconds:.1f}") + "\n")


def _timeline(database: Path, incident: str, say: Localizer) -> None:
    store = open_store(f"sqlite:///{database}")
    try:
        view = Incidents(store, SystemClock()).incident(incident)
    finally:
        store.close()
    emit(["at (UTC)", "kind", "actor", "detail"],
         [[e["at"].strftime("%H:%M:%S.%f")[:-3], word(say, "inc.ev", e["kind"]), e["actor"],
           say.text(e["detail"])] for e in view.timeline], "table",
         title=say("cli.demo.cosigned_timeline", incident=incident))


def show_insider(rt: Runtime, act: Cosigned) -> None:
    """The insider's withdrawals and what bounded them."""
    ins = act.result.insider
    if ins is None:
        return
    say = rt.say
    words = {"confirmed": N_("cli.demo.insider.confirmed"),
             "held": N_("cli.demo.insider.held"),
             "refused_by_cosigner": N_("cli.demo.insider.refused")}
    print(say("cli.demo.insider", key=ins.key, destination=ins.destination))
    emit(["withdrawal", "customer", "XEM", "screening", "outcome"],
         [[s.withdrawal, s.customer, _xem(rt, s.amount), word(say, "wd.state", s.screening),
           (say(words[s.outcome]) if s.outcome in words else s.outcome)
           + (f" ({s.reason})" if s.reason else "")]
          for s in ins.steps], "table", right=("XEM",))
    print(say("cli.demo.insider_left", requested=_xem(rt, ins.requested),
              left=_xem(rt, ins.left), limit=_xem(rt, ins.limit)) + "\n")

