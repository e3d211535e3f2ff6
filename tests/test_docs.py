"""The docs stay honest: every CLI command and option is in the README (read from the real typer app,
so a command or option someone adds fails here until it is documented), and every mart has a yml
entry that states its grain. That every column of every built mart is described is checked on the
real database, in tests/e2e/test_marts_documented.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
import yaml

from insiders.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MARTS = ROOT / "models" / "marts"


def _commands(command, path):
    """(path, command) of every leaf command; typer vendors click, so groups are told by `commands`."""
    if hasattr(command, "commands"):
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, [*path, name])
    else:
        yield " ".join(path), command


def _options(command) -> list[str]:
    return [
        opt
        for param in command.params
        if param.param_type_name == "option"
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    ]


COMMANDS = dict(_commands(typer.main.get_command(app), ["insiders"]))


def _readme_rows(path: str) -> list[str]:
    """README lines that show ``path``, e.g. `insiders db start`, `insiders db start|stop` or a table row."""
    *head, last = path.split()
    pattern = re.compile(re.escape(" ".join(head)) + r" (?:[a-z-]+\|)*" + re.escape(last) + r"\b")
    return [line for line in README.splitlines() if pattern.search(line)]


def test_the_app_has_the_commands_this_test_walks():
    assert {"insiders run", "insiders backtest", "insiders db start", "insiders metabase push"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_is_in_the_readme(path):
    assert _readme_rows(path), f"`{path}` is not in README.md"


@pytest.mark.parametrize(
    ("path", "option"), [(path, opt) for path, cmd in sorted(COMMANDS.items()) for opt in _options(cmd)]
)
def test_every_option_is_in_the_readme_next_to_its_command(path, option):
    rows = _readme_rows(path)
    assert any(option in row for row in rows), f"`{path} {option}` is not in README.md"


def test_the_global_options_are_in_the_readme():
    for option in _options(typer.main.get_command(app)):
        assert option in README, f"global option {option} is not in README.md"


def mart_docs() -> dict[str, dict]:
    """Every model entry of models/marts/*.yml by name."""
    docs = {}
    for path in sorted(MARTS.glob("*.yml")):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            docs[model["name"]] = model
    return docs


MART_MODELS = sorted(p.stem for p in MARTS.glob("*.sql"))


@pytest.mark.parametrize("mart", MART_MODELS)
def test_every_mart_is_described_with_its_grain(mart):
    docs = mart_docs()
    assert mart in docs, f"models/marts/{mart}.sql has no yml entry"
    description = " ".join(docs[mart].get("description", "").split())
    assert re.search(
        r"\bone row per\b", description, re.I
    ), f"{mart}: the description does not state its grain"
