"""The arenaflow error tree.

Every error arenaflow raises on purpose derives from :class:`ArenaflowError`::

    ArenaflowError
    ├── ConfigError (also ValueError)   bad option at decoration time or a bad setting
    ├── TransportError                  the event log failed
    │   ├── BackpressureError           a partition is full and the caller cannot wait
    │   ├── OffsetOutOfRange            replay asked for an offset retention already dropped
    │   └── PartitionLost               another process took over a partition this one read
    ├── StateError                      the keyed state backend failed
    ├── DecodeError                     an event's payload does not match its schema
    ├── SourceError                     a data source (vendor file, simulator) cannot be read
    │   └── MissingCompanionFile        a vendor file's metadata (or other half) is not there
    ├── FunctionError                   a user function failed (wraps the original error)
    │   ├── FunctionTimeout             an invocation ran past ``timeout_s``
    │   └── InstanceCrashed             the instance (thread or process) running it died
    └── MissingExtra (also ImportError) a backend's optional dependency is not installed

Backend exceptions (redis-py, psycopg, ...) are translated with ``raise ... from exc`` so users
never have to import a backend's exception types.
"""

from __future__ import annotations


class ArenaflowError(Exception):
    """Base class of every error arenaflow raises on purpose."""


class ConfigError(ArenaflowError, ValueError):
    """Raised when a function option or a setting is invalid; the message names the option."""


class TransportError(ArenaflowError):
    """Raised when the transport (the event log) cannot do what was asked."""


class BackpressureError(TransportError):
    """Raised when a partition is full of unacknowledged events and the caller cannot wait.

    Publishing never drops an event silently: callers that can wait use ``await app.publish(...)``.
    """


class OffsetOutOfRange(TransportError):
    """Raised when a replay asks for an offset older than what retention still holds."""


class PartitionLost(TransportError):
    """Raised when this process no longer owns a partition it was consuming (its lease expired,
    e.g. while it was paused, and another process took the partition over). Nothing it commits
    for that partition lands; what it fetched is redelivered to the new owner."""


class StateError(ArenaflowError):
    """Raised when the keyed state backend fails."""


class StoreError(ArenaflowError):
    """The store cannot be reached or refused a write; the writing function is retried."""


class DecodeError(ArenaflowError):
    """Raised when an event's payload cannot be decoded into its trigger's schema."""


class SourceError(ArenaflowError):
    """Raised when a data source cannot be read: a malformed or unsupported vendor file."""


class MissingCompanionFile(SourceError, FileNotFoundError):
    """Raised when a vendor file needs a companion (metadata, the away team's file, a lineup)
    that is neither given nor found next to it; the message names the file it looked for."""


class FunctionError(ArenaflowError):
    """Raised (and recorded) when a user function fails; ``__cause__`` holds the original error."""


class FunctionTimeout(FunctionError):
    """Raised when an invocation runs past its function's ``timeout_s``."""


class InstanceCrashed(FunctionError):
    """Raised when the instance running an invocation died (e.g. its worker process was killed)."""


class MissingExtra(ArenaflowError, ImportError):
    """Raised when a backend is selected whose optional dependency is not installed."""

    def __init__(self, backend: str, extra: str) -> None:
        super().__init__(
            f"the {backend!r} backend needs an optional dependency: "
            f"pip install 'arenaflow[{extra}]'"
        )
        self.backend = backend
        self.extra = extra
