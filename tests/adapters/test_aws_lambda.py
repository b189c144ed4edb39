"""The AWS Lambda adapter: real Apps on the memory backends, events in AWS's documented shapes.

The fixtures copy the field layout of AWS's own examples:

* Kinesis: "Example Kinesis record event",
  https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
* Kinesis partial batch response:
  https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
* SQS: "Example standard queue message event" and "Example FIFO queue message event",
  https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html
* API Gateway HTTP API, payload format 2.0 and 1.0:
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
* API Gateway REST API proxy input format:
  https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from starlette.responses import Response

from arenaflow import (
    App,
    BatchItemFailures,
    ConfigError,
    DeadLetter,
    Event,
    FunctionError,
    Settings,
    http,
    stream,
    webhook,
)
from arenaflow.adapters import aws_lambda
from arenaflow.adapters.aws_lambda import LambdaHandler, Output
from arenaflow.events import TRACE_HEADER
from arenaflow.security.webhooks import SIGNATURE_HEADER, sign
from arenaflow.transport.memory import MemoryTransport

# -- AWS's documented examples --------------------------------------------------------------------
# with-kinesis.html, "Example Kinesis record event" (both records, as documented).
KINESIS_EXAMPLE: dict[str, Any] = {
    "Records": [
        {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "1",
                "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
                "approximateArrivalTimestamp": 1545084650.987,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": "shardId-000000000006:"
            "49590338271490256608559692538361571095921575989136588898",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
            "awsRegion": "us-east-2",
            "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
        },
        {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "1",
                "sequenceNumber": "49590338271490256608559692540925702759324208523137515618",
                "data": "VGhpcyBpcyBvbmx5IGEgdGVzdC4=",
                "approximateArrivalTimestamp": 1545084711.166,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": "shardId-000000000006:"
            "49590338271490256608559692540925702759324208523137515618",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
            "awsRegion": "us-east-2",
            "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
        },
    ]
}

# with-sqs.html, "Example standard queue message event" (first record).
SQS_EXAMPLE: dict[str, Any] = {
    "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
    "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
    "body": "Test message.",
    "attributes": {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1545082649183",
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1545082649185",
    },
    "messageAttributes": {
        "myAttribute": {
            "stringValue": "myValue",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    },
    "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
    "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
    "awsRegion": "us-east-2",
}

# with-sqs.html, "Example FIFO queue message event".
SQS_FIFO_EXAMPLE: dict[str, Any] = {
    "messageId": "11d6ee51-4cc7-4302-9e22-7cd8afdaadf5",
    "receiptHandle": "AQEBBX8nesZEXmkhsmZeyIE8iQAMig7qw...",
    "body": "Test message.",
    "attributes": {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1573251510774",
        "SequenceNumber": "18849496460467696128",
        "MessageGroupId": "1",
        "SenderId": "AIDAIO23YVJENQZJOL4VO",
        "MessageDeduplicationId": "1",
        "ApproximateFirstReceiveTimestamp": "1573251510774",
    },
    "messageAttributes": {},
    "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
    "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:fifo.fifo",
    "awsRegion": "us-east-2",
}

# http-api-develop-integrations-lambda.html, payload format 2.0 (client certificate left out).
HTTP_V2_EXAMPLE: dict[str, Any] = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/my/path",
    "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
    "cookies": ["cookie1", "cookie2"],
    "headers": {"header1": "value1", "header2": "value1,value2"},
    "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "api-id",
        "authorizer": {
            "jwt": {
                "claims": {"claim1": "value1", "claim2": "value2"},
                "scopes": ["scope1", "scope2"],
            }
        },
        "domainName": "id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "id",
        "http": {
            "method": "POST",
            "path": "/my/path",
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "agent",
        },
        "requestId": "id",
        "routeKey": "$default",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    },
    "body": "Hello from Lambda",
    "pathParameters": {"parameter1": "value1"},
    "isBase64Encoded": False,
    "stageVariables": {"stageVariable1": "value1", "stageVariable2": "value2"},
}

# set-up-lambda-proxy-integrations.html, REST API input format (identity trimmed).
HTTP_V1_EXAMPLE: dict[str, Any] = {
    "resource": "/my/path",
    "path": "/my/path",
    "httpMethod": "GET",
    "headers": {"header1": "value1", "header2": "value2"},
    "multiValueHeaders": {"header1": ["value1"], "header2": ["value1", "value2"]},
    "queryStringParameters": {"parameter1": "value1", "parameter2": "value"},
    "multiValueQueryStringParameters": {
        "parameter1": ["value1", "value2"],
        "parameter2": ["value"],
    },
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "id",
        "authorizer": {"claims": None, "scopes": None},
        "domainName": "id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "id",
        "extendedRequestId": "request-id",
        "httpMethod": "GET",
        "identity": {"sourceIp": "192.0.2.1", "userAgent": "user-agent"},
        "path": "/my/path",
        "protocol": "HTTP/1.1",
        "requestId": "id=",
        "requestTime": "04/Mar/2020:19:15:17 +0000",
        "requestTimeEpoch": 1583349317135,
        "resourceId": None,
        "resourcePath": "/my/path",
        "stage": "$default",
    },
    "pathParameters": None,
    "stageVariables": None,
    "body": "Hello from Lambda!",
    "isBase64Encoded": False,
}


# -- building events in those shapes --------------------------------------------------------------
def kinesis(
    data: bytes, key: str, seq: int, *, stream_name: str = "tracking", shard: int = 0
) -> dict[str, Any]:
    record = copy.deepcopy(KINESIS_EXAMPLE["Records"][0])
    sequence = str(49590338271490256608559692538361571095921575989136588898 + seq)
    record["kinesis"].update(
        partitionKey=key, sequenceNumber=sequence, data=base64.b64encode(data).decode()
    )
    record["eventID"] = f"shardId-{shard:012d}:{sequence}"
    record["eventSourceARN"] = f"arn:aws:kinesis:us-east-2:123456789012:stream/{stream_name}"
    return record


def sqs(body: str, message_id: str, *, queue: str = "my-queue") -> dict[str, Any]:
    record = copy.deepcopy(SQS_EXAMPLE)
    record.update(body=body, messageId=message_id)
    record["eventSourceARN"] = f"arn:aws:sqs:us-east-2:123456789012:{queue}"
    return record


def sqs_fifo(body: str, message_id: str, group: str, seq: int) -> dict[str, Any]:
    record = copy.deepcopy(SQS_FIFO_EXAMPLE)
    record.update(body=body, messageId=message_id)
    record["attributes"].update(
        MessageGroupId=group, SequenceNumber=str(18849496460467696128 + seq)
    )
    return record


def http_v2(method: str, path: str, body: str | None = None, **fields: Any) -> dict[str, Any]:
    event = copy.deepcopy(HTTP_V2_EXAMPLE)
    event["requestContext"]["http"].update(method=method, path=path)
    event.update(rawPath=path, body=body, **fields)
    return event


def http_v1(method: str, path: str, body: str | None = None, **fields: Any) -> dict[str, Any]:
    event = copy.deepcopy(HTTP_V1_EXAMPLE)
    event["requestContext"].update(httpMethod=method, path=path)
    event.update(httpMethod=method, path=path, resource=path, body=body, **fields)
    return event


def seq_of(record: dict[str, Any]) -> str:
    sequence: str = record["kinesis"]["sequenceNumber"]
    return sequence


class LambdaContext:
    """The part of Lambda's context object the adapter reads."""

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms
        self.aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Frame(msgspec.Struct):
    game_id: str
    frame: int
    x: float


