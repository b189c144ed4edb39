"""Validation of tracking frames: what is physically impossible is taken out with its reason.

Undecodable payloads never get here (the stream trigger's schema sends them to the dead-letter
topic with the decoder's message, naming the field). Here an object with a non-finite position,
one far outside the field or a duplicate id is removed from its frame, with the reason; the rest
of the frame goes on, so one bad detection never costs the good data around it. A frame with a
non-finite timestamp is rejected whole.

:func:`check_round` validates a round of frames (at most one per game) with one vectorised test
over all their objects; :func:`duplicates` finds repeated ids in a frame whose layout is new.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from arenaflow.pipeline.config import PipelineConfig
from arenaflow.sports.schemas import BALL, TrackedObject, TrackingFrame

DLQ_TOPIC = "tracking.dlq"
#: Objects that are not players: their kinematics are not a player's.
NOT_PLAYERS = frozenset({BALL, "officials"})


@dataclass(slots=True)
class CheckedRound:
    """A round's objects as one array, and what was wrong with it.

    Attributes:
        xy_m: ``(N, 2)`` positions of every object of the round's frames, frame after frame.
        starts: Where each frame's objects start in ``xy_m`` (``len(frames) + 1`` entries).
        clean: Per frame, whether every object passed (the common case: nothing to remove).
        bad_frames: Frames rejected whole, with the reason.
        bad_objects: Per frame index, the objects removed and why (only frames not clean).
    """

    xy_m: NDArray[np.float64]
    starts: list[int]
    clean: list[bool]
    bad_frames: dict[int, str]
    bad_objects: dict[int, list[tuple[TrackedObject, str]]]


def check_round(frames: Sequence[TrackingFrame], config: PipelineConfig) -> CheckedRound:
    """Validate ``frames`` at once: positions finite and within ``outside_margin_m`` of the
    field, ids unique within a frame (checked by the caller's roster, see :func:`duplicates`)."""
    starts = [0]
    for f in frames:
        starts.append(starts[-1] + len(f.objects))
    # Flat lists convert to arrays many times faster than a list of (x, y) pairs.
    xy = np.empty((starts[-1], 2))
    xy[:, 0] = np.fromiter([o.x for f in frames for o in f.objects], np.float64, starts[-1])
    xy[:, 1] = np.fromiter([o.y for f in frames for o in f.objects], np.float64, starts[-1])
    half_l = config.field.half_length_m + config.outside_margin_m
    half_w = config.field.half_width_m + config.outside_margin_m
    # NaN compares False and infinity is beyond any limit: one test covers all three.
    ax = np.abs(xy)
    ok = (ax[:, 0] <= half_l) & (ax[:, 1] <= half_w)
    clean = [True] * len(frames)
    bad_objects: dict[int, list[tuple[TrackedObject, str]]] = {}
    if not ok.all():
        for i in np.unique(np.searchsorted(starts, np.flatnonzero(~ok), side="right") - 1):
            frame_ok = ok[starts[i] : starts[i + 1]]
            clean[i] = False
            bad_objects[int(i)] = [
                (obj, _position_problem(obj))
                for obj, good in zip(frames[i].objects, frame_ok.tolist(), strict=True)
                if not good
            ]
    bad_frames = {
        i: "timestamp is not finite" for i, f in enumerate(frames) if not math.isfinite(f.timestamp)
    }
    return CheckedRound(xy, starts, clean, bad_frames, bad_objects)


def duplicates(objects: Sequence[TrackedObject]) -> list[tuple[TrackedObject, str]]:
    """Every repeat of an id already seen earlier in the frame, with the reason."""
    seen: set[str] = set()
    out = []
    for obj in objects:
        if obj.id in seen:
            out.append((obj, "duplicate object id in the frame"))
        seen.add(obj.id)
    return out


def _position_problem(obj: TrackedObject) -> str:
    if not (math.isfinite(obj.x) and math.isfinite(obj.y)):
        return "non-finite position"
    return f"position ({obj.x:.1f}, {obj.y:.1f}) m is outside the field"
