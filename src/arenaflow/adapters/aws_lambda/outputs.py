"""Where a Lambda invocation's outputs go: what functions publish and their dead letters.

On Lambda nothing consumes the App's transport between invocations, so outputs go either to a
``publish`` callable (e.g. one that puts records on Kinesis, where the next function's event
source mapping reads them) or, when none is given, to the App's transport (a Redis transport is
read by self-hosted workers and the gateway's push tier). Either way they are sent before the
Lambda invocation returns and before the state they go with is committed, so a failure to send
fails the records (Lambda delivers them again): at-least-once, never lost.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from arenaflow.context import PublishMany
from arenaflow.events import Event
from arenaflow.runtime.invoker import Invoker
from arenaflow.runtime.middleware.base import Invocation
from arenaflow.transport.base import Transport
from arenaflow.transport.memory import MemoryTransport

log = logging.getLogger(__name__)


class Output(NamedTuple):
    """One event a function published (``ctx.publish``) or a dead letter, in publish order."""

    topic: str
    value: Any
    key: str | None
    headers: dict[str, str]


#: Takes the outputs of one successful invocation, in order; sync or async. An exception fails
#: the invocation's records, which Lambda then delivers again.
Publish = Callable[[list[Output]], Awaitable[None] | None]


def outbox_outputs(outbox: list[tuple[str, Any, str | None, dict[str, str]]]) -> list[Output]:
    """A context's outbox as outputs (``publish_many`` entries one by one)."""
    outputs: list[Output] = []
    for topic, value, key, headers in outbox:
        if value.__class__ is PublishMany:
            outputs.extend(Output(topic, v, key, headers) for v in value.values)
        else:
            outputs.append(Output(topic, value, key, headers))
    return outputs


class Sink:
    """Sends outputs to ``publish``, or to ``transport`` when it is None."""

    def __init__(self, transport: Transport, publish: Publish | None) -> None:
        self._transport = transport
        self._publish = publish
        if publish is None and isinstance(transport, MemoryTransport):
            log.warning(
                "outputs of functions (ctx.publish) and dead letters go to the App's in-process "
                "memory transport, which nothing reads on Lambda: they are lost with the "
                "container. Pass aws_lambda.handler(app, publish=...) or give the App a "
                "transport other processes read (redis://...)."
            )

    async def send(self, outputs: list[Output]) -> None:
        """Send ``outputs`` in order; raises what the destination raised."""
        if not outputs:
            return
        if self._publish is not None:
            done = self._publish(outputs)
            if inspect.isawaitable(done):
                await done
            return
        for topic, value, key, headers in outputs:
            await self._transport.publish(topic, value, key, headers)

    async def commit(self, invoker: Invoker, inv: Invocation, applied: list[Event]) -> None:
        """Send the invocation's outputs, then commit its state with the applied events'
        watermarks (the invoker's order: a failure in between sends the outputs again on the
        retry, and never applies state twice)."""
        outbox = inv.ctx.outbox
        if self._publish is not None and outbox:
            await self.send(outbox_outputs(outbox))
            outbox.clear()  # sent: the invoker commits the state only
        await invoker.commit(inv, applied)
