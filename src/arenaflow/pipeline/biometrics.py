"""Stage 4, ``biometrics``: heart rate, Edwards zones and TRIMP per athlete (staff only).

Each athlete has a :class:`~arenaflow.analytics.heart_rate.HeartRateTracker` (HRmax from the
configuration, else Tanaka's 208 - 0.7 x age). Readings outside 25-250 bpm are impossible input:
counted and dead-lettered with the reason. Updates are private (``MetricUpdate.private``): the
gateway never shows them to broadcast or fan keys. Heart rate and its share of HRmax go out at
most once a second per athlete, the zone whenever it changes.
"""

from __future__ import annotations

import math

from arenaflow.analytics.heart_rate import HeartRateTracker
from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.live import LiveTable, PlayerLive
from arenaflow.runtime.dead_letter import invalid_input
from arenaflow.sports import topics
from arenaflow.sports.schemas import BiometricSample, MetricUpdate
from arenaflow.triggers import stream

DLQ_TOPIC = "biometrics.dlq"
HR_RANGE_BPM = (25.0, 250.0)


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    trackers: dict[str, HeartRateTracker] = {}
    last_sent: dict[str, float] = {}
    last_zone: dict[str, int] = {}

    @app.function(
        stream(topics.BIOMETRICS, key="game_id", schema=BiometricSample),
        name="biometrics",
        batch_size=config.batch_size,
        on_failure=DLQ_TOPIC,
        replay_on_takeover=True,  # heart-rate trackers and TRIMP live in memory
    )
    async def biometrics(events: list[Event], ctx: Context) -> None:
        out: dict[str, list[MetricUpdate]] = {}  # per game, published together at the end
        # The live table (which the 1 Hz aggregate publishes) takes them once they have landed.
        landed: dict[int, tuple[PlayerLive, float, int, float]] = {}  # by id(player)
        for event in events:
            s: BiometricSample = event.value
            hr = s.heart_rate_bpm
            if hr is None:  # a reading of other sensors only: nothing for this stage
                continue
            problem = None
            if not math.isfinite(s.timestamp):
                problem = "timestamp is not finite"
            elif not (math.isfinite(hr) and HR_RANGE_BPM[0] <= hr <= HR_RANGE_BPM[1]):
                problem = f"heart rate {hr} bpm is not plausible"
            if problem is not None:
                live.counters.rejected_samples += 1
                ctx.publish(DLQ_TOPIC, invalid_input("biometrics", event, s, problem))
                continue
            athlete = s.athlete_id
            tracker = trackers.get(athlete)
            if tracker is None:
                tracker = trackers[athlete] = HeartRateTracker(
                    config.hr_max_bpm.get(athlete), config.default_age
                )
            step = tracker.update(s.timestamp, hr)
            if step is None:  # older than the athlete's last reading
                continue
            game_id = s.game_id or event.key or ""
            p = live.game(game_id).player(athlete)
            landed[id(p)] = (p, hr, step.zone, step.trimp)
            updates = out.get(game_id)
            if updates is None:
                updates = out[game_id] = []
            # Straps report at up to ~10 Hz; a second's tolerance of 1 ms keeps a 1 Hz strap
            # whose timestamps wobble by microseconds from being sent every other second.
            if s.timestamp - last_sent.get(athlete, -1e300) >= 0.999:
                last_sent[athlete] = s.timestamp
                updates.append(_private(s, game_id, "heart_rate", hr, "bpm"))
                percent = 100.0 * step.fraction_of_max
                updates.append(_private(s, game_id, "hr_percent_max", percent, "%"))
            if last_zone.get(athlete) != step.zone:
                last_zone[athlete] = step.zone
                updates.append(_private(s, game_id, "heart_rate_zone", step.zone, "1"))
        for game_id, updates in out.items():
            if updates:
                ctx.publish_many(topics.METRICS, updates, game_id)
        if landed:
            ctx.on_commit(lambda: _apply(landed))


def _apply(landed: dict[int, tuple[PlayerLive, float, int, float]]) -> None:
    for p, hr, zone, trimp in landed.values():
        p.heart_rate_bpm, p.heart_rate_zone, p.trimp = hr, zone, trimp


def _private(
    s: BiometricSample, game_id: str, metric: str, value: float, unit: str
) -> MetricUpdate:
    return MetricUpdate(
        game_id=game_id,
        subject_id=s.athlete_id,
        metric=metric,
        value=float(value),
        unit=unit,
        timestamp=s.timestamp,
        private=True,
    )
