"""Settings, read once from ``ARENAFLOW_*`` environment variables into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from arenaflow.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime settings. Every field maps to ``ARENAFLOW_<FIELD>`` (upper case).

    Attributes:
        transport: ``memory`` or a ``redis://`` URL.
        state: ``memory`` or a ``redis://`` URL.
        partitions: Partitions of a topic created on first use.
        retention: Events kept per partition (memory transport).
        store: ``duckdb`` (embedded, under ``data_dir``), ``duckdb:///dir`` or a
            ``postgresql://`` URL.
        data_dir: Where embedded backends keep files.
        api_keys: Gateway API keys, ``name:scope+scope:sha256hex`` entries separated by
            commas (:mod:`arenaflow.gateway.auth`).
        log_level: Python logging level name.
    """

    transport: str = "memory"
    state: str = "memory"
    partitions: int = 8
    retention: int = 100_000
    store: str = "duckdb"
    data_dir: Path = Path(".arenaflow")
    api_keys: str = ""
    log_level: str = "WARNING"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment; a bad value raises ConfigError naming the variable."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            var = f"ARENAFLOW_{f.name.upper()}"
            raw = env.get(var)
            if raw is None:
                continue
            if f.type == "int":
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ConfigError(f"{var} must be an integer, got {raw!r}") from None
            elif f.type == "Path":
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.partitions < 1:
            raise ConfigError(f"ARENAFLOW_PARTITIONS must be >= 1, got {settings.partitions}")
        if settings.retention < 1:
            raise ConfigError(f"ARENAFLOW_RETENTION must be >= 1, got {settings.retention}")
        return settings
