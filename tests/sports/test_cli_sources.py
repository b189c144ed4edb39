import re
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from arenaflow.cli import cli

from .conftest import DATA, needs_data

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def row(output: str, game: str) -> list[str]:
    """The cells of the summary table's row for ``game``."""
    rows = [line for line in output.splitlines() if line.startswith("│")]
    line = next(line for line in rows if re.search(rf"\b{game}\b", line))
    return [cell.strip() for cell in line.split("│") if cell.strip()]


def flat(output: str) -> str:
    """The output without box drawing and line breaks (error panels wrap their text)."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_simulate_runs_games_through_an_app() -> None:
    args = ["simulate", "--sport", "basketball", "--games", "2", "--seconds", "1", "--speed", "0"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    for game in ("g0", "g1"):
        cells = row(result.output, game)
        assert cells[0] == game and int(cells[1]) >= 125  # 25 frames + 100 samples + events
    # the built-in pipeline consumed them: every frame, and live metrics out
    totals = re.search(
        r"pipeline: 50 frames, ([\d,]+) metric updates, \d+ alerts, 0 dead letters", result.output
    )
    assert totals and int(totals[1].replace(",", "")) > 0
    assert re.search(r"simulator: emitted=50, events=\d+, frames=50, samples=200", result.output)


def test_simulate_with_faults_and_bad_faults() -> None:
    args = ["simulate", "--games", "1", "--seconds", "2", "--speed", "0", "--faults"]
    result = runner.invoke(cli, [*args, "drop=0.2,undecodable=0.2"])
    assert result.exit_code == 0, result.output
    assert re.search(r"drop=\d+", result.output) and re.search(r"undecodable=\d+", result.output)
    assert re.search(r"pipeline: .* [1-9][\d,]* dead letters", result.output)
    bad = runner.invoke(cli, [*args, "drip=0.1"])
    assert bad.exit_code == 2
    assert "--faults" in bad.output and "drip=0.1" in bad.output
    bad = runner.invoke(cli, ["simulate", "--sport", "hockey"])
    assert bad.exit_code == 2 and "--sport" in bad.output


def test_simulate_paces_in_real_time() -> None:
    args = ["simulate", "--games", "1", "--seconds", "0.5", "--speed", "2", "--seed", "3"]
    result = subprocess.run(
        [sys.executable, "-m", "arenaflow.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # Paced: never faster than twice real time (how much slower depends on the machine).
    factor = re.search(r"x(\d+\.\d) real time", result.stdout)
    assert factor and 0.0 < float(factor[1]) <= 2.05, result.stdout


@needs_data
def test_replay_a_vendor_file() -> None:
    path = DATA / "tracking" / "epts_metrica_tracking.txt"
    result = runner.invoke(cli, ["replay", str(path), "--provider", "metrica_epts", "--speed", "0"])
    assert result.exit_code == 0, result.output
    assert "metrica_epts: game epts_metrica_tracking, 100 records" in result.output
    assert "field 105 x 68 m" in result.output
    assert row(result.output, "epts_metrica_tracking")[1] == "100"
    assert re.search(r"pipeline: 100 frames, [1-9][\d,]* metric updates", result.output)


@needs_data
def test_replay_statsbomb_events() -> None:
    path = DATA / "events" / "statsbomb_15986_event.json"
    result = runner.invoke(cli, ["replay", str(path), "--provider", "statsbomb", "--speed", "0"])
    assert result.exit_code == 0, result.output
    assert row(result.output, "15986")[1] == "1,226"
    # no tracking, but each shot's xG updates its team's running total
    assert re.search(r"pipeline: 0 frames, [1-9][\d,]* metric updates", result.output)


def test_replay_names_the_bad_option(tmp_path: Path) -> None:
    path = tmp_path / "match_raw.dat"
    path.write_text("")
    result = runner.invoke(cli, ["replay", str(path), "--provider", "hawkeye"])
    assert result.exit_code == 2
    text = flat(result.output)
    assert "--provider" in text and "valid providers: metrica_csv, metrica_epts, tracab" in text
    result = runner.invoke(cli, ["replay", str(tmp_path / "nope.dat"), "--provider", "tracab"])
    assert result.exit_code == 2 and "does not exist" in flat(result.output)


@needs_data
def test_replay_names_the_missing_companion(tmp_path: Path) -> None:
    raw = tmp_path / "game_raw.dat"
    shutil.copy(DATA / "tracking" / "tracab_raw.dat", raw)
    result = runner.invoke(cli, ["replay", str(raw), "--provider", "tracab"])
    assert result.exit_code == 2
    text = flat(result.output)
    assert "--meta" in text and "no meta_data file for game_raw.dat" in text
    assert "game_meta.xml" in text
    meta = tmp_path / "elsewhere.xml"
    shutil.copy(DATA / "tracking" / "tracab_meta.xml", meta)
    args = ["replay", str(raw), "--provider", "tracab", "--meta", str(meta), "--speed", "0"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output


def test_simulate_feeds_an_app_of_ones_own() -> None:
    from . import feed_app

    feed_app.frames.clear()
    args = ["simulate", "--games", "2", "--seconds", "0.4", "--speed", "0"]
    result = runner.invoke(cli, [*args, "--app", "tests.sports.feed_app:app"])
    assert result.exit_code == 0, result.output
    assert sorted(feed_app.frames) == ["g0"] * 10 + ["g1"] * 10
