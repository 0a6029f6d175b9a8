"""Help and words: descriptions, singulars, the demo's last line, completion, a login that
cannot connect, a reader that stops early."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_csv

from bulkmail.api.client import Client
from bulkmail.api.retry import Retry


def test_help_texts_say_what_they_mean(bulkmail):
    assert "morethan20%oftheaccount" in "".join(bulkmail("import", "--help").out.split())
    assert "-validation.<xlsxforaspreadsheetinput,elsecsv>" in "".join(bulkmail("validate", "--help").out.split())
    login = bulkmail("login", "--help").out
    assert "--concurrency" not in login and "--retries" in login



def test_every_option_of_every_command_has_a_description():
    import click

    from bulkmail.cli.main import cli
    bare = [f"{name} {param.opts[0]}" for name, command in cli.commands.items() for param in command.params
            if isinstance(param, click.Option) and not param.help]
    assert bare == []


def test_counts_of_one_are_singular(bulkmail, sandbox, tmp_path):
    sandbox.store.add("only@acme.com")
    write_csv(tmp_path / "w.csv", ["action,email", "add,a@acme.com"])
    assert bulkmail("validate", "w.csv").out.startswith("Read 1 row from w.csv.\n")
    assert bulkmail("export", "-o", "e.csv").out.startswith("Exported 1 mailbox (1 page, ")


def test_the_demo_ends_with_a_command_that_works_when_copied(bulkmail):
    from bulkmail.cli.rehearse import SAMPLES as SHIPPED
    result = bulkmail("demo", "-q")
    hint = result.out.splitlines()[-1]
    assert hint == (f"  BULKMAIL_BASE_URL=http://127.0.0.1:8025 BULKMAIL_USERNAME=admin@acme.com "
                    f"BULKMAIL_PASSWORD=sandbox-demo bulkmail import {SHIPPED / 'every-error.xlsx'} --dry-run")
    assert Path(hint.split(" import ")[1].split(" --")[0]).is_file()


def test_shell_completion_completes_command_names():
    env = dict(os.environ, _BULKMAIL_COMPLETE="bash_complete", COMP_WORDS="bulkmail imp", COMP_CWORD="1")
    done = subprocess.run([sys.executable, "-m", "bulkmail"], env=env, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "plain,import\n")
    env = dict(os.environ, _BULKMAIL_COMPLETE="bash_source")
    script = subprocess.run([sys.executable, "-m", "bulkmail"], env=env, capture_output=True, text=True).stdout
    assert "_bulkmail_completion()" in script


def test_a_login_that_cannot_connect_gives_up_after_one_retry(sleeps):
    client = Client("http://127.0.0.1:9", "u", "p", retry=Retry(attempts=6, sleep=sleeps))
    with pytest.raises(Exception) as failed:
        client.login()
    assert str(failed.value) == ("Cannot reach http://127.0.0.1:9 (POST /auth: connection refused or host not found); "
                                 "gave up after 2 attempts. Check --base-url and the network.")
    assert len(sleeps) == 1 and failed.value.exit_status == 4


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    (tmp_path / "big.csv").write_text("action,email\n" + "add,bad\n" * 20000)
    process = subprocess.Popen([sys.executable, "-m", "bulkmail", "validate", "big.csv"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.readline()
    process.stdout.close()  # like `| head -1`
    err = process.stderr.read()
    assert process.wait() == 1
    assert "Traceback" not in err and "Internal error" not in err
