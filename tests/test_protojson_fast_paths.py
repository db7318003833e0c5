"""The compiled protojson reader and writer give exactly what protobuf's json_format gives.

Random messages fill every field of every message type reachable from ``History`` and
``VisibilityRecord`` (one member of each oneof, maps, repeated fields, recursive types, extreme
numbers, non-ASCII text); each is written by the compiled writer and compared with
``MessageToDict`` (as parsed JSON: the writer's only difference is Go's key order), and read back by
the compiled reader and compared with ``ParseDict``. Spellings the reader leaves to ``ParseDict``
(non-canonical JSON) must decline, never give another message.
"""

from __future__ import annotations

import json
import math
import random
import threading
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.history.v1 import History, HistoryEvent

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.gojson import indent_json
from archivers.codec.message_reader import read_message
from archivers.codec.message_writer import message_dict

_INT64 = (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64)
_UINT64 = (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64)
_INT32 = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32)
_UINT32 = (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32)
_TEXTS = ("", "a", "wf-1", "ünïcødé ✓", "quote \" and \\ and \n", "<&>", "\u2028", '{"a": [1, {}],}', "\\", '\\"')


def _scalar(field: FieldDescriptor, rng: random.Random) -> Any:
    kind = field.type
    if kind in _INT64:
        return rng.choice((0, 1, -1, 2**63 - 1, -(2**63), rng.randrange(-(2**40), 2**40)))
    if kind in _UINT64:
        return rng.choice((0, 1, 2**64 - 1, rng.randrange(2**40)))
    if kind in _INT32:
        return rng.choice((0, 1, -1, 2**31 - 1, -(2**31)))
    if kind in _UINT32:
        return rng.choice((0, 1, 2**32 - 1))
    if kind == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if kind == FieldDescriptor.TYPE_STRING:
        return rng.choice(_TEXTS)
    if kind == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.randrange(0, 9))
    if kind == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        return rng.choice(field.enum_type.values).number
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice((0.0, 1.0, 0.1, -2.5, 1e-7, 1e21, 123456.789, math.inf, -math.inf))
    raise AssertionError(f"no generator for field type {kind}")


def _fill(message: Message, rng: random.Random, depth: int) -> None:
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds = rng.choice((0, 1_700_000_000, -62135596800, 253402300799))  # type: ignore[attr-defined]
        message.nanos = rng.choice((0, 1_000_000, 123_000, 7))  # type: ignore[attr-defined]
        return
    if name == "google.protobuf.Duration":
        seconds = rng.choice((0, 5, 3600, 315576000000))
        message.seconds, message.nanos = (-seconds, -1000) if rng.random() < 0.2 else (seconds, 1000)  # type: ignore[attr-defined]
        return
    chosen = {oneof.full_name: rng.choice(oneof.fields).name for oneof in descriptor.oneofs}
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and chosen[oneof.full_name] != field.name:
            continue
        if rng.random() < 0.15:
            continue  # some fields stay unset
        _fill_field(message, field, rng, depth)


def _fill_field(message: Message, field: FieldDescriptor, rng: random.Random, depth: int) -> None:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        target = getattr(message, field.name)
        value_field = entry.fields_by_name["value"]
        for _ in range(rng.randrange(0, 3)):
            key = rng.choice(("b", "a", "key ✓", "")) if entry.fields_by_name["key"].type == field.TYPE_STRING else 1
            if value_field.message_type is None:
                target[key] = _scalar(value_field, rng)
            elif depth < 4:
                _fill(target[key], rng, depth + 1)
        return
    count = rng.randrange(0, 3) if field.is_repeated else 1
    for _ in range(count):
        if entry is not None:
            if depth >= 4:
                return
            child = getattr(message, field.name).add() if field.is_repeated else getattr(message, field.name)
            child.SetInParent()
            _fill(child, rng, depth + 1)
        elif field.is_repeated:
            getattr(message, field.name).append(_scalar(field, rng))
        else:
            setattr(message, field.name, _scalar(field, rng))


