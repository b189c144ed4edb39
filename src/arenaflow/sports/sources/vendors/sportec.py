"""Sportec Solutions / DFL (Bundesliga) positional data: XML positions and XML match
information, via kloppy. The pitch size comes from the match information (``PitchX``/``PitchY``)."""

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
    """Load Sportec tracking (``*positional.xml`` + ``*meta.xml``, or DFL's
    ``*positions_raw_observed*.xml`` + ``*matchinformation*.xml``)."""
    raw = require_file(path, "sportec")
    meta = companion(
        raw,
        "sportec",
        "meta_data",
        [("positional", "meta"), ("positions_raw_observed", "matchinformation"), ("raw", "meta")],
        [".xml"],
        meta_data,
        globs=("*matchinformation*.xml", "*meta*.xml"),
    )
    sportec = kloppy_module("sportec")
    return tracking_replay(
        "sportec",
        lambda: sportec.load_tracking(meta_data=str(meta), raw_data=str(raw), coordinates=METRES),
        raw,
        {"raw_data": raw, "meta_data": meta},
        game_id,
    )
