"""Shared by the kloppy-based providers: a kloppy ``TrackingDataset`` -> our TrackingFrames.

kloppy is imported lazily (only when a vendor file is loaded) and through :func:`kloppy_module`,
which returns it untyped: kloppy ships no type information, and this module is the one place that
touches its objects. Every dataset is loaded in kloppy's Second Spectrum coordinate system (metres,
origin at the centre spot, y up) with the match's own pitch size, which is our wire convention.
Orientation is left as the provider recorded it (the teams swap ends at half time).
"""

from __future__ import annotations

import importlib
import logging
import math
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from arenaflow.sports import topics
from arenaflow.sports.fields import FOOTBALL
from arenaflow.sports.schemas import BALL, TrackedObject, TrackingFrame
from arenaflow.sports.sources.items import Item
from arenaflow.sports.sources.vendors.base import Athlete, Replay, default_game_id, source_error

log = logging.getLogger(__name__)

#: kloppy's name of the coordinate system that is ours: metres, centre origin, y up.
METRES = "secondspectrum"

#: Nominal half-time break between periods when the metadata does not tell (seconds).
BREAK_S = 15 * 60.0

#: kloppy ``Ground`` values -> our team names
TEAMS = {"home": "home", "away": "away", "referee": "officials"}


def kloppy_module(name: str) -> Any:
    """Import ``kloppy.<name>`` (untyped: kloppy has no type information)."""
    return importlib.import_module(f"kloppy.{name}")


def _seconds(value: Any) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if hasattr(value, "timestamp"):  # a datetime
        return float(value.timestamp())
    return float(value)


def _period_offsets(dataset: Any, fps: float) -> dict[int, float]:
    """Seconds from kick-off at which each period starts, breaks included.

    Where the metadata gives the periods' start times on one clock (TRACAB frame times, Stats
    Perform dates, ...), a period starts when it says, if that comes after the previous period's
    last frame and within three hours of it; otherwise :data:`BREAK_S` after that last frame.
    """
    last: dict[int, float] = {}
    for record in dataset.records:
        pid = record.period.id
        last[pid] = max(last.get(pid, 0.0), record.timestamp.total_seconds())
    periods = sorted(dataset.metadata.periods, key=lambda p: p.id)
    offsets: dict[int, float] = {}
    first_start = previous_end = None
    for period in periods:
        try:
            start = _seconds(period.start_timestamp)
        except (TypeError, ValueError, AttributeError):
            start = math.nan
        if previous_end is None:
            offset = 0.0
            first_start = start
        else:
            declared = start - first_start if first_start is not None else math.nan
            fits = previous_end <= declared <= previous_end + 3 * 3600
            offset = declared if fits else previous_end + BREAK_S
        offsets[period.id] = offset
        previous_end = offset + last.get(period.id, 0.0) + 1.0 / fps
    return offsets


def _finite(point: Any) -> bool:
    return point is not None and math.isfinite(point.x) and math.isfinite(point.y)


def tracking_replay(
    provider: str,
    load: Callable[[], Any],
    raw: Path,
    files: dict[str, Path],
    game_id: str | None,
) -> Replay:
    """Load a kloppy tracking dataset with ``load()`` and describe it as a :class:`Replay`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dataset = load()
        except Exception as exc:  # kloppy raises whatever its parsers raise
            raise source_error(provider, raw, exc) from exc
    # kloppy warns about what it had to assume (a default pitch size, an unknown orientation);
    # those become the replay's notes. Its own unclosed-stream ResourceWarnings are dropped.
    notes = tuple(
        dict.fromkeys(str(w.message) for w in caught if not issubclass(w.category, ResourceWarning))
    )
    for note in notes:
        log.info("%s %s: %s", provider, raw.name, note)
    meta = dataset.metadata
    cs = meta.coordinate_system
    length = cs.pitch_length or FOOTBALL.length_m
    width = cs.pitch_width or FOOTBALL.width_m
    fps = float(meta.frame_rate or 25.0)
    gid = game_id or (str(meta.game_id) if meta.game_id is not None else default_game_id(raw))
    athletes = tuple(
        Athlete(
            id=str(p.player_id),
            team=TEAMS.get(str(team.ground), "officials"),
            name=str(p.full_name) if p.full_name else None,
            jersey=int(p.jersey_no) if p.jersey_no is not None else None,
            position=str(p.starting_position) if p.starting_position is not None else None,
        )
        for team in meta.teams
        for p in team.players
    )

    def produce() -> Iterator[Item]:
        offsets = _period_offsets(dataset, fps)
        for record in dataset.records:
            clock = record.timestamp.total_seconds()
            objects = [
                TrackedObject(
                    id=str(player.player_id),
                    team=TEAMS.get(str(player.team.ground), "officials")
                    if player.team
                    else "officials",
                    x=float(data.coordinates.x),
                    y=float(data.coordinates.y),
                )
                for player, data in record.players_data.items()
                if _finite(data.coordinates)
            ]
            ball = record.ball_coordinates
            if _finite(ball):
                z = getattr(ball, "z", None)
                z = float(z) if z is not None and math.isfinite(z) else None
                objects.append(
                    TrackedObject(id=BALL, team=BALL, x=float(ball.x), y=float(ball.y), z=z)
                )
            frame = TrackingFrame(
                game_id=gid,
                frame=int(record.frame_id),
                timestamp=offsets.get(record.period.id, 0.0) + clock,
                objects=objects,
                period=int(record.period.id),
                game_clock=clock,
                sport="football",
            )
            yield topics.TRACKING, gid, frame

    return Replay(
        provider=provider,
        game_id=gid,
        sport="football",
        field=FOOTBALL.with_size(float(length), float(width)),
        fps=fps,
        records=len(dataset.records),
        athletes=athletes,
        files=files,
        produce=produce,
        notes=notes,
    )
