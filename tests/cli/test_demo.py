"""``arenaflow demo``: the built-in pipeline with the live console (subprocesses, as users run it)
and the console's layout in small and large terminals."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from arenaflow.cli import cli
from arenaflow.demo import ConsoleView, Periods
from arenaflow.pipeline import build_pipeline

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
HEADINGS = ("player", "speed m/s", "distance m", "top m/s", "sprints", "HR bpm", "zone")
RUNTIME = ("function", "invocations", "errors", "p99 ms", "lag", "cold starts")
#: A player row: name, speed, distance, top speed, sprints, heart rate, zone.
PLAYER_ROW = re.compile(r"│ (\S+) +(\d+\.\d) +([\d,]+) +(\d+\.\d) +(\d+) +(\d+|-) +(Z\d|-) +│")


def demo(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "arenaflow.cli", "demo", "--port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "100", "LINES": "40"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def distances(output: str) -> list[float]:
    return [float(m[3].replace(",", "")) for m in PLAYER_ROW.finditer(output)]


def test_demo_runs_the_pipeline_on_simulated_football() -> None:
    out = demo("--games", "2", "--duration", "3")
    assert re.search(r"overlay +http://127\.0\.0\.1:\d+/overlay\?game=g0&key=af_", out)
    assert re.search(r"dashboard +http://127\.0\.0\.1:\d+/dashboard\?key=af_", out)
    for heading in (*HEADINGS, *RUNTIME):
        assert heading in out
    assert "2 x football (simulated)" in out
    assert "╭─ g0 P1" in out and "╭─ g1 P1" in out  # the final screen shows every game
    assert re.search(r"xG home \d\.\d\d · away \d\.\d\d", out)
    assert "shots " in out and "alerts " in out
    assert any(d > 0 for d in distances(out)), out
    for name in ("tracking", "biometrics", "shots", "aggregate"):
        assert re.search(rf"│ {name} +[\d,]+ ", out)
    totals = re.search(r"pipeline: ([\d,]+) frames, ([\d,]+) metric updates", out)
    assert totals and int(totals[1].replace(",", "")) >= 100  # 2 games x 25 Hz x ~3 s
    assert int(totals[2].replace(",", "")) > 0


def test_demo_basketball() -> None:
    out = demo("--sport", "basketball", "--games", "1", "--duration", "2")
    assert "1 x basketball (simulated)" in out
    rows = list(PLAYER_ROW.finditer(out))
    assert len(rows) == 10 and any(d > 0 for d in distances(out))  # 5 v 5


@pytest.mark.skipif(
    not (DATA / "tracking" / "epts_metrica_tracking.txt").is_file(),
    reason=f"the Metrica EPTS sample is not in {DATA / 'tracking'} (the shared data folder)",
)
def test_demo_replays_a_vendor_file() -> None:
    path = DATA / "tracking" / "epts_metrica_tracking.txt"
    out = demo("--replay", str(path), "--provider", "metrica_epts", "--speed", "0")
    assert "metrica_epts replay epts_metrica_tracking" in out
    assert any(m[1].startswith("Track_") for m in PLAYER_ROW.finditer(out))
    assert any(d > 0 for d in distances(out))
    assert "pipeline: 100 frames" in out


def test_demo_replay_needs_a_provider(tmp_path: Path) -> None:
    path = tmp_path / "match.txt"
    path.write_text("")
    result = CliRunner().invoke(cli, ["demo", "--replay", str(path)])
    assert result.exit_code == 2 and "--replay needs --provider" in result.output


def _view(width: int, height: int, games: int = 4) -> tuple[ConsoleView, Console]:
    """A console view of ``games`` games of 22 players, without running anything."""
    app, live = build_pipeline()
    for g in range(games):
        game = live.game(f"g{g}")
        for i in range(22):
            p = game.player(f"g{g}-{'ha'[i % 2]}{i // 2 + 1:02d}")
            p.team = ("home", "away")[i % 2]
            p.speed_mps, p.distance_m = i / 3, 100.0 + i
    console = Console(file=io.StringIO(), width=width, height=height)
    return ConsoleView(app, live, Periods(), "4 x football (simulated)", console), console


@pytest.mark.parametrize(
    ("width", "height", "shown", "page"),
    [(80, 30, 2, "page 1/2 of 4 games"), (120, 40, 4, None), (100, 24, 1, "page 1/4")],
)
def test_console_fits_the_terminal(width: int, height: int, shown: int, page: str | None) -> None:
    view, console = _view(width, height)
    console.print(view.render())
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    text = "\n".join(lines)
    assert len(lines) <= height - 1
    assert all(len(line) <= width for line in lines)
    assert len(re.findall(r"╭─ g\d P1", text)) == shown
    assert (page in text) if page else ("page" not in text)
    assert all(heading in text for heading in HEADINGS)


def test_final_screen_shows_every_game() -> None:
    view, console = _view(80, 30)
    console.print(view.render(full=True))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert len(re.findall(r"╭─ g\d P1", text)) == 4
