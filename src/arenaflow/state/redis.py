"""Redis keyed state: every process of a fleet sees the state a function committed anywhere.

Layout (the transport's key prefix, ``arenaflow`` by default)::

    {prefix}:state:{namespace}   hash: msgpack(key) -> msgpack(value)
    {prefix}:wm:{namespace}      hash: "topic|partition|key" -> highest offset applied

Reads are synchronous in the state seam (a function reads ``ctx.state`` in plain code), so each
process keeps a mirror of the namespaces it uses: loaded when the state starts, updated by its
own commits, and loaded again (:meth:`RedisState.refresh`) when the process takes a partition
over, since the previous owner wrote that partition's keys. That is correct because a key is
written on behalf of one partition (the runtime's state is keyed like its events, as in Kafka
Streams): keys that several partitions write concurrently would see each other's writes late.

A commit is one Lua script: the fence check (the partition's lease, when the transport shares
partitions), the writes, the deletes and the watermarks, atomically. A paused process that lost
its partition cannot overwrite what the new owner committed.

Example:
    >>> RedisState("redis://127.0.0.1:6379/0?prefix=demo").hash_key("kinematics")
    'demo:state:kinematics'
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import msgspec

from arenaflow.errors import ConfigError, MissingExtra, PartitionLost, StateError
from arenaflow.state.base import DELETED, State, WatermarkKey
from arenaflow.transport.base import Fence

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover (the extra is installed in development)
    raise MissingExtra("redis", "redis") from exc

log = logging.getLogger(__name__)

# KEYS[1] fence ('' none), KEYS[2] state hash, KEYS[3] watermark hash; ARGV[1] token,
# ARGV[2] sets, ARGV[3] deletes, then sets (field, value), deletes (field), marks (field, offset)
_COMMIT = """
if KEYS[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local sets, dels = tonumber(ARGV[2]), tonumber(ARGV[3])
local i = 4
for _ = 1, sets do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) i = i + 2 end
for _ = 1, dels do redis.call('HDEL', KEYS[2], ARGV[i]) i = i + 1 end
while i <= #ARGV do
  local cur = tonumber(redis.call('HGET', KEYS[3], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
return 1
"""

_encode = msgspec.msgpack.encode
_decode = msgspec.msgpack.decode


def _hashable(value: Any) -> Hashable:
    """A decoded key back as a key: msgpack turns tuples into lists."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value  # type: ignore[no-any-return]


def _mark_field(wkey: WatermarkKey) -> bytes:
    topic, partition, key = wkey
    return _encode([topic, partition, key])


class RedisState(State):
    """Keyed state in Redis hashes, mirrored in memory per process (see the module doc).

    Args:
        url: ``redis://host:port/db`` with an optional ``prefix`` query parameter (the
            transport's, ``arenaflow`` by default).
    """

    name = "redis"

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", **_: Any) -> None:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.prefix = query.pop("prefix", "arenaflow")
        query.pop("lease_ms", None)  # a transport URL may be reused as is
        if query:
            raise ConfigError(f"redis state: unknown URL parameter(s) {sorted(query)}")
        self.url = urlunsplit(parts._replace(query=""))
        self._redis: aioredis.Redis | None = None
        self._commit: Any = None
        self._data: dict[str, dict[Hashable, Any]] = {}
        self._marks: dict[str, dict[WatermarkKey, int]] = {}

    def hash_key(self, namespace: str) -> str:
        return f"{self.prefix}:state:{namespace}"

    def _marks_key(self, namespace: str) -> str:
        return f"{self.prefix}:wm:{namespace}"

    async def start(self) -> None:
        if self._redis is not None:
            return
        self._redis = aioredis.Redis.from_url(self.url, decode_responses=False)
        self._commit = self._redis.register_script(_COMMIT)
        try:
            async for raw in self._redis.scan_iter(match=f"{self.prefix}:state:*", count=500):
                await self.refresh(raw.decode().split(":state:", 1)[1])
        except (RedisError, OSError) as exc:
            raise StateError(f"redis state at {self.url} is unreachable: {exc}") from exc

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def refresh(self, namespace: str) -> None:
        """Load ``namespace`` from Redis again (after this process took a partition over)."""
        redis = self._redis
        if redis is None:
            return
        try:
            data: dict[bytes, bytes] = await redis.hgetall(self.hash_key(namespace))  # type: ignore[assignment]
            marks: dict[bytes, bytes] = await redis.hgetall(self._marks_key(namespace))  # type: ignore[assignment]
        except (RedisError, OSError) as exc:
            raise StateError(f"redis state: cannot load {namespace!r}: {exc}") from exc
        self._data[namespace] = {_hashable(_decode(k)): _decode(v) for k, v in data.items()}
        loaded: dict[WatermarkKey, int] = {}
        for field, offset in marks.items():
            topic, partition, key = _decode(field)
            loaded[(topic, partition, key)] = int(offset)
        self._marks[namespace] = loaded

    def get(self, namespace: str, key: Hashable, default: Any = None) -> Any:
        ns = self._data.get(namespace)
        return default if ns is None else ns.get(key, default)

    def watermark(self, namespace: str, wkey: WatermarkKey) -> int:
        marks = self._marks.get(namespace)
        return -1 if marks is None else marks.get(wkey, -1)

    def items(self, namespace: str) -> Iterator[tuple[Hashable, Any]]:
        return iter(list(self._data.get(namespace, {}).items()))

    async def commit(
        self,
        namespace: str,
        writes: Mapping[Hashable, Any],
        watermarks: Mapping[WatermarkKey, int],
        fence: Fence | None = None,
    ) -> None:
        if self._redis is None:
            raise StateError("the redis state is not started (await state.start())")
        sets = [(k, v) for k, v in writes.items() if v is not DELETED]
        dels = [k for k, v in writes.items() if v is DELETED]
        args: list[Any] = [fence.token if fence else "", len(sets), len(dels)]
        try:
            for key, value in sets:
                args += [_encode(key), _encode(value)]
            args += [_encode(key) for key in dels]
        except TypeError as exc:
            raise StateError(f"state of {namespace!r} cannot be stored in redis: {exc}") from exc
        for wkey, offset in watermarks.items():
            args += [_mark_field(wkey), offset]
        keys = [fence.key if fence else "", self.hash_key(namespace), self._marks_key(namespace)]
        try:
            done = await self._commit(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise StateError(f"redis state: commit of {namespace!r} failed: {exc}") from exc
        if done == -1:
            raise PartitionLost(f"{fence.key if fence else ''}: lost before the state commit")
        ns = self._data.setdefault(namespace, {})
        for key, value in sets:
            ns[key] = value
        for key in dels:
            ns.pop(key, None)
        marks = self._marks.setdefault(namespace, {})
        for wkey, offset in watermarks.items():
            if offset > marks.get(wkey, -1):
                marks[wkey] = offset
