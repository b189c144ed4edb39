"""Load the vendor tracking samples of ``../shared/data/tracking`` as metre arrays (tests only).

Each sample loads with kloppy (except the Last-Row CSV, plain text) and is converted to metres
with the origin at the centre spot, x along the pitch, one array per period: ``t_s (T,)``,
``ids``, ``xy_m (T, n, 2)`` with NaN where a player is not in a frame. The data stays where it
is: the product must run without it and its terms do not allow copying it into the repository.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TRACKING_DIR = DATA_DIR / "tracking"


@dataclass(frozen=True)
class Period:
    """One period of a sample: frame times, player ids and positions in metres."""

    provider: str
    period: int
    fps: float
    t_s: np.ndarray
    ids: list[str]
    xy_m: np.ndarray


def _kloppy_loaders() -> dict[str, Callable[[], Any]]:
    from kloppy import metrica, secondspectrum, skillcorner, sportec, statsperform, tracab

    d = TRACKING_DIR
    return {
        "metrica_epts": lambda: metrica.load_tracking_epts(
            meta_data=d / "epts_metrica_metadata.xml", raw_data=d / "epts_metrica_tracking.txt"
        ),
        "metrica_csv": lambda: metrica.load_tracking_csv(
            home_data=d / "metrica_home.csv", away_data=d / "metrica_away.csv"
        ),
        "tracab": lambda: tracab.load(
            meta_data=d / "tracab_meta.xml", raw_data=d / "tracab_raw.dat"
        ),
        "statsperform": lambda: statsperform.load_tracking(
            ma1_data=d / "statsperform_tracking_ma1.json",
            ma25_data=d / "statsperform_tracking_ma25.txt",
        ),
        "skillcorner": lambda: skillcorner.load(
            meta_data=d / "skillcorner_v3_meta_data.json",
            raw_data=d / "skillcorner_v3_raw_data.jsonl",
            include_empty_frames=True,
        ),
        "sportec": lambda: sportec.load_tracking(
            meta_data=d / "sportec_meta.xml", raw_data=d / "sportec_positional.xml"
        ),
        "secondspectrum": lambda: secondspectrum.load(
            meta_data=d / "second_spectrum_fake_metadata.xml",
            raw_data=d / "second_spectrum_fake_data.jsonl",
            additional_meta_data=d / "second_spectrum_fake_metadata.json",
        ),
    }


KLOPPY_PROVIDERS = (
    "metrica_epts",
    "metrica_csv",
    "tracab",
    "statsperform",
    "skillcorner",
    "sportec",
    "secondspectrum",
)
PROVIDERS = (*KLOPPY_PROVIDERS, "lastrow")


def load_periods(provider: str) -> list[Period]:
    """The sample of ``provider`` as one :class:`Period` per period of play."""
    if provider == "lastrow":
        return [_lastrow()]
    from kloppy.domain import Provider

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = _kloppy_loaders()[provider]()
        # TRACAB's system: centimetres, origin at the centre spot, x along the pitch.
        dataset = dataset.transform(to_coordinate_system=Provider.TRACAB)
    fps = float(dataset.metadata.frame_rate)
    periods = []
    for number in sorted({r.period.id for r in dataset.records}):
        records = [r for r in dataset.records if r.period.id == number]
        ids = sorted({p.player_id for r in records for p in r.players_data})
        column = {pid: i for i, pid in enumerate(ids)}
        xy = np.full((len(records), len(ids), 2), np.nan)
        for i, record in enumerate(records):
            for player, data in record.players_data.items():
                c = data.coordinates
                if c is not None and c.x is not None and c.y is not None:
                    xy[i, column[player.player_id]] = (c.x / 100.0, c.y / 100.0)
        t = np.array([r.timestamp.total_seconds() for r in records])
        periods.append(Period(provider, number, fps, t, ids, xy))
    return periods


def _lastrow() -> Period:
    """Last-Row (Friends of Tracking) CSV: 20 fps, pitch units 0-100 on both axes, taken as a
    105 x 68 m pitch; player 0 is the ball."""
    import pandas as pd

    df = pd.read_csv(TRACKING_DIR / "lastrow_LIV_2-1_CHE.csv")
    df = df[df["player"] != 0]
    ids = sorted(int(p) for p in df["player"].unique())
    column = {pid: i for i, pid in enumerate(ids)}
    frames = df["frame"].to_numpy()
    xy = np.full((frames.max() + 1, len(ids), 2), np.nan)
    cols = np.array([column[int(p)] for p in df["player"]])
    xy[frames, cols, 0] = (df["x"].to_numpy() / 100.0 - 0.5) * 105.0
    xy[frames, cols, 1] = (df["y"].to_numpy() / 100.0 - 0.5) * 68.0
    t = np.arange(xy.shape[0]) / 20.0
    return Period("lastrow", 1, 20.0, t, [str(i) for i in ids], xy)
