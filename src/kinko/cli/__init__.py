"""The ``kinko`` command line: thin commands over the services.

:func:`main` runs the Typer app and turns every :class:`~kinko.errors.KinkoError` into a
message on stderr and its exit status, never a traceback. So too what no kinko error
covers: the operating system's refusals (a file that cannot be written, a full disk) are
one line and exit 3; anything else is a defect, said in one line with where it happened
(the traceback is logged at ``--log-level DEBUG``), exit 70. Everything is said in the
command line's language (the ``lang`` setting, else the locale's; see
:func:`error_lines`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from kinko.domain.messages import N_, credentials_masked
from kinko.errors import ConfigError, InputFileError, KinkoError
from kinko.i18n import CONTROL_ESCAPES, LANGS, Localizer

__all__ = ["error_lines", "main", "terminal_safe"]


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

    from kinko.cli.runtime import speaking

    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_of(argv)
    speaking(None)
    for name in COMMANDS.get(command or "", MODULES):  # registers the command groups
        importlib.import_module(f"kinko.cli.{name}")
    from typer.main import get_command

    from kinko.cli.app import app
    from kinko.cli.helptext import translate

    interrupts: list[int] = []
    stopped = _stop_cleanly(interrupts)
    try:
        built = get_command(app)
        translate(built, _reader(argv))  # the help in the language asked for
        result = built(args=argv, prog_name="kinko", standalone_mode=False)
        if interrupts and result == 130:  # typer's answer to an interrupt, silently (a
            raise KeyboardInterrupt  # server that stopped cleanly on one returns 0)
    except KinkoError as exc:
        for line in error_lines(exc, _reader(argv)):
            print(terminal_safe(line), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(_reader(argv)("cli.interrupted"), file=sys.stderr)
        return 130
    except SystemExit as exc:  # typer.Exit and click's own exits
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except Exception as exc:  # usage errors arrive here with standalone_mode=False
        if isinstance(exc, _usage_errors()):
            from kinko.cli.usage import usage_lines

            lines = usage_lines(exc, _reader(argv))
            if lines is None:
                exc.show()  # type: ignore[attr-defined]
            for line in lines or ():
                print(terminal_safe(line), file=sys.stderr)
            return int(getattr(exc, "exit_code", 2))
        if isinstance(exc, _aborts()):
            return 1
        return _unexpected(exc, _reader(argv))
    finally:
        stopped()
    return result if isinstance(result, int) else 0


def _stop_cleanly(interrupts: list[int]) -> Callable[[], None]:
    """SIGTERM (a service manager's stop, ``kill``) stops a command as Ctrl-C does, so what
    it was writing is undone (a file's temporary copy removed, a unit of work rolled back)
    and it says so; the servers and the watch set their own handlers. Each signal that
    stops the command is added to ``interrupts`` (Ctrl-C's SIGINT too, unless the process
    ignores it, as a shell's background job does). Returns what puts the handlers back
    (the command line may run inside another program, a test's)."""
    import signal

    def interrupted(signum: int, _frame: object) -> None:
        interrupts.append(signum)
        raise KeyboardInterrupt

    befores = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            if signum == signal.SIGTERM or \
                    signal.getsignal(signum) is signal.default_int_handler:
                befores[signum] = signal.signal(signum, interrupted)
    except ValueError:  # not the main thread: nothing to put back
        return lambda: None

    def put_back() -> None:
        for signum, before in befores.items():
            signal.signal(signum, before)

    return put_back


# what :data:`~kinko.i18n.CONTROL_ESCAPES` writes as escapes, and a carriage return (which
# would let a line be printed over)
_UNSAFE = {**CONTROL_ESCAPES, 0x0D: "\\x0d"}


def terminal_safe(line: str) -> str:
    """``line`` as a terminal may show it: control characters and direction marks written
    as their escapes (``\\x1b``, ``\\u202e``), so a value quoted from a file shows, never
    acts; the credentials of a URL in it (a node's, quoted by a library's refusal) masked."""
    return credentials_masked(line.translate(_UNSAFE))


def _reader(argv: list[str]) -> Localizer:
    """The language to say the help or an error in: the command's (its settings read), else
    (before they are read, or when reading them failed) the first that is a language of the
    global ``--lang`` flag, ``KINKO_LANG`` and the settings file's ``lang``, else the
    locale's."""
    import os

    from kinko.cli.runtime import spoken
    from kinko.settings import language

    say = spoken()
    if say is not None:
        return say
    flags: dict[str, str] = {}
    args = iter(argv)
    for arg in args:  # the global flags, before the command
        if not arg.startswith("-"):
            break
        name, eq, value = arg.partition("=")
        flags[name] = value if eq else next(args, "")
    given = [flags.get("--lang", ""), os.environ.get("KINKO_LANG", "")]
    found = [g.strip().lower() for g in given if g.strip().lower() in LANGS]
    if not found:
        found = [_file_lang(flags.get("--config") or os.environ.get("KINKO_CONFIG")
                            or "kinko.toml")]
    return Localizer(language(found[0] if found[0] in LANGS else ""))


def _file_lang(path: str) -> str:
    """The ``lang`` of a settings file, if it has one that reads (else ""): loading the
    settings reports what is wrong with the file."""
    from pathlib import Path

    from kinko.safeload import loads_toml, read_text

    try:
        text = read_text(Path(path), error=ConfigError)
        value = loads_toml(text, path, error=ConfigError).get("lang", "")
    except (KinkoError, OSError):
        return ""
    return str(value).strip().lower()


def error_lines(exc: KinkoError, say: Localizer) -> list[str]:
    """A kinko error as the operator reads it: one line, ``error: what``, and for an input
    file every ``file:line: what`` found (in the reader's language where the error gives
    its problems as messages, ``problems_said``). In English, the error's own words. In another
    language, its catalog sentence (:meth:`~kinko.errors.KinkoError.said`); when that
    sentence is its class's, which leaves the English words out, the specifics follow on
    lines of their own (the file, setting, field, asset, address, value named by the error,
    then the error's own words), so the reader still learns what and where."""
    if say.lang == "en":
        lines = [say("cli.error", text=exc.message)]
        if isinstance(exc, InputFileError):
            lines += [f"  {p}" for p in exc.problems if p != exc.message]
        return lines
    said = exc.said()
    text = say.text(said)
    lines = [say("cli.error", text=text)]
    general = said.id == f"error.{exc.code}" and exc.message not in text
    if general:
        where = [say("cli.error.where", what=say(_WHERE[key]), value=_shown(value))
                 for key, value in exc.details.items()
                 if key in _WHERE and isinstance(value, str | int) and str(value) != ""]
        if where:
            lines.append("  " + say.join(where))
    if isinstance(exc, InputFileError) and exc.problems_said is not None:
        lines += [f"  {say.text(p)}" for p in exc.problems_said]  # in the reader's language
    elif isinstance(exc, InputFileError) and exc.problems != [exc.message]:
        lines += [f"  {p}" for p in exc.problems]
    elif general:
        lines.append(say("cli.error.detail", detail=exc.message))
    return lines


# What an error's details may name, with the word that says it.
_WHERE = {"file": N_("cli.error.file"), "line": N_("cli.error.line"),
          "setting": N_("cli.error.setting"), "field": N_("cli.error.field"),
          "asset": N_("cli.error.asset"), "wallet": N_("cli.error.wallet"),
          "account": N_("cli.error.account"), "address": N_("cli.error.address"),
          "customer": N_("cli.error.customer"), "id": N_("cli.error.id"),
          "key": N_("cli.error.key"), "text": N_("cli.error.text"),
          "value": N_("cli.error.value")}


def _shown(value: str | int) -> str:
    """A value an error names, as said back: whole unless very long."""
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _unexpected(exc: Exception, say: Localizer) -> int:
    """One line for an exception no kinko error covers: the system's refusal (exit 3),
    else the defect's class and the innermost line of kinko it came from (exit 70), never
    its text, which may quote what it was given."""
    import logging
    import os
    import traceback

    import kinko

    logging.getLogger("kinko.cli").debug("unexpected error", exc_info=exc)
    if isinstance(exc, OSError) and exc.strerror:
        print(say("cli.error", text=_refusal(exc, say)), file=sys.stderr)
        return 3
    package = os.path.dirname(os.path.abspath(kinko.__file__))
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if os.path.abspath(f.filename).startswith(package + os.sep)]
    if ours:
        frame = ours[-1]
        name = os.path.relpath(os.path.abspath(frame.filename), os.path.dirname(package))
        text = say("cli.error.defect_at", kind=type(exc).__name__,
                   where=f"{name.replace(os.sep, '/')}:{frame.lineno}")
    else:
        text = say("cli.error.defect", kind=type(exc).__name__)
    print(say("cli.error", text=text), file=sys.stderr)
    return 70


def _refusal(exc: OSError, say: Localizer) -> str:
    """The operating system's refusal and the file it concerns: in English, the system's
    own words (``No such file or directory: PATH``); in another language, the catalog's
    words for the common refusals, the system's for the rest."""
    from kinko.domain.messages import os_refusal

    reason = say.text(os_refusal(exc)) if say.lang != "en" else str(exc.strerror)
    if exc.filename:
        return say("cli.error.os_file", reason=reason, file=str(exc.filename))
    return reason


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
