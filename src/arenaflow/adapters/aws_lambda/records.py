"""Kinesis and SQS records of a Lambda event, read into arenaflow events.

The shapes are AWS's (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html and
https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html). What each field becomes:

==================  ======================================  ====================================
event field         Kinesis                                 SQS
==================  ======================================  ====================================
``topic``           stream name of ``eventSourceARN``       queue name of ``eventSourceARN``
``key``             ``kinesis.partitionKey``                ``attributes.MessageGroupId``, else
                                                            the trigger's key field of the value
``partition``       shard number of ``eventID``             0
``offset``          ``kinesis.sequenceNumber``              ``attributes.SequenceNumber`` (FIFO),
                                                            else the record's index
``value``           ``kinesis.data`` (base64-decoded)       ``body`` (a string)
``timestamp``       ``kinesis.approximateArrivalTimestamp`` ``attributes.SentTimestamp``
``headers``         ``trace_id`` (one per record, the same  the producer's ``trace_id`` message
                    on every delivery), ``aws_item_id``     attribute or X-Ray trace, else the
                    (the sequence number)                   same; ``aws_item_id`` (message id),
                                                            string message attributes
==================  ======================================  ====================================

A name maps to another topic through the ``topics`` argument. Offsets are what Lambda
checkpoints on (sequence numbers), so they stay the same when Lambda delivers a record again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arenaflow.errors import ConfigError
from arenaflow.events import TRACE_HEADER, Event

#: Header naming the record as Lambda does in ``batchItemFailures``.
ITEM_HEADER = "aws_item_id"

_SHARD = re.compile(r"^(shardId-(\d+)):")
_XRAY_ROOT = re.compile(r"Root=1-([0-9a-f]{8})-([0-9a-f]{24})")


@dataclass(slots=True)
class Record:
    """One record of the event, read.

    Attributes:
        index: Position in ``Records``.
        item_id: What ``batchItemFailures`` names it by: the sequence number or message id.
        event: The record as an event (value: bytes from Kinesis, the body string from SQS).
        ordered: Order per key holds and offsets grow per key (Kinesis, SQS FIFO), so a failure
            holds back the key's later records and watermarks skip redelivered ones.
        checkpoint: What Lambda checkpoints per (a Kinesis shard); None for SQS, whose messages
            are reported one by one.
        error: Why the payload cannot be read (bad base64), else None.
        attempt: How many times it was received (SQS), else 1.
    """

    index: int
    item_id: str
    event: Event
    ordered: bool
    checkpoint: str | None
    error: str | None = None
    attempt: int = 1


def _get(record: Mapping[str, Any], where: str, *path: str) -> str:
    """``record[path[0]][path[1]]...``, a string; a ConfigError naming the field path
    otherwise."""
    value: Any = record
    for i, name in enumerate(path):
        if not isinstance(value, Mapping) or name not in value:
            raise ConfigError(f"{where}.{'.'.join(path[: i + 1])}: missing")
        value = value[name]
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{'.'.join(path)}: expected a string, got {value!r}")
    return value


def _digits(value: str, where: str) -> int:
    if not value.isdigit():
        raise ConfigError(f"{where}: expected a decimal sequence number, got {value!r}")
    return int(value)


def source_name(arn: str, where: str) -> str:
    """The stream or queue name of an event source ARN.

    >>> source_name("arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream", "")
    'lambda-stream'
    >>> source_name("arn:aws:sqs:us-east-2:123456789012:my-queue", "")
    'my-queue'
    """
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
        raise ConfigError(f"{where}: not an ARN: {arn!r}")
    resource = parts[5]
    if parts[2] == "kinesis":
        kind, _, rest = resource.partition("/")
        name = rest.split("/", 1)[0]
        if kind != "stream" or not name:
            raise ConfigError(f"{where}: not a Kinesis stream ARN: {arn!r}")
        return name
    return resource


def trace_from_xray(header: str) -> str | None:
    """The W3C-style trace id (32 hex digits) of an X-Ray trace header, or None.

    >>> trace_from_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    '5759e988bd862e3fe1be46a994272793'
    """
    match = _XRAY_ROOT.search(header)
    return None if match is None else match.group(1) + match.group(2)


def record_trace_id(source: str, item_id: str) -> str:
    """A trace id (32 hex digits) for a record that brings none: the same on every delivery of
    the record, so Lambda's retries of it show up as one trace."""
    return hashlib.blake2b(f"{source}/{item_id}".encode(), digest_size=16).hexdigest()


