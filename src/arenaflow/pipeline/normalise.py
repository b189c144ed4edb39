"""Stage 1, ``normalise``: validate tracking frames and drop what is physically impossible.

Undecodable payloads never get here (the stream trigger's schema sends them to the dead-letter
topic with the decoder's message, naming the field). Here an object with a non-finite position,
one far outside the field or a duplicate id is removed from its frame, counted and dead-lettered
with the reason; the rest of the frame goes on, so one bad detection never costs the good data
around it. A frame with a non-finite timestamp is rejected whole.
"""

from __future__ import annotations

import math
import time

import msgspec

from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.live import LiveTable
from arenaflow.runtime.dead_letter import DeadLetter
from arenaflow.sports import topics
from arenaflow.sports.schemas import TrackedObject, TrackingFrame
from arenaflow.triggers import stream

CLEAN_TOPIC = "tracking.clean"
DLQ_TOPIC = "normalise.dlq"


def problems(
    frame: TrackingFrame, config: PipelineConfig
) -> tuple[list[TrackedObject], list[tuple[TrackedObject, str]]]:
    """Split a frame's objects into good ones and (object, reason) pairs."""
    half_l = config.field.half_length_m + config.outside_margin_m
    half_w = config.field.half_width_m + config.outside_margin_m
    good: list[TrackedObject] = []
    bad: list[tuple[TrackedObject, str]] = []
    seen: set[str] = set()
    isfinite = math.isfinite
    for obj in frame.objects:
        x, y = obj.x, obj.y
        if not (isfinite(x) and isfinite(y)):
            bad.append((obj, "non-finite position"))
        elif abs(x) > half_l or abs(y) > half_w:
            bad.append((obj, f"position ({x:.1f}, {y:.1f}) m is outside the field"))
        elif obj.id in seen:
            bad.append((obj, "duplicate object id in the frame"))
        else:
            seen.add(obj.id)
            good.append(obj)
    return good, bad


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    @app.function(
        stream(topics.TRACKING, key="game_id", schema=TrackingFrame),
        name="normalise",
        batch_size=config.batch_size,
        on_failure=DLQ_TOPIC,
    )
    async def normalise(events: list[Event], ctx: Context) -> None:
        for event in events:
            frame: TrackingFrame = event.value
            if not math.isfinite(frame.timestamp):
                live.counters.rejected_frames += 1
                ctx.publish(DLQ_TOPIC, _letter(event, frame, "timestamp is not finite"))
                continue
            good, bad = problems(frame, config)
            if bad:
                live.counters.rejected_objects += len(bad)
                for obj, reason in bad:
                    ctx.publish(DLQ_TOPIC, _letter(event, obj, reason))
                frame = msgspec.structs.replace(frame, objects=good)
            ctx.publish(CLEAN_TOPIC, frame, frame.game_id)


def _letter(event: Event, value: object, reason: str) -> DeadLetter:
    return DeadLetter(
        function="normalise",
        topic=event.topic,
        partition=event.partition,
        offset=event.offset,
        key=event.key,
        value=value,
        reason="invalid",
        error=reason,
        attempts=1,
        trace_id=event.headers.get("trace_id"),
        failed_at=time.time(),
    )
