"""The pipeline's store writers: everything a game produced lands in the store exactly once."""

from __future__ import annotations

from pathlib import Path

from arenaflow import App, Settings
from arenaflow.pipeline import build_pipeline
from arenaflow.sports import topics
from arenaflow.sports.schemas import GameEvent, MetricUpdate, TrackingFrame
from arenaflow.sports.sources import Simulator, pump
from arenaflow.store.duckdb import DuckDBStore
from arenaflow.transport.memory import MemoryTransport


def _read(app: App, topic: str) -> list[object]:
    transport = app.transport
    assert isinstance(transport, MemoryTransport)
    return [ev.value for p in range(transport.partitions(topic)) for ev in transport.read(topic, p)]


async def test_a_game_is_stored_whole_and_once(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "store")
    store.open()
    app, live = build_pipeline(App(settings=Settings(partitions=2)), store=store)
    async with app:
        await pump(app, Simulator("football", games=2, seed=5, hr_hz=1.0).frames_for(30.0), None)
        await app.drain(timeout=60)
        # As fast as possible, the 1 Hz aggregate ran only a few times: a last snapshot.
        await app.invoke("aggregate", None)
        await app.drain(timeout=60)
    frames = [f for f in _read(app, topics.TRACKING) if isinstance(f, TrackingFrame)]
    updates = [u for u in _read(app, topics.METRICS) if isinstance(u, MetricUpdate)]
    for name in ("archive_frames", "archive_samples", "store_metrics", "store_events"):
        assert app.metrics(name).errors == 0, name
    # Raw frames: every object of every frame, readable back as positions.
    g0 = [f for f in frames if f.game_id == "g0"]
    t, xy = store.positions("g0", g0[0].objects[0].id)
    assert t.size == len(g0) and xy.shape == (len(g0), 2)
    assert store.game("g0") is not None
    # Metrics: one row per (game, subject, metric, time), the newest as the live table says.
    keys = {(u.game_id, u.subject_id, u.metric, u.timestamp) for u in updates}
    stored = {(p.game_id, p.subject_id, p.metric, p.timestamp)
              for g in ("g0", "g1") for s in live.games[g].players
              for m in ("speed", "distance") for p in store.window(g, s, m)}  # fmt: skip
    assert stored == {k for k in keys if k[2] in ("speed", "distance")}
    athlete, player = next(iter(live.games["g1"].players.items()))
    [distance] = store.latest("g1", athlete, "distance")
    assert distance.value == player.distance_m
    # Events carry their xG.
    shots = [e for e in store.events("g0") + store.events("g1") if e.kind == "shot"]
    enriched = [e for e in _read(app, "game_events.enriched") if isinstance(e, GameEvent)]
    assert [e.xg for e in shots] == [e.xg for e in enriched if e.kind == "shot"]
    store.close()


async def test_a_value_the_store_cannot_keep_is_dead_lettered_not_dropped(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "store")
    store.open()
    app, _ = build_pipeline(App(settings=Settings(partitions=1)), store=store)
    async with app:
        await app.publish(topics.METRICS, {"game_id": "g1", "metric": "speed"}, key="g1")
        await app.drain(timeout=30)
    letters = [v for v in _read(app, app.functions["store_metrics"].dead_letter_topic)]
    assert len(letters) == 1 and letters[0].reason == "decode"  # type: ignore[attr-defined]
    assert "subject_id" in letters[0].error  # type: ignore[attr-defined]
    assert app.metrics("store_metrics").decode_errors == 1
    assert app.metrics("alerts").decode_errors == 1 and app.metrics("alerts").errors == 0
    store.close()
