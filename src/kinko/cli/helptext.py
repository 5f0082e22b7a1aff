"""``kinko --help`` in the command line's language.

Typer reads the help of every command and option as the code writes it, in English, when
the app is built. Before a command line runs, :func:`translate` walks the built commands
and gives each the catalog's text in the reader's language, where the catalog has one:

- a command's (or group's) help is ``help.<command path>`` (``help.ledger.post``; the
  ``kinko`` command itself is ``help.kinko``, its epilog ``help.kinko.epilog``);
- an option's is ``help.<command path>.<parameter>`` (``help.kinko.lang`` for the global
  ``--lang``, ``help.withdrawals.request.to`` for ``--to``).

The English catalog holds each such id's English text exactly as the code writes it, and a
test wants every help in both catalogs, so a help added or changed in the code fails the
tests until its translation is written or looked at again. Click's usage line, headings,
``--help`` and the words of its bracketed notes are said in the reader's language too
(:mod:`kinko.cli.usage`): ``[default: 8000; 0<=x<=65535]`` is ``[既定値: 8000; 0<=x<=65535]``
and ``[required]`` is ``[必須]``, the values and ranges as Click writes them.
"""

from __future__ import annotations

from typing import Any

from kinko.i18n import Localizer, catalog_ids

__all__ = ["help_ids", "translate"]


def help_ids(command: Any, path: tuple[str, ...] = ()) -> dict[str, tuple[Any, str]]:
    """Every help of ``command`` and below by its catalog id: (the object that carries it,
    its attribute: ``help`` or ``epilog``)."""
    name = "help." + (".".join(path) if path else "kinko")
    found: dict[str, tuple[Any, str]] = {name: (command, "help")}
    if not path:
        found["help.kinko.epilog"] = (command, "epilog")
    for param in command.params:
        if getattr(param, "help", None):
            found[f"{name}.{param.name}"] = (param, "help")
    for sub_name, sub in sorted(getattr(command, "commands", {}).items()):
        found.update(help_ids(sub, (*path, sub_name)))
    return found


def translate(command: Any, say: Localizer) -> None:
    """Give the built ``command`` (and every command and option below it) the help texts of
    ``say``'s language that the catalog has; the others keep their English."""
    if say.lang == "en":
        return
    _localize_contexts(command, say)
    known = catalog_ids(say.lang)
    for message_id, (owner, attribute) in help_ids(command).items():
        if message_id in known and getattr(owner, attribute, None):
            text = say(message_id)
            setattr(owner, attribute, text)
            if attribute == "help" and hasattr(owner, "short_help"):
                owner.short_help = _first_sentence(text)


def _localize_contexts(command: Any, say: Localizer) -> None:
    """Every command's help written in ``say``'s language: Click's usage line, headings and
    ``--help`` (:func:`kinko.cli.usage.localized_context`)."""
    from kinko.cli.usage import localized_context

    made: dict[type, Any] = {}
    todo = [command]
    while todo:
        current = todo.pop()
        base = current.context_class
        if base not in made:
            made[base] = localized_context(base, say)
        current.context_class = made[base]
        todo.extend(getattr(current, "commands", {}).values())


def _first_sentence(text: str) -> str:
    """What a list of commands shows of one: its first sentence, up to the first 。 outside
    parentheses (click would cut a text without spaces at its first space)."""
    depth = 0
    for i, char in enumerate(text):
        depth += (char in "（(") - (char in "）)")
        if char == "。" and depth <= 0:
            return text[:i + 1]
    return text
