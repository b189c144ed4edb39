"""Stats Perform (Opta) tracking: the MA25 text feed and the MA1 match JSON/XML, via kloppy."""

from __future__ import annotations

from pathlib import Path

from arenaflow.sports.sources.vendors._kloppy import METRES, kloppy_module, tracking_replay
from arenaflow.sports.sources.vendors.base import Replay, companion, require_file


def load(
    path: str | Path,
    *,
    game_id: str | None = None,
    ma1_data: str | Path | None = None,
) -> Replay:
    """Load Stats Perform tracking from the MA25 file (``*ma25*.txt``; ``*ma1*.json`` beside it)."""
    raw = require_file(path, "statsperform")
    meta = companion(
        raw,
        "statsperform",
        "ma1_data",
        [("ma25", "ma1")],
        [".json", ".xml"],
        ma1_data,
        globs=("*ma1*.json", "*ma1*.xml"),
    )
    statsperform = kloppy_module("statsperform")
    return tracking_replay(
        "statsperform",
        lambda: statsperform.load_tracking(
            ma1_data=str(meta), ma25_data=str(raw), coordinates=METRES
        ),
        raw,
        {"ma25_data": raw, "ma1_data": meta},
        game_id,
    )
