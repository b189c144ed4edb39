"""Field geometry per sport: sizes in metres, the origin at the centre spot.

Football: 105 x 68 m by default (FIFA's recommended size; each match may declare its own).
Basketball: an FIBA/NBA court is 28.65 x 15.24 m (94 x 50 ft).

Example:
    >>> FOOTBALL.half_length_m, BASKETBALL.width_m
    (52.5, 15.24)
    >>> FOOTBALL.contains(52.0, -33.0), FOOTBALL.contains(60.0, 0.0)
    (True, False)
"""

from __future__ import annotations

from dataclasses import dataclass

from arenaflow.sports.schemas import Sport

FEET_TO_M = 0.3048


@dataclass(frozen=True, slots=True)
class Field:
    """A playing field: length along x, width along y, centred on (0, 0).

    Attributes:
        sport: The sport.
        length_m: Length along x in metres.
        width_m: Width along y in metres.
        goal_width_m: Goal mouth width (football) or 0.
    """

    sport: Sport
    length_m: float
    width_m: float
    goal_width_m: float = 0.0

    @property
    def half_length_m(self) -> float:
        return self.length_m / 2.0

    @property
    def half_width_m(self) -> float:
        return self.width_m / 2.0

    def contains(self, x: float, y: float, margin_m: float = 0.0) -> bool:
        """True when (x, y) lies on the field (plus ``margin_m`` around it)."""
        return abs(x) <= self.half_length_m + margin_m and abs(y) <= self.half_width_m + margin_m

    def with_size(self, length_m: float, width_m: float) -> Field:
        """The same sport on a field of another size (a match's own pitch dimensions)."""
        if not (length_m > 0 and width_m > 0):
            raise ValueError(f"field size must be positive, got {length_m} x {width_m}")
        return Field(self.sport, length_m, width_m, self.goal_width_m)


FOOTBALL = Field("football", 105.0, 68.0, goal_width_m=7.32)
BASKETBALL = Field("basketball", 94 * FEET_TO_M, 50 * FEET_TO_M)


def field_for(sport: Sport) -> Field:
    """The default field of ``sport``."""
    return FOOTBALL if sport == "football" else BASKETBALL
