"""Shared by the sports tests: the sample-data folder, simulated runs made once, track helpers."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from arenaflow.sports.schemas import BALL, BiometricSample, GameEvent, TrackingFrame
from arenaflow.sports.sources import Simulator

#: The shared real-data folder next to the repository (never copied into it).
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"sample data folder {DATA} is absent (it sits beside the repo)"
)


class Run:
    """One simulator run split by kind."""

    def __init__(self, sim: Simulator, items: list[tuple[str, str, Any]]) -> None:
        self.sim = sim
        self.items = items
        self.frames = [v for t, _, v in items if isinstance(v, TrackingFrame)]
        self.events = [v for t, _, v in items if isinstance(v, GameEvent)]
        self.samples = [v for t, _, v in items if isinstance(v, BiometricSample)]


@pytest.fixture(scope="session")
def football() -> Run:
    """Two football games, two minutes, heart rates at 10 Hz (seed 7 scores a goal in that time)."""
    sim = Simulator("football", games=2, seed=7)
    return Run(sim, list(sim.frames_for(120.0)))


@pytest.fixture(scope="session")
def basketball() -> Run:
    sim = Simulator("basketball", games=2, seed=11)
    return Run(sim, list(sim.frames_for(120.0)))


def tracks(frames: list[TrackingFrame]) -> dict[str, dict[str, np.ndarray]]:
    """Per object id (players only): arrays ``t``, ``x``, ``y``, ``period``, and its teams."""
    rows: dict[str, list[tuple[float, float, float, int]]] = defaultdict(list)
    teams: dict[str, set[str]] = defaultdict(set)
    for frame in frames:
        for obj in frame.objects:
            if obj.team == BALL:
                continue
            rows[obj.id].append((frame.timestamp, obj.x, obj.y, frame.period))
            teams[obj.id].add(obj.team)
    out = {}
    for pid, r in rows.items():
        a = np.array(r)
        out[pid] = {
            "t": a[:, 0],
            "x": a[:, 1],
            "y": a[:, 2],
            "period": a[:, 3],
            "teams": teams[pid],
        }
    return out


def speeds(track: dict[str, np.ndarray], max_dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Speeds (m/s) between consecutive samples of one period less than ``max_dt`` apart, and
    the times they end at."""
    dt = np.diff(track["t"])
    ok = (dt > 0) & (dt <= max_dt) & (np.diff(track["period"]) == 0)
    v = np.hypot(np.diff(track["x"]), np.diff(track["y"])) / np.where(dt > 0, dt, 1.0)
    return v[ok], track["t"][1:][ok]
