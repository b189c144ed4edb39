"""The store: metric history, season context and the raw archive (see :mod:`.base`).

Choose a backend by name or URL: ``duckdb`` (the embedded default: a database file and a
Parquet archive under the data directory), ``duckdb:///path/to/dir``, or
``postgresql://user@host:5432/db`` (PostgreSQL, ``pip install 'arenaflow[postgres]'``).
"""

from __future__ import annotations

from pathlib import Path

from arenaflow.errors import ConfigError, MissingExtra
from arenaflow.store.base import Store


def open_store(name_or_url: str, data_dir: Path) -> Store:
    """Connect to the store ``name_or_url`` names and bring its schema up to date."""
    scheme = name_or_url.split("://", 1)[0] if "://" in name_or_url else name_or_url
    store: Store
    if scheme == "duckdb":
        try:
            from arenaflow.store.duckdb import DuckDBStore
        except ImportError as exc:
            if exc.name not in ("duckdb", "pyarrow"):
                raise
            raise MissingExtra("duckdb", "duckdb") from exc
        rest = name_or_url.split("://", 1)[1] if "://" in name_or_url else ""
        store = DuckDBStore(Path(rest) if rest else data_dir / "store")
    elif scheme in ("postgres", "postgresql"):
        try:
            from arenaflow.store.postgres import PostgresStore
        except ImportError as exc:
            if exc.name not in ("psycopg", "psycopg_binary"):
                raise
            raise MissingExtra("postgres", "postgres") from exc
        store = PostgresStore(name_or_url.replace("postgres://", "postgresql://", 1))
    else:
        raise ConfigError(
            f"store: unknown backend {name_or_url!r}; use 'duckdb', 'duckdb:///dir' or a "
            "postgresql:// URL"
        )
    store.open()
    return store


__all__ = ["Store", "open_store"]
