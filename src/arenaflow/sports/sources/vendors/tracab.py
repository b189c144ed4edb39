"""TRACAB (ChyronHego) tracking: a `.dat` (or JSON) raw file and its XML/JSON metadata (kloppy)."""

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
    """Load TRACAB tracking (``x_raw.dat`` + ``x_meta.xml``, or ``x.dat`` + ``x_metadata.xml``)."""
    raw = require_file(path, "tracab")
    meta = companion(
        raw,
        "tracab",
        "meta_data",
        [("raw", "meta"), ("raw", "metadata")],
        [".xml", ".json"],
        meta_data,
        appends=("_metadata", "_meta", ""),
        globs=("*meta*.xml", "*meta*.json"),
    )
    tracab = kloppy_module("tracab")
    return tracking_replay(
        "tracab",
        lambda: tracab.load(meta_data=str(meta), raw_data=str(raw), coordinates=METRES),
        raw,
        {"raw_data": raw, "meta_data": meta},
        game_id,
    )
