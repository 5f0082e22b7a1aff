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
        ledger,
        serve,
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
    except Exception as exc:  # click usage errors arrive here with standalone_mode=False
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        if isinstance(exc, click.exceptions.Abort):
            return 1
        raise
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
