"""The README and the command line describe the same commands and options, both ways."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from bulkmail.cli.main import cli

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


AUTOMATION = Path(__file__).resolve().parent.parent / "docs" / "automation.md"


def recipe_commands() -> list[str]:
    """Every command line of the recipes' code blocks that runs bulkmail (or reads its output),
    as a POSIX shell would run it: the cron schedule, ExecStart= and schtasks wrappers removed,
    Windows %VARS% as $VARS."""
    commands, block = [], None
    for line in AUTOMATION.read_text().splitlines():
        if line.startswith("```"):
            block = None if block else line[3:]
            continue
        if block is None or line.startswith("#"):
            continue
        if block == "cron" and re.match(r"^[\d*]", line):
            line = line.split(None, 5)[5]
        line = re.sub(r"^ExecStart=/bin/sh -c '(.*)'$", r"\1", line)
        found = re.search(r'/TR "cmd /c (.*)"$', line)
        if found:
            line = re.sub(r"%(\w+)%\\", r"$\1/", found.group(1)).replace("%LEAVERS%", '"$LEAVERS"')
        if line.startswith(("bulkmail ", "tail ")):
            commands.append(line)
    return commands


@pytest.mark.parametrize("settings", [{"username": "api@acme.com"}], indirect=True)  # the recipes' user
def test_every_automation_recipe_runs_against_the_sandbox(sandbox, tmp_path):
    import os
    import subprocess
    import sys

    leavers = [f"leaver{n}@acme.com" for n in range(3)]
    (tmp_path / "leavers.csv").write_text("Name;E-Mail\n" + "".join(f"L;{a}\n" for a in leavers))
    (tmp_path / "roster.csv").write_text("Name,Email\n" + "".join(f"L,{a}\n" for a in leavers + ["hire@acme.com"]))
    sandbox.store.add("svc-backup@acme.com")  # protected by the recipes' --keep
    (tmp_path / "logs").mkdir()
    password = f"{sys.executable} -c \"print('sandbox-demo')\""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BULKMAIL_")}
    env.update(ROSTER=str(tmp_path / "roster.csv"), LEAVERS=str(tmp_path / "leavers.csv"), INVENTORY=str(tmp_path / "inventory.xlsx"),
               LOGS=str(tmp_path / "logs"), PATH=os.path.dirname(sys.executable) + os.pathsep + env["PATH"])
    commands = recipe_commands()
    assert len(commands) >= 11, commands  # profile, 2 syncs, 2 jobs, 2 cron lines, systemd, schtasks, alert, resume
    for command in commands:
        command = command.replace("https://apiv2.clouduss.com", sandbox.url).replace("pass show bulkmail/acme",
                                                                                      password.replace('"', '\\"'))
        for address in leavers:  # each offboarding run finds its leavers there again
            if not sandbox.store.find(address):
                sandbox.store.add(address)
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    *runs, resumed = [json.loads(line) for line in (tmp_path / "logs" / "leavers.jsonl").read_text().splitlines()]
    assert [r["counts"] for r in runs] == [{"removed": 3}] * 4  # the job, cron, systemd, schtasks
    assert resumed["note"].startswith("Nothing to resume: the last run of leavers.csv finished at ")
    assert (tmp_path / "inventory.xlsx").is_file()
    preview, synced = (json.loads((tmp_path / "logs" / name).read_text()) for name in ("sync-preview.jsonl", "sync.jsonl"))
    assert preview["counts"] == {"already_present": 3, "would_add": 1, "kept": 1}
    assert synced["counts"] == {"already_present": 3, "added": 1, "kept": 1}
