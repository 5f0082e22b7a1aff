"""`kinko` imports only the modules of the command it runs (start-up time); the map it uses
must name every module that adds to a command, or a subcommand would go missing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kinko.cli import COMMANDS, MODULES, command_of

# One process imports what every command shares (typer, kinko.cli.app) once, then forks a
# child for each set of modules: the child imports only those modules and prints the tree
# of commands the app has then, a line of JSON each, in the order the sets were given.
TREES = """
import importlib, json, os, sys
import typer.main
from kinko.cli.app import app

def tree(cmd):
    subs = getattr(cmd, "commands", None)
    return sorted(subs) if subs is not None else None

for modules in json.loads(sys.argv[1]):
    sys.stdout.flush()
    child = os.fork()
    if child == 0:
        for name in modules:
            importlib.import_module("kinko.cli." + name)
        group = typer.main.get_command(app)
        print(json.dumps({name: tree(cmd) for name, cmd in group.commands.items()}))
        sys.stdout.flush()
        os._exit(0)
    if os.waitpid(child, 0)[1] != 0:
        sys.exit(f"importing {modules} failed")
"""


def _trees(sets: list[tuple[str, ...]]) -> list[dict[str, list[str] | None]]:
    out = subprocess.run([sys.executable, "-c", TREES, json.dumps(sets)], capture_output=True,
                         text=True, check=True)
    return [dict(json.loads(line)) for line in out.stdout.splitlines()]


@pytest.mark.slow
def test_each_command_gets_every_subcommand_from_its_own_modules() -> None:
    sets = sorted(set(COMMANDS.values()))
    everything, *each = _trees([MODULES, *sets])
    assert len(each) == len(sets)
    assert set(everything) == set(COMMANDS), "a command is missing from kinko.cli.COMMANDS"
    for modules, alone in zip(sets, each, strict=True):
        for command, wanted in COMMANDS.items():
            if wanted == modules:
                assert command in alone and alone[command] == everything[command], (
                    command, modules)


def test_the_command_is_found_past_the_global_flags() -> None:
    assert command_of(["ledger", "balances"]) == "ledger"
    assert command_of(["--database-url", "sqlite:///x.db", "watch", "--once"]) == "watch"
    assert command_of(["--log-level=DEBUG", "--config", "k.toml", "trace", "run"]) == "trace"
    assert command_of(["--help"]) is None and command_of([]) is None
