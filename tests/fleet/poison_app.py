"""An app whose function crashes its process on a poison event (the kind no retry inside the
process can catch): the fleet tests run it with ``arenaflow worker tests.fleet.poison_app:app``."""

from __future__ import annotations

import os
from typing import Any

from arenaflow import App, stream

app = App()  # the redis transport and state, from ARENAFLOW_* (set by the harness)


@app.function(stream("plays", key="game_id"), batch_size=10, max_retry_attempts=1)
async def count(events: list[Any], ctx: Any) -> None:
    for event in events:
        if event.value.get("poison"):
            os._exit(3)  # a segfault, an OOM kill: the worker dies with the batch in hand
        ctx.state[event.key] = ctx.state.get(event.key, 0) + 1
