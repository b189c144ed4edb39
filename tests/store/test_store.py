"""The store contract, one body for every backend (see conftest.py): idempotent writes,
latest values, windows, season history, leaderboards, raw archive, heatmaps, export, retention
and migrations."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from arenaflow.sports.schemas import (
    Alert,
    BiometricSample,
    GameEvent,
    MetricUpdate,
    TrackedObject,
    TrackingFrame,
)
from arenaflow.store.base import SCHEMA_VERSION, Athlete, Game, Highlight, Store, Team

DAY_S = 86_400.0


def update(game: str, athlete: str, metric: str, t: float, value: float) -> MetricUpdate:
    unit = {"speed": "m/s", "distance": "m", "top_speed": "m/s"}.get(metric, "1")
    return MetricUpdate(
        game_id=game, subject_id=athlete, metric=metric, value=value, unit=unit, timestamp=t,
        team="home",
    )  # fmt: skip


def frames(game: str, t0: float, n: int, players: int = 3) -> list[TrackingFrame]:
    """``players`` running along x at 1, 2, 3 ... m/s, 25 Hz, plus the ball."""
    out = []
    for f in range(n):
        t = t0 + f / 25.0
        objects = [
            TrackedObject(id=f"p{p}", team="home", x=-40.0 + (p + 1) * f / 25.0, y=float(p))
            for p in range(players)
        ]
        objects.append(TrackedObject(id="ball", team="ball", x=0.0, y=0.0, z=0.5))
        out.append(TrackingFrame(game_id=game, frame=f, timestamp=t, objects=objects))
    return out


def test_migrations_are_applied_once(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    store.open()  # again: nothing to do, nothing broken
    assert store.schema_version() == SCHEMA_VERSION


def test_metric_writes_are_idempotent_and_latest_is_per_subject(store: Store) -> None:
    batch = [update("g1", "p1", "speed", 100.0 + i, float(i)) for i in range(5)]
    batch += [update("g1", "p2", "speed", 100.0 + i, 2.0 * i) for i in range(5)]
    batch += [update("g1", "p1", "distance", 104.0, 812.5)]
    store.write_metrics(batch)
    store.write_metrics(batch[3:])  # a redelivered part of the batch
    assert len(store.window("g1", "p1", "speed")) == 5
    latest = {(p.subject_id, p.metric): p for p in store.latest("g1")}
    assert latest[("p1", "speed")].value == 4.0 and latest[("p1", "speed")].timestamp == 104.0
    assert latest[("p2", "speed")].value == 8.0
    assert latest[("p1", "distance")].value == 812.5 and latest[("p1", "distance")].unit == "m"
    only = store.latest("g1", subject_id="p2", metric="speed")
    assert [(p.subject_id, p.value) for p in only] == [("p2", 8.0)]
    assert store.latest("nope") == []


def test_windows_are_time_ordered_and_bounded(store: Store) -> None:
    store.write_metrics([update("g1", "p1", "speed", 100.0 + i, float(i)) for i in (3, 0, 2, 1)])
    assert [p.value for p in store.window("g1", "p1", "speed")] == [0.0, 1.0, 2.0, 3.0]
    assert [p.value for p in store.window("g1", "p1", "speed", 101.0, 102.0)] == [1.0, 2.0]
    assert [p.value for p in store.window("g1", "p1", "speed", start_s=102.5)] == [3.0]


def test_history_across_games_is_the_season_context(store: Store) -> None:
    # Top speed per game: max; distance per game: the last cumulative value.
    for g, top in (("g1", 8.0), ("g2", 9.0), ("g3", 10.0), ("g4", 7.0)):
        store.write_metrics(
            [
                update(g, "p1", "speed", 10.0, top - 1.0),
                update(g, "p1", "speed", 20.0, top),
                update(g, "p1", "distance", 10.0, 500.0),
                update(g, "p1", "distance", 20.0, 1000.0 * top),
            ]
        )
    s = store.history("p1", "speed", per_game="max")
    assert s.games == 4 and s.per_game == {"g1": 8.0, "g2": 9.0, "g3": 10.0, "g4": 7.0}
    assert s.mean == pytest.approx(8.5) and s.max == 10.0
    assert s.p50 == pytest.approx(8.5) and s.p90 == pytest.approx(np.percentile([7, 8, 9, 10], 90))
    d = store.history("p1", "distance", per_game="last", exclude_game="g4")
    assert d.games == 3 and d.mean == pytest.approx(9000.0)
    none = store.history("nobody", "speed")
    assert none.games == 0 and none.mean is None and none.per_game == {}


def test_leaderboard(store: Store) -> None:
    for athlete, top in (("p1", 8.0), ("p2", 9.5), ("p3", 7.0)):
        store.write_metrics(
            [update("g1", athlete, "speed", 1.0, top - 2), update("g1", athlete, "speed", 2.0, top)]
        )
    store.write_metrics([update("g2", "p3", "speed", 5.0, 9.9)])
    top = store.leaderboard("speed", n=3)
    assert [(x.subject_id, x.game_id, x.value) for x in top] == [
        ("p3", "g2", 9.9),
        ("p2", "g1", 9.5),
        ("p1", "g1", 8.0),
    ]
    assert [x.subject_id for x in store.leaderboard("speed", n=10, game_id="g1")] == [
        "p2",
        "p1",
        "p3",
    ]
    assert [x.game_id for x in store.leaderboard("speed", n=10, since_s=3.0)] == ["g2"]


def test_compare_two_athletes(store: Store) -> None:
    store.write_metrics(
        [update("g1", "p1", "speed", 1.0, 5.0), update("g1", "p2", "speed", 1.0, 6.0)]
    )
    side = store.compare("g1", "speed", "p1", "p2")
    assert side["p1"] is not None and side["p1"].value == 5.0
    assert side["p2"] is not None and side["p2"].value == 6.0


def test_raw_frames_are_archived_idempotently_and_read_back(store: Store) -> None:
    batch = frames("g1", 1000.0, 50)
    assert store.write_frames(batch) == 50 * 4
    store.write_frames(batch[10:20])  # redelivered
    t, xy = store.positions("g1", "p1")
    assert t.shape == (50,) and xy.shape == (50, 2)
    np.testing.assert_allclose(np.diff(t), 0.04)
    np.testing.assert_allclose(xy[-1], [-40.0 + 2 * 49 / 25.0, 1.0])
    t, _ = store.positions("g1", "p1", 1000.4, 1000.8)
    assert t.size == 11
    assert store.positions("g1", "nobody")[0].size == 0


def test_heatmap_from_the_archive(store: Store) -> None:
    store.upsert_games([Game("g1", "football", "Home FC", "Away FC", 1000.0, 105.0, 68.0)])
    store.write_frames(frames("g1", 1000.0, 251))  # 10 s
    grid = store.heatmap("g1", "p0", bins=(21, 14))
    assert grid.shape == (21, 14) and grid.sum() == pytest.approx(10.0)
    # p0 runs 10 m at 1 m/s from x = -40 to -30: across three 5 m cells (edges at -42.5,
    # -37.5, -32.5, -27.5), 2.5 + 5 + 2.5 s, all in its row.
    assert (grid > 0).sum() == 3
    assert sorted(grid[grid > 0].round(1).tolist()) == [2.5, 2.5, 5.0]
    assert store.heatmap("g1", "p0", 1000.0, 1002.0).sum() == pytest.approx(2.0)
    assert store.game("g1") == Game("g1", "football", "Home FC", "Away FC", 1000.0, 105.0, 68.0)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_a_game(store: Store, tmp_path: Path, fmt: str) -> None:
    store.write_frames(frames("g1", 1000.0, 20) + frames("g2", 1000.0, 5))
    path = store.export_game("g1", tmp_path / f"g1.{fmt}", fmt)  # type: ignore[arg-type]
    if fmt == "parquet":
        table = pq.read_table(path).to_pylist()
    else:
        with path.open() as fh:
            table = list(csv.DictReader(fh))
    assert len(table) == 20 * 4
    assert {row["game_id"] for row in table} == {"g1"}
    assert {"frame", "timestamp", "object_id", "team", "x", "y"} <= set(table[0])


def test_events_alerts_samples_and_highlights(store: Store) -> None:
    shot = GameEvent(
        game_id="g1", event_id="e1", kind="shot", timestamp=12.5, team="home", player_id="p9",
        x=40.0, y=2.0, outcome="Goal", xg=0.31,
        attributes={"body_part": "head", "freeze_frame": [1, 2]},
    )  # fmt: skip
    foul = GameEvent(game_id="g1", event_id="e2", kind="foul", timestamp=20.0)
    store.write_events([shot, foul])
    store.write_events([shot])
    assert store.events("g1") == [shot, foul]
    assert store.events("g1", kind="shot") == [shot]
    alert = Alert(
        alert_id="a1", game_id="g1", subject_id="p9", rule="fast", metric="speed", value=9.1,
        threshold=8.5, severity="info", message="p9: speed 9.1", timestamp=13.0,
    )  # fmt: skip
    store.write_alerts([alert, alert])
    assert store.alerts("g1") == [alert]
    samples = [
        BiometricSample(athlete_id="p9", timestamp=10.0 + i, heart_rate_bpm=150.0 + i, game_id="g1")
        for i in range(3)
    ]
    assert store.write_samples(samples) == 3
    store.write_samples(samples)
    store.write_highlights([Highlight("h1", "g1", 10.0, 20.0, "p9 scores", "clips/h1.mp4", "p9")])
    store.write_highlights([Highlight("h1", "g1", 10.0, 20.0, "p9 scores", "clips/h1.mp4", "p9")])
    store.upsert_athletes([Athlete("p9", "Nine", "home", "FW", 1999)])
    store.upsert_athletes([Athlete("p9", "Nine", "home", "CF", 1999)])  # an update, not a copy


def test_retention_drops_old_raw_rows_and_keeps_aggregates(store: Store) -> None:
    now = 1_800_000_000.0  # 2027
    store.write_frames(frames("old", now - 10 * DAY_S, 10) + frames("new", now - 1 * DAY_S, 10))
    store.write_samples(
        [BiometricSample(athlete_id="p1", timestamp=now - 10 * DAY_S, heart_rate_bpm=140.0)]
    )
    store.write_metrics([update("old", "p1", "distance", now - 10 * DAY_S, 900.0)])
    assert store.apply_retention(raw_days=7.0, now_s=now) > 0
    assert store.positions("old", "p1")[0].size == 0
    assert store.positions("new", "p1")[0].size == 10
    assert [p.value for p in store.latest("old", "p1", "distance")] == [900.0]
    assert store.apply_retention(raw_days=7.0, now_s=now) == 0  # nothing left to drop


def test_retention_keeps_replays_timed_from_kick_off(store: Store) -> None:
    """Vendor replays carry seconds since kick-off, not dates: they are never "old"."""
    store.write_frames(frames("replay", 0.0, 10))
    store.apply_retention(raw_days=7.0, now_s=1_800_000_000.0)
    assert store.positions("replay", "p1")[0].size == 10


def test_teams_are_upserted(store: Store) -> None:
    store.upsert_teams([Team("away", "Away FC"), Team("home", "Home FC", "HOM", "#c8102e")])
    store.upsert_teams([Team("home", "Home Football Club")])  # None keeps the rest
    assert store.teams() == [
        Team("away", "Away FC"),
        Team("home", "Home Football Club", "HOM", "#c8102e"),
    ]


def test_a_window_per_period(store: Store) -> None:
    bounds = [("period_start", 1, 0.0), ("period_end", 1, 45.0), ("period_start", 2, 60.0)]
    store.write_events(
        [GameEvent(game_id="g1", event_id=f"b{i}", kind=k, period=p, timestamp=t)
         for i, (k, p, t) in enumerate(bounds)]
    )  # fmt: skip
    store.write_metrics(
        [update("g1", "p1", "speed", t, t / 10) for t in (10.0, 44.0, 50.0, 61.0, 90.0)]
    )
    assert [p.timestamp for p in store.period_window("g1", "p1", "speed", 1)] == [10.0, 44.0]
    assert [p.timestamp for p in store.period_window("g1", "p1", "speed", 2)] == [61.0, 90.0]
    assert store.period_window("g1", "p1", "speed", 3) == []