def make_app() -> App:
    """An App on the memory backends that ignores ``ARENAFLOW_*`` variables of the machine."""
    return App(settings=Settings(partitions=1))


def topic_values(app: App, topic: str) -> list[Any]:
    transport = app.transport
    assert isinstance(transport, MemoryTransport)
    return [ev.value for p in range(transport.partitions(topic)) for ev in transport.read(topic, p)]


@pytest.fixture
def lambda_handler() -> Iterator[Callable[..., LambdaHandler]]:
    """``aws_lambda.handler``, closed after the test."""
    made: list[LambdaHandler] = []

    def make(app: App, **kwargs: Any) -> LambdaHandler:
        made.append(aws_lambda.handler(app, **kwargs))
        return made[-1]

    yield make
    for h in made:
        h.close()


# -- Kinesis --------------------------------------------------------------------------------------
def test_kinesis_batch_decodes_msgpack_and_json_per_trigger(lambda_handler: Any) -> None:
    app = make_app()
    seen: dict[str, list[Event]] = {"frames": [], "notes": []}

    @app.function(stream("tracking", key="game_id", schema=Frame, codec="msgpack"))
    def frames(events: list[Event], ctx: Any) -> None:
        seen["frames"].extend(events)

    @app.function(stream("notes"))  # JSON without a schema: plain Python values
    async def notes(events: list[Event], ctx: Any) -> None:
        seen["notes"].extend(events)

    handle = lambda_handler(app, topics={"prod-tracking": "tracking"})
    tracking = {
        "Records": [
            kinesis(
                msgspec.msgpack.encode(Frame("g1", i, 1.5 * i)),
                "g1",
                i,
                stream_name="prod-tracking",
                shard=3,
            )
            for i in range(3)
        ]
    }
    assert handle(tracking, LambdaContext()) == {"batchItemFailures": []}
    note = kinesis(
        json.dumps({"game_id": "g2", "text": "goal"}).encode(), "g2", 9, stream_name="notes"
    )
    assert handle({"Records": [note]}, LambdaContext()) == {"batchItemFailures": []}

    assert [e.value for e in seen["frames"]] == [Frame("g1", i, 1.5 * i) for i in range(3)]
    first = seen["frames"][0]
    assert (first.topic, first.key, first.partition) == ("tracking", "g1", 3)
    assert first.offset == int(seq_of(tracking["Records"][0]))  # the sequence number
    assert first.timestamp == 1545084650.987  # approximateArrivalTimestamp
    assert len(first.headers[TRACE_HEADER]) == 32
    assert first.headers["aws_item_id"] == seq_of(tracking["Records"][0])
    assert [e.value for e in seen["notes"]] == [{"game_id": "g2", "text": "goal"}]
    handle(tracking, LambdaContext())  # delivered again: each record keeps its trace id
    assert [e.trace_id for e in seen["frames"][3:]] == [e.trace_id for e in seen["frames"][:3]]
    assert len({e.trace_id for e in seen["frames"]}) == 3
    assert app.metrics("frames").invocations == 2  # the App's middleware measured them
    assert app.metrics("frames").gb_seconds > 0


