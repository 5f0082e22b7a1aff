"""``kinko assets list`` and ``kinko wallets add|create-safe|list|keygen``."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kinko.cli.app import app
from kinko.cli.runtime import cli_actor, emit, format_option, runtime, word
from kinko.domain.custody import Wallet
from kinko.domain.messages import msg
from kinko.errors import BadInput, InvalidAccount, InvalidAddress, StoreUnavailable
from kinko.i18n import Localizer
from kinko.services.wallets import create_multisig, register_multisig

if TYPE_CHECKING:
    from kinko.services.ledger import Ledger

assets_app = typer.Typer(help="Assets kinko knows (shipped and from config).",
                         no_args_is_help=True)
wallets_app = typer.Typer(help="The exchange's wallets (hot, warm, cold).", no_args_is_help=True)
app.add_typer(assets_app, name="assets")
app.add_typer(wallets_app, name="wallets")


@assets_app.command("list")
def assets_list(ctx: typer.Context, fmt: str = format_option()) -> None:
    """List assets with their chain and decimals (configured and recorded in the database)."""
    rt = runtime(ctx)
    with contextlib.suppress(StoreUnavailable):  # no database yet: configured assets only
        rt.ledger()
    emit(["symbol", "chain", "decimals"],
         [[a.symbol, a.chain, a.decimals] for a in rt.assets.values()], fmt, right=("decimals",))


@wallets_app.command("add")
def wallets_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Wallet name, e.g. xem-hot; its account is wallet:NAME."),
    asset: str = typer.Option(..., "--asset", help="The asset it holds."),
    tier: str = typer.Option(..., "--tier", help="hot, warm or cold."),
    address: list[str] = typer.Option([], "--address", help="Chain address (repeatable)."),
    safe: str = typer.Option(None, "--safe", help="An existing multisig account's address (a "
                             "Safe, or a NEM multisig account): registered as a multisig "
                             "wallet once the chain confirms its owners (cosignatories) and "
                             "threshold (minimum) (give --owner and --threshold)."),
    owner: list[str] = typer.Option([], "--owner", help="An owner, or a NEM cosignatory "
                                    "(repeatable)."),
    threshold: int = typer.Option(None, "--threshold", help="Owners needed to sign."),
    operator: str = typer.Option(None, "--operator", help="The owner that is kinko's "
                                 "operations key (its key is named NAME in the keys setting)."),
    cosigner: str = typer.Option(None, "--cosigner", help="The owner that is the policy "
                                 "co-signer."),
    by: str = typer.Option(None, "--by", help="Who registers it (recorded in the audit "
                           "log)."),
) -> None:
    """Register an exchange wallet: addresses of a key wallet (cold and warm ones are
    watch-only), or an existing Safe, checked on chain first."""
    rt = runtime(ctx)
    known = rt.assets[asset]
    if safe is None:
        if owner or threshold is not None or operator or cosigner:
            raise BadInput("--owner, --threshold, --operator and --cosigner describe a Safe: "
                           "give its address with --safe",
                           says=msg("error.wallet.safe_flags_need_safe"))
        wallet = rt.ledger().add_wallet(  # the addresses are checked and made canonical there
            Wallet(name, known.symbol, tier, tuple(address)), actor=cli_actor(by))
    else:
        if address or not owner or threshold is None:
            raise BadInput("a Safe is registered with --safe ADDRESS, its --owner(s) and "
                           "--threshold (not --address)",
                           says=msg("error.wallet.safe_registration"))
        wallet = register_multisig(rt.ledger(), rt.multisigs(known.symbol), name, known.symbol,
                                   tier, safe, owner, threshold,  # type: ignore[arg-type]
                                   operator=operator, cosigner=cosigner, actor=cli_actor(by))
    say = rt.say
    print(say("cli.wallets.added", name=wallet.name, tier=word(say, "tier", wallet.tier),
              asset=wallet.asset, kind=_kind(wallet, say), account=wallet.account))


@wallets_app.command("create-safe")
def wallets_create_safe(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Wallet name, e.g. eth-hot."),
    asset: str = typer.Option(..., "--asset", help="The asset it holds."),
    tier: str = typer.Option(..., "--tier", help="hot, warm or cold."),
    owner: list[str] = typer.Option(..., "--owner", help="An owner's address (repeatable)."),
    threshold: int = typer.Option(..., "--threshold", help="Owners needed to sign."),
    operator: str = typer.Option(None, "--operator", help="The owner that is kinko's "
                                 "operations key (its key is named NAME in the keys setting)."),
    cosigner: str = typer.Option(None, "--cosigner", help="The owner that is the policy "
                                 "co-signer."),
    deploy_contracts: bool = typer.Option(False, "--deploy-contracts", help="On a development "
                                          "node: deploy the Safe 1.4.1 contracts if missing."),
    by: str = typer.Option(None, "--by", help="Who registers it (recorded in the audit "
                           "log)."),
) -> None:
    """Create a Safe (the relayer key pays the gas) and register it as a multisig wallet.
    A co-signed hot wallet: --owner OPS --owner COSIGNER --owner RECOVERY --threshold 2
    --operator OPS --cosigner COSIGNER."""
    rt = runtime(ctx)
    known = rt.assets[asset]
    wallet = create_multisig(rt.ledger(), rt.multisigs(known.symbol, deploy=deploy_contracts),
                             name, known.symbol, tier, owner, threshold,  # type: ignore[arg-type]
                             operator=operator, cosigner=cosigner, actor=cli_actor(by))
    say = rt.say
    print(say("cli.wallets.created", name=wallet.name, tier=word(say, "tier", wallet.tier),
              asset=wallet.asset, kind=_kind(wallet, say), address=wallet.addresses[0]))


def _kind(wallet: Wallet, say: Localizer) -> str:
    """How a wallet is signed: one key, or a Safe or NEM multisig account (which runs on
    no contract) M of N, maybe co-signed."""
    m = wallet.multisig
    if m is None:
        return say("cli.wallets.one_key")
    n = str(len(m.owners))
    if m.contracts:
        if m.cosigner:
            return say("cli.wallets.safe_cosigned", m=str(m.threshold), n=n)
        return say("cli.wallets.safe", m=str(m.threshold), n=n)
    if m.cosigner:
        return say("cli.wallets.multisig_cosigned", m=str(m.threshold), n=n)
    return say("cli.wallets.multisig", m=str(m.threshold), n=n)


@wallets_app.command("list")
def wallets_list(ctx: typer.Context, fmt: str = format_option()) -> None:
    """List registered wallets, with how each is signed."""
    rt = runtime(ctx)
    cells = rt.cells(fmt)
    emit(["name", "asset", "tier", "signed by", "addresses"],
         [[w.name, w.asset, word(cells, "tier", w.tier), _kind(w, cells), " ".join(w.addresses)]
          for w in rt.ledger().wallets()], fmt)


@wallets_app.command("keygen")
def wallets_keygen(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Hot wallet name, e.g. eth-hot."),
    asset: str = typer.Option(..., "--asset", help="The asset it holds."),
    by: str = typer.Option(None, "--by", help="Who registers it (recorded in the audit "
                           "log)."),
) -> None:
    """Create a hot wallet: a new key and the wallet registered with its address. The key
    is made where the keys setting says the wallet's key lives: on an Ethereum chain
    generated inside the HSM (hsm_module set, or NAME=hsm:LABEL), else in an encrypted
    keystore (password from KINKO_HOT_KEY_PASSWORD, at least 12 characters); on NEM a NEM
    key file (the private key, as NEM wallets export it, readable by this user only)."""
    from kinko.domain.addresses import canonical_address
    from kinko.domain.nem_tx import is_nem

    rt = runtime(ctx)
    known = rt.assets[asset]
    ledger = rt.ledger()
    Wallet(name, known.symbol, "hot")  # the name checked before a key file is written
    if any(w.name == name for w in ledger.wallets()):
        raise InvalidAccount(f"wallet {name} is registered already", wallet=name,
                             says=msg("error.wallet.registered", wallet=name[:80]))
    nem = is_nem(known.chain)
    if nem:
        path = Path(rt.keys().nem_where(name)[1])  # a NEM key in an HSM: refused here
    else:
        try:  # an Ethereum key's address: refused by a chain of another kind, before the key
            canonical_address("0x" + "00" * 20, known.chain)
        except InvalidAddress:
            raise BadInput(f"kinko makes hot keys on Ethereum and NEM chains; {known.symbol} "
                           f"is on {known.chain}: register its wallet by address (kinko "
                           "wallets add)", says=msg("error.wallet.keygen_chain",
                                                    asset=known.symbol, chain=known.chain[:80]),
                           ) from None
        where, ref = rt.keys().where(name)  # where its signer will look for it
        if where == "hsm":
            _hsm_keygen(rt, ledger, Wallet(name, known.symbol, "hot"), ref, cli_actor(by))
            return
        path = Path(ref)

    def accept(address: str) -> None:  # the new key's address, before its file is written
        canonical_address(address, known.chain)
        path.parent.mkdir(parents=True, exist_ok=True)

    if nem:
        from kinko.chains.nem import NemKey

        address = NemKey.create(path, known.chain, accept=accept).address
    else:
        from kinko.chains.keystore import PASSWORD_ENV, create_keystore  # eth_account: a second

        address = create_keystore(path, os.environ.get(PASSWORD_ENV, ""), accept=accept)
    try:
        wallet = ledger.add_wallet(Wallet(name, known.symbol, "hot", (address,)),
                                   actor=cli_actor(by))
    except Exception as exc:  # not registered: no key of an unknown wallet left behind
        if isinstance(exc, BadInput) or not _registered(ledger, name):
            path.unlink(missing_ok=True)
        raise
    if nem:
        print(rt.say("cli.wallets.keygen_nem", name=wallet.name, asset=wallet.asset,
                     address=address, path=str(path)))
    else:
        print(rt.say("cli.wallets.keygen", name=wallet.name, asset=wallet.asset,
                     address=address, path=str(path)))


def _hsm_keygen(rt: Any, ledger: Ledger, wallet: Wallet, label: str, actor: str) -> None:
    """A hot wallet whose key is generated inside the HSM token under ``label`` (never
    leaving it), registered with its address; a key whose wallet could not be registered
    is removed from the token again."""
    token = rt.keys().token()
    signer = token.generate_key(label)
    try:
        added = ledger.add_wallet(replace(wallet, addresses=(signer.address,)), actor=actor)
    except Exception as exc:
        if isinstance(exc, BadInput) or not _registered(ledger, wallet.name):
            token.remove_new_key(signer)
        raise
    print(rt.say("cli.wallets.keygen_hsm", name=added.name, asset=added.asset,
                 address=signer.address, token=token.label, label=label))


def _registered(ledger: Ledger, name: str) -> bool:
    """Whether wallet ``name`` is registered; True when the database cannot tell (its key
    is then kept: a key is removed only when no wallet can be using it)."""
    try:
        return any(w.name == name for w in ledger.wallets())
    except Exception:
        return True
