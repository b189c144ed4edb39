"""Metrica Sports tracking: the CSV pair (one file per team) and FIFA EPTS (text + XML), via kloppy.

Files: ``*home*.csv`` + ``*away*.csv`` (3 header rows, coordinates 0-1 of a 105 x 68 m pitch,
which Metrica's CSV does not declare); EPTS ``*tracking*.txt`` + ``*metadata*.xml``.
"""

from __future__ import annotations

import re
from pathlib import Path

from arenaflow.sports.sources.vendors._kloppy import METRES, kloppy_module, tracking_replay
from arenaflow.sports.sources.vendors.base import Replay, companion, require_file


def load_csv(
    path: str | Path,
    *,
    game_id: str | None = None,
    away_data: str | Path | None = None,
) -> Replay:
    """Load a Metrica CSV pair from the home team's file (or the away team's: the other is found
    next to it by swapping ``home``/``away`` in the name)."""
    given = require_file(path, "metrica_csv")
    if away_data is None and "away" in given.name.lower() and "home" not in given.name.lower():
        home = companion(given, "metrica_csv", "home_data", [("away", "home")], [given.suffix])
        away = given
    else:
        home = given
        away = companion(
            given, "metrica_csv", "away_data", [("home", "away")], [given.suffix], away_data
        )
    if game_id is None:  # the match's name, without the team's part
        game_id = re.sub(r"[_\- ]*home[_\- ]*(team)?", "", home.stem, flags=re.I) or home.stem
    metrica = kloppy_module("metrica")
    return tracking_replay(
        "metrica_csv",
        lambda: metrica.load_tracking_csv(
            home_data=str(home), away_data=str(away), coordinates=METRES
        ),
        home,
        {"home_data": home, "away_data": away},
        game_id,
    )


def load_epts(
    path: str | Path,
    *,
    game_id: str | None = None,
    meta_data: str | Path | None = None,
) -> Replay:
    """Load Metrica EPTS tracking (the ``.txt`` raw data; the XML metadata is found next to it)."""
    raw = require_file(path, "metrica_epts")
    meta = companion(
        raw,
        "metrica_epts",
        "meta_data",
        [("tracking", "metadata"), ("raw", "meta"), ("data", "metadata")],
        [".xml"],
        meta_data,
        appends=("_metadata", "_meta"),
        globs=("*meta*.xml",),
    )
    metrica = kloppy_module("metrica")
    return tracking_replay(
        "metrica_epts",
        lambda: metrica.load_tracking_epts(
            meta_data=str(meta), raw_data=str(raw), coordinates=METRES
        ),
        raw,
        {"raw_data": raw, "meta_data": meta},
        game_id,
    )
