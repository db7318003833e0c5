"""Search attribute codec and VisibilityRecord -> WorkflowExecutionInfo conversion (Go-compatible)."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import IndexedValueType

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.search_attributes import (
    DateTimeValue,
    format_go_float,
    format_stored_value,
    go_json_float,
    parse_stored_value,
    payload_to_stored,
    payload_to_value,
    stored_to_payload,
    value_to_payload,
)
from archivers.codec.visibility import execution_info_to_record, record_to_execution_info
from archivers.errors import CorruptArchiveError

T = IndexedValueType
S = 1_000_000_000


@pytest.mark.parametrize(("value", "text"), [
    (1.23, "1.23"), (1.0, "1"), (1e21, "1000000000000000000000"), (1e-7, "0.0000001"), (-0.0, "-0"),
    (123456789.5, "123456789.5"), (float("inf"), "+Inf"), (float("nan"), "NaN"),
])
def test_go_format_float(value: float, text: str) -> None:
    assert format_go_float(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (1.23, "1.23"), (1.0, "1"), (1e21, "1e+21"), (1e-7, "1e-7"), (0.000001, "0.000001"), (1.5e-10, "1.5e-10"),
    (1e20, "100000000000000000000"), (1e-100, "1e-100"),
])
def test_go_json_float(value: float, text: str) -> None:
    assert go_json_float(value) == text


# Vectors from Temporal's sadefs/encode_value_test.go and searchattribute/encode_test.go.
@pytest.mark.parametrize(("value", "vtype", "data", "short"), [
    (True, T.INDEXED_VALUE_TYPE_BOOL, b"true", b"Bool"),
    (1.23, T.INDEXED_VALUE_TYPE_DOUBLE, b"1.23", b"Double"),
    (123, T.INDEXED_VALUE_TYPE_INT, b"123", b"Int"),
    ("foo", T.INDEXED_VALUE_TYPE_KEYWORD, b'"foo"', b"Keyword"),
    (["foo", "bar"], T.INDEXED_VALUE_TYPE_KEYWORD_LIST, b'["foo","bar"]', b"KeywordList"),
    ("foo bar", T.INDEXED_VALUE_TYPE_TEXT, b'"foo bar"', b"Text"),
    ([], T.INDEXED_VALUE_TYPE_KEYWORD, b"[]", b"Keyword"),
    ("<a&b>\u2028", T.INDEXED_VALUE_TYPE_KEYWORD, b'"\\u003ca\\u0026b\\u003e\\u2028"', b"Keyword"),
    (DateTimeValue(1_546_341_071 * S + 5, 3600), T.INDEXED_VALUE_TYPE_DATETIME,
     b'"2019-01-01T12:11:11.000000005+01:00"', b"Datetime"),
])
def test_value_to_payload_matches_go(value: object, vtype: int, data: bytes, short: bytes) -> None:
    payload = value_to_payload(value, vtype)  # type: ignore[arg-type]
    assert payload.data == data
    assert payload.metadata["encoding"] == b"json/plain"
    assert payload.metadata["type"] == short
    assert payload_to_value(payload) == (value or None)


def test_null_and_untyped_payloads() -> None:
    null = value_to_payload(None, T.INDEXED_VALUE_TYPE_DOUBLE)
    assert null.data == b"" and null.metadata["encoding"] == b"binary/null" and null.metadata["type"] == b"Double"
    untyped = value_to_payload("x")
    assert "type" not in untyped.metadata
    with pytest.raises(ValueError):
        payload_to_value(untyped)
    assert payload_to_value(untyped, T.INDEXED_VALUE_TYPE_KEYWORD) == "x"
    full_name = Payload(metadata={"encoding": b"json/plain", "type": b"INDEXED_VALUE_TYPE_INT"}, data=b"[1,2]")
    assert payload_to_value(full_name) == [1, 2]
    with pytest.raises(ValueError):
        payload_to_value(full_name, allow_list=False)


@pytest.mark.parametrize(("text", "vtype", "value"), [
    ("abc", T.INDEXED_VALUE_TYPE_KEYWORD, "abc"),
    ("abc def", T.INDEXED_VALUE_TYPE_TEXT, "abc def"),
    ("-42", T.INDEXED_VALUE_TYPE_INT, -42),
    ("1.5", T.INDEXED_VALUE_TYPE_DOUBLE, 1.5),
    ("T", T.INDEXED_VALUE_TYPE_BOOL, True),
    ("false", T.INDEXED_VALUE_TYPE_BOOL, False),
    ("2019-01-01T11:11:11.5Z", T.INDEXED_VALUE_TYPE_DATETIME, DateTimeValue(1_546_341_071 * S + S // 2)),
    ('["a","b"]', T.INDEXED_VALUE_TYPE_KEYWORD_LIST, ["a", "b"]),
    ("a", T.INDEXED_VALUE_TYPE_KEYWORD_LIST, "a"),
    ("[1,2]", T.INDEXED_VALUE_TYPE_INT, [1, 2]),
    ("12", T.INDEXED_VALUE_TYPE_UNSPECIFIED, 12),
    ("true", T.INDEXED_VALUE_TYPE_UNSPECIFIED, True),
    ("x y", T.INDEXED_VALUE_TYPE_UNSPECIFIED, "x y"),
])
def test_parse_stored_value(text: str, vtype: int, value: object) -> None:
    assert parse_stored_value(text, vtype) == value


@pytest.mark.parametrize(("text", "vtype"), [
    ("abc", T.INDEXED_VALUE_TYPE_INT), ("1.5", T.INDEXED_VALUE_TYPE_INT), ("yes", T.INDEXED_VALUE_TYPE_BOOL),
    ("2019-01-01", T.INDEXED_VALUE_TYPE_DATETIME), ("[1,", T.INDEXED_VALUE_TYPE_INT),
    (" 1", T.INDEXED_VALUE_TYPE_DOUBLE),
    ('["a"]', T.INDEXED_VALUE_TYPE_INT),
])
def test_parse_stored_value_errors(text: str, vtype: int) -> None:
    with pytest.raises(ValueError):
        parse_stored_value(text, vtype)


@pytest.mark.parametrize("value", ["x", 5, -1.25, 1e21, True, DateTimeValue(7, -3600), ["a", "b"], [1.5, 2.0]])
def test_stored_round_trip(value: object) -> None:
    list_type = T.INDEXED_VALUE_TYPE_KEYWORD_LIST if value == ["a", "b"] else T.INDEXED_VALUE_TYPE_DOUBLE
    vtype = {str: T.INDEXED_VALUE_TYPE_KEYWORD, int: T.INDEXED_VALUE_TYPE_INT, float: T.INDEXED_VALUE_TYPE_DOUBLE,
             bool: T.INDEXED_VALUE_TYPE_BOOL, DateTimeValue: T.INDEXED_VALUE_TYPE_DATETIME,
             list: list_type}[type(value)]
    text = format_stored_value(value)  # type: ignore[arg-type]
    assert parse_stored_value(text, vtype) == value
    assert payload_to_stored(stored_to_payload(text, vtype), vtype) == text


def _record() -> VisibilityRecord:
    r = VisibilityRecord(namespace_id="ns-id", namespace="ns", workflow_id="wf", run_id="run", workflow_type_name="T",
                         status=3, history_length=42, history_archival_uri="file:///tmp")
    r.start_time.seconds = 100
    r.close_time.seconds, r.close_time.nanos = 200, 5
    r.execution_duration.seconds = 100
    r.memo.fields["m"].data = b'"v"'
    r.search_attributes.update({"CustomKeyword": "k", "CustomInt": "7", "CustomDatetime": "2019-01-01T11:11:11Z",
                                "CustomKeywordList": '["a","b"]', "Untyped": "12"})
    return r


TYPES = {"CustomKeyword": T.INDEXED_VALUE_TYPE_KEYWORD, "CustomInt": T.INDEXED_VALUE_TYPE_INT,
         "CustomDatetime": T.INDEXED_VALUE_TYPE_DATETIME, "CustomKeywordList": T.INDEXED_VALUE_TYPE_KEYWORD_LIST}


def test_record_to_execution_info() -> None:
    info = record_to_execution_info(_record(), TYPES)
    assert (info.execution.workflow_id, info.execution.run_id, info.type.name) == ("wf", "run", "T")
    assert info.start_time.seconds == 100 and info.close_time.nanos == 5 and info.execution_duration.seconds == 100
    assert not info.HasField("execution_time")
    assert info.status == 3 and info.history_length == 42 and info.memo.fields["m"].data == b'"v"'
    fields = info.search_attributes.indexed_fields
    assert fields["CustomKeyword"].data == b'"k"' and fields["CustomKeyword"].metadata["type"] == b"Keyword"
    assert fields["CustomInt"].data == b"7" and fields["CustomInt"].metadata["type"] == b"Int"
    assert fields["CustomDatetime"].data == b'"2019-01-01T11:11:11Z"'
    assert fields["CustomKeywordList"].data == b'["a","b"]'
    assert fields["Untyped"].data == b"12" and "type" not in fields["Untyped"].metadata
    # nothing else is set
    set_fields = {f.name for f, _ in info.ListFields()}
    assert set_fields == {"execution", "type", "start_time", "close_time", "status", "history_length", "memo",
                          "search_attributes", "execution_duration"}
    back = execution_info_to_record(info, "ns-id", "ns", TYPES)
    expected = _record()
    expected.history_archival_uri = ""
    assert back == expected


def test_record_without_search_attributes_and_bad_values() -> None:
    r = VisibilityRecord(workflow_id="w", run_id="r")
    assert not record_to_execution_info(r, {}).HasField("search_attributes")
    r.search_attributes["CustomInt"] = "nope"
    with pytest.raises(CorruptArchiveError):
        record_to_execution_info(r, TYPES)
