"""Click's own words in the command line's language: a usage error (an unknown option, a
missing one, a value its type refuses), the help's headings and its bracketed notes.

Click (and the copy Typer carries) writes them in English. In English they are shown as
Click shows them. In another language :func:`usage_lines` says the same from the catalog,
naming the option, and a value's refusal keeps Click's English words on a line of their
own (as :func:`kinko.cli.error_lines` does for a kinko error's); :func:`localized_context`
gives the help its usage line, headings, the ``--help`` option's help and the words of the
note Click puts after a parameter's help (``[default: 8000; 0<=x<=65535]`` is
``[既定値: 8000; 0<=x<=65535]``, ``[required]`` is ``[必須]``) in that language, and wraps
Japanese to the terminal's columns (:mod:`kinko.cli.widewrap`).
"""

from __future__ import annotations

import re
from typing import Any

from kinko.cli.widewrap import columns, prewrapped
from kinko.domain.messages import N_
from kinko.i18n import Localizer

__all__ = ["localized_context", "localized_note", "usage_lines"]

# the help's headings Click writes, by their catalog id
_HEADINGS = {"Options": N_("cli.help.options"), "Commands": N_("cli.help.commands"),
             "Arguments": N_("cli.help.arguments")}
_HELP_OPTION = "Show this message and exit."  # the help of Click's --help
# the words of the note Click writes after a parameter's help, by their catalog id:
# "[env var: X; default: Y; 0<=x<=9; required]" (each part only when it applies)
_NOTE_VALUES = {"env var: ": N_("cli.help.env_var"), "default: ": N_("cli.help.default")}
_REQUIRED = ("required", N_("cli.help.required"))
_RANGE = re.compile(r"[-+\w.]+<=?x<=?[-+\w.]+|x[<>]=?[-+\w.]+")  # as Click writes one
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


def localized_note(text: str, say: Localizer) -> str:
    """A parameter's help ``text`` (as Click gives it to the formatter) with the words of
    Click's trailing note in ``say``'s language: ``default:``, ``env var:`` and ``required``;
    the values and a range are kept as written. A text without such a note is returned as
    it is (kinko's own notes, in the global flags' help, are in the catalog's words)."""
    if not text.endswith("]"):
        return text
    # the note is all of the text, or follows the help after two spaces; the first place
    # whose contents read as Click's parts is it (a default may hold brackets of its own)
    starts = [0] if text.startswith("[") else []
    starts += [m.end() - 1 for m in re.finditer(r" {2}\[", text)]
    for start in starts:
        parts = _note_parts(text[start + 1:-1], say)
        if parts is not None:
            return f"{text[:start]}[{'; '.join(parts)}]"
    return text


def _note_parts(note: str, say: Localizer) -> list[str] | None:
    """The parts of Click's note (joined by ``"; "``) in ``say``'s language; None when
    ``note`` is not one. A piece that is no part of its own continues the value before it
    (a default with ``"; "`` in it)."""
    parts: list[str] = []
    open_value: tuple[str, str] | None = None  # (message id, value so far)
    for piece in note.split("; "):
        prefix = next((p for p in _NOTE_VALUES if piece.startswith(p)), None)
        if prefix is not None or piece == _REQUIRED[0] or _RANGE.fullmatch(piece):
            if open_value is not None:
                parts.append(say(open_value[0], value=open_value[1]))
                open_value = None
            if prefix is not None:
                open_value = (_NOTE_VALUES[prefix], piece[len(prefix):])
            else:
                parts.append(say(_REQUIRED[1]) if piece == _REQUIRED[0] else piece)
        elif open_value is not None:
            open_value = (open_value[0], f"{open_value[1]}; {piece}")
        else:
            return None
    if open_value is not None:
        parts.append(say(open_value[0], value=open_value[1]))
    return parts


def localized_context(context_class: Any, say: Localizer) -> Any:
    """A subclass of Click's context class whose help is written in ``say``'s language:
    the usage line's prefix, the headings, the ``--help`` option's own help and the words of
    each parameter's bracketed note (:func:`localized_note`)."""
    base = context_class.formatter_class

    class Formatter(base):  # type: ignore[misc, valid-type]
        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            super().write_usage(prog, args, say("cli.help.usage") + " "
                                if prefix is None else prefix)

        def write_heading(self, heading: str) -> None:
            message_id = _HEADINGS.get(heading)
            super().write_heading(say(message_id) if message_id else heading)

        def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
            rows = [(term, say("cli.help.help_option") if text == _HELP_OPTION
                     else localized_note(text, say)) for term, text in rows]
            if rows:  # the second column's width, as Click's write_dl reckons it
                first = min(max(columns(term) for term, _ in rows), col_max) + col_spacing
                width = max(self.width - first - 2, 10)
                rows = [(term, prewrapped(text, width)) for term, text in rows]
            super().write_dl(rows, col_max, col_spacing)

        def write_text(self, text: str) -> None:
            super().write_text(prewrapped(text, self.width - self.current_indent))

    class Context(context_class):  # type: ignore[misc]
        formatter_class = Formatter

    return Context
