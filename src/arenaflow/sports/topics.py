"""Topic names of the built-in sports pipeline (one place, so sources and functions agree)."""

from __future__ import annotations

#: Raw inputs: ``TrackingFrame`` keyed by game, ``BiometricSample`` keyed by game (or athlete),
#: ``GameEvent`` keyed by game.
TRACKING = "tracking"
BIOMETRICS = "biometrics"
GAME_EVENTS = "game_events"

#: Outputs: ``MetricUpdate`` and ``Alert`` events keyed by game.
METRICS = "metrics"
ALERTS = "alerts"
