"""Signed webhooks: HMAC-SHA256 over ``<timestamp>.<body>``, as Stripe and GitHub do.

The signature header reads ``t=<unix seconds>,v1=<hex digest>``. The timestamp is signed too and
checked against a tolerance, so a captured request cannot be replayed later.

Example:
    >>> header = sign(b'{"goal": 1}', "s3cret", timestamp=1_700_000_000)
    >>> verify(b'{"goal": 1}', header, "s3cret", now=1_700_000_010)
    >>> verify(b'{"goal": 2}', header, "s3cret", now=1_700_000_010)
    Traceback (most recent call last):
    ...
    arenaflow.security.webhooks.SignatureError: signature does not match the body
"""

from __future__ import annotations

import hashlib
import hmac
import time

from arenaflow.errors import ArenaflowError

SIGNATURE_HEADER = "x-arenaflow-signature"
DEFAULT_TOLERANCE_S = 300.0


class SignatureError(ArenaflowError):
    """Raised when a webhook's signature header is missing, malformed, stale or wrong."""


def _digest(body: bytes, secret: str, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The signature header value for ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={_digest(body, secret, ts)}"


def verify(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless ``header`` signs ``body`` with ``secret`` recently enough."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise SignatureError("signature header must read t=<unix seconds>,v1=<hex>") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"signature timestamp is more than {tolerance_s:g} s away from now")
    if not hmac.compare_digest(given, _digest(body, secret, timestamp)):
        raise SignatureError("signature does not match the body")
