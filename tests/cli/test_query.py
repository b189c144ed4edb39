"""``arenaflow query``: a simulated game kept by ``simulate`` and read back on the command line."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from arenaflow.cli import cli

runner = CliRunner()


def _json(*args: str) -> list[dict[str, object]]:
    result = runner.invoke(cli, ["query", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_simulate_keeps_history_that_query_reads(tmp_path: Path) -> None:
    store = f"duckdb://{tmp_path / 'store'}"
    args = ["simulate", "--games", "2", "--seconds", "12", "--speed", "0", "--store", store]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    [distance] = _json(
        "latest", "g0", "--athlete", "g0-h07", "--metric", "distance", "--store", store
    )
    assert distance["unit"] == "m" and 5.0 < float(distance["value"]) < 150.0  # type: ignore[arg-type]
    leaders = _json("leaders", "distance", "--per-game", "last", "-n", "3", "--store", store)
    values = [float(row["distance"]) for row in leaders]  # type: ignore[arg-type]
    assert len(leaders) == 3 and values == sorted(values, reverse=True)
    [history] = _json("history", "g0-h07", "speed", "--store", store)
    assert history["games"] == 1 and 0.0 < float(history["max"]) < 12.0  # type: ignore[arg-type]
    out = tmp_path / "g0.csv"
    result = runner.invoke(cli, ["query", "export", "g0", str(out), "--store", store])
    assert result.exit_code == 0, result.output
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12 * 25 * 23  # frames x (22 players + ball)
    assert {r["game_id"] for r in rows} == {"g0"}


def test_query_names_the_bad_option(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["query", "latest", "g0", "--store", "nope"])
    assert result.exit_code == 2 and "--store" in result.output
    result = runner.invoke(cli, ["query", "export", "g0", str(tmp_path / "g0.txt")])
    assert result.exit_code == 2 and ".parquet or .csv" in re.sub(r"\s+", " ", result.output)
