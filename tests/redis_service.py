"""The real Redis the tests use: ``ARENAFLOW_TEST_REDIS`` (default 127.0.0.1:6379/0, which
``scripts/services`` starts). Each test gets its own key prefix, deleted afterwards. Where Redis
is unreachable the tests skip with the reason, unless ``ARENAFLOW_REQUIRE_SERVICES=1`` (set by
``scripts/test``, so CI never skips them silently)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("ARENAFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_unavailable() -> str | None:
    """Why Redis cannot be used here, or None."""
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install 'arenaflow[redis]')"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return None
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} is unreachable: {exc}"


def require_redis() -> None:
    reason = redis_unavailable()
    if reason is None:
        return
    if os.environ.get("ARENAFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (ARENAFLOW_REQUIRE_SERVICES=1: services must run)")
    pytest.skip(reason)


def delete_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL with a key prefix of this test's own (``?prefix=t...``)."""
    require_redis()
    prefix = f"t{secrets.token_hex(4)}"
    try:
        yield f"{REDIS_URL}?prefix={prefix}"
    finally:
        delete_prefix(prefix)
