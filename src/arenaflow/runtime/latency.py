"""Garbage-collector settings for a latency-sensitive process.

CPython's default collector runs a generation-0 collection every 700 net allocations and a full
one every 100 of those: with a live pipeline's heap (an event log, trackers, state) a full
collection can pause the event loop for tens of milliseconds, which is the p99 of a 25 Hz feed.
What a service does instead: move what exists at start-up out of the collector's way for good
(``gc.freeze``) and collect young objects less often. The ``arenaflow`` commands call this; a
library user decides for their own process.
"""

from __future__ import annotations

import gc

#: Allocations between young collections, and the two older generations' ratios.
THRESHOLDS = (50_000, 50, 50)


def quiet_gc() -> None:
    """Collect once, freeze the survivors, and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
