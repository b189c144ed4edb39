"""The container's health check: ``GET /healthz`` on the first local port that answers.

The one image runs both processes: the gateway serves ``/healthz`` on 8000, a worker on its
metrics port 9100. Python's standard library does the request because the slim base image has
no curl. Exit status 0 when a port answers 200, 1 otherwise (what Docker's HEALTHCHECK wants).

Usage: ``python healthcheck.py [PORT ...]`` (default: 8000 9100).
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Sequence

DEFAULT_PORTS = (8000, 9100)
TIMEOUT_S = 2.0


def healthy(port: int, host: str = "127.0.0.1", timeout_s: float = TIMEOUT_S) -> bool:
    """True when ``http://host:port/healthz`` answers 200."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=timeout_s) as resp:
            return bool(resp.status == 200)
    except OSError:  # refused, timed out, or an HTTP error status (URLError, HTTPError)
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    ports = [int(a) for a in args] or list(DEFAULT_PORTS)
    return 0 if any(healthy(p) for p in ports) else 1


if __name__ == "__main__":
    sys.exit(main())