def test_kinesis_failure_reports_the_first_failed_record_and_holds_back_its_key(
    lambda_handler: Any,
) -> None:
    app = make_app()
    poison = {"a1"}

    @app.function(stream("tracking", key="game_id"))
    def count(events: list[Event], ctx: Any) -> None:
        for e in events:
            if e.value["id"] in poison:
                raise RuntimeError(f"cannot process {e.value['id']}")
            ctx.state[e.key] = ctx.state.get(e.key, 0) + 1
            ctx.publish("counted", e.value["id"], key=e.key)

    def rec(game: str, ident: str, seq: int) -> dict[str, Any]:
        return kinesis(json.dumps({"game_id": game, "id": ident}).encode(), game, seq)

    batch = [
        rec("A", "a0", 0),
        rec("B", "b0", 1),
        rec("A", "a1", 2),
        rec("B", "b1", 3),
        rec("A", "a2", 4),
    ]
    handle = lambda_handler(app)
    reply = handle({"Records": batch}, LambdaContext())

    # Lambda retries from the lowest reported sequence number: a1 (a2 waits behind it).
    assert reply == {"batchItemFailures": [{"itemIdentifier": seq_of(batch[2])}]}
    state = app.state("count")
    assert (state.get("count", "A"), state.get("count", "B")) == (1, 2)
    assert sorted(topic_values(app, "counted")) == ["a0", "b0", "b1"]

    # The retry delivers a1, b1, a2 again: b1 was applied, so its watermark skips it.
    poison.clear()
    assert handle({"Records": batch[2:]}, LambdaContext()) == {"batchItemFailures": []}
    assert (state.get("count", "A"), state.get("count", "B")) == (3, 2)
    assert app.metrics("count").duplicates_skipped == 1
    assert sorted(topic_values(app, "counted")) == ["a0", "a1", "a2", "b0", "b1"]


