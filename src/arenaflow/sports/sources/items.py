"""What every source yields: ``(topic, key, value)`` items in capture-time order.

``value`` is a schema object (:class:`~arenaflow.sports.schemas.TrackingFrame`,
:class:`~arenaflow.sports.schemas.BiometricSample`, :class:`~arenaflow.sports.schemas.GameEvent`)
or, for injected faults, raw bytes; ``key`` is the game id (the partition key).
"""

from __future__ import annotations

from typing import Any

Item = tuple[str, str, Any]


def capture_time(value: Any) -> float | None:
    """The capture timestamp of a schema object (None for bytes and unknown values)."""
    ts = getattr(value, "timestamp", None)
    return float(ts) if isinstance(ts, int | float) else None
