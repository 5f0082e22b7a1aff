"""The ``kinko`` command line: thin commands over the services.

:func:`main` runs the Typer app and turns every :class:`~kinko.errors.KinkoError` into a
one-line message on stderr and its exit status, never a traceback.
"""

from __future__ import annotations

import sys

from kinko.errors import InputFileError, KinkoError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from kinko.cli import (  # noqa: F401  (register the command groups)
        assets,
        custody,
        customers,
        demo,
        fsa,
        ledger,
        refunds,
        reserves,
        reserves_chain,
        serve,
        trace,
        watch,
        withdrawals,
    )
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
        raise
    return result if isinstance(result, int) else 0


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