def test_kinesis_reported_batch_item_failures_fail_the_keys_later_records(
    lambda_handler: Any,
) -> None:
    app = make_app()

    @app.function(stream("tracking"))
    def report(events: list[Event], ctx: Any) -> BatchItemFailures:
        ctx.state["last"] = events[-1].value
        return BatchItemFailures([e for e in events if e.value == "x1"])

    batch = [
        kinesis(b'"x0"', "X", 0),
        kinesis(b'"y0"', "Y", 1),
        kinesis(b'"x1"', "X", 2),
        kinesis(b'"y1"', "Y", 3),
        kinesis(b'"x2"', "X", 4),
    ]
    reply = lambda_handler(app)({"Records": batch}, LambdaContext())
    assert reply == {"batchItemFailures": [{"itemIdentifier": seq_of(batch[2])}]}
    # Watermarks for what was applied only: x0 for X (x1 and x2 come again), y1 for Y.
    marks = app.state_backend.watermark
    assert marks("report", ("tracking", 0, "X")) == int(seq_of(batch[0]))
    assert marks("report", ("tracking", 0, "Y")) == int(seq_of(batch[3]))


def test_kinesis_undecodable_records_are_dead_lettered_not_retried(lambda_handler: Any) -> None:
    app = make_app()
    seen: list[Any] = []

    @app.function(stream("tracking", schema=Frame, codec="msgpack"))
    def frames(events: list[Event], ctx: Any) -> None:
        seen.extend(e.value for e in events)

    bad_base64 = kinesis(b"", "g1", 1)
    bad_base64["kinesis"]["data"] = "not base64!"
    batch = [
        kinesis(msgspec.msgpack.encode(Frame("g1", 0, 0.0)), "g1", 0),
        bad_base64,
        kinesis(msgspec.msgpack.encode({"game_id": "g1", "frame": "two"}), "g1", 2),
        kinesis(msgspec.msgpack.encode(Frame("g1", 3, 3.0)), "g1", 3),
    ]
    assert lambda_handler(app)({"Records": batch}, LambdaContext()) == {"batchItemFailures": []}
    assert seen == [Frame("g1", 0, 0.0), Frame("g1", 3, 3.0)]
    letters = topic_values(app, "frames.dlq")
    assert all(isinstance(letter, DeadLetter) for letter in letters)
    assert [(d.reason, d.offset) for d in letters] == [
        ("decode", int(seq_of(bad_base64))),
        ("decode", int(seq_of(batch[2]))),
    ]
    assert "Records[1].kinesis.data: not valid base64" in letters[0].error
    assert "Records[2]" in letters[1].error and "$.frame" in letters[1].error
    assert app.metrics("frames").decode_errors == 2


def test_records_older_than_max_record_age_are_dead_lettered(lambda_handler: Any) -> None:
    app = make_app()

    @app.function(stream("tracking"), max_record_age_s=60)
    def live(events: list[Event], ctx: Any) -> None:
        raise AssertionError("a 2018 record is not live")

    handle = lambda_handler(app)
    assert handle({"Records": [kinesis(b"1", "g1", 0)]}, LambdaContext()) == {
        "batchItemFailures": []
    }
    assert [d.reason for d in topic_values(app, "live.dlq")] == ["expired"]
    assert handle({"Records": []}, LambdaContext()) == {"batchItemFailures": []}


