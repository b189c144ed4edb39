"""StatsBomb event data (open-data JSON: one events file, one lineups file) -> GameEvent.

Locations convert from StatsBomb's 120 x 80 pitch (origin top left, y down) to metres on a
105 x 68 m pitch centred at the centre spot with y up. StatsBomb draws every event with the acting
team attacking towards x = 120, so ``x`` grows towards the goal the acting team attacks (the
tracking frames, by contrast, keep the physical ends). Heights (``end_location`` z) are in yards
and convert to metres.

Kinds: ``pass``, ``shot`` (and a ``goal`` after a scoring shot or an own goal), ``foul``,
``card``, ``substitution``, ``period_start``, ``period_end``; every other StatsBomb type becomes
``other`` when ``include_other`` is set. Shots keep StatsBomb's details in ``attributes``
(outcome, body part, technique, shot type, play pattern, under pressure and the other shot
flags, StatsBomb's own xG, the freeze frame in metres) and the game state the xG model reads:
``score_difference``, the shooting team's goals minus its opponents' before the shot, counted
from the earlier scoring shots and own goals of the file (none for shoot-out kicks).

Timestamps are seconds from kick-off, each period starting a nominal 15-minute break after the
previous one's last event; ``game_clock`` is the time within the period.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from arenaflow.analytics.xg import statsbomb_to_pitch
from arenaflow.sports import topics
from arenaflow.sports.fields import FOOTBALL
from arenaflow.sports.schemas import EventKind, GameEvent
from arenaflow.sports.sources.items import Item
from arenaflow.sports.sources.vendors.base import (
    Athlete,
    Replay,
    default_game_id,
    find_companion,
    require_file,
    source_error,
)

BREAK_S = 15 * 60.0  # between periods (StatsBomb gives each period's own clock only)
SHOOTOUT_PERIOD = 5
YARD_M = 0.9144
SHOT_FLAGS = (
    "first_time",
    "one_on_one",
    "open_goal",
    "deflected",
    "aerial_won",
    "follows_dribble",
    "redirect",
)


def to_metres(location: list[float]) -> tuple[float, float]:
    """StatsBomb (x, y) on 120 x 80 -> metres from the centre spot, y up.

    Anchored on the pitch markings (the penalty area is 16.5 m deep, not 18/120 of the length),
    the same conversion the xG model was trained with.

    Example:
        >>> to_metres([120.0, 40.0]), to_metres([0.0, 0.0])
        ((52.5, 0.0), (-52.5, 34.0))
    """
    x_m, y_m = statsbomb_to_pitch([location[0]], [location[1]], FOOTBALL)
    y_up = round(-float(y_m[0]), 3) + 0.0  # + 0.0 turns -0.0 into 0.0
    return round(float(x_m[0]), 3), y_up


def _clock(timestamp: str) -> float:
    hours, minutes, seconds = timestamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _name(event: dict[str, Any], *path: str) -> Any:
    """``event[path[0]][path[1]]...`` or None; the last mapping's ``name`` if it has one."""
    value: Any = event
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if isinstance(value, dict) and "name" in value:
        return value["name"]
    return value


def load(
    path: str | Path,
    *,
    game_id: str | None = None,
    lineup: str | Path | None = None,
    home_team: str | int | None = None,
    include_other: bool = False,
) -> Replay:
    """Load a StatsBomb events file (and its lineups file, found next to it when it is there).

    Args:
        path: The events JSON (``*event*.json``, or ``events/<match>.json`` of the open data).
        game_id: Game id of the events; default the match id in the file name.
        lineup: The lineups JSON; default found next to the events (names and shirt numbers).
        home_team: Name or id of the home team; default the team of the first Starting XI event
            (StatsBomb lists the home team first).
        include_other: Also emit every other event type as kind ``other``.
    """
    raw = require_file(path, "statsbomb")
    if lineup is None:
        lineup_path, _ = find_companion(
            raw, [("events", "lineups"), ("event", "lineup")], [".json"]
        )
        sibling = raw.parent.parent / "lineups" / raw.name  # the open-data layout
        if lineup_path is None and raw.parent.name == "events" and sibling.is_file():
            lineup_path = sibling
    else:
        lineup_path = require_file(lineup, "statsbomb")
    try:
        events: list[dict[str, Any]] = json.loads(raw.read_bytes())
        lineups: list[dict[str, Any]] = (
            json.loads(lineup_path.read_bytes()) if lineup_path is not None else []
        )
        teams = _teams(events, lineups, home_team)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise source_error("statsbomb", raw, exc) from exc
    gid = game_id or default_game_id(raw)
    athletes = tuple(
        Athlete(
            id=str(p["player_id"]),
            team=teams[team["team_id"]],
            name=p.get("player_name"),
            jersey=p.get("jersey_number"),
        )
        for team in lineups
        for p in team.get("lineup", [])
    )
    files = {"events": raw}
    if lineup_path is not None:
        files["lineup"] = lineup_path
    return Replay(
        provider="statsbomb",
        game_id=gid,
        sport="football",
        field=FOOTBALL,
        fps=None,
        records=len(events),
        athletes=athletes,
        files=files,
        produce=lambda: _produce(events, teams, gid, include_other),
    )


