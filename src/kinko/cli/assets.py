"""``kinko assets list`` and ``kinko wallets add|create-safe|list|keygen``."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import typer

from kinko.cli.app import app
from kinko.cli.runtime import emit, format_option, runtime, word
from kinko.domain.custody import Wallet
from kinko.domain.messages import msg
from kinko.errors import BadInput, StoreUnavailable
from kinko.i18n import Localizer
from kinko.services.wallets import create_multisig, register_multisig

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
            Wallet(name, known.symbol, tier, tuple(address))
        )
    else:
        if address or not owner or threshold is None:
            raise BadInput("a Safe is registered with --safe ADDRESS, its --owner(s) and "
                           "--threshold (not --address)",
                           says=msg("error.wallet.safe_registration"))
        wallet = register_multisig(rt.ledger(), rt.multisigs(known.symbol), name, known.symbol,
                                   tier, safe, owner, threshold,  # type: ignore[arg-type]
                                   operator=operator, cosigner=cosigner)
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
) -> None:
    """Create a Safe (the relayer key pays the gas) and register it as a multisig wallet.
    A co-signed hot wallet: --owner OPS --owner COSIGNER --owner RECOVERY --threshold 2
    --operator OPS --cosigner COSIGNER."""
    rt = runtime(ctx)
    known = rt.assets[asset]
    wallet = create_multisig(rt.ledger(), rt.multisigs(known.symbol, deploy=deploy_contracts),
                             name, known.symbol, tier, owner, threshold,  # type: ignore[arg-type]
                             operator=operator, cosigner=cosigner)
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
) -> None:
    """Create a hot wallet: a new key in an encrypted keystore (password from
    KINKO_HOT_KEY_PASSWORD) and the wallet registered with its address."""
    from kinko.chains.keystore import PASSWORD_ENV, create_keystore  # eth_account: a second

    rt = runtime(ctx)
    symbol = rt.assets[asset].symbol
    folder = Path(rt.settings.hot_keystore_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ledger = rt.ledger()
    Wallet(name, symbol, "hot")  # check the name before a key file is written
    address = create_keystore(folder / f"{name}.json", os.environ.get(PASSWORD_ENV, ""))
    wallet = ledger.add_wallet(Wallet(name, symbol, "hot", (address,)))
    print(rt.say("cli.wallets.keygen", name=wallet.name, asset=wallet.asset, address=address,
                 path=str(folder / (name + ".json"))))