def test_documented_kinesis_example_is_read(lambda_handler: Any) -> None:
    app = make_app()
    texts: list[bytes] = []

    @app.function(stream("raw"))  # not JSON: the documented text payloads are dead-lettered
    def raw(events: list[Event], ctx: Any) -> None:
        texts.extend(e.value for e in events)

    reply = lambda_handler(app, topics={"lambda-stream": "raw"})(KINESIS_EXAMPLE, LambdaContext())
    assert reply == {"batchItemFailures": []}
    letters = topic_values(app, "raw.dlq")
    assert [d.value for d in letters] == [b"Hello, this is a test.", b"This is only a test."]
    assert {(d.partition, d.key) for d in letters} == {(6, "1")}


def test_no_time_left_to_bisect_fails_the_rest_of_the_batch(lambda_handler: Any) -> None:
    app = make_app()

    @app.function(stream("tracking"), timeout_s=1.0)
    def fails(events: list[Event], ctx: Any) -> None:
        if any(e.value == "bad" for e in events):
            raise RuntimeError("bad")

    batch = [kinesis(b'"ok"', "k1", 0), kinesis(b'"bad"', "k2", 1), kinesis(b'"ok"', "k3", 2)]
    reply = lambda_handler(app)({"Records": batch}, LambdaContext(remaining_ms=500))
    assert reply == {"batchItemFailures": [{"itemIdentifier": seq_of(batch[0])}]}
    assert app.metrics("fails").invocations == 1  # no bisecting past the Lambda deadline


# -- SQS ------------------------------------------------------------------------------------------
def test_sqs_reports_each_failed_message(lambda_handler: Any) -> None:
    app = make_app()

    @app.function(stream("my-queue", key="game_id"))
    async def orders(events: list[Event], ctx: Any) -> None:
        for e in events:
            if e.value["bad"]:
                raise ValueError("rejected")
            ctx.state[e.value["n"]] = e.key

    records = [
        sqs(json.dumps({"game_id": f"g{n}", "n": n, "bad": n in (1, 3)}), f"m{n}") for n in range(5)
    ]
    reply = lambda_handler(app)({"Records": records}, LambdaContext())
    # A standard queue has no order: only the two failed messages come back.
    assert reply == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}
    state = app.state("orders")
    assert [state.get("orders", n) for n in range(5)] == ["g0", None, "g2", None, "g4"]


def test_sqs_fifo_keys_by_message_group_and_holds_back_the_group(lambda_handler: Any) -> None:
    app = make_app()
    keys: list[tuple[str | None, int]] = []

    @app.function(stream("fifo.fifo"))
    def ledger(events: list[Event], ctx: Any) -> BatchItemFailures:
        keys.extend((e.key, e.offset) for e in events)
        return BatchItemFailures([e for e in events if e.value == "bad"])

    records = [
        sqs_fifo('"ok"', "m0", "g1", 0),
        sqs_fifo('"ok"', "m1", "g2", 1),
        sqs_fifo('"bad"', "m2", "g1", 2),
        sqs_fifo('"ok"', "m3", "g1", 3),
        sqs_fifo('"ok"', "m4", "g2", 4),
    ]
    reply = lambda_handler(app)({"Records": records}, LambdaContext())
    assert reply == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert [k for k, _ in keys] == ["g1", "g2", "g1", "g1", "g2"]
    assert keys[0][1] == 18849496460467696128  # attributes.SequenceNumber


def test_sqs_message_attributes_become_headers(lambda_handler: Any) -> None:
    app = make_app()
    headers: list[dict[str, str]] = []

    @app.function(stream("my-queue"))
    def read(events: list[Event], ctx: Any) -> None:
        headers.extend(e.headers for e in events)

    message = sqs('"x"', "m0")
    message["messageAttributes"]["trace_id"] = {"stringValue": "ab" * 16, "dataType": "String"}
    lambda_handler(app)({"Records": [message]}, LambdaContext())
    assert headers[0]["myAttribute"] == "myValue"
    assert headers[0][TRACE_HEADER] == "ab" * 16  # the producer's trace goes on


