"""The pump: puts a source's items on an App's transport, paced by their capture timestamps.

``speed=1.0`` replays in real time, ``2.0`` twice as fast, ``None`` as fast as the transport takes
them. Each item is published with ``await app.publish(topic, value, key=game)``, so a full
partition holds the pump back (backpressure) instead of dropping anything. Gaps in capture time
longer than ``max_gap_s`` (a half-time break, a cut in a sample file) are skipped, not waited out.
Items without a timestamp (injected undecodable bytes) go out straight away.

Example:
    >>> import asyncio
    >>> from arenaflow import App
    >>> from arenaflow.sports.sources.simulator import Simulator
    >>> async def main():
    ...     async with App() as app:
    ...         stats = await pump(app, Simulator(games=2, hr_hz=0).frames_for(0.4), speed=4.0)
    ...     return stats.by_topic["tracking"], round(stats.span_s, 2), stats.elapsed_s >= 0.08
    >>> asyncio.run(main())
    (20, 0.36, True)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from arenaflow.app import App
from arenaflow.errors import ConfigError
from arenaflow.sports.sources.items import Item, capture_time


@dataclass(slots=True)
class PumpStats:
    """What a pump published.

    Attributes:
        published: Items published.
        by_topic: Items per topic.
        by_key: Items per key (game).
        first_ts: Capture time of the first timestamped item.
        last_ts: Latest capture time published.
        span_s: Capture time covered, skipped gaps left out.
        skipped_s: Capture time skipped over gaps longer than ``max_gap_s``.
        elapsed_s: Wall time the pump ran.
        behind_s: Most the pump fell behind its schedule (publishing or backpressure was slower
            than the capture rate times the speed).
    """

    published: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    by_key: Counter[str] = field(default_factory=Counter)
    first_ts: float | None = None
    last_ts: float | None = None
    span_s: float = 0.0
    skipped_s: float = 0.0
    elapsed_s: float = 0.0
    behind_s: float = 0.0

    @property
    def realtime_factor(self) -> float:
        """Capture seconds published per wall second."""
        return self.span_s / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def pump(
    app: App,
    items: Iterable[Item],
    speed: float | None = 1.0,
    progress: Callable[[PumpStats], None] | None = None,
    *,
    max_gap_s: float | None = 60.0,
    progress_every_s: float = 0.1,
    yield_every: int = 256,
) -> PumpStats:
    """Publish ``items`` to ``app`` in order, pacing by capture time; return what was published.

    Args:
        app: The App whose transport receives the items (started or not).
        items: ``(topic, key, value)`` items in capture-time order.
        speed: Capture seconds per wall second (2.0: twice real time); None: as fast as possible.
        progress: Called with the running stats about every ``progress_every_s`` and at the end.
        max_gap_s: Gaps in capture time longer than this are skipped (None: always wait).
        progress_every_s: Wall seconds between ``progress`` calls.
        yield_every: Without pacing, hand the loop to the consumers after this many items.

    Raises:
        ConfigError: ``speed`` is not positive.
    """
    if speed is not None and not speed > 0:
        raise ConfigError(f"speed must be > 0 (or None for as fast as possible), got {speed!r}")
    loop = asyncio.get_running_loop()
    stats = PumpStats()
    now = loop.time
    started = now()
    next_report = started + progress_every_s
    origin = clock = 0.0  # capture time of the first item, latest capture time
    since_yield = 0
    for topic, key, value in items:
        ts = capture_time(value)
        if ts is not None:
            if stats.first_ts is None:
                stats.first_ts = origin = clock = ts
            elif ts > clock:
                if max_gap_s is not None and ts - clock > max_gap_s:
                    stats.skipped_s += ts - clock
                clock = ts
            stats.last_ts = clock
            stats.span_s = clock - origin - stats.skipped_s
            if speed is not None:
                delay = started + stats.span_s / speed - now()
                if delay > 0.0005:
                    await asyncio.sleep(delay)
                    since_yield = 0
                elif -delay > stats.behind_s:
                    stats.behind_s = -delay
        await app.publish(topic, value, key=key)
        stats.published += 1
        stats.by_topic[topic] += 1
        stats.by_key[key] += 1
        since_yield += 1
        if since_yield >= yield_every:  # let the consumers run between bursts
            await asyncio.sleep(0)
            since_yield = 0
        if progress is not None and now() >= next_report:
            stats.elapsed_s = now() - started
            progress(stats)
            next_report = now() + progress_every_s
    stats.elapsed_s = now() - started
    if progress is not None:
        progress(stats)
    return stats
