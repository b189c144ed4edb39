"""SkillCorner broadcast tracking (10 Hz): JSONL raw data and a JSON match file, via kloppy.

Frames where nothing was detected stay in the stream with no objects (the clock keeps running).
"""

from __future__ import annotations

from pathlib import Path

from arenaflow.sports.sources.vendors._kloppy import METRES, kloppy_module, tracking_replay
from arenaflow.sports.sources.vendors.base import Replay, companion, require_file


def load(
    path: str | Path,
    *,
    game_id: str | None = None,
    meta_data: str | Path | None = None,
) -> Replay:
    """Load SkillCorner tracking (``*raw_data.jsonl`` + ``*meta_data.json``, or the open-data
    ``<id>_tracking_extrapolated.jsonl`` + ``<id>_match.json``)."""
    raw = require_file(path, "skillcorner")
    meta = companion(
        raw,
        "skillcorner",
        "meta_data",
        [("raw_data", "meta_data"), ("tracking_extrapolated", "match"), ("tracking", "match")],
        [".json"],
        meta_data,
        globs=("*meta*.json", "*match.json"),
    )
    skillcorner = kloppy_module("skillcorner")
    return tracking_replay(
        "skillcorner",
        lambda: skillcorner.load(
            meta_data=str(meta), raw_data=str(raw), include_empty_frames=True, coordinates=METRES
        ),
        raw,
        {"raw_data": raw, "meta_data": meta},
        game_id,
    )