def test_failed_records_raise_without_partial_batch_responses(lambda_handler: Any) -> None:
    app = make_app()

    @app.function(stream("my-queue"))
    def fails(events: list[Event], ctx: Any) -> None:
        raise RuntimeError("down")

    handle = lambda_handler(app, report_batch_item_failures=False)
    with pytest.raises(FunctionError, match="1 of 1 record"):
        handle({"Records": [sqs('"x"', "m0")]}, LambdaContext())


# -- outputs, state, cold starts ------------------------------------------------------------------
def test_outputs_go_to_publish_and_state_to_the_state_backend(lambda_handler: Any) -> None:
    app = make_app()
    sent: list[Output] = []

    @app.function(stream("tracking", key="game_id"))
    def distance(events: list[Event], ctx: Any) -> None:
        for e in events:
            ctx.state[e.key] = ctx.state.get(e.key, 0.0) + e.value["step_m"]
        ctx.publish("metrics", {"game_id": "g1", "total": ctx.state["g1"]}, key="g1")
        ctx.publish_many("metrics.raw", [1, 2], key="g1")

    async def to_kinesis(outputs: list[Output]) -> None:
        sent.extend(outputs)

    handle = lambda_handler(app, publish=to_kinesis)
    batch = [
        kinesis(json.dumps({"game_id": "g1", "step_m": 0.5}).encode(), "g1", i) for i in range(2)
    ]
    assert handle({"Records": batch}, LambdaContext()) == {"batchItemFailures": []}
    assert app.state("distance").get("distance", "g1") == 1.0
    assert [(o.topic, o.value, o.key) for o in sent] == [
        ("metrics", {"game_id": "g1", "total": 1.0}, "g1"),
        ("metrics.raw", 1, "g1"),
        ("metrics.raw", 2, "g1"),
    ]
    assert sent[0].headers[TRACE_HEADER] == sent[1].headers[TRACE_HEADER]
    assert topic_values(app, "metrics") == []  # sent to publish, not to the transport


def test_outputs_go_to_the_app_transport_when_no_publish_is_given(lambda_handler: Any) -> None:
    app = make_app()

    @app.function(stream("my-queue"))
    def echo(events: list[Event], ctx: Any) -> None:
        for e in events:
            ctx.publish("echoed", e.value)

    lambda_handler(app)({"Records": [sqs('{"a": 1}', "m0")]}, LambdaContext())
    assert topic_values(app, "echoed") == [{"a": 1}]


def test_a_failing_publish_fails_the_records_and_commits_no_state(lambda_handler: Any) -> None:
    app = make_app()

    @app.function(stream("my-queue"))
    def stateful(events: list[Event], ctx: Any) -> None:
        ctx.state["n"] = len(events)
        ctx.publish("out", "x")

    def down(outputs: list[Output]) -> None:
        raise ConnectionError("kinesis unreachable")

    reply = lambda_handler(app, publish=down)({"Records": [sqs('"a"', "m0")]}, LambdaContext())
    assert reply == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert app.state("stateful").get("stateful", "n") is None


def test_cold_start_once_across_two_invocations(lambda_handler: Any) -> None:
    app = make_app()
    inits: list[int] = []

    def load_model() -> str:
        inits.append(1)
        return "model"

    @app.function(stream("my-queue"), init=load_model)
    def predict(events: list[Event], ctx: Any) -> None:
        assert ctx.resources == "model"

    handle = lambda_handler(app)
    for n in range(2):
        assert handle({"Records": [sqs('"x"', f"m{n}")]}, LambdaContext()) == {
            "batchItemFailures": []
        }
    metrics = app.metrics("predict")
    assert (len(inits), metrics.cold_starts, metrics.invocations) == (1, 1, 2)


def test_min_instances_warm_up_in_the_init_phase(lambda_handler: Any) -> None:
    app = make_app()
    inits: list[int] = []

    @app.function(stream("my-queue"), init=lambda: inits.append(1), min_instances=1)
    def warm(events: list[Event], ctx: Any) -> None:
        pass

    lambda_handler(app)
    assert inits == [1]  # before any event: Lambda's init phase
    assert app.metrics("warm").provisioned_starts == 1


