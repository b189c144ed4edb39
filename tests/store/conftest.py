"""Every store test runs against every backend: DuckDB (embedded, always) and PostgreSQL.

PostgreSQL is the server at ``ARENAFLOW_TEST_POSTGRES`` (default 127.0.0.1:5432, database
``test``, trust auth; ``scripts/services`` starts it). Each test gets its own schema, dropped
afterwards. Where the server is unreachable the PostgreSQL cases skip with the reason, unless
``ARENAFLOW_REQUIRE_SERVICES=1`` (set by ``scripts/test``, so CI never skips them silently).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from arenaflow.store.base import Store

POSTGRES_URL = os.environ.get("ARENAFLOW_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used here, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'arenaflow[postgres]')"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}".strip()


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("ARENAFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (ARENAFLOW_REQUIRE_SERVICES=1: services must run)")
    pytest.skip(reason)


def make_store(backend: str, tmp_path: Path) -> Iterator[Store]:
    if backend == "duckdb":
        from arenaflow.store.duckdb import DuckDBStore

        store: Store = DuckDBStore(tmp_path / "store")
        store.open()
        try:
            yield store
        finally:
            store.close()
        return
    reason = postgres_unavailable()
    if reason is not None:
        _skip_or_fail(reason)
    from arenaflow.store.postgres import PostgresStore

    schema = f"t_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(POSTGRES_URL, schema=schema)
    store.open()
    try:
        yield store
    finally:
        store.close()
        PostgresStore.drop_schema(POSTGRES_URL, schema)


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path)