def _teams(
    events: list[dict[str, Any]], lineups: list[dict[str, Any]], home: str | int | None
) -> dict[int, str]:
    """Team id -> ``home``/``away``."""
    ids: list[int] = []
    names: dict[int, str] = {}
    for e in events:
        if e["type"]["name"] == "Starting XI" and e["team"]["id"] not in ids:
            ids.append(e["team"]["id"])
            names[e["team"]["id"]] = e["team"]["name"]
    for team in lineups:
        if team["team_id"] not in ids:
            ids.append(team["team_id"])
            names[team["team_id"]] = team["team_name"]
    if len(ids) != 2:
        raise ValueError(f"expected two teams, found {len(ids)}")
    if home is not None:
        match = [i for i in ids if home in (i, names[i], str(i))]
        if not match:
            raise ValueError(f"home_team {home!r} is none of {sorted(names.values())}")
        ids.sort(key=lambda i: i != match[0])
    return {ids[0]: "home", ids[1]: "away"}


def _kind(event: dict[str, Any]) -> EventKind | None:
    name = event["type"]["name"]
    if name in KINDS:
        return KINDS[name]
    if name == "Bad Behaviour" and _name(event, "bad_behaviour", "card"):
        return "card"
    return None


KINDS: dict[str, EventKind] = {
    "Pass": "pass",
    "Shot": "shot",
    "Foul Committed": "foul",
    "Substitution": "substitution",
    "Half Start": "period_start",
    "Half End": "period_end",
    "Own Goal For": "goal",
}


def _period_offsets(events: list[dict[str, Any]]) -> dict[int, float]:
    """Each period starts a nominal break after the previous one's last event."""
    ends: dict[int, float] = {}
    for e in events:
        ends[e["period"]] = max(ends.get(e["period"], 0.0), _clock(e["timestamp"]))
    offsets, total = {}, 0.0
    for period in sorted(ends):
        offsets[period] = total
        total += ends[period] + BREAK_S
    return offsets


def _produce(
    events: list[dict[str, Any]], teams: dict[int, str], gid: str, include_other: bool
) -> Iterator[Item]:
    offsets = _period_offsets(events)
    seen_periods: set[tuple[int, str]] = set()
    goals = {"home": 0, "away": 0}
    for e in sorted(events, key=lambda e: (e["period"], _clock(e["timestamp"]), e["index"])):
        kind = _kind(e)
        team = teams.get(e["team"]["id"]) if e.get("team") else None
        score_difference = None
        scoring = e["type"]["name"] in ("Shot", "Own Goal For")
        if scoring and team is not None and e["period"] < SHOOTOUT_PERIOD:
            # taken before the event: a shot's own outcome is no part of its game state
            score_difference = goals[team] - goals["away" if team == "home" else "home"]
            if e["type"]["name"] == "Own Goal For" or _name(e, "shot", "outcome") == "Goal":
                goals[team] += 1
        if kind is None and not include_other:
            continue
        if kind in ("period_start", "period_end"):  # StatsBomb has one per team
            if (e["period"], kind) in seen_periods:
                continue
            seen_periods.add((e["period"], kind))
        yield from _convert(e, kind or "other", teams, gid, offsets, score_difference)


