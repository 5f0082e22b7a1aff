"""The ``kinko`` command: global settings flags (from the settings registry) and groups.

Each group lives in its own module and registers itself here. Exit status: 0 ok,
1 findings (e.g. ``ledger verify`` found tampering), 2 bad input, 3 environment, 70 a defect.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer

from kinko.cli.logs import log_to_stderr
from kinko.cli.runtime import Runtime, speaking
from kinko.settings import REGISTRY, load_settings, shown_default

__all__ = ["app"]

EPILOG = (
    "Settings come from kinko.toml in the working folder (or --config / KINKO_CONFIG), then "
    "KINKO_* environment variables, then these flags. Exit status: 0 ok, 1 findings, "
    "2 bad input, 3 environment (database unreachable or not initialised), 70 a defect in "
    "kinko."
)

app = typer.Typer(
    name="kinko",
    help="kinko (金庫): custody-risk control for crypto-asset exchanges.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _root(ctx: typer.Context, **flags: Any) -> None:
    flags.pop("version", None)
    config = flags.pop("config", None)
    settings = load_settings(config_path=config or "kinko.toml", flags=flags)
    log_to_stderr(settings.log_level)
    rt = Runtime(settings, config, {k: v for k, v in flags.items() if v is not None})
    ctx.obj = rt
    speaking(rt.say)
    ctx.call_on_close(rt.close)


def _version(asked: bool) -> None:
    """``kinko --version``: the installed version, before any setting is read."""
    if asked:
        from kinko import __version__

        typer.echo(f"kinko {__version__}")
        raise typer.Exit()


def _signature() -> inspect.Signature:
    params = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=typer.Context),
        inspect.Parameter(
            "version", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
            default=typer.Option(False, "--version", is_eager=True, callback=_version,
                                 help="Show kinko's version and exit."),
        ),
        inspect.Parameter(
            "config", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
            default=typer.Option(None, "--config", metavar="PATH",
                                 help="Settings file (default: ./kinko.toml if present)."),
        ),
    ]
    for s in REGISTRY:
        default = shown_default(s, "none")
        params.append(inspect.Parameter(
            s.name, inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
            default=typer.Option(None, s.flag, metavar=s.metavar,
                                 help=f"{s.help} [env {s.env}; default {default}]"),
        ))
    return inspect.Signature(params)


_root.__signature__ = _signature()  # type: ignore[attr-defined]
app.callback()(_root)
