"""Settings of the built-in pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

from arenaflow.pipeline.rules import DEFAULT_RULES, Rule
from arenaflow.sports.fields import FOOTBALL, Field


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """What the built-in functions need to know.

    Attributes:
        field: Field geometry (a match may declare its own size).
        live_hz: How often each player's live speed is published as a ``MetricUpdate``
            (tracking runs at 25 Hz; overlays need a few updates a second, not 25).
        speed_cap_mps: Faster steps are implausible jumps (DESIGN.md: 12 m/s).
        outside_margin_m: Objects further than this outside the field are impossible input.
        window_frames: Causal smoothing window of positions (frames).
        rules: Alert rules.
        hr_max_bpm: Per-athlete HRmax; missing athletes use Tanaka's 208 - 0.7 x age.
        default_age: Age assumed for athletes without one (for Tanaka's HRmax).
        batch_size: Batch size of the stream functions.
        raw_retention_days: Raw frames and samples older than this are dropped from the
            store's archive (metrics, events and alerts are kept).
    """

    field: Field = FOOTBALL
    live_hz: float = 5.0
    speed_cap_mps: float = 12.0
    outside_margin_m: float = 5.0
    window_frames: int = 7
    rules: tuple[Rule, ...] = tuple(DEFAULT_RULES)
    hr_max_bpm: dict[str, float] = dataclass_field(default_factory=dict)
    default_age: float = 25.0
    batch_size: int = 500
    raw_retention_days: float = 30.0
