"""One function's share of a Kinesis or SQS batch: the dispatcher's semantics, Lambda's retries.

For each function whose ``stream(topic)`` trigger matches, the records go through the steps the
self-hosted dispatcher takes, except that retrying is left to Lambda:

1. records that cannot be read or decoded (bad base64, not the trigger's codec or schema) and
   records older than ``max_record_age_s`` go to the function's dead-letter topic at once: they
   would fail the same way on every delivery, and Kinesis' default event source mapping retries
   forever, which would stall the shard behind one poison record;
2. on ordered sources (Kinesis, SQS FIFO) records at or below their key's watermark were applied
   by an earlier delivery and are skipped (Lambda delivers a Kinesis batch again from the first
   failed record, including records of other keys that succeeded);
3. the rest is invoked in batches of at most ``batch_size`` through the App's invoker (its
   middleware: time limit, metrics, cost, tracing); a batch that raised is bisected
   (``bisect_on_error``) while the Lambda invocation has time left, to isolate the poison record;
4. what still fails is reported to Lambda, with on ordered sources every later record of its key
   (stop on first failure per key, as ``BatchItemFailures`` does). ``max_retry_attempts`` is
   not used: the event source mapping's ``MaximumRetryAttempts`` (Kinesis) or the queue's
   ``maxReceiveCount`` (SQS) counts retries, and its failure destination or dead-letter queue
   takes what is given up on.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from typing import Any

import msgspec

from arenaflow.adapters.aws_lambda.outputs import Output, Sink
from arenaflow.adapters.aws_lambda.records import Record
from arenaflow.events import TRACE_HEADER, Event
from arenaflow.runtime.dead_letter import DeadLetter
from arenaflow.runtime.function import BatchItemFailures, Function
from arenaflow.runtime.invoker import Invoker
from arenaflow.state.base import State
from arenaflow.triggers import Stream

log = logging.getLogger(__name__)

_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, binascii.Error, ValueError)


def _decoder(trigger: Stream) -> Any:
    schema = Any if trigger.schema is None else trigger.schema
    if trigger.codec == "msgpack":
        return msgspec.msgpack.Decoder(schema)
    return msgspec.json.Decoder(schema)


class FunctionBatch:
    """Runs ``fn`` on its records of one Lambda event.

    Args:
        fn: The function.
        trigger: Its ``stream(...)`` trigger for the records' topic (codec, schema, key field).
        invoker: The invoker over the App's state and middleware.
        sink: Where outputs and dead letters go.
        state: The App's state backend (watermarks).
        deadline: ``time.monotonic()`` past which no extra (bisecting) invocation starts, or
            None for no limit.
    """

    def __init__(
        self,
        fn: Function,
        trigger: Stream,
        invoker: Invoker,
        sink: Sink,
        state: State,
        deadline: float | None,
    ) -> None:
        self.fn = fn
        self.trigger = trigger
        self._invoker = invoker
        self._sink = sink
        self._state = state
        self._deadline = deadline
        self._decode = _decoder(trigger)
        self._index: dict[int, int] = {}  # id(event given to the function) -> record index
        self._ordered: dict[int, bool] = {}
        self._attempt = 1
        self._failed: set[int] = set()
        self._failed_keys: set[str | None] = set()

    async def run(self, records: list[Record]) -> set[int]:
        """Process ``records``; return the indices of those Lambda must deliver again."""
        self._attempt = max(r.attempt for r in records)
        ready = await self._admit(records)
        size = self.fn.config.batch_size
        for start in range(0, len(ready), size):
            await self._invoke(self._held_back(ready[start : start + size]), self._attempt)
        return self._failed

    # -- admitting ------------------------------------------------------------------------------
    async def _admit(self, records: list[Record]) -> list[Event]:
        fn = self.fn
        max_age = fn.config.max_record_age_s
        now = time.time()
        ready: list[Event] = []
        for record in records:
            ev = record.event
            if record.ordered:
                mark = self._state.watermark(fn.name, (ev.topic, ev.partition, ev.key))
                if mark >= ev.offset:
                    fn.metrics.duplicates_skipped += 1
                    continue
            if record.error is not None:
                fn.metrics.decode_errors += 1
                await self._dead_letter(record, "decode", record.error)
                continue
            if max_age is not None and now - ev.timestamp > max_age:
                await self._dead_letter(record, "expired", f"older than {max_age:g} s")
                continue
            try:
                value = self._decode.decode(self._payload(ev.value))
            except _DECODE_ERRORS as exc:
                fn.metrics.decode_errors += 1
                where = f"Records[{record.index}] ({self.trigger.codec})"
                await self._dead_letter(record, "decode", f"{where}: {exc}")
                continue
            key = ev.key
            if key is None and self.trigger.key is not None:
                key = _field(value, self.trigger.key)  # as App.publish derives it
            decoded = Event(ev.topic, ev.partition, ev.offset, key, value, ev.headers, ev.timestamp)
            self._index[id(decoded)] = record.index
            self._ordered[id(decoded)] = record.ordered
            ready.append(decoded)
        return ready

    def _payload(self, value: Any) -> bytes | str:
        if isinstance(value, str) and self.trigger.codec == "msgpack":
            # An SQS body is text: msgpack travels in it base64-encoded.
            return base64.b64decode(value, validate=True)
        assert isinstance(value, bytes | str)
        return value

    async def _dead_letter(self, record: Record, reason: str, error: str) -> None:
        fn = self.fn
        ev = record.event
        letter = DeadLetter(
            function=fn.name,
            topic=ev.topic,
            partition=ev.partition,
            offset=ev.offset,
            key=ev.key,
            value=ev.value,
            reason=reason,
            error=error,
            attempts=record.attempt,
            trace_id=ev.headers.get(TRACE_HEADER),
            failed_at=time.time(),
        )
        # No watermark for it: an earlier record of its key may still fail in this batch, and
        # a watermark past that record would make the redelivery skip it.
        try:
            await self._sink.send([Output(fn.dead_letter_topic, letter, ev.key, dict(ev.headers))])
        except Exception:
            # Not dead-lettered: Lambda delivers it again rather than it being lost.
            log.exception("%s: could not dead-letter Records[%d]", fn.name, record.index)
            self._fail_record(record.index, ev.key, ordered=record.ordered)
            return
        fn.metrics.dead_lettered += 1
        log.warning("%s: Records[%d] dead-lettered (%s): %s", fn.name, record.index, reason, error)

    # -- invoking -------------------------------------------------------------------------------
    def _held_back(self, events: list[Event]) -> list[Event]:
        """``events`` without those whose key already failed on an ordered source (they wait
        for it, and are reported with it)."""
        if not self._failed_keys:
            return events
        kept: list[Event] = []
        for ev in events:
            if self._ordered[id(ev)] and ev.key in self._failed_keys:
                self._fail_record(self._index[id(ev)], ev.key, ordered=True)
            else:
                kept.append(ev)
        return kept

    def _fail(self, events: list[Event]) -> None:
        for ev in events:
            self._fail_record(self._index[id(ev)], ev.key, ordered=self._ordered[id(ev)])

    def _fail_record(self, index: int, key: str | None, *, ordered: bool) -> None:
        self._failed.add(index)
        if ordered:
            self._failed_keys.add(key)

    async def _invoke(self, events: list[Event], attempt: int) -> None:
        if not events:
            return
        invoker = self._invoker
        partition = events[0].partition
        inv = await invoker.invoke(self.fn, events, attempt=attempt, partition=partition)
        if inv.error is None:
            failed = self._reported(inv.result, events)
            failed_ids = {id(ev) for ev in failed}
            applied = [ev for ev in events if id(ev) not in failed_ids]
            try:
                await self._sink.commit(
                    invoker, inv, [ev for ev in applied if self._ordered[id(ev)]]
                )
            except Exception:
                log.exception("%s: committing outputs and state failed", self.fn.name)
                self._fail(events)
                return
            self._fail(failed)
            return
        log.warning(
            "%s: invocation on %d record(s) failed: %r", self.fn.name, len(events), inv.error
        )
        if self.fn.config.bisect_on_error and len(events) > 1 and self._has_time():
            mid = len(events) // 2
            await self._invoke(events[:mid], attempt + 1)
            await self._invoke(self._held_back(events[mid:]), attempt + 1)
            return
        self._fail(events)

    def _has_time(self) -> bool:
        """Whether one more invocation fits before the Lambda invocation's own deadline."""
        if self._deadline is None:
            return True
        return time.monotonic() + self.fn.config.timeout_s < self._deadline

    def _reported(self, result: Any, events: list[Event]) -> list[Event]:
        """Events of a ``BatchItemFailures`` report; on ordered sources with every later event
        of their keys."""
        if not isinstance(result, BatchItemFailures) or not result.events:
            return []
        reported = {id(ev) for ev in result.events}
        keys: set[str | None] = set()
        failed: list[Event] = []
        for ev in events:
            ordered = self._ordered[id(ev)]
            if id(ev) in reported or (ordered and ev.key in keys):
                if ordered:
                    keys.add(ev.key)
                failed.append(ev)
        return failed


def _field(value: Any, name: str) -> str | None:
    raw = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
    return None if raw is None else str(raw)
