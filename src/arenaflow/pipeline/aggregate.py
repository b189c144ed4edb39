"""Stage 6, ``aggregate``: once a second, each player's cumulative metrics as updates.

Live speed is published as it happens; cumulative figures (distance, high-speed distance, sprint
count, top speed, TRIMP) change every frame, so they go out at 1 Hz from the live table — the
cadence a time-series store and a stats page want.
"""

from __future__ import annotations

import asyncio
import time

from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.live import LiveTable
from arenaflow.sports import topics
from arenaflow.sports.schemas import MetricUpdate
from arenaflow.triggers import schedule

#: (attribute of PlayerLive, metric name, unit, private)
SUMMARY = (
    ("distance_m", "distance", "m", False),
    ("hsr_distance_m", "hsr_distance", "m", False),
    ("top_speed_mps", "top_speed", "m/s", False),
    ("sprints", "sprints", "1", False),
    ("trimp", "trimp", "AU", True),
)


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    sent: dict[tuple[str, str, str], float] = {}

    @app.function(schedule("1s"), name="aggregate", timeout_s=30.0)
    async def aggregate(events: list[Event], ctx: Context) -> None:
        """Publish the cumulative metrics that changed since the last tick.

        A snapshot, so it is published game by game as it is read (not held back until the
        invocation ends), yielding to the event loop between games: with hundreds of games
        this is thousands of updates, and live frames must not wait behind them.
        """
        headers = {"trace_id": ctx.trace_id}
        for game in list(live.games.values()):
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
                await app.publish_many(topics.METRICS, updates, game.game_id, headers)
                sent.update(keys)  # after the publish: a cut-short run resends the rest
