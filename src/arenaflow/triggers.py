"""Triggers: what makes a function run.

* :func:`stream` — events on a transport topic, in batches, in order per key (the Kinesis/Kafka
  event-source mapping).
* :func:`http` — an HTTP route of the gateway.
* :func:`schedule` — a fixed rate ("1s", "500ms", "rate(5 minutes)").
* :func:`webhook` — a signed inbound webhook (HMAC-SHA256 over the body).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from arenaflow.errors import ConfigError

Codec = Literal["json", "msgpack"]


@dataclass(frozen=True, slots=True)
class Stream:
    """Run on batches of events from ``topic``.

    Attributes:
        topic: Topic to consume.
        key: Field of the payload that orders events (e.g. ``game_id``); used as the partition key
            when an event is published without an explicit key.
        schema: Optional msgspec ``Struct`` (or any type msgspec converts to); payloads that are
            bytes are decoded with ``codec``, mappings converted. An event that does not decode
            goes to the dead-letter topic with the reason.
        codec: Wire format of bytes payloads.
    """

    topic: str
    key: str | None = None
    schema: Any = None
    codec: Codec = "json"


@dataclass(frozen=True, slots=True)
class Http:
    """Serve an HTTP route of the gateway; the function gets a one-event batch per request."""

    path: str
    methods: tuple[str, ...] = ("POST",)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Run every ``every_s`` seconds with a one-event batch holding the tick time."""

    every_s: float


@dataclass(frozen=True, slots=True)
class Webhook:
    """Receive a signed webhook at ``/v1/webhooks/{name}``; ``secret`` verifies its signature."""

    name: str
    secret: str | None = None


Trigger = Stream | Http | Schedule | Webhook


def stream(
    topic: str, key: str | None = None, *, schema: Any = None, codec: Codec = "json"
) -> Stream:
    """Bind a function to a topic. See :class:`Stream`."""
    if not topic or not isinstance(topic, str):
        raise ConfigError("stream: topic must be a non-empty string")
    if codec not in ("json", "msgpack"):
        raise ConfigError(f"stream: codec must be 'json' or 'msgpack', got {codec!r}")
    return Stream(topic, key, schema, codec)


def http(path: str, methods: tuple[str, ...] | list[str] = ("POST",)) -> Http:
    """Bind a function to an HTTP route. See :class:`Http`."""
    if not path.startswith("/"):
        raise ConfigError(f"http: path must start with '/', got {path!r}")
    return Http(path, tuple(m.upper() for m in methods))


_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_RATE = re.compile(r"^\s*(?:rate\(\s*)?([0-9]*\.?[0-9]+)\s*([a-z]+)\s*\)?\s*$")


def schedule(every: str | float) -> Schedule:
    """Run at a fixed rate: seconds as a number, or "250ms", "1s", "5m", "rate(1 minute)"."""
    if isinstance(every, int | float):
        seconds = float(every)
    else:
        match = _RATE.match(every.lower())
        if match is None or match.group(2) not in _UNITS:
            raise ConfigError(f"schedule: cannot read rate {every!r}; use e.g. '1s' or '500ms'")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"schedule: rate must be positive, got {every!r}")
    return Schedule(seconds)


def webhook(name: str, secret: str | None = None) -> Webhook:
    """Bind a function to a signed inbound webhook. See :class:`Webhook`."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"webhook: name must be letters, digits, '_', '.', '-', got {name!r}")
    return Webhook(name, secret)
