"""Replay of real vendor files, one module per provider; each converts at the edge into our
schemas (metres from the centre spot, seconds, ``home``/``away``/``ball``).

Providers are chosen by name and imported lazily (kloppy only loads when a kloppy-based file does):

============== ======== ============================================================================
name           kind     files
============== ======== ============================================================================
metrica_csv    tracking ``*home*.csv`` + ``*away*.csv``
metrica_epts   tracking ``*tracking*.txt`` + ``*metadata*.xml`` (FIFA EPTS)
tracab         tracking ``*raw*.dat`` + ``*meta*.xml`` / ``.json``
secondspectrum tracking ``*data.jsonl`` + ``*metadata.xml`` (+ ``*metadata.json``)
skillcorner    tracking ``*raw_data.jsonl`` + ``*meta_data.json``
sportec        tracking ``*positional.xml`` + ``*meta.xml`` (DFL positions + match information)
statsperform   tracking ``*ma25*.txt`` + ``*ma1*.json``
statsbomb      events   ``*event*.json`` (+ ``*lineup*.json``)
sportvu        tracking one NBA SportVU movement ``.json`` (basketball)
============== ======== ============================================================================

Example:
    >>> sorted(PROVIDERS)[:3]
    ['metrica_csv', 'metrica_epts', 'secondspectrum']
    >>> load("match.dat", provider="hawkeye")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    arenaflow.errors.ConfigError: unknown provider 'hawkeye'; valid providers: metrica_csv, ...
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from arenaflow.errors import ConfigError
from arenaflow.sports.schemas import Sport
from arenaflow.sports.sources.vendors.base import Athlete, Replay

ProviderName = Literal[
    "metrica_csv",
    "metrica_epts",
    "tracab",
    "secondspectrum",
    "skillcorner",
    "sportec",
    "statsperform",
    "statsbomb",
    "sportvu",
]


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider's loader, by import path.

    Attributes:
        name: The provider name.
        target: ``module:function`` of the loader (``load(path, *, game_id=None, **files)``).
        kind: ``tracking`` (TrackingFrames) or ``events`` (GameEvents).
        sport: The sport of its files.
        companion: Keyword of the loader's main companion file (what ``--meta`` sets), if any.
    """

    name: str
    target: str
    kind: Literal["tracking", "events"]
    sport: Sport
    companion: str | None

    def loader(self) -> Any:
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)


_M = "arenaflow.sports.sources.vendors"

PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("metrica_csv", f"{_M}.metrica:load_csv", "tracking", "football", "away_data"),
        Provider("metrica_epts", f"{_M}.metrica:load_epts", "tracking", "football", "meta_data"),
        Provider("tracab", f"{_M}.tracab:load", "tracking", "football", "meta_data"),
        Provider(
            "secondspectrum", f"{_M}.secondspectrum:load", "tracking", "football", "meta_data"
        ),
        Provider("skillcorner", f"{_M}.skillcorner:load", "tracking", "football", "meta_data"),
        Provider("sportec", f"{_M}.sportec:load", "tracking", "football", "meta_data"),
        Provider("statsperform", f"{_M}.statsperform:load", "tracking", "football", "ma1_data"),
        Provider("statsbomb", f"{_M}.statsbomb:load", "events", "football", "lineup"),
        Provider("sportvu", f"{_M}.sportvu:load", "tracking", "basketball", None),
    )
}


def get_provider(name: str) -> Provider:
    """The provider called ``name``.

    Raises:
        ConfigError: unknown name (the message lists the valid ones).
    """
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ConfigError(
            f"unknown provider {name!r}; valid providers: {', '.join(PROVIDERS)}"
        ) from None


def load(
    path: str | Path,
    provider: str,
    *,
    game_id: str | None = None,
    meta: str | Path | None = None,
    **files: Any,
) -> Replay:
    """Load a vendor file; companion files are found next to it unless given.

    Args:
        path: The raw data file (the events file for ``statsbomb``; the home team's CSV for
            ``metrica_csv``).
        provider: A name from ``PROVIDERS``.
        game_id: Game id for the items (default: the file's own match id).
        meta: The provider's main companion file (metadata, the away CSV, the lineup).
        **files: Other companion files by the loader's keyword (e.g. ``additional_meta_data``).

    Raises:
        ConfigError: unknown provider, or a companion the provider does not take.
        MissingCompanionFile: a companion file is neither given nor found; names the file.
        SourceError: the provider's parser rejected the file.
    """
    info = get_provider(provider)
    if meta is not None:
        if info.companion is None:
            raise ConfigError(f"provider {info.name!r} reads one file and takes no --meta file")
        files[info.companion] = meta
    loader = info.loader()
    accepted = [p for p in inspect.signature(loader).parameters if p not in ("path", "game_id")]
    for name in files:
        if name not in accepted:
            raise ConfigError(
                f"provider {info.name!r} takes no {name!r} file; it takes: {', '.join(accepted)}"
            )
    replay: Replay = loader(path, game_id=game_id, **files)
    return replay


__all__ = ["PROVIDERS", "Athlete", "Provider", "ProviderName", "Replay", "get_provider", "load"]
