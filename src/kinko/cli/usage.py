"""Click's own words in the command line's language: a usage error (an unknown option, a
missing one, a value its type refuses) and the help's headings.

Click (and the copy Typer carries) writes them in English. In English they are shown as
Click shows them. In another language :func:`usage_lines` says the same from the catalog,
naming the option, and a value's refusal keeps Click's English words on a line of their
own (as :func:`kinko.cli.error_lines` does for a kinko error's); :func:`localized_context`
gives the help its usage line, headings and the ``--help`` option's help in that language.
"""

from __future__ import annotations

from typing import Any

from kinko.domain.messages import N_
from kinko.i18n import Localizer

__all__ = ["localized_context", "usage_lines"]

# the help's headings Click writes, by their catalog id
_HEADINGS = {"Options": N_("cli.help.options"), "Commands": N_("cli.help.commands"),
             "Arguments": N_("cli.help.arguments")}
_HELP_OPTION = "Show this message and exit."  # the help of Click's --help
# the kinds of parameter Click names (``say.word("cli.usage.kind", kind)``)
_KINDS = (N_("cli.usage.kind.option"), N_("cli.usage.kind.argument"),
          N_("cli.usage.kind.parameter"))


def _kinds(exc: BaseException) -> set[str]:
    """The names of the exception's classes (Click's and Typer's copies alike)."""
    return {cls.__name__ for cls in type(exc).__mro__}


def usage_lines(exc: BaseException, say: Localizer) -> list[str] | None:
    """What to print for Click's exception ``exc`` in ``say``'s language; None in English
    (Click's own ``show()``)."""
    if say.lang == "en":
        return None
    kinds = _kinds(exc)
    lines: list[str] = []
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and "UsageError" in kinds:
        lines.append(ctx.get_usage())
        if ctx.command.get_help_option(ctx) is not None:
            lines.append(say("cli.usage.hint",
                             command=f"{ctx.command_path} {ctx.help_option_names[0]}"))
        lines.append("")
    detail = None
    if "NoSuchOption" in kinds:
        text = say("cli.usage.no_such_option", option=str(exc.option_name))  # type: ignore[attr-defined]
        if getattr(exc, "possibilities", None):
            text += say("cli.usage.possible", options=", ".join(sorted(exc.possibilities)))  # type: ignore[attr-defined]
    elif "MissingParameter" in kinds:
        text = say("cli.usage.missing", what=_what(exc, say))
    elif "BadParameter" in kinds:
        text, detail = say("cli.usage.invalid", what=_what(exc, say)), str(exc.message)  # type: ignore[attr-defined]
    else:
        text, detail = say("cli.usage.general"), exc.format_message()  # type: ignore[attr-defined]
    lines.append(say("cli.error", text=text))
    if detail:
        lines.append(say("cli.error.detail", detail=detail))
    return lines


def _what(exc: Any, say: Localizer) -> str:
    """The parameter a refusal is about: its kind's word and its hint (``'--port'``)."""
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        try:  # Click's parameters take the context; those of Typer's copy do not
            hint = exc.param.get_error_hint(exc.ctx)
        except TypeError:
            hint = exc.param.get_error_hint()
    if isinstance(hint, list | tuple):
        hint = " / ".join(f"'{h}'" for h in hint)
    kind = getattr(exc, "param_type", None) or (
        exc.param.param_type_name if exc.param is not None else "parameter")
    return f"{say.word('cli.usage.kind', kind)} {hint}" if hint else say.word(
        "cli.usage.kind", kind)


def localized_context(context_class: Any, say: Localizer) -> Any:
    """A subclass of Click's context class whose help is written in ``say``'s language:
    the usage line's prefix, the headings, the ``--help`` option's own help."""
    base = context_class.formatter_class

    class Formatter(base):  # type: ignore[misc, valid-type]
        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            super().write_usage(prog, args, say("cli.help.usage") + " "
                                if prefix is None else prefix)

        def write_heading(self, heading: str) -> None:
            message_id = _HEADINGS.get(heading)
            super().write_heading(say(message_id) if message_id else heading)

        def write_dl(self, rows: Any, *args: Any, **kwargs: Any) -> None:
            super().write_dl([(term, say("cli.help.help_option") if text == _HELP_OPTION
                               else text) for term, text in rows], *args, **kwargs)

    class Context(context_class):  # type: ignore[misc]
        formatter_class = Formatter

    return Context
