"""Stage 7, ``storage``: everything the pipeline sees and says, written to the store in batches.

One function per topic, each a plain sync function (the store's drivers block, so they run on
instance threads, never on the event loop):

* ``archive_frames`` (raw tracking frames, one row per object) and ``archive_samples`` (raw
  biometric samples): the archive, kept ``raw_retention_days``;
* ``store_metrics`` (every ``MetricUpdate``: live values and the 1 Hz cumulative ones),
  ``store_events`` (game events with their xG) and ``store_alerts``: kept;
* ``retention``: hourly, drops archive rows older than ``raw_retention_days``.

Writes are idempotent, so a redelivered batch changes nothing. A store outage is not a poison
event: the writers retry with back-off for hours (no bisection, no dead letter within an
outage's budget), their backlog grows on the transport meanwhile, and they catch up when the
store is back. The live pipeline does not wait for them.
"""

from __future__ import annotations

import time
from typing import Any

from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.shots import ENRICHED_TOPIC
from arenaflow.sports import topics
from arenaflow.sports.schemas import Alert, BiometricSample, GameEvent, MetricUpdate, TrackingFrame
from arenaflow.store.base import Game, Store
from arenaflow.triggers import schedule, stream

#: An outage is retried with back-off capped at 2 s: 10,000 retries is over five hours.
WRITER_OPTIONS: dict[str, Any] = {
    "batch_size": 2000,
    "max_batching_window_ms": 50.0,
    "max_retry_attempts": 10_000,
    "retry_backoff_ms": 50.0,
    "retry_backoff_max_ms": 2000.0,
    "bisect_on_error": False,
    "timeout_s": 60.0,
    "max_instances": 1,
}


def register(app: App, config: PipelineConfig, store: Store) -> None:
    games: set[str] = set()

    @app.function(
        stream(topics.TRACKING, key="game_id", schema=TrackingFrame),
        name="archive_frames",
        **WRITER_OPTIONS,
    )
    def archive_frames(events: list[Event], ctx: Context) -> None:
        frames = [e.value for e in events]
        new = {f.game_id: f for f in frames if f.game_id not in games}
        if new:
            field = config.field
            store.upsert_games(
                [
                    Game(g, f.sport, field_length_m=field.length_m, field_width_m=field.width_m)
                    for g, f in new.items()
                ]
            )
            games.update(new)
        store.write_frames(frames)

    @app.function(
        stream(topics.BIOMETRICS, key="game_id", schema=BiometricSample),
        name="archive_samples",
        **WRITER_OPTIONS,
    )
    def archive_samples(events: list[Event], ctx: Context) -> None:
        store.write_samples([e.value for e in events])

    # Typed streams: a value that is not what the store keeps (a user's function publishing a
    # dict to ``metrics``, say) is dead-lettered with the decoder's reason, not dropped.
    @app.function(
        stream(topics.METRICS, key="game_id", schema=MetricUpdate),
        name="store_metrics",
        **WRITER_OPTIONS,
    )
    def store_metrics(events: list[Event], ctx: Context) -> None:
        store.write_metrics([e.value for e in events])

    @app.function(
        stream(ENRICHED_TOPIC, key="game_id", schema=GameEvent),
        name="store_events",
        **WRITER_OPTIONS,
    )
    def store_events(events: list[Event], ctx: Context) -> None:
        store.write_events([e.value for e in events])

    @app.function(
        stream(topics.ALERTS, key="game_id", schema=Alert), name="store_alerts", **WRITER_OPTIONS
    )
    def store_alerts(events: list[Event], ctx: Context) -> None:
        store.write_alerts([e.value for e in events])

    @app.function(schedule("1h"), name="retention", timeout_s=600.0)
    def retention(events: list[Event], ctx: Context) -> None:
        removed = store.apply_retention(config.raw_retention_days, time.time())
        ctx.log.info(
            "retention: %d raw rows older than %g days removed", removed, config.raw_retention_days
        )
