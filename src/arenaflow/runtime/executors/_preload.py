"""Run by the process executor's fork server, and only there: import what every worker shares.

Each worker is forked from the fork server, so whatever the server imported a worker finds
imported: its cold start is a bare fork. Python 3.11's own preloading falls short in two ways: it
cannot import the parent's ``__main__`` (the path it needs is never passed on), so each worker
would run the main script again, heavy imports and all; and a module that raises anything but
ImportError kills the server. So the parent names this module as the server's only preload and,
for the moment the server starts, passes a JSON spec in ``ARENAFLOW_FORKSERVER``: its
``sys.path``, working directory and main module (as :func:`multiprocessing.spawn.prepare` takes
them) and the modules of its process functions. A module that fails here is only reported: the
worker imports it again and reports the error where it belongs, on the cold start.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
from multiprocessing import process, spawn

ENV = "ARENAFLOW_FORKSERVER"


def _report(what: str, exc: BaseException) -> None:
    print(
        f"arenaflow fork server: could not preload {what}: {type(exc).__name__}: {exc}",
        file=sys.stderr,
    )


def _preload() -> None:
    raw = os.environ.pop(ENV, None)
    if raw is None:
        return
    spec = json.loads(raw)
    importlib.import_module("arenaflow.runtime.executors.process")
    current = process.current_process()
    # As in multiprocessing's own children: a main script that starts processes when imported
    # (no ``if __name__ == "__main__"`` guard) fails with the usual explanation instead of
    # recursing.
    current._inheriting = True  # type: ignore[attr-defined]
    try:
        spawn.prepare(spec["prepare"])
    except BaseException as exc:  # a main script may even sys.exit(): the server must live on
        _report("the main module", exc)
    finally:
        del current._inheriting  # type: ignore[attr-defined]
    for name in spec["modules"]:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            _report(repr(name), exc)
    # Everything imported so far lives as long as the server: keep the collector of each
    # worker off it, so collections do not write to (and copy) pages every worker shares.
    gc.freeze()


_preload()
