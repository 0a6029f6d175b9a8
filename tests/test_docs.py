"""The README and the command line describe the same commands and options, both ways."""

from __future__ import annotations

import re
from pathlib import Path

import click

from bulkmail.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def commands(group: click.Group = cli, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from commands(command, prefix + (name,))


def long_options() -> set[str]:
    found = {"--help"}
    for command in [cli] + [c for _, c in commands()]:
        for param in command.params:
            found.update(o for o in getattr(param, "opts", []) if o.startswith("--"))
    return found


def test_every_command_and_option_of_the_help_is_in_the_readme():
    missing = [f"bulkmail {' '.join(path)}" for path, _ in commands() if f"bulkmail {' '.join(path)}" not in README]
    missing += sorted(o for o in long_options() if not re.search(rf"(?<![\w-]){o}(?![\w-])", README))
    assert missing == []


def test_every_option_the_readme_names_exists():
    # the benchmark script's own options are described with it
    text = "\n".join(line for line in README.splitlines() if "bench" not in line)
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", text))
    assert sorted(named - long_options()) == []
