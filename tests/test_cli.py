"""The `digitrec` command as a whole: fast start, help with examples, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from digitrec.cli import COMMANDS, cli


def test_import_cli_loads_no_heavy_library():
    code = (
        "import sys, digitrec.cli; from digitrec.cli import cli; "
        "[cli.get_command(None, n) for n in cli.list_commands(None)]; "
        "heavy = [m for m in ('torch', 'skorch', 'fastapi', 'onnxruntime', 'matplotlib', 'dask', 'sklearn') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_has_help_with_an_example(name):
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, f"command {name} is not importable"
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"digitrec {name}" in result.output.split("Options:")[0], "help should show an example"


def test_user_error_is_one_line_and_exit_1(tmp_path):
    missing = tmp_path / "nope"
    result = subprocess.run(
        [sys.executable, "-m", "digitrec", "predict", "--model", str(missing), str(missing)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digitrec: error: "), result.stderr
    assert "Traceback" not in result.stderr
