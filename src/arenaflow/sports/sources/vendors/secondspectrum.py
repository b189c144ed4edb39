"""Second Spectrum tracking: JSONL raw data, XML metadata and an optional JSON metadata file
(player names and ids), via kloppy."""

from __future__ import annotations

from pathlib import Path

from arenaflow.sports.sources.vendors._kloppy import METRES, kloppy_module, tracking_replay
from arenaflow.sports.sources.vendors.base import Replay, companion, find_companion, require_file


def load(
    path: str | Path,
    *,
    game_id: str | None = None,
    meta_data: str | Path | None = None,
    additional_meta_data: str | Path | None = None,
) -> Replay:
    """Load Second Spectrum tracking from the ``*data.jsonl`` file (``*metadata.xml`` and
    ``*metadata.json`` are found next to it)."""
    raw = require_file(path, "secondspectrum")
    swaps = [("data", "metadata"), ("tracking", "metadata"), ("raw", "meta")]
    meta = companion(
        raw, "secondspectrum", "meta_data", swaps, [".xml"], meta_data, globs=("*meta*.xml",)
    )
    if additional_meta_data is not None:
        extra: Path | None = companion(
            raw, "secondspectrum", "additional_meta_data", swaps, [".json"], additional_meta_data
        )
    else:
        extra, _ = find_companion(raw, swaps, [".json"])
    files = {"raw_data": raw, "meta_data": meta}
    if extra is not None:
        files["additional_meta_data"] = extra
    ss = kloppy_module("secondspectrum")
    return tracking_replay(
        "secondspectrum",
        lambda: ss.load(
            meta_data=str(meta),
            raw_data=str(raw),
            additional_meta_data=None if extra is None else str(extra),
            coordinates=METRES,
        ),
        raw,
        files,
        game_id,
    )
