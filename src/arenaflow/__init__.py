"""arenaflow: a serverless runtime for real-time sports analytics.

from arenaflow import App, stream, http, schedule, webhook
"""

from arenaflow.app import App, Receipt
from arenaflow.context import Context
from arenaflow.errors import (
    ArenaflowError,
    BackpressureError,
    ConfigError,
    DecodeError,
    FunctionError,
    FunctionTimeout,
    InstanceCrashed,
    MissingExtra,
    OffsetOutOfRange,
    StateError,
    TransportError,
)
from arenaflow.events import Event
from arenaflow.runtime.dead_letter import DeadLetter
from arenaflow.runtime.function import BatchItemFailures
from arenaflow.settings import Settings
from arenaflow.triggers import http, schedule, stream, webhook

__version__ = "0.1.0"

__all__ = [
    # the app and its triggers
    "App",
    # errors
    "ArenaflowError",
    "BackpressureError",
    # what functions receive and return
    "BatchItemFailures",
    "ConfigError",
    "Context",
    "DeadLetter",
    "DecodeError",
    "Event",
    "FunctionError",
    "FunctionTimeout",
    "InstanceCrashed",
    "MissingExtra",
    "OffsetOutOfRange",
    "Receipt",
    "Settings",
    "StateError",
    "TransportError",
    "__version__",
    "http",
    "schedule",
    "stream",
    "webhook",
]
