"""Wire schemas of the sports pipeline (msgspec), JSON and msgpack alike.

Units are SI everywhere: metres, seconds, metres per second, beats per minute for heart rate.
Positions are in metres with the origin at the centre spot, x along the field's length and y
across it; each sport declares its field size (:mod:`arenaflow.sports.fields`). Vendor formats
convert at the edge (the sources), never inside functions.

Example:
    >>> frame = TrackingFrame(game_id="g1", frame=1, timestamp=0.04,
    ...     objects=[TrackedObject(id="p7", team="home", x=1.5, y=-2.0)])
    >>> decode(encode(frame, "msgpack"), TrackingFrame, "msgpack") == frame
    True
    >>> encode(frame)[:30]
    b'{"game_id":"g1","frame":1,"tim'
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, TypeVar

import msgspec

Sport = Literal["football", "basketball"]
WireFormat = Literal["json", "msgpack"]

#: Team of the ball in tracking frames.
BALL = "ball"


class TrackedObject(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One player, official or the ball in a frame.

    Attributes:
        id: Stable id of the athlete (or ``"ball"``).
        team: ``"home"``, ``"away"``, ``"ball"`` or ``"officials"``.
        x: Metres along the field from the centre spot.
        y: Metres across the field from the centre spot.
        z: Height in metres (the ball), when measured.
    """

    id: str
    team: str
    x: float
    y: float
    z: float | None = None


class TrackingFrame(msgspec.Struct, frozen=True, kw_only=True):
    """Positions of everything on the field at one instant (25 Hz for optical tracking).

    Attributes:
        game_id: The game.
        frame: Frame number, increasing within the game.
        timestamp: Capture time, seconds since the epoch (or since kick-off for replays).
        period: 1, 2, ... (quarters in basketball).
        game_clock: Seconds since the period started, when known.
        objects: Tracked objects; players, officials and the ball.
        ball_owner: Id of the player in possession, when the feed says.
        sport: ``"football"`` or ``"basketball"``.
    """

    game_id: str
    frame: int
    timestamp: float
    objects: list[TrackedObject]
    period: int = 1
    game_clock: float | None = None
    ball_owner: str | None = None
    sport: Sport = "football"


class BiometricSample(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One reading of an athlete's wearable (10 Hz typical).

    Attributes:
        athlete_id: The athlete.
        timestamp: Capture time, seconds since the epoch.
        heart_rate_bpm: Heart rate in beats per minute.
        game_id: The game, when the athlete is playing one.
        rr_interval_ms: Beat-to-beat interval, when the strap reports it.
        core_temp_c: Core body temperature in degrees Celsius, when measured.
    """

    athlete_id: str
    timestamp: float
    heart_rate_bpm: float | None = None
    game_id: str | None = None
    rr_interval_ms: float | None = None
    core_temp_c: float | None = None


EventKind = Literal[
    "pass",
    "shot",
    "goal",
    "foul",
    "card",
    "substitution",
    "possession",
    "period_start",
    "period_end",
    "other",
]


class GameEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something that happened in a game (from a scoring feed, a simulator or derived).

    Attributes:
        game_id: The game.
        event_id: Unique id of the event within the game.
        kind: What happened.
        timestamp: When, seconds since the epoch (or since kick-off for replays).
        period: Period of play.
        game_clock: Seconds since the period started.
        team: ``"home"`` or ``"away"``.
        player_id: The player who did it.
        x, y: Where, in metres from the centre spot.
        end_x, end_y: Where it ended (a pass's target, a shot's end location).
        outcome: Provider outcome text (e.g. ``"Goal"``, ``"Saved"``, ``"Complete"``).
        xg: Goal probability of a shot, when computed.
        attributes: Everything else the source knew (body part, technique, ...).
    """

    game_id: str
    event_id: str
    kind: EventKind
    timestamp: float
    period: int = 1
    game_clock: float | None = None
    team: str | None = None
    player_id: str | None = None
    x: float | None = None
    y: float | None = None
    end_x: float | None = None
    end_y: float | None = None
    outcome: str | None = None
    xg: float | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)


class MetricUpdate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A live metric's new value for an athlete (or a team) of a game.

    Attributes:
        game_id: The game.
        subject_id: The athlete (or ``"home"``/``"away"`` for team metrics).
        metric: Metric name, e.g. ``"speed"``, ``"distance"``, ``"heart_rate_zone"``.
        value: The value, in ``unit``.
        unit: SI unit symbol (``"m/s"``, ``"m"``, ``"W/kg"``, ``"bpm"``, ``"1"`` for counts).
        timestamp: Capture time of the newest input the value used (seconds since the epoch).
        frame: The tracking frame it came from, when it came from one.
        team: The athlete's team.
        private: True for biometric data only team staff may see.
    """

    game_id: str
    subject_id: str
    metric: str
    value: float
    unit: str
    timestamp: float
    frame: int | None = None
    team: str | None = None
    private: bool = False


class Alert(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A rule fired.

    Attributes:
        alert_id: Unique id.
        game_id: The game.
        subject_id: The athlete (or team) it is about.
        rule: Name of the rule that fired.
        metric: The metric the rule watches.
        value: The metric's value when it fired.
        threshold: The rule's threshold.
        severity: ``"info"``, ``"warning"`` or ``"critical"``.
        message: Human-readable text.
        timestamp: Capture time of the input that fired it.
        private: True when it concerns biometric data (staff only).
    """

    alert_id: str
    game_id: str
    subject_id: str
    rule: str
    metric: str
    value: float
    threshold: float
    severity: Literal["info", "warning", "critical"]
    message: str
    timestamp: float
    private: bool = False


T = TypeVar("T")


@cache
def _encoder(fmt: WireFormat) -> msgspec.json.Encoder | msgspec.msgpack.Encoder:
    return msgspec.msgpack.Encoder() if fmt == "msgpack" else msgspec.json.Encoder()


_decoders: dict[tuple[Any, str], Any] = {}


def _decoder(kind: Any, fmt: WireFormat) -> Any:
    decoder = _decoders.get((kind, fmt))
    if decoder is None:
        decoder = msgspec.msgpack.Decoder(kind) if fmt == "msgpack" else msgspec.json.Decoder(kind)
        _decoders[(kind, fmt)] = decoder
    return decoder


def encode(obj: Any, fmt: WireFormat = "json") -> bytes:
    """Serialise a schema object (or a list of them) as JSON or msgpack."""
    return _encoder(fmt).encode(obj)


def decode(data: bytes, kind: type[T], fmt: WireFormat = "json") -> T:
    """Parse and validate ``data`` as ``kind``; raises ``msgspec.ValidationError`` naming the
    field path (e.g. ``$.objects[3].x``) on bad input."""
    result: T = _decoder(kind, fmt).decode(data)
    return result