def _random_messages(message_type: type[Message], count: int, seed: int) -> list[Message]:
    rng = random.Random(seed)
    messages = []
    for _ in range(count):
        message = message_type()
        _fill(message, rng, 0)
        messages.append(message)
    return messages


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("message_type", [HistoryEvent, History, VisibilityRecord])
def test_writer_equals_message_to_dict_and_reader_equals_parse_dict(message_type: type[Message]) -> None:
    for message in _random_messages(message_type, 150, seed=hash(message_type.__name__) % 1000):
        written = message_dict(message)
        assert _as_json(written) == _as_json(json_format.MessageToDict(message))
        parsed = _as_json(written)
        read = read_message(parsed, message_type, ignore_unknown_fields=False)
        expected = json_format.ParseDict(parsed, message_type(), ignore_unknown_fields=False)
        if read is not None:  # non-finite doubles are written as strings, which the reader leaves to ParseDict
            assert read.SerializeToString(deterministic=True) == expected.SerializeToString(deterministic=True)
            assert read == message


def test_writer_puts_fields_in_declaration_order() -> None:
    record = VisibilityRecord(namespace_id="ns", workflow_id="w", run_id="r", history_length=3, workflow_type_name="T")
    declared = [f.json_name for f in VisibilityRecord.DESCRIPTOR.fields]
    keys = list(message_dict(record))
    assert keys == sorted(keys, key=declared.index)


_EVENT = {"eventId": "5", "eventTime": "2024-01-02T03:04:05.123Z", "eventType": "EVENT_TYPE_TIMER_FIRED"}


@pytest.mark.parametrize(
    "changed",
    [
        {"eventId": 5.0},  # a float for an int64
        {"eventId": " 5"},
        {"eventId": "1_000"},
        {"eventTime": "2024-13-02T03:04:05Z"},  # no such month
        {"eventTime": "2024-01-02t03:04:05z"},
        {"eventTime": None},
        {"eventType": "NO_SUCH_EVENT_TYPE"},
        {"event_id": "6"},  # the same field under both names
        {"unknownField": 1},
        {"timerFiredEventAttributes": {"timerId": "t"}, "activityTaskStartedEventAttributes": {}},  # two of a oneof
        {"workflowExecutionStartedEventAttributes": {"input": {"payloads": [{"data": "YQ"}]}}},  # unpadded base64
        {"workflowExecutionStartedEventAttributes": {"input": {"payloads": [{"data": "YQ==YQ=="}]}}},
        {"workflowExecutionStartedEventAttributes": {"workflowRunTimeout": "1.5"}},
    ],
)
def test_reader_declines_what_is_not_canonical(changed: dict[str, Any]) -> None:
    value = {**_EVENT, **changed}
    assert read_message(value, HistoryEvent, ignore_unknown_fields=False) is None


def test_reader_reads_the_canonical_spelling() -> None:
    event = read_message(
        {**_EVENT, "workflowExecutionStartedEventAttributes": {"workflowRunTimeout": "-1.500s"}},
        HistoryEvent,
        ignore_unknown_fields=False,
    )
    assert event is not None
    assert event.event_id == 5 and event.event_time.ToJsonString() == "2024-01-02T03:04:05.123Z"
    assert event.workflow_execution_started_event_attributes.workflow_run_timeout.ToJsonString() == "-1.500s"


def test_reader_drops_unknown_fields_only_when_asked() -> None:
    value = {"events": [{**_EVENT, "fromANewerServer": {"x": 1}}]}
    assert read_message(value, History, ignore_unknown_fields=False) is None
    history = read_message(value, History, ignore_unknown_fields=True)
    assert history == json_format.ParseDict(value, History(), ignore_unknown_fields=True)


@pytest.mark.parametrize("indent", [1, 2, 4])
def test_indenting_compact_json_equals_json_dumps_with_indent(indent: int) -> None:
    for message in _random_messages(HistoryEvent, 60, seed=indent):
        tree = {"events": [message_dict(message)], "empty": [], "none": {}, "nested": [[], [{}], {"k": []}]}
        compact = json.dumps(tree, separators=(",", ":"), ensure_ascii=False)
        assert indent_json(compact, indent) == json.dumps(tree, indent=indent, ensure_ascii=False)


def test_first_uses_from_many_threads_at_once_see_complete_readers_and_writers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers and writers are built on first use; threads arriving meanwhile never use a half-built one."""
    from archivers.codec import message_reader, message_writer

    monkeypatch.setattr(message_writer, "_WRITERS", {})
    monkeypatch.setattr(message_reader, "_READERS", {})
    messages = _random_messages(History, 32, seed=11)
    barrier = threading.Barrier(len(messages))
    failures: list[BaseException] = []

    def round_trip(message: Message) -> None:
        barrier.wait()
        try:
            parsed = _as_json(message_dict(message))
            read = read_message(parsed, History, ignore_unknown_fields=True)
            assert read is None or read == message
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=round_trip, args=(message,)) for message in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