# -- API Gateway ----------------------------------------------------------------------------------
class Shot(msgspec.Struct):
    player: str
    xg: float


def http_app() -> App:
    app = make_app()

    @app.function(http("/my/path", methods=["GET", "POST"]))
    def echo(events: list[Event], ctx: Any) -> dict[str, Any]:
        v = events[0].value
        return {
            "method": v["method"],
            "query": v["query"],
            "body": v["body"].decode(),
            "principal": v["principal"],
            "scopes": v["scopes"],
            "cookie": v["headers"].get("cookie"),
        }

    @app.function(http("/v1/games/{game_id}/shots", methods=["POST"]))
    def shots(events: list[Event], ctx: Any) -> Response:
        v = events[0].value
        shot = msgspec.json.decode(v["body"], type=Shot)
        ctx.state[v["path_params"]["game_id"]] = shot.xg
        ctx.publish("shots", shot)
        return Response(b'{"ok":true}', 201, media_type="application/json")

    @app.function(http("/v1/crash", methods=["GET"]))
    def crash(events: list[Event], ctx: Any) -> None:
        raise RuntimeError("secret internals")

    @app.function(http("/v1/blob", methods=["GET"]))
    def blob(events: list[Event], ctx: Any) -> bytes:
        return b"\x00\xff"

    return app


def body_of(reply: dict[str, Any]) -> Any:
    assert reply["isBase64Encoded"] is False
    return json.loads(reply["body"])


def test_http_v2_documented_post(lambda_handler: Any) -> None:
    reply = lambda_handler(http_app())(HTTP_V2_EXAMPLE, LambdaContext())
    assert reply["statusCode"] == 200
    assert reply["headers"]["content-type"] == "application/json"
    assert body_of(reply) == {
        "method": "POST",
        "query": {"parameter1": "value2", "parameter2": "value"},
        "body": "Hello from Lambda",
        "principal": None,
        "scopes": ["scope1", "scope2"],
        "cookie": "cookie1; cookie2",
    }


def test_http_v2_get_and_post_with_path_params(lambda_handler: Any) -> None:
    app = http_app()
    handle = lambda_handler(app)
    get = handle(http_v2("GET", "/my/path", rawQueryString="a=1"), LambdaContext())
    assert (get["statusCode"], body_of(get)["query"]) == (200, {"a": "1"})
    body = base64.b64encode(b'{"player": "p9", "xg": 0.31}').decode()
    post = handle(
        http_v2("POST", "/v1/games/g7/shots", body, isBase64Encoded=True), LambdaContext()
    )
    assert (post["statusCode"], body_of(post)) == (201, {"ok": True})
    assert app.state("shots").get("shots", "g7") == 0.31
    assert topic_values(app, "shots") == [Shot("p9", 0.31)]
    encoded = handle(http_v2("POST", "/v1/games/g%207/shots", '{"player": "p1", "xg": 0.5}'))
    assert encoded["statusCode"] == 201
    assert app.state("shots").get("shots", "g 7") == 0.5  # path parameters are decoded
    blob = handle(http_v2("GET", "/v1/blob"), LambdaContext())
    assert (blob["isBase64Encoded"], base64.b64decode(blob["body"])) == (True, b"\x00\xff")


def test_http_v1_documented_get_and_post(lambda_handler: Any) -> None:
    handle = lambda_handler(http_app())
    get = handle(HTTP_V1_EXAMPLE, LambdaContext())
    assert get["statusCode"] == 200
    assert body_of(get)["query"] == {"parameter1": "value2", "parameter2": "value"}
    assert body_of(get)["method"] == "GET"
    post = handle(
        http_v1("POST", "/v1/games/g1/shots", '{"player": "p1", "xg": 0.1}'), LambdaContext()
    )
    assert (post["statusCode"], body_of(post)) == (201, {"ok": True})


