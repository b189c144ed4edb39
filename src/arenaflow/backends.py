"""Choosing a backend by name or URL, importing it only when it is chosen."""

from __future__ import annotations

import importlib
from typing import Any

from arenaflow.errors import ConfigError, MissingExtra

#: URL schemes that stand for a backend name.
_SCHEME_ALIASES = {"rediss": "redis", "unix": "redis", "postgresql": "postgres"}


def load_backend(
    kind: str, table: dict[str, tuple[str, str]], name_or_url: str, **options: Any
) -> Any:
    """Instantiate the backend ``name_or_url`` names from ``table``.

    Args:
        kind: What is being chosen, for error messages ("transport", "state", ...).
        table: Backend name -> ("module:Class", extra that installs its dependencies).
        name_or_url: A name such as ``memory`` or a URL such as ``redis://127.0.0.1:6379/0``; a
            URL is passed to the backend's constructor.
        options: Keyword arguments for the backend's constructor.
    """
    is_url = "://" in name_or_url
    name = name_or_url.split("://", 1)[0] if is_url else name_or_url
    name = _SCHEME_ALIASES.get(name, name)
    try:
        target, extra = table[name]
    except KeyError:
        raise ConfigError(
            f"{kind}: unknown backend {name!r}; choose one of {sorted(table)}"
        ) from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingExtra(name, extra) from exc
    cls = getattr(module, class_name)
    return cls(name_or_url, **options) if is_url else cls(**options)
