"""Stage 6, ``aggregate``: once a second, each player's cumulative metrics as updates.

Live speed is published as it happens; cumulative figures (distance, high-speed distance, sprint
count, top speed, TRIMP) change every frame, so they go out at 1 Hz from the live table — the
cadence a time-series store and a stats page want.

The schedule ticks 25 times a second and each tick publishes the games of its slot (a game's
slot comes from its id), so every game still gets one update a second, but hundreds of games'
thousands of updates are spread over the second instead of arriving as one burst that live
speed updates would queue behind; a slot's few games are published in one go, so consumers
take them in a few large batches rather than many small ones.
"""

from __future__ import annotations

import asyncio
import time
import zlib

from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.errors import PartitionLost
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.live import LiveTable
from arenaflow.runtime.scheduler import Tick
from arenaflow.sports import topics
from arenaflow.sports.schemas import MetricUpdate
from arenaflow.transport.base import partition_for
from arenaflow.triggers import schedule

#: (attribute of PlayerLive, metric name, unit, private)
SUMMARY = (
    ("distance_m", "distance", "m", False),
    ("hsr_distance_m", "hsr_distance", "m", False),
    ("top_speed_mps", "top_speed", "m/s", False),
    ("sprints", "sprints", "1", False),
    ("trimp", "trimp", "AU", True),
)


#: Ticks per second (one per 25 Hz frame); each game is published on one of them.
SLOTS = 25


def slot_of(game_id: str) -> int:
    """The tick (0 to SLOTS - 1) of the second on which ``game_id`` is published."""
    return zlib.crc32(game_id.encode()) % SLOTS


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    sent: dict[tuple[str, str, str], float] = {}

    @app.function(schedule(1.0 / SLOTS), name="aggregate", timeout_s=30.0)
    async def aggregate(events: list[Event], ctx: Context) -> None:
        """Publish the cumulative metrics of this tick's games that changed since last time.

        A snapshot, so it is published game by game as it is read (not held back until the
        invocation ends); an invocation by hand (every game at once) yields to the event loop
        between games, so live frames never wait behind thousands of updates.
        """
        tick = events[0].value if events else None
        # A scheduled tick publishes its slot's games; an invocation by hand, every game.
        slot = tick.sequence % SLOTS if isinstance(tick, Tick) else None
        headers = {"trace_id": ctx.trace_id}
        transport = app.transport
        partitions = transport.partitions(topics.TRACKING)
        for game in list(live.games.values()):
            if slot is not None and slot_of(game.game_id) != slot:
                continue
            # In a fleet, only the process that tracks the game speaks for it (another may
            # have taken it over: what this one remembers of it is stale), and what it says
            # lands only while that holds.
            index = partition_for(game.game_id, partitions)
            if not transport.owns(topics.TRACKING, "tracking", index):  # e.g. still rebuilding
                continue
            try:
                fence = transport.fence(topics.TRACKING, "tracking", index)
            except PartitionLost:
                continue
            if slot is None:
                await asyncio.sleep(0)
            updates, keys = [], []
            for athlete, p in game.players.items():
                for attribute, metric, unit, private in SUMMARY:
                    value = float(getattr(p, attribute))
                    key = (game.game_id, athlete, metric)
                    if sent.get(key) == value:
                        continue
                    updates.append(
                        MetricUpdate(
                            game_id=game.game_id,
                            subject_id=athlete,
                            metric=metric,
                            value=value,
                            unit=unit,
                            timestamp=p.updated_at or time.time(),
                            team=p.team,
                            private=private,
                        )
                    )
                    keys.append((key, value))
            if updates:
                try:
                    await app.publish_many(
                        topics.METRICS, updates, game.game_id, headers, fence=fence
                    )
                except PartitionLost:
                    continue
                sent.update(keys)  # after the publish: a cut-short run resends the rest