@pytest.mark.parametrize("make_event", [http_v2, http_v1])
def test_http_errors(lambda_handler: Any, make_event: Callable[..., dict[str, Any]]) -> None:
    handle = lambda_handler(http_app())
    missing = handle(make_event("GET", "/nowhere"), LambdaContext())
    assert (missing["statusCode"], body_of(missing)) == (404, {"error": "no route for /nowhere"})
    wrong = handle(make_event("DELETE", "/v1/games/g1/shots"), LambdaContext())
    assert (wrong["statusCode"], wrong["headers"]["allow"]) == (405, "POST")
    not_base64 = handle(
        make_event("POST", "/v1/games/g1/shots", "%%%", isBase64Encoded=True), LambdaContext()
    )
    assert not_base64["statusCode"] == 400
    assert "not valid base64" in body_of(not_base64)["error"]
    not_a_shot = handle(make_event("POST", "/v1/games/g1/shots", '{"player": 7}'), LambdaContext())
    assert not_a_shot["statusCode"] == 400
    assert "$.player" in body_of(not_a_shot)["error"]  # msgspec names the field
    crash = handle(make_event("GET", "/v1/crash"), LambdaContext())
    assert (crash["statusCode"], body_of(crash)) == (500, {"error": "function crash failed"})
    assert "secret" not in crash["body"] and "Traceback" not in crash["body"]


def test_http_signed_webhook(lambda_handler: Any) -> None:
    app = make_app()

    @app.function(webhook("provider", secret="s3cret"))
    def hook(events: list[Event], ctx: Any) -> dict[str, int]:
        return {"bytes": len(events[0].value)}

    handle = lambda_handler(app)
    body = '{"goal": 1}'
    signed = http_v2("POST", "/v1/webhooks/provider", body)
    signed["headers"][SIGNATURE_HEADER] = sign(body.encode(), "s3cret")
    reply = handle(signed, LambdaContext())
    assert (reply["statusCode"], body_of(reply)) == (200, {"bytes": 11})
    unsigned = handle(http_v2("POST", "/v1/webhooks/provider", body), LambdaContext())
    assert unsigned["statusCode"] == 401


# -- bad input ------------------------------------------------------------------------------------
def test_unknown_shapes_are_config_errors_naming_the_field(lambda_handler: Any) -> None:
    app = make_app()

    @app.function(stream("tracking"))
    def fn(events: list[Event], ctx: Any) -> None:
        pass

    handle = lambda_handler(app)
    with pytest.raises(ConfigError, match="not a Kinesis, SQS or API Gateway event"):
        handle({"detail-type": "Scheduled Event"}, LambdaContext())
    s3 = {"Records": [{"eventSource": "aws:s3", "s3": {}}]}
    with pytest.raises(ConfigError, match=r"Records\[0\]\.eventSource: 'aws:s3'"):
        handle(s3, LambdaContext())
    no_sequence = kinesis(b"1", "k", 1)
    del no_sequence["kinesis"]["sequenceNumber"]
    with pytest.raises(ConfigError, match=r"Records\[1\]\.kinesis\.sequenceNumber: missing"):
        handle({"Records": [kinesis(b"1", "k", 0), no_sequence]}, LambdaContext())
    with pytest.raises(ConfigError, match=r"Records\[0\]\.eventSourceARN: topic 'elsewhere'"):
        handle({"Records": [kinesis(b"1", "k", 0, stream_name="elsewhere")]}, LambdaContext())
    assert app.metrics("fn").invocations == 0  # nothing half-processed: Lambda sends it again


def test_one_handler_per_app(lambda_handler: Any) -> None:
    app = make_app()
    lambda_handler(app)
    with pytest.raises(ConfigError, match="another handler"):
        aws_lambda.handler(app)


def test_a_running_app_is_refused() -> None:
    import asyncio

    app = make_app()

    async def main() -> None:
        async with app:
            with pytest.raises(ConfigError, match="already running"):
                aws_lambda.handler(app)

    asyncio.run(main())