def _convert(
    e: dict[str, Any],
    kind: EventKind,
    teams: dict[int, str],
    gid: str,
    offsets: dict[int, float],
    score_difference: int | None = None,
) -> Iterator[Item]:
    clock = _clock(e["timestamp"])
    period = int(e["period"])
    x = y = end_x = end_y = None
    if e.get("location"):
        x, y = to_metres(e["location"])
    attrs: dict[str, Any] = {
        "type": e["type"]["name"],
        "play_pattern": _name(e, "play_pattern"),
        "under_pressure": bool(e.get("under_pressure", False)),
        "possession": e.get("possession"),
    }
    if e.get("player"):
        attrs["player_name"] = e["player"]["name"]
    outcome = None
    if kind == "pass":
        p = e["pass"]
        end_x, end_y = to_metres(p["end_location"])
        outcome = _name(e, "pass", "outcome") or "Complete"
        attrs |= {
            "receiver": str(p["recipient"]["id"]) if p.get("recipient") else None,
            "height": _name(e, "pass", "height"),
            "body_part": _name(e, "pass", "body_part"),
            "pass_type": _name(e, "pass", "type"),
            "length_m": _length(e["location"], p["end_location"]),
        }
    elif kind == "shot":
        s = e["shot"]
        end_x, end_y = to_metres(s["end_location"])
        outcome = _name(e, "shot", "outcome")
        attrs |= {
            "body_part": _name(e, "shot", "body_part"),
            "technique": _name(e, "shot", "technique"),
            "shot_type": _name(e, "shot", "type"),
            "statsbomb_xg": s.get("statsbomb_xg"),
            "end_z_m": round(s["end_location"][2] * YARD_M, 3)
            if len(s["end_location"]) > 2
            else None,
            "key_pass_id": s.get("key_pass_id"),
            "score_difference": score_difference,
            "freeze_frame": [
                {
                    "player_id": str(f["player"]["id"]),
                    "x": to_metres(f["location"])[0],
                    "y": to_metres(f["location"])[1],
                    "teammate": bool(f["teammate"]),
                    "position": _name(f, "position"),
                }
                for f in s.get("freeze_frame", [])
            ],
        }
        attrs |= {flag: bool(s.get(flag, False)) for flag in SHOT_FLAGS}
    elif kind == "foul":
        attrs |= {
            "card": _name(e, "foul_committed", "card"),
            "penalty": bool(_name(e, "foul_committed", "penalty")),
            "advantage": bool(_name(e, "foul_committed", "advantage")),
        }
    elif kind == "card":
        attrs["card"] = _name(e, "bad_behaviour", "card")
    elif kind == "substitution":
        attrs["replacement"] = str(e["substitution"]["replacement"]["id"])
        outcome = _name(e, "substitution", "outcome")
    team = teams.get(e["team"]["id"]) if e.get("team") else None
    base = GameEvent(
        game_id=gid,
        event_id=e["id"],
        kind=kind,
        timestamp=offsets.get(period, 0.0) + clock,
        period=period,
        game_clock=clock,
        team=team,
        player_id=str(e["player"]["id"]) if e.get("player") else None,
        x=x,
        y=y,
        end_x=end_x,
        end_y=end_y,
        outcome=outcome,
        attributes=attrs,
    )
    yield topics.GAME_EVENTS, gid, base
    if kind == "foul" and attrs["card"]:
        yield topics.GAME_EVENTS, gid, _derived(base, "card", {"card": attrs["card"]})
    if kind == "shot" and outcome == "Goal":
        yield topics.GAME_EVENTS, gid, _derived(base, "goal", {"shot_id": e["id"]})


def _derived(base: GameEvent, kind: EventKind, attrs: dict[str, Any]) -> GameEvent:
    return GameEvent(
        game_id=base.game_id,
        event_id=f"{base.event_id}:{kind}",
        kind=kind,
        timestamp=base.timestamp,
        period=base.period,
        game_clock=base.game_clock,
        team=base.team,
        player_id=base.player_id,
        x=base.x,
        y=base.y,
        end_x=base.end_x,
        end_y=base.end_y,
        outcome=base.outcome,
        attributes={"type": base.attributes.get("type"), **attrs},
    )


def _length(start: list[float], end: list[float]) -> float:
    (x0, y0), (x1, y1) = to_metres(start), to_metres(end)
    return round(math.hypot(x1 - x0, y1 - y0), 2)
