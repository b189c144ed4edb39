"""The built-in pipeline end to end on the simulator: metrics, efforts, biometrics, xG, alerts,
bad input dead-lettered without stopping the game."""

from __future__ import annotations

import math
from collections import Counter

import msgspec
import pytest

from arenaflow import App, DeadLetter, Settings
from arenaflow.pipeline import PipelineConfig, build_pipeline
from arenaflow.pipeline.normalise import DLQ_TOPIC
from arenaflow.pipeline.rules import Rule
from arenaflow.sports import topics
from arenaflow.sports.schemas import Alert, MetricUpdate, TrackedObject, TrackingFrame
from arenaflow.sports.sources import Faults, Simulator, pump
from arenaflow.transport.memory import MemoryTransport


def _app() -> App:
    return App(settings=Settings(partitions=4))


def _read(app: App, topic: str) -> list[object]:
    transport = app.transport
    assert isinstance(transport, MemoryTransport)
    return [ev.value for p in range(transport.partitions(topic)) for ev in transport.read(topic, p)]


async def _run(app: App, sim: Simulator, seconds: float) -> None:
    async with app:
        await pump(app, sim.frames_for(seconds), speed=None)
        await app.drain(timeout=60)


async def test_simulated_games_produce_plausible_live_metrics() -> None:
    config = PipelineConfig(
        rules=(Rule(name="fast", metric="speed", op=">=", threshold=6.0, cooldown_s=5.0),)
    )
    app, live = build_pipeline(_app(), config)
    await _run(app, Simulator("football", games=2, seed=11), 20.0)

    assert sorted(live.games) == ["g0", "g1"]
    for game in live.games.values():
        assert len(game.players) == 22
        for p in game.players.values():
            # 20 s of football: walking to sprinting covers roughly 20-200 m.
            assert 10.0 < p.distance_m < 250.0, p
            assert 0.0 <= p.top_speed_mps <= 12.0
            assert p.heart_rate_bpm is not None and 40 < p.heart_rate_bpm < 220
    updates = [u for u in _read(app, topics.METRICS) if isinstance(u, MetricUpdate)]
    kinds = Counter(u.metric for u in updates)
    assert kinds["speed"] > 2 * 22 * 20 * 4  # ~5 Hz per player per game
    assert all(0.0 <= u.value <= 12.0 for u in updates if u.metric == "speed")
    assert {"heart_rate", "hr_percent_max", "heart_rate_zone"} <= set(kinds)
    # Biometric data is private, everything else is not.
    for u in updates:
        assert u.private == (
            u.metric in {"heart_rate", "hr_percent_max", "heart_rate_zone", "trimp"}
        )
    alerts = [a for a in _read(app, topics.ALERTS) if isinstance(a, Alert)]
    assert alerts and all(a.rule == "fast" and a.value >= 6.0 for a in alerts)
    for m in ("tracking", "biometrics", "alerts"):
        assert app.metrics(m).errors == 0, m


@pytest.mark.slow
async def test_shots_get_expected_goals() -> None:
    app, live = build_pipeline(_app())
    await _run(app, Simulator("football", games=3, seed=5), 120.0)
    shots = [s for g in live.games.values() for s in g.shots]
    assert shots, "two minutes of three simulated games should hold a shot"
    assert all(s.xg is not None and 0.0 < s.xg < 1.0 for s in shots)
    carriers = [
        p.xg_from_here for g in live.games.values() for p in g.players.values() if p.xg_from_here
    ]
    assert carriers and all(0.0 < x < 1.0 for x in carriers)


async def test_bad_input_is_dead_lettered_and_the_game_goes_on() -> None:
    faults = Faults(undecodable=0.02, nan=0.03, off_field=0.03, out_of_order=0.02)
    sim = Simulator("football", games=1, seed=2, faults=faults, hr_hz=1.0)
    app, live = build_pipeline(_app())
    await _run(app, sim, 20.0)

    decode = [d for d in _read(app, DLQ_TOPIC) if isinstance(d, DeadLetter)]
    by_reason = Counter(d.reason for d in decode)
    assert by_reason["decode"] == sim.counts["undecodable"] > 0
    assert by_reason["invalid"] == sim.counts["nan"] + sim.counts["off_field"] > 0
    assert live.counters.rejected_objects == by_reason["invalid"]
    assert live.counters.stale_frames >= 1  # out-of-order frames ignored, counted
    # Every player kept being tracked: the good objects of a bad frame went on.
    assert len(live.games["g0"].players) == 22
    assert min(p.distance_m for p in live.games["g0"].players.values()) > 10.0
    assert app.metrics("tracking").decode_errors == by_reason["decode"]


async def test_a_physically_impossible_object_is_removed_with_its_reason() -> None:
    app, live = build_pipeline(_app())
    good = [TrackedObject(id=f"p{i}", team="home", x=float(i), y=0.0) for i in range(3)]
    frame = TrackingFrame(
        game_id="g9",
        frame=1,
        timestamp=100.0,
        objects=[*good, TrackedObject(id="p9", team="away", x=math.nan, y=0.0)],
    )
    later = msgspec.structs.replace(frame, frame=2, timestamp=100.2)

    async with app:
        await app.publish(topics.TRACKING, frame, key="g9")
        await app.publish(topics.TRACKING, later, key="g9")
        await app.drain(timeout=10)
    letters = [d for d in _read(app, DLQ_TOPIC) if isinstance(d, DeadLetter)]
    assert [(d.reason, d.error) for d in letters] == [("invalid", "non-finite position")] * 2
    assert sorted(live.games["g9"].players) == ["p0", "p1", "p2"]  # p9 never got in
    speeds = [u for u in _read(app, topics.METRICS) if isinstance(u, MetricUpdate)]
    assert {u.subject_id for u in speeds if u.metric == "speed"} == {"p0", "p1", "p2"}


