"""API keys with scopes, stored hashed.

Scopes:

* ``ingest``: post events to ``/v1/ingest/{topic}``;
* ``broadcast``: the overlay feed and queries, never biometric data;
* ``fan``: the same as broadcast, for fan apps (separate keys, separate limits later);
* ``staff``: team performance staff: everything, biometric data (heart rate, zones, TRIMP and
  their alerts) included;
* ``admin``: everything, and the operator's dashboard and metrics.

Keys are random strings shown once when issued; the gateway keeps only their SHA-256 digests
(keys are long and random, so a fast hash is enough: there is nothing to brute-force). They come
from ``ARENAFLOW_API_KEYS``: comma-separated ``name:scope+scope:sha256hex`` entries, e.g.
``overlay:broadcast:9f86d0...``. ``arenaflow keys new NAME --scope broadcast`` prints a key and its
entry.

A client presents its key as ``Authorization: Bearer <key>``, or as ``?key=<key>`` where headers
cannot be set (a browser's WebSocket).

Example:
    >>> ring = KeyRing()
    >>> key = ring.issue("overlay", {"broadcast"})
    >>> ring.check(key).scopes, ring.check("nope")
    (frozenset({'broadcast'}), None)
    >>> KeyRing.parse(ring.entries()).check(key).name
    'overlay'
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

from arenaflow.errors import ConfigError

Scope = Literal["ingest", "broadcast", "fan", "staff", "admin"]
SCOPES: Final[frozenset[str]] = frozenset(get_args(Scope))
#: Scopes that may see private (biometric) data.
PRIVATE_SCOPES: Final[frozenset[str]] = frozenset({"staff", "admin"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who presented a key: its name and scopes."""

    name: str
    scopes: frozenset[str]

    def may(self, *scopes: str) -> bool:
        """True when the key has any of ``scopes`` (admin may everything)."""
        return "admin" in self.scopes or any(s in self.scopes for s in scopes)

    @property
    def sees_private(self) -> bool:
        """Whether biometric data may be sent to this key."""
        return bool(self.scopes & PRIVATE_SCOPES)


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key a request (or WebSocket handshake) presents: ``Authorization: Bearer <key>``,
    else ``?key=<key>``."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return query.get("key") or None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """Known keys by digest."""

    def __init__(self) -> None:
        self._by_digest: dict[str, Principal] = {}

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Keys from ``name:scope+scope:sha256hex`` entries separated by commas."""
        ring = cls()
        for raw in filter(None, (e.strip() for e in text.split(","))):
            parts = raw.split(":")
            if len(parts) != 3:
                raise ConfigError(
                    f"ARENAFLOW_API_KEYS: entry {raw!r} must be name:scope+scope:sha256hex"
                )
            name, scopes, hexdigest = parts
            ring.add(name, scopes.split("+"), hexdigest)
        return ring

    def add(self, name: str, scopes: Iterable[str], hexdigest: str) -> None:
        wanted = frozenset(scopes)
        unknown = wanted - SCOPES
        if unknown or not wanted:
            raise ConfigError(
                f"API key {name!r}: unknown scope(s) {sorted(unknown)}; use {sorted(SCOPES)}"
            )
        if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
            raise ConfigError(f"API key {name!r}: the digest must be 64 lowercase hex digits")
        self._by_digest[hexdigest] = Principal(name, wanted)

    def issue(self, name: str, scopes: Iterable[str]) -> str:
        """A new random key with ``scopes``; only its digest is kept."""
        key = "af_" + secrets.token_urlsafe(24)
        self.add(name, scopes, digest(key))
        return key

    def check(self, key: str | None) -> Principal | None:
        """The principal of ``key``, or None for a missing or unknown key."""
        # A lookup by digest: comparing digests of long random keys leaks nothing useful.
        return self._by_digest.get(digest(key)) if key else None

    def entries(self) -> str:
        """The ring as ``ARENAFLOW_API_KEYS`` text (digests only)."""
        return ",".join(
            f"{p.name}:{'+'.join(sorted(p.scopes))}:{d}" for d, p in self._by_digest.items()
        )

    def __len__(self) -> int:
        return len(self._by_digest)
