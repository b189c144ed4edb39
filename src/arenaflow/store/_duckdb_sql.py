"""Helpers the DuckDB store and its Parquet archive share: running a statement, quoting a literal,
declaring an Arrow schema.

Example:
    >>> import duckdb
    >>> run(duckdb.connect(), "SELECT " + sql_literal("it's"))
    [("it's",)]
    >>> arrow_schema("game_id:string frame:int64").names
    ['game_id', 'frame']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["arrow_schema", "run", "sql_literal"]


def run(cur: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()) -> list[Any]:
    """Execute and fetch it all (a DuckDB cursor is busy until its result is consumed)."""
    return cur.execute(query, params).fetchall()


def sql_literal(text: str) -> str:
    """A SQL string literal (a file name in COPY or read_parquet)."""
    return "'" + text.replace("'", "''") + "'"


def arrow_schema(spec: str) -> pa.Schema:
    """An Arrow schema from ``"name:type ..."`` (pyarrow's type factory names)."""
    return pa.schema([(n, getattr(pa, t)()) for n, t in (f.split(":") for f in spec.split())])
