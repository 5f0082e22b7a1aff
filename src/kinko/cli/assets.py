"""``kinko assets list`` and ``kinko wallets add|list``."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import typer

from kinko.chains.keystore import PASSWORD_ENV, create_keystore
from kinko.cli.app import app
from kinko.cli.runtime import emit, format_option, runtime
from kinko.domain.custody import Wallet
from kinko.errors import StoreUnavailable

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
) -> None:
    """Register an exchange wallet (cold and warm wallets are watch-only)."""
    rt = runtime(ctx)
    known = rt.assets[asset]
    wallet = rt.ledger().add_wallet(  # the addresses are checked and made canonical there
        Wallet(name, known.symbol, tier, tuple(address))  # type: ignore[arg-type]
    )
    print(f"wallet {wallet.name}: {wallet.tier} {wallet.asset}, account {wallet.account}")


@wallets_app.command("list")
def wallets_list(ctx: typer.Context, fmt: str = format_option()) -> None:
    """List registered wallets."""
    rt = runtime(ctx)
    emit(["name", "asset", "tier", "addresses"],
         [[w.name, w.asset, w.tier, " ".join(w.addresses)] for w in rt.ledger().wallets()], fmt)


@wallets_app.command("keygen")
def wallets_keygen(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Hot wallet name, e.g. eth-hot."),
    asset: str = typer.Option(..., "--asset", help="The asset it holds."),
) -> None:
    """Create a hot wallet: a new key in an encrypted keystore (password from
    KINKO_HOT_KEY_PASSWORD) and the wallet registered with its address."""
    rt = runtime(ctx)
    symbol = rt.assets[asset].symbol
    folder = Path(rt.settings.hot_keystore_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ledger = rt.ledger()
    Wallet(name, symbol, "hot")  # check the name before a key file is written
    address = create_keystore(folder / f"{name}.json", os.environ.get(PASSWORD_ENV, ""))
    wallet = ledger.add_wallet(Wallet(name, symbol, "hot", (address,)))
    print(f"hot wallet {wallet.name} ({wallet.asset}) at {address}; keystore "
          f"{folder / (name + '.json')}")
