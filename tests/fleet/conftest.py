from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.harness import RedisServer
from tests.redis_service import require_redis


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own (AOF on), so a test can restart it."""
    require_redis()  # redis-py and a server binary
    workdir = tmp_path / "redis"
    workdir.mkdir()
    redis = RedisServer(workdir)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()
