import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from arenaflow import __version__
from arenaflow.cli import cli

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(cli, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == __version__


def test_run_imports_and_runs_an_app() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "arenaflow.cli",
            "run",
            "tests.cli.sample_app:app",
            "--duration",
            "0.5",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "running 1 function(s): tick" in result.stdout
    ticks = [line for line in result.stdout.splitlines() if line.startswith("tick ")]
    assert len(ticks) >= 3  # 50 ms schedule over 0.5 s


def test_run_names_a_bad_target() -> None:
    result = runner.invoke(cli, ["run", "tests.cli.sample_app:nothing"])
    assert result.exit_code != 0
    assert "is not an arenaflow App" in result.output
    result = runner.invoke(cli, ["run", "no_such_module_xyz:app"])
    assert result.exit_code != 0
    assert "cannot import 'no_such_module_xyz'" in result.output
