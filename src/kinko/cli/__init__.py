"""The ``kinko`` command line: thin commands over the services.

:func:`main` runs the Typer app and turns every :class:`~kinko.errors.KinkoError` into a
one-line message on stderr and its exit status, never a traceback. So too what no kinko
error covers: the operating system's refusals (a file that cannot be written, a full disk)
are one line and exit 3; anything else is a defect, said in one line with where it
happened (the traceback is logged at ``--log-level DEBUG``), exit 70.
"""

from __future__ import annotations

import sys

from kinko.errors import InputFileError, KinkoError

__all__ = ["main"]


# Which modules register each top-level command (a test keeps this in step with what they
# register): a command imports only its own modules, so `kinko ledger ...` does not pay for
# web3, numba and DuckDB. Help, no command or an unknown one import every module.
COMMANDS: dict[str, tuple[str, ...]] = {
    "assets": ("assets",), "wallets": ("assets",), "audit": ("audit",),
    "reconcile": ("custody",), "check": ("custody",), "policy": ("custody",),
    "approvers": ("custody",), "proposals": ("custody",), "deposits": ("custody",),
    "report": ("custody", "fsa"),
    "cosign": ("cosign",), "customers": ("customers",), "demo": ("demo",),
    "init": ("ledger",), "balances": ("ledger",), "ledger": ("ledger",), "holds": ("ledger",),
    "refunds": ("refunds",), "reserves": ("reserves", "reserves_chain"),
    "serve": ("serve",), "apikeys": ("serve",), "trace": ("trace",), "tags": ("trace",),
    "watch": ("watch",), "alerts": ("watch",), "incidents": ("watch",),
    "withdrawals": ("withdrawals",), "denylist": ("withdrawals",), "breaker": ("withdrawals",),
}
MODULES = tuple(sorted({m for ms in COMMANDS.values() for m in ms}))


def command_of(argv: list[str]) -> str | None:
    """The top-level command in ``argv``, past the global flags (which all take a value,
    as ``--flag VALUE`` or ``--flag=VALUE``); None for help or nothing."""
    args = iter(argv)
    for arg in args:
        if arg in ("--help", "-h"):
            return None
        if arg.startswith("-"):
            if "=" not in arg:
                next(args, None)
            continue
        return arg
    return None


def main(argv: list[str] | None = None) -> int:
    import importlib

    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_of(argv)
    for name in COMMANDS.get(command or "", MODULES):  # registers the command groups
        importlib.import_module(f"kinko.cli.{name}")
    from kinko.cli.app import app

    try:
        result = app(args=argv, prog_name="kinko", standalone_mode=False)
    except KinkoError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if isinstance(exc, InputFileError):
            for problem in exc.problems:
                if problem != exc.message:
                    print(f"  {problem}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # typer.Exit and click's own exits
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except Exception as exc:  # usage errors arrive here with standalone_mode=False
        if isinstance(exc, _usage_errors()):
            exc.show()  # type: ignore[attr-defined]
            return 2
        if isinstance(exc, _aborts()):
            return 1
        return _unexpected(exc)
    return result if isinstance(result, int) else 0


def _unexpected(exc: Exception) -> int:
    """One line for an exception no kinko error covers: the system's words for an
    operating-system refusal (exit 3), else the defect's class and the innermost line of
    kinko it came from (exit 70), never its text, which may quote what it was given."""
    import logging
    import os
    import traceback

    import kinko

    logging.getLogger("kinko.cli").debug("unexpected error", exc_info=exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror}{where}", file=sys.stderr)
        return 3
    package = os.path.dirname(os.path.abspath(kinko.__file__))
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if os.path.abspath(f.filename).startswith(package + os.sep)]
    at = ""
    if ours:
        frame = ours[-1]
        name = os.path.relpath(os.path.abspath(frame.filename), os.path.dirname(package))
        at = f" at {name.replace(os.sep, '/')}:{frame.lineno}"
    print(f"error: kinko failed unexpectedly ({type(exc).__name__}{at}); this is a defect "
          "in kinko: run the command again with --log-level DEBUG for the traceback and "
          "report it", file=sys.stderr)
    return 70


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's usage errors, from click itself and from the copy newer Typer versions
    carry (``typer._click``): an unknown option is the user's mistake, never a traceback."""
    import click

    found: list[type[Exception]] = [click.exceptions.ClickException]
    try:
        from typer._click.exceptions import ClickException as TyperClickException
    except ImportError:  # pragma: no cover - older Typer uses click directly
        pass
    else:
        found.append(TyperClickException)
    return tuple(found)


def _aborts() -> tuple[type[BaseException], ...]:
    import click
    import typer

    return (click.exceptions.Abort, typer.Abort)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
