"""NBA SportVU movement JSON (basketball, 25 Hz): a reader, and a writer for synthetic files.

The layout (as in the public 2015-16 SportVU logs)::

    {"gameid": "0021500001", "gamedate": "2016-01-01",
     "events": [{"eventId": "1",
                 "home":    {"name", "teamid", "abbreviation", "players": [{"playerid", ...}]},
                 "visitor": {...},
                 "moments": [[quarter, ts_ms, game_clock, shot_clock, null,
                              [[team_id, player_id, x_ft, y_ft, z_ft] x 11]], ...]}]}

The ball is the entry with ``team_id == -1``. The court is 94 x 50 ft with the origin at a corner
and y growing away from the scorer's table; frames come out in metres from the centre circle with
y up. ``game_clock`` counts down in SportVU and up in our frames. Events overlap (one moment can
belong to two events), so moments are de-duplicated by (quarter, ts_ms) and sorted by time.

No real SportVU file ships with arenaflow: :func:`write` makes a synthetic one from simulated
basketball frames, for tests and demos.

Example:
    >>> import tempfile
    >>> from arenaflow.sports.sources.simulator import Simulator
    >>> sim = Simulator("basketball", seed=1)
    >>> frames = [v for topic, _, v in sim.frames_for(2.0) if topic == "tracking"]
    >>> path = Path(tempfile.mkdtemp()) / "game.json"
    >>> ids = write(path, frames)
    >>> replay = load(path)
    >>> replay.records, len(replay.athletes), round(replay.field.length_m, 2)
    (50, 10, 28.65)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from arenaflow.sports import topics
from arenaflow.sports.fields import BASKETBALL, FEET_TO_M
from arenaflow.sports.schemas import BALL, TrackedObject, TrackingFrame
from arenaflow.sports.sources.items import Item
from arenaflow.sports.sources.vendors.base import (
    Athlete,
    Replay,
    default_game_id,
    require_file,
    source_error,
)

COURT_FT = (94.0, 50.0)
QUARTER_S, OVERTIME_S = 720.0, 300.0
FPS = 25.0


def _period_s(quarter: int) -> float:
    return QUARTER_S if quarter <= 4 else OVERTIME_S


def to_metres(x_ft: float, y_ft: float) -> tuple[float, float]:
    """SportVU court feet (origin at a corner) -> metres from the centre circle, y up.

    Example:
        >>> to_metres(47.0, 25.0), to_metres(0.0, 0.0)
        ((0.0, 0.0), (-14.3256, 7.62))
    """
    return round((x_ft - COURT_FT[0] / 2) * FEET_TO_M, 4), round(
        (COURT_FT[1] / 2 - y_ft) * FEET_TO_M, 4
    )


def to_feet(x_m: float, y_m: float) -> tuple[float, float]:
    """The inverse of :func:`to_metres`."""
    return round(x_m / FEET_TO_M + COURT_FT[0] / 2, 5), round(COURT_FT[1] / 2 - y_m / FEET_TO_M, 5)


def load(path: str | Path, *, game_id: str | None = None) -> Replay:
    """Read a SportVU movement JSON file into basketball TrackingFrames."""
    raw = require_file(path, "sportvu")
    try:
        doc = json.loads(raw.read_bytes())
        moments, teams, athletes = _parse(doc)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise source_error("sportvu", raw, exc) from exc
    gid = game_id or str(doc.get("gameid") or default_game_id(raw))

    def produce() -> Iterator[Item]:
        for n, moment in enumerate(moments):
            yield topics.TRACKING, gid, _frame(gid, n, moment, teams)

    return Replay(
        provider="sportvu",
        game_id=gid,
        sport="basketball",
        field=BASKETBALL,
        fps=FPS,
        records=len(moments),
        athletes=athletes,
        files={"raw_data": raw},
        produce=produce,
    )


def _parse(doc: dict[str, Any]) -> tuple[list[list[Any]], dict[int, str], tuple[Athlete, ...]]:
    teams: dict[int, str] = {}
    athletes: dict[str, Athlete] = {}
    unique: dict[tuple[int, int], list[Any]] = {}
    for event in doc["events"]:
        for side, team in (("home", "home"), ("visitor", "away")):
            info = event.get(side) or {}
            if "teamid" in info:
                teams[int(info["teamid"])] = team
            for p in info.get("players", []):
                name = " ".join(str(p[k]) for k in ("firstname", "lastname") if p.get(k))
                jersey = str(p.get("jersey", "")).strip()
                athletes.setdefault(
                    str(p["playerid"]),
                    Athlete(
                        id=str(p["playerid"]),
                        team=team,
                        name=name or None,
                        jersey=int(jersey) if jersey.isdigit() else None,
                        position=p.get("position") or None,
                    ),
                )
        for moment in event.get("moments", []):
            unique.setdefault((int(moment[0]), int(moment[1])), moment)
    for moment in unique.values():  # files without team metadata: home is the first team seen
        for entry in moment[5]:
            team_id = int(entry[0])
            if team_id != -1 and team_id not in teams and len(teams) < 2:
                teams[team_id] = ("home", "away")[len(teams)]
    moments = sorted(unique.values(), key=lambda m: (int(m[1]), int(m[0])))
    return moments, teams, tuple(athletes.values())


def _frame(gid: str, n: int, moment: list[Any], teams: dict[int, str]) -> TrackingFrame:
    quarter, ts_ms, clock = int(moment[0]), int(moment[1]), moment[2]
    objects = []
    for team_id, player_id, x_ft, y_ft, z_ft in moment[5]:
        if not (math.isfinite(x_ft) and math.isfinite(y_ft)):
            continue  # a missing position is left out, never NaN on the wire
        x, y = to_metres(x_ft, y_ft)
        if int(team_id) == -1:
            z = round(z_ft * FEET_TO_M, 4) if z_ft is not None and math.isfinite(z_ft) else None
            objects.append(TrackedObject(id=BALL, team=BALL, x=x, y=y, z=z))
        else:
            team = teams.get(int(team_id), "officials")
            objects.append(TrackedObject(id=str(player_id), team=team, x=x, y=y))
    return TrackingFrame(
        game_id=gid,
        frame=n,
        timestamp=ts_ms / 1000.0,
        objects=objects,
        period=quarter,
        game_clock=None if clock is None else round(_period_s(quarter) - float(clock), 3),
        sport="basketball",
    )


def write(
    path: str | Path,
    frames: Iterable[TrackingFrame],
    *,
    game_id: str = "0029900001",
    game_date: str = "2016-01-01",
    home: tuple[str, int] = ("Simulated Home", 1610612801),
    away: tuple[str, int] = ("Simulated Away", 1610612802),
    moments_per_event: int = 250,
) -> dict[str, int]:
    """Write basketball frames (of one game) as a SportVU movement file.

    Athlete ids become integer SportVU player ids (1, 2, ... in order of appearance) and their
    original ids the players' last names. Frames are grouped into events of
    ``moments_per_event`` moments, consecutive events sharing one moment as real files do.

    Returns:
        Our athlete id -> SportVU player id.
    """
    ids: dict[str, int] = {}
    roster: dict[str, list[dict[str, Any]]] = {"home": [], "away": []}
    moments: list[list[Any]] = []
    for frame in frames:
        entries: list[list[Any]] = []
        ball: list[Any] = [-1, -1, 0.0, 0.0, 0.0]
        for obj in frame.objects:
            x_ft, y_ft = to_feet(obj.x, obj.y)
            if obj.team == BALL:
                ball = [-1, -1, x_ft, y_ft, round((obj.z or 0.0) / FEET_TO_M, 5)]
                continue
            if obj.team not in roster:
                continue  # officials are not in SportVU files
            if obj.id not in ids:
                ids[obj.id] = len(ids) + 1
                roster[obj.team].append(
                    {
                        "lastname": obj.id,
                        "firstname": "Sim",
                        "playerid": ids[obj.id],
                        "jersey": str(len(roster[obj.team]) + 1),
                        "position": "",
                    }
                )
            team_id = home[1] if obj.team == "home" else away[1]
            entries.append([team_id, ids[obj.id], x_ft, y_ft, 0.0])
        clock = _period_s(frame.period) - (frame.game_clock or 0.0)
        ts_ms = round(frame.timestamp * 1000)
        moments.append([frame.period, ts_ms, round(clock, 2), None, None, [ball, *entries]])
    step = max(1, moments_per_event)
    events = []
    for n, start in enumerate(range(0, len(moments), step)):
        events.append(
            {
                "eventId": str(n + 1),
                "visitor": _team(away, roster["away"]),
                "home": _team(home, roster["home"]),
                "moments": moments[max(0, start - 1) : start + step],  # overlap by one
            }
        )
    doc = {"gameid": game_id, "gamedate": game_date, "events": events}
    Path(path).write_text(json.dumps(doc, separators=(",", ":")))
    return ids


def _team(team: tuple[str, int], players: list[dict[str, Any]]) -> dict[str, Any]:
    name, team_id = team
    return {"name": name, "teamid": team_id, "abbreviation": name[:3].upper(), "players": players}