def kinesis_record(raw: Mapping[str, Any], index: int, topics: Mapping[str, str]) -> Record:
    """Read ``Records[index]`` of a Kinesis event."""
    where = f"Records[{index}]"
    arn = _get(raw, where, "eventSourceARN")
    name = source_name(arn, f"{where}.eventSourceARN")
    data = _get(raw, where, "kinesis", "data")
    key = _get(raw, where, "kinesis", "partitionKey")
    sequence = _get(raw, where, "kinesis", "sequenceNumber")
    offset = _digits(sequence, f"{where}.kinesis.sequenceNumber")
    arrived = raw["kinesis"].get("approximateArrivalTimestamp")
    timestamp = float(arrived) if isinstance(arrived, int | float) else time.time()
    event_id = raw.get("eventID")
    shard = _SHARD.match(event_id) if isinstance(event_id, str) else None
    error: str | None = None
    value: Any
    try:
        value = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        value, error = data, f"{where}.kinesis.data: not valid base64 ({exc})"
    headers = {TRACE_HEADER: record_trace_id(arn, sequence), ITEM_HEADER: sequence}
    event = Event(
        topics.get(name, name),
        int(shard.group(2)) if shard else 0,
        offset,
        key,
        value,
        headers,
        timestamp,
    )
    checkpoint = f"{arn}/{shard.group(1)}" if shard else arn
    return Record(index, sequence, event, True, checkpoint, error)


def sqs_record(raw: Mapping[str, Any], index: int, topics: Mapping[str, str]) -> Record:
    """Read ``Records[index]`` of an SQS event."""
    where = f"Records[{index}]"
    arn = _get(raw, where, "eventSourceARN")
    name = source_name(arn, f"{where}.eventSourceARN")
    message_id = _get(raw, where, "messageId")
    body = _get(raw, where, "body")
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise ConfigError(f"{where}.attributes: expected object, got {type(attributes).__name__}")
    group = attributes.get("MessageGroupId")
    sequence = attributes.get("SequenceNumber")
    fifo = isinstance(group, str) and isinstance(sequence, str)
    offset = _digits(str(sequence), f"{where}.attributes.SequenceNumber") if fifo else index
    sent = attributes.get("SentTimestamp")
    timestamp = int(sent) / 1000.0 if isinstance(sent, str) and sent.isdigit() else time.time()
    received = attributes.get("ApproximateReceiveCount")
    attempt = int(received) if isinstance(received, str) and received.isdigit() else 1
    headers: dict[str, str] = {}
    message_attributes = raw.get("messageAttributes") or {}
    if isinstance(message_attributes, Mapping):
        for attr, spec in message_attributes.items():
            text = spec.get("stringValue") if isinstance(spec, Mapping) else None
            if isinstance(text, str):
                headers[attr] = text  # a producer's own headers, e.g. its trace id
    if TRACE_HEADER not in headers:
        xray = attributes.get("AWSTraceHeader")
        from_xray = trace_from_xray(xray) if isinstance(xray, str) else None
        headers[TRACE_HEADER] = from_xray or record_trace_id(arn, message_id)
    headers[ITEM_HEADER] = message_id
    event = Event(
        topics.get(name, name),
        0,
        offset,
        group if isinstance(group, str) else None,
        body,
        headers,
        timestamp,
    )
    return Record(index, message_id, event, fifo, None, None, max(1, attempt))


def read_records(records: Any, topics: Mapping[str, str]) -> list[Record]:
    """Read every record of ``event["Records"]``.

    Raises:
        ConfigError: a record that is not a Kinesis or SQS record as AWS documents them, naming
            the field (``Records[2].kinesis.sequenceNumber: missing``). Nothing is processed
            then: Lambda delivers the batch again, so no good record is lost.
    """
    if not isinstance(records, list):
        raise ConfigError(f"Records: expected a list, got {type(records).__name__}")
    read: list[Record] = []
    for index, raw in enumerate(records):
        if not isinstance(raw, Mapping):
            raise ConfigError(f"Records[{index}]: expected object, got {type(raw).__name__}")
        source = raw.get("eventSource")
        if source == "aws:kinesis":
            read.append(kinesis_record(raw, index, topics))
        elif source == "aws:sqs":
            read.append(sqs_record(raw, index, topics))
        else:
            raise ConfigError(
                f"Records[{index}].eventSource: {source!r} is not supported "
                "(the adapter takes 'aws:kinesis' and 'aws:sqs' records)"
            )
    return read
