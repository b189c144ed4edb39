"""Run an App's functions on AWS Lambda: Kinesis, SQS and API Gateway events.

In the module Lambda imports (the handler setting is ``mymodule.handler``)::

    from arenaflow.adapters import aws_lambda
    from myapp import app

    handler = aws_lambda.handler(app)

The App starts when the handler is made, in Lambda's init phase (the cold start), and serves
every invocation of the warm container on one event loop. Each event is routed by its shape:

* Kinesis and SQS records invoke every function with a ``stream(topic)`` trigger for the
  stream's or queue's name (``topics={"aws-name": "topic"}`` maps other names), decoded with
  the trigger's codec and schema, and the reply reports the records Lambda must deliver again
  (``{"batchItemFailures": [...]}``; see :mod:`.batch` for what fails and what is dead-lettered);
* API Gateway requests (HTTP API payload 2.0, REST API 1.0) invoke the ``http(...)`` function
  of their route (404, 405, 400 for a body that does not decode, 500 when the function fails).

What functions publish, and dead letters, go to ``publish`` or else the App's transport
(:mod:`.outputs`); state is committed to the App's state backend. The App's own dispatchers and
schedules do not run: Lambda's event sources drive the functions (schedules come from
EventBridge rules, as SQS or API Gateway events).

Example:
    >>> from arenaflow import App, Settings, stream
    >>> app = App(settings=Settings())
    >>> @app.function(stream("scores", key="game_id"))
    ... def total(events, ctx):
    ...     for e in events:
    ...         ctx.state[e.key] = ctx.state.get(e.key, 0) + e.value["goals"]
    >>> seen = []
    >>> lambda_handler = handler(app, publish=seen.extend)
    >>> event = {"Records": [{
    ...     "messageId": "m1", "body": '{"game_id": "g1", "goals": 2}', "attributes": {},
    ...     "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-2:1:scores"}]}
    >>> lambda_handler(event, None)
    {'batchItemFailures': []}
    >>> app.state("total").get("total", "g1")
    2
    >>> lambda_handler.close()
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import weakref
from collections.abc import Mapping
from typing import Any

import msgspec

from arenaflow.adapters.aws_lambda import apigw
from arenaflow.adapters.aws_lambda.batch import FunctionBatch
from arenaflow.adapters.aws_lambda.outputs import Output, Publish, Sink
from arenaflow.adapters.aws_lambda.records import Record, read_records
from arenaflow.app import App
from arenaflow.errors import ConfigError, DecodeError, FunctionError
from arenaflow.events import TRACE_HEADER, Event, new_trace_id
from arenaflow.runtime.function import Function
from arenaflow.runtime.invoker import Invoker
from arenaflow.security.webhooks import SIGNATURE_HEADER, SignatureError, verify
from arenaflow.state.memory import MemoryState
from arenaflow.triggers import Stream

log = logging.getLogger(__name__)

#: A trace id a client sends travels with its request, as on the gateway's ingest (the gateway
#: module itself is not imported: it would add its start-up time to every cold start).
TRACE_REQUEST_HEADER = "x-trace-id"
#: Apps a handler runs: one handler (one event loop) per App.
_SERVED: weakref.WeakSet[App] = weakref.WeakSet()
#: Time kept back from the Lambda invocation's deadline to reply (seconds, at most).
_REPLY_MARGIN_S = 0.5


class LambdaHandler:
    """The Lambda handler over an App; make it with :func:`handler`.

    Call it as Lambda does, ``handler(event, context)``; :meth:`close` stops the App (tests,
    local runs: Lambda itself just freezes and discards the container).
    """

    def __init__(
        self,
        app: App,
        *,
        topics: Mapping[str, str] | None = None,
        publish: Publish | None = None,
        report_batch_item_failures: bool = True,
    ) -> None:
        if app.running or app in _SERVED:
            raise ConfigError(
                "aws_lambda.handler(app): the App is already running or served by another "
                "handler; one handler starts and runs it"
            )
        self.app = app
        self._topics = dict(topics or {})
        self._report = report_batch_item_failures
        self._invoker = Invoker(app.transport, app.state_backend, app.middleware)
        self._sink = Sink(app.transport, publish)
        if isinstance(app.state_backend, MemoryState):
            log.warning(
                "function state (ctx.state) lives in this container's memory: it is not shared "
                "with concurrent containers and is lost when Lambda recycles this one. Give the "
                "App a state backend other processes read (redis://...) if functions keep state."
            )
        self._functions = app.functions
        self._consumers: dict[str, list[tuple[Function, Stream]]] = {}
        for fn in self._functions.values():
            for trigger in fn.triggers:
                if isinstance(trigger, Stream):
                    self._consumers.setdefault(trigger.topic, []).append((fn, trigger))
        self._router = apigw.Router(app)
        self._invoke_seq = itertools.count()
        # One loop for the container's life: the App's pools, instances (their init resources)
        # and backend connections belong to the loop they were made on, so asyncio.run per
        # invocation (a new loop each time) would strand them.
        self._loop = asyncio.new_event_loop()
        self._closed = False
        _SERVED.add(app)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException:
            _SERVED.discard(app)
            self._loop.close()
            raise

    async def _start(self) -> None:
        app = self.app
        await app.transport.start()
        await app.state_backend.start()
        for fn in app.functions.values():
            await fn.pool.start()  # min_instances warm up here, in Lambda's init phase

    async def _stop(self) -> None:
        app = self.app
        for fn in app.functions.values():
            await fn.pool.aclose()
        await app.state_backend.aclose()
        await app.transport.aclose()

    def close(self) -> None:
        """Stop the App's instances and backends and close the loop."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        try:
            loop.run_until_complete(self._stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            _SERVED.discard(self.app)

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Handle one Lambda event.

        Raises:
            ConfigError: (a ValueError) the event is none of the shapes the adapter reads, or
                a record names a topic no function consumes; the message names the field path.
                Nothing is processed: Lambda delivers the event again.
            FunctionError: records failed and ``report_batch_item_failures`` is off.
        """
        if self._closed:
            raise RuntimeError("this Lambda handler is closed")
        return self._loop.run_until_complete(self._handle(event, context))

    async def _handle(self, event: Any, context: Any) -> dict[str, Any]:
        if not isinstance(event, Mapping):
            raise ConfigError(f"event: expected a JSON object, got {type(event).__name__}")
        if "Records" in event:
            return await self._records(event["Records"], _deadline(context))
        if (event.get("version") == "2.0" and "requestContext" in event) or "httpMethod" in event:
            return await self._http(event)
        raise ConfigError(
            "event: not a Kinesis, SQS or API Gateway event (expected 'Records', "
            "'version': '2.0' with 'requestContext.http', or 'httpMethod')"
        )

    # -- Kinesis and SQS ------------------------------------------------------------------------
    async def _records(self, raw: Any, deadline: float | None) -> dict[str, Any]:
        records = read_records(raw, self._topics)
        by_topic: dict[str, list[Record]] = {}
        for record in records:
            by_topic.setdefault(record.event.topic, []).append(record)
        for topic, group in by_topic.items():
            if topic not in self._consumers:
                first = group[0].index
                raise ConfigError(
                    f"Records[{first}].eventSourceARN: topic {topic!r} has no stream({topic!r}) "
                    f"function in this App (consumed: {sorted(self._consumers)}); map the AWS "
                    "name with aws_lambda.handler(app, topics={...})"
                )
        runs = [
            FunctionBatch(
                fn, trigger, self._invoker, self._sink, self.app.state_backend, deadline
            ).run(group)
            for topic, group in by_topic.items()
            for fn, trigger in self._consumers[topic]
        ]
        results = await asyncio.gather(*runs, return_exceptions=True)
        failed: set[int] = set()
        for result in results:
            if isinstance(result, BaseException):
                # The runtime itself failed (e.g. the state backend is down): fail the whole
                # event, once every function is done with it, and Lambda delivers it again.
                raise result
            failed |= result
        return self._batch_response(records, failed)

    def _batch_response(self, records: list[Record], failed: set[int]) -> dict[str, Any]:
        """``batchItemFailures``: every failed SQS message; for Kinesis the first failed record
        of each shard (Lambda retries a shard from its lowest reported sequence number, which
        redelivers everything after it too)."""
        items: list[dict[str, str]] = []
        reported: set[str] = set()
        for record in records:  # in batch order, which is sequence order within a shard
            if record.index not in failed:
                continue
            if record.checkpoint is not None:
                if record.checkpoint in reported:
                    continue
                reported.add(record.checkpoint)
            items.append({"itemIdentifier": record.item_id})
        if items and not self._report:
            raise FunctionError(
                f"{len(failed)} of {len(records)} record(s) failed (first: "
                f"{items[0]['itemIdentifier']}); Lambda delivers the batch again"
            )
        return {"batchItemFailures": items}

    # -- API Gateway ----------------------------------------------------------------------------
    async def _http(self, event: Mapping[str, Any]) -> dict[str, Any]:
        version = "2.0" if event.get("version") == "2.0" else "1.0"
        try:
            request = apigw.read_request(event)
        except apigw.BadRequest as exc:
            return apigw.error_response(version, 400, str(exc))
        found = self._router.match(request.method, request.path)
        if found is None:
            return apigw.error_response(version, 404, f"no route for {request.path}")
        if isinstance(found, set):
            allow = ", ".join(sorted(found))
            return apigw.error_response(
                version, 405, f"{request.method} is not allowed here", allow=allow
            )
        route, params = found
        if route.function is not None:
            name = route.function
            value: Any = {
                "method": request.method,
                "path": request.path,
                "path_params": params,
                "query": request.query,
                "headers": {k: v for k, v in request.headers.items() if k != "authorization"},
                "body": request.body,
                "principal": request.principal,
                "scopes": request.scopes,
            }
        else:  # a webhook: signed, and the function gets the body
            hook = params["name"]
            trigger = self._router.webhooks.get(hook)
            if trigger is None:
                return apigw.error_response(version, 404, f"no webhook named {hook!r}")
            if trigger.secret is not None:
                try:
                    verify(request.body, request.headers.get(SIGNATURE_HEADER), trigger.secret)
                except SignatureError as exc:
                    return apigw.error_response(version, 401, str(exc))
            name, value = self._router.webhook_functions[hook], request.body
        trace = request.headers.get(TRACE_REQUEST_HEADER) or new_trace_id()
        status, result = await self._invoke(name, value, trace)
        if status != 200:
            return apigw.error_response(version, status, result)
        response = apigw.result_response(version, result)
        if request.method == "HEAD":
            response.update(body="", isBase64Encoded=False)
        return response

    async def _invoke(self, name: str, value: Any, trace: str) -> tuple[int, Any]:
        """Invoke ``name`` once (as ``App.invoke``: not retried) and commit what it produced:
        ``(200, result)``, or the error status and message."""
        fn = self._functions[name]
        event = Event(
            f"invoke:{name}",
            0,
            next(self._invoke_seq),
            None,
            value,
            {TRACE_HEADER: trace},
            time.time(),
        )
        inv = await self._invoker.invoke(fn, [event])
        error = inv.error
        if error is not None:
            cause = error.__cause__ if isinstance(error, FunctionError) else error
            if isinstance(error, DecodeError | msgspec.DecodeError) or isinstance(
                cause, DecodeError | msgspec.DecodeError
            ):
                return 400, f"body does not decode: {cause or error}"
            log.warning("http function %s failed", name, exc_info=error)
            return 500, f"function {name} failed"
        try:
            await self._sink.commit(self._invoker, inv, [])
        except Exception:
            log.exception("http function %s: committing outputs and state failed", name)
            return 500, f"function {name} failed"
        return 200, inv.result


def _deadline(context: Any) -> float | None:
    """``time.monotonic()`` by which a batch must be done, from Lambda's context object."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    left_s = float(remaining()) / 1000.0
    return time.monotonic() + left_s - min(_REPLY_MARGIN_S, left_s * 0.1)


def handler(
    app: App,
    *,
    topics: Mapping[str, str] | None = None,
    publish: Publish | None = None,
    report_batch_item_failures: bool = True,
) -> LambdaHandler:
    """A Lambda handler running ``app``'s functions; starts the App now (Lambda's init phase).

    Args:
        app: The App, with its functions declared.
        topics: AWS stream or queue name -> arenaflow topic, where they differ.
        publish: Receives what functions publish and their dead letters, a list per successful
            invocation, in order (e.g. a ``put_records`` to Kinesis). Default: the App's
            transport.
        report_batch_item_failures: Reply with ``batchItemFailures`` (the event source mapping
            needs ``FunctionResponseTypes: ["ReportBatchItemFailures"]``, or Lambda takes the
            reply as a success). When False, a failed record raises instead, and Lambda retries
            the whole batch.

    Raises:
        ConfigError: the App is already running.
    """
    return LambdaHandler(
        app, topics=topics, publish=publish, report_batch_item_failures=report_batch_item_failures
    )


__all__ = ["LambdaHandler", "Output", "Publish", "handler"]
