"""`kinko` imports only the modules of the command it runs (start-up time); the map it uses
must name every module that adds to a command, or a subcommand would go missing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kinko.cli import COMMANDS, MODULES, command_of

TREE = """
import importlib, json, sys
import typer.main
for name in sys.argv[1:]:
    importlib.import_module("kinko.cli." + name)
from kinko.cli.app import app
group = typer.main.get_command(app)

def tree(cmd):
    subs = getattr(cmd, "commands", None)
    return sorted(subs) if subs is not None else None

print(json.dumps({name: tree(cmd) for name, cmd in group.commands.items()}))
"""


def _tree(modules: tuple[str, ...]) -> dict[str, list[str] | None]:
    out = subprocess.run([sys.executable, "-c", TREE, *modules], capture_output=True,
                         text=True, check=True)
    return dict(json.loads(out.stdout))


@pytest.mark.slow
def test_each_command_gets_every_subcommand_from_its_own_modules() -> None:
    everything = _tree(MODULES)
    assert set(everything) == set(COMMANDS), "a command is missing from kinko.cli.COMMANDS"
    for modules in sorted(set(COMMANDS.values())):
        alone = _tree(modules)
        for command, wanted in COMMANDS.items():
            if wanted == modules:
                assert command in alone and alone[command] == everything[command], (
                    command, modules)


def test_the_command_is_found_past_the_global_flags() -> None:
    assert command_of(["ledger", "balances"]) == "ledger"
    assert command_of(["--database-url", "sqlite:///x.db", "watch", "--once"]) == "watch"
    assert command_of(["--log-level=DEBUG", "--config", "k.toml", "trace", "run"]) == "trace"
    assert command_of(["--help"]) is None and command_of([]) is None