@pytest.mark.parametrize("sport", ["basketball"])
async def test_basketball_games_run_through_the_same_pipeline(sport: str) -> None:
    from arenaflow.sports.fields import BASKETBALL

    app, live = build_pipeline(_app(), PipelineConfig(field=BASKETBALL))
    await _run(app, Simulator(sport, games=1, seed=4), 10.0)
    players = live.games["g0"].players
    assert len(players) == 10
    assert all(0.0 < p.distance_m < 120.0 for p in players.values())


async def test_aggregate_publishes_cumulative_metrics_that_changed() -> None:
    app, live = build_pipeline(_app())
    player = live.game("g1").player("p7")
    player.team, player.distance_m, player.sprints, player.updated_at = "home", 812.5, 3, 50.0

    def published() -> list[tuple[str, float]]:
        return [
            (u.metric, u.value)
            for u in _read(app, topics.METRICS)
            if isinstance(u, MetricUpdate) and u.subject_id == "p7"
        ]

    async with app:
        await app.invoke("aggregate", None)
        first = published()
        assert ("distance", 812.5) in first and ("sprints", 3.0) in first
        await app.invoke("aggregate", None)
        assert published() == first  # nothing changed, nothing resent
        player.distance_m = 830.0
        await app.invoke("aggregate", None)
        assert published()[len(first) :] == [("distance", 830.0)]


async def test_bad_samples_and_shots_are_dead_lettered_with_the_reason() -> None:
    from arenaflow.sports.schemas import BiometricSample, GameEvent

    app, live = build_pipeline(_app())
    good_shot = GameEvent(
        game_id="g1", event_id="s1", kind="shot", timestamp=1.0, x=40.0, y=2.0, team="home"
    )
    bad_shots = [
        GameEvent(game_id="g1", event_id="s2", kind="shot", timestamp=2.0, x=math.nan, y=0.0),
        GameEvent(
            game_id="g1", event_id="s3", kind="shot", timestamp=3.0, x=40.0, y=0.0,
            attributes={"technique": "Cartwheel"},
        ),
    ]  # fmt: skip
    samples = [
        BiometricSample(athlete_id="a1", timestamp=math.nan, heart_rate_bpm=150.0, game_id="g1"),
        BiometricSample(athlete_id="a1", timestamp=1.0, heart_rate_bpm=400.0, game_id="g1"),
        BiometricSample(athlete_id="a1", timestamp=2.0, heart_rate_bpm=150.0, game_id="g1"),
    ]
    async with app:
        for e in [good_shot, *bad_shots]:
            await app.publish(topics.GAME_EVENTS, e, key="g1")
        for s in samples:
            await app.publish(topics.BIOMETRICS, s, key="g1")
        await app.drain(timeout=10)
    shot_letters = [d for d in _read(app, "shots.dlq") if isinstance(d, DeadLetter)]
    assert sorted(d.value.event_id for d in shot_letters) == ["s2", "s3"]
    assert "not finite" in shot_letters[0].error or "not finite" in shot_letters[1].error
    assert live.counters.rejected_events == 2
    # Every shot went on (the bad ones without xG); only the good one has xG.
    enriched = [e for e in _read(app, "game_events.enriched") if isinstance(e, GameEvent)]
    assert {e.event_id: e.xg is not None for e in enriched} == {
        "s1": True,
        "s2": False,
        "s3": False,
    }
    hr_letters = [d for d in _read(app, "biometrics.dlq") if isinstance(d, DeadLetter)]
    assert sorted(d.error for d in hr_letters) == [
        "heart rate 400.0 bpm is not plausible",
        "timestamp is not finite",
    ]
    assert live.games["g1"].players["a1"].heart_rate_bpm == 150.0  # the good sample counted
    assert app.metrics("shots").errors == 0 and app.metrics("biometrics").errors == 0


async def test_aggregate_ticks_spread_games_over_the_second() -> None:
    """Each scheduled tick publishes the games of its slot: every game once a second, and
    never every game at once."""
    from arenaflow.pipeline.aggregate import SLOTS, slot_of
    from arenaflow.runtime.scheduler import Tick

    app, live = build_pipeline(_app())
    games = [f"g{i}" for i in range(40)]
    for game_id in games:
        live.game(game_id).player("p1").distance_m = 10.0
    per_tick = []
    async with app:
        seen: set[int] = set()
        for sequence in range(SLOTS):
            await app.invoke("aggregate", Tick(scheduled_at=0.0, sequence=sequence))
            new = [u for u in _read(app, topics.METRICS) if id(u) not in seen]
            seen |= {id(u) for u in new}
            per_tick.append({u.game_id for u in new if isinstance(u, MetricUpdate)})
    assert [sorted(g) for g in per_tick] == [
        sorted(g for g in games if slot_of(g) == s) for s in range(SLOTS)
    ]
    assert max(len(g) for g in per_tick) < len(games) // 2
