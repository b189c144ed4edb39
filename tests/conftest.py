"""Every test runs with its own data directory: commands that keep history (``replay``,
``simulate``: the embedded DuckDB store) write there, never into the working tree."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("arenaflow-data")
    monkeypatch.setenv("ARENAFLOW_DATA_DIR", str(path))
    return path
