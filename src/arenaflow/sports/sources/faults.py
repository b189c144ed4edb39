"""Faults a real feed has, injected on purpose into tracking frames (for tests and benchmarks).

Example:
    >>> from arenaflow.sports.schemas import TrackedObject, TrackingFrame
    >>> frames = [TrackingFrame(game_id="g1", frame=i, timestamp=i / 25,
    ...     objects=[TrackedObject(id="p1", team="home", x=0.0, y=0.0),
    ...              TrackedObject(id="ball", team="ball", x=0.0, y=0.0)]) for i in range(1000)]
    >>> injector = FaultInjector(Faults(drop=0.1), seed=1)
    >>> items = [item for f in frames for item in injector.apply(f)]
    >>> len(items) + injector.counts["drop"] == 1000
    True
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec
import numpy as np

from arenaflow.errors import ConfigError
from arenaflow.sports import topics
from arenaflow.sports.fields import Field
from arenaflow.sports.schemas import BALL, TrackedObject, TrackingFrame, encode
from arenaflow.sports.sources.items import Item


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults to inject, each a fraction of all tracking frames.

    The fractions are exclusive (a frame gets at most one fault), so they must sum to <= 1.

    Attributes:
        drop: Frames never emitted.
        jitter: Frames whose timestamp moves by up to ``jitter_s`` either way.
        out_of_order: Frames emitted after the game's next frame.
        undecodable: Frames replaced by bytes that are neither JSON nor msgpack (cut in half).
        nan: Frames with one player's coordinates NaN.
        off_field: Frames with one player hundreds of metres outside the field.
        teleport: Frames with one player 25-40 m from where they are (for that frame only).
        jitter_s: Largest timestamp jitter in seconds.
    """

    KINDS: ClassVar[tuple[str, ...]] = (
        "drop",
        "jitter",
        "out_of_order",
        "undecodable",
        "nan",
        "off_field",
        "teleport",
    )

    drop: float = 0.0
    jitter: float = 0.0
    out_of_order: float = 0.0
    undecodable: float = 0.0
    nan: float = 0.0
    off_field: float = 0.0
    teleport: float = 0.0
    jitter_s: float = 0.015

    def __post_init__(self) -> None:
        for name in self.KINDS:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ConfigError(f"Faults.{name} must be a rate in [0, 1], got {value!r}")
        if not (isinstance(self.jitter_s, int | float) and self.jitter_s >= 0):
            raise ConfigError(f"Faults.jitter_s must be >= 0 seconds, got {self.jitter_s!r}")
        total = sum(getattr(self, k) for k in self.KINDS)
        if total > 1.0 + 1e-9:
            raise ConfigError(f"Faults rates are exclusive and must sum to <= 1, got {total:g}")

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """Faults from ``"drop=0.01,nan=0.001"`` (the command line's form).

        Raises:
            ConfigError: naming the entry that is not ``NAME=RATE`` or the rate out of range.

        Example:
            >>> Faults.parse("drop=0.01, nan=0.001").nan
            0.001
            >>> Faults.parse("dorp=0.1")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            arenaflow.errors.ConfigError: 'dorp=0.1': expected NAME=RATE, NAME one of drop, ...
        """
        names = (*cls.KINDS, "jitter_s")
        rates: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, value = (s.strip() for s in part.partition("="))
            if not sep or name not in names:
                raise ConfigError(f"{part!r}: expected NAME=RATE, NAME one of {', '.join(names)}")
            try:
                rates[name] = float(value)
            except ValueError:
                raise ConfigError(f"{name}: {value!r} is not a number") from None
        return cls(**rates)

    @property
    def any(self) -> bool:
        """True when some fault has a rate above zero."""
        return any(getattr(self, k) > 0 for k in self.KINDS)


class FaultInjector:
    """Applies :class:`Faults` to a stream of frames, one frame at a time.

    Args:
        faults: The rates.
        seed: Random seed (the faults are deterministic given the frames and the seed).
        field: Field of the frames (teleports stay on it); default: the frame's sport's field.

    Attributes:
        counts: Frames that got each fault, plus ``frames`` seen and ``emitted``.
    """

    def __init__(
        self, faults: Faults, seed: int | np.random.SeedSequence = 0, field: Field | None = None
    ) -> None:
        self.faults = faults
        self.rng = np.random.default_rng(seed)
        self.field = field
        self.counts: Counter[str] = Counter()
        self._bounds = np.cumsum([getattr(faults, k) for k in Faults.KINDS])
        self._held: dict[str, TrackingFrame] = {}

    def apply(self, frame: TrackingFrame) -> Iterator[Item]:
        """Items for ``frame`` (none, the frame, a damaged copy) and a frame held back before."""
        self.counts["frames"] += 1
        kind = int(np.searchsorted(self._bounds, self.rng.random(), side="right"))
        name = Faults.KINDS[kind] if kind < len(Faults.KINDS) else None
        gid = frame.game_id
        if name == "out_of_order" and gid in self._held:
            name = None  # one frame per game at a time is held back
        if name is not None:
            self.counts[name] += 1
        if name == "out_of_order":
            self._held[gid] = frame
            return
        if name != "drop":
            self.counts["emitted"] += 1
            yield topics.TRACKING, gid, self._damage(frame, name)
        held = self._held.pop(gid, None)
        if held is not None:
            self.counts["emitted"] += 1
            yield topics.TRACKING, gid, held

    def flush(self) -> Iterator[Item]:
        """Frames still held back (at the end of the stream)."""
        for gid, frame in self._held.items():
            self.counts["emitted"] += 1
            yield topics.TRACKING, gid, frame
        self._held.clear()

    def _damage(self, frame: TrackingFrame, name: str | None) -> Any:
        rng = self.rng
        if name is None:
            return frame
        if name == "jitter":
            shift = rng.uniform(-1.0, 1.0) * self.faults.jitter_s
            return msgspec.structs.replace(frame, timestamp=frame.timestamp + shift)
        if name == "undecodable":
            data = encode(frame)
            return data[: len(data) // 2]
        players = [i for i, obj in enumerate(frame.objects) if obj.team != BALL]
        if not players:
            return frame
        i = players[int(rng.integers(len(players)))]
        obj = frame.objects[i]
        if name == "nan":
            x, y = math.nan, math.nan
        elif name == "off_field":
            x, y = math.copysign(rng.uniform(300.0, 900.0), obj.x or 1.0), obj.y
        else:  # teleport: jump 25-40 m, towards the middle so it stays on the field
            field = self.field
            if field is None:
                from arenaflow.sports.fields import field_for

                field = field_for(frame.sport)
            r = rng.uniform(25.0, 40.0)
            a = rng.uniform(-0.6, 0.6)
            sx = -1.0 if obj.x > 0 else 1.0
            x = obj.x + sx * r * math.cos(a)
            y = obj.y + r * math.sin(a)
            x = min(max(x, -field.half_length_m), field.half_length_m)
            y = min(max(y, -field.half_width_m), field.half_width_m)
        objects = list(frame.objects)
        objects[i] = TrackedObject(id=obj.id, team=obj.team, x=x, y=y, z=obj.z)
        return msgspec.structs.replace(frame, objects=objects)
