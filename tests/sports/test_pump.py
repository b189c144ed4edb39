import asyncio
import time

import pytest

from arenaflow import App, Settings
from arenaflow.errors import ConfigError
from arenaflow.sports.schemas import TrackedObject, TrackingFrame
from arenaflow.sports.sources import Simulator, counting_app, pump
from arenaflow.transport.memory import MemoryTransport


def make_app(**settings: int) -> App:
    return App(settings=Settings(**settings))


def frames(times: list[float], game: str = "g1") -> list[tuple[str, str, TrackingFrame]]:
    obj = [TrackedObject(id="p1", team="home", x=0.0, y=0.0)]
    return [
        ("tracking", game, TrackingFrame(game_id=game, frame=i, timestamp=t, objects=obj))
        for i, t in enumerate(times)
    ]


def published(app: App, topic: str) -> list[object]:
    transport = app.transport
    assert isinstance(transport, MemoryTransport)
    return [e for p in range(transport.partitions(topic)) for e in transport.read(topic, p)]


@pytest.mark.parametrize("speed", [1.0, 2.0, 4.0])
async def test_paces_by_capture_time_times_speed(speed: float) -> None:
    app = make_app()
    items = frames([i * 0.04 for i in range(16)])  # 0.6 s of capture time
    started = time.perf_counter()
    stats = await pump(app, items, speed=speed)
    elapsed = time.perf_counter() - started
    assert stats.published == 16 and stats.span_s == pytest.approx(0.6)
    assert 0.6 / speed - 0.01 <= elapsed <= 0.6 / speed + 0.15
    assert stats.realtime_factor == pytest.approx(speed, rel=0.25)


async def test_as_fast_as_possible() -> None:
    app = make_app()
    items = list(Simulator("football", games=4, seed=1).frames_for(20.0))  # 20 s of play
    started = time.perf_counter()
    stats = await pump(app, items, speed=None)
    assert time.perf_counter() - started < 5.0
    assert stats.published == len(items)
    assert stats.by_topic["tracking"] == 4 * 500
    assert set(stats.by_key) == {"g0", "g1", "g2", "g3"}
    events = published(app, "tracking")
    assert len(events) == 2000
    assert {e.key for e in events} == {"g0", "g1", "g2", "g3"}  # keyed by game
    per_game = [e.value.frame for e in events if e.key == "g2"]
    assert per_game == sorted(per_game)  # in order per key


async def test_long_gaps_are_skipped_not_waited_out() -> None:
    app = make_app()
    items = frames([0.0, 0.04, 0.08, 2716.0, 2716.04])  # a sample file cut across half time
    started = time.perf_counter()
    stats = await pump(app, items, speed=1.0, max_gap_s=5.0)
    assert time.perf_counter() - started < 0.5
    assert stats.skipped_s == pytest.approx(2715.92)
    assert stats.span_s == pytest.approx(0.12)


async def test_items_without_timestamps_and_out_of_order_go_straight_out() -> None:
    app = make_app()
    items = frames([0.0, 0.2, 0.1, 0.3])
    items.insert(2, ("tracking", "g1", b'{"game_id": "g1", "fra'))
    started = time.perf_counter()
    stats = await pump(app, items, speed=1.0)
    assert 0.28 <= time.perf_counter() - started <= 0.5
    assert stats.published == 5 and stats.last_ts == pytest.approx(0.3)


async def test_backpressure_waits_for_the_consumer() -> None:
    app, counts = counting_app(Settings(partitions=1, retention=50))
    items = list(Simulator("basketball", games=2, seed=1, hr_hz=0).frames_for(8.0))
    async with app:
        stats = await pump(app, items, speed=None)
        await app.drain(timeout=10)
    assert stats.published == len(items)
    assert counts.frames == {"g0": 200, "g1": 200}  # nothing dropped though the log holds 50


async def test_progress_is_reported() -> None:
    app = make_app()
    seen = []
    items = frames([i * 0.04 for i in range(10)])
    await pump(
        app, items, speed=2.0, progress=lambda s: seen.append(s.published), progress_every_s=0.05
    )
    assert len(seen) >= 2 and seen[-1] == 10


async def test_speed_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="speed must be > 0"):
        await pump(make_app(), [], speed=0)


def test_pump_runs_from_plain_asyncio() -> None:
    stats = asyncio.run(pump(make_app(), frames([0.0, 0.01]), speed=None))
    assert stats.published == 2
