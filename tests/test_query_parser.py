"""Parser, printer and built-in-archiver compatibility tests for archivers.query."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import IndexedValueType, WorkflowExecutionStatus

from archivers.errors import QueryError
from archivers.query import (
    And,
    Between,
    Comparison,
    InList,
    IsNull,
    Not,
    Or,
    OrderItem,
    Query,
    StartsWith,
    compile_query,
    parse_query,
    to_query_string,
)
from archivers.query.fields import (
    CLOSE_TIME,
    EXECUTION_DURATION,
    EXECUTION_STATUS,
    EXECUTION_TIME,
    HISTORY_LENGTH,
    RUN_ID,
    START_TIME,
    WORKFLOW_ID,
    WORKFLOW_TYPE,
)
from archivers.timefmt import parse_go_duration, parse_temporal_duration

S = 1_000_000_000
DAY = 86400 * S
T2019 = 1546341071 * S  # 2019-01-01T11:11:11Z
TYPES = {
    "CustomKeyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "CustomText": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "CustomInt": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "CustomDouble": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "CustomBool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "CustomDatetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "CustomKeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "weird name": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Order": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}
FAILED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED
COMPLETED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
TIMED_OUT = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT


def where(text: str):  # type: ignore[no-untyped-def]
    return parse_query(text, TYPES).where


def sa(name: str):  # type: ignore[no-untyped-def]
    return compile_query(f"`{name}` IS NULL", TYPES).where.field  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------
# operators
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_comparison_operators(op: str) -> None:
    assert where(f"HistoryLength {op} 5") == Comparison(HISTORY_LENGTH, op, 5)  # type: ignore[arg-type]


def test_not_equal_alias() -> None:
    assert where("WorkflowId <> 'a'") == Comparison(WORKFLOW_ID, "!=", "a")


def test_and_or_not_precedence_and_flattening() -> None:
    a, b, c = (Comparison(WORKFLOW_ID, "=", x) for x in "abc")
    assert where("WorkflowId='a' AND WorkflowId='b' AND WorkflowId='c'") == And((a, b, c))
    assert where("WorkflowId='a' OR WorkflowId='b' AND WorkflowId='c'") == Or((a, And((b, c))))
    assert where("(WorkflowId='a' OR WorkflowId='b') AND WorkflowId='c'") == And((Or((a, b)), c))
    assert where("NOT WorkflowId='a' AND WorkflowId='b'") == And((Not(a), b))
    assert where("NOT (WorkflowId='a' OR WorkflowId='b')") == Not(Or((a, b)))
    assert where("(WorkflowId='a' AND WorkflowId='b') AND WorkflowId='c'") == And((And((a, b)), c))


def test_keywords_are_case_insensitive() -> None:
    assert where("WorkflowId = 'a' and not RunId in ('x') or HistoryLength between 1 aNd 2") == Or((
        And((Comparison(WORKFLOW_ID, "=", "a"), Not(InList(RUN_ID, ("x",))))),
        Between(HISTORY_LENGTH, 1, 2),
    ))


def test_between_in_starts_with_is_null() -> None:
    assert where("ExecutionDuration BETWEEN '1s' AND '2m'") == Between(EXECUTION_DURATION, S, 120 * S)
    assert where("ExecutionDuration NOT BETWEEN 1 AND 2") == Between(EXECUTION_DURATION, 1, 2, negated=True)
    assert where("WorkflowId IN ('a', \"b\")") == InList(WORKFLOW_ID, ("a", "b"))
    assert where("WorkflowId NOT IN ('a')") == InList(WORKFLOW_ID, ("a",), negated=True)
    assert where("WorkflowType STARTS_WITH 'Order'") == StartsWith(WORKFLOW_TYPE, "Order")
    assert where("WorkflowType NOT STARTS_WITH 'Order'") == StartsWith(WORKFLOW_TYPE, "Order", negated=True)
    assert where("CloseTime IS NULL") == IsNull(CLOSE_TIME)
    assert where("CloseTime is not null") == IsNull(CLOSE_TIME, negated=True)
    assert where("ExecutionStatus IN ('Failed', 7, 'completed')") == InList(EXECUTION_STATUS,
                                                                           (FAILED, TIMED_OUT, COMPLETED))


def test_order_by() -> None:
    q = parse_query("WorkflowId = 'a' ORDER BY StartTime DESC, HistoryLength asc, RunId")
    assert q.order_by == (OrderItem(START_TIME, True), OrderItem(HISTORY_LENGTH), OrderItem(RUN_ID))
    assert parse_query("order by CloseTime").where is None
    assert parse_query("  ") == Query(None, ())


def test_custom_search_attributes_typed() -> None:
    assert where("CustomKeyword = 'x'") == Comparison(sa("CustomKeyword"), "=", "x")
    assert where("CustomInt > 3.5") == Comparison(sa("CustomInt"), ">", 3.5)
    assert where("CustomInt = -3") == Comparison(sa("CustomInt"), "=", -3)
    assert where("CustomDouble < 2") == Comparison(sa("CustomDouble"), "<", 2.0)
    assert where("CustomBool = true") == Comparison(sa("CustomBool"), "=", True)
    assert where("CustomDatetime >= '2019-01-01T11:11:11Z'") == Comparison(sa("CustomDatetime"), ">=", T2019)
    assert where("CustomKeywordList = 'x'") == Comparison(sa("CustomKeywordList"), "=", "x")
    assert where("`weird name` = 'x'") == Comparison(sa("weird name"), "=", "x")
    assert where("`Order` = 1") == Comparison(sa("Order"), "=", 1)


def test_time_forms() -> None:
    assert where("StartTime = 1000") == Comparison(START_TIME, "=", 1000)
    assert where("StartTime = -5") == Comparison(START_TIME, "=", 0)  # Go's UnixOrZeroTime clamps
    assert where("StartTime = '2019-01-01T11:11:11Z'") == Comparison(START_TIME, "=", T2019)
    assert where("StartTime = '2019-01-01T12:11:11.5+01:00'") == Comparison(START_TIME, "=", T2019 + S // 2)
    assert where("StartTime = '2019-01-01T11:11:11.000000001Z'") == Comparison(START_TIME, "=", T2019 + 1)
    assert where("ExecutionTime > '2019-01-01'") == Comparison(EXECUTION_TIME, ">", T2019 - 40271 * S)


@pytest.mark.parametrize(("text", "nanos"), [
    ("10s", 10 * S), ("1h30m", 5400 * S), ("1.5s", 1_500_000_000), ("300ms", 300_000_000), ("-1.5h", -5400 * S),
    ("2d", 2 * DAY), ("1d12h", DAY + 12 * 3600 * S), ("01:02:03", 3723 * S), ("1000", 1000), ("1us", 1000),
    ("1µs", 1000), ("0", 0),
])
def test_durations(text: str, nanos: int) -> None:
    assert parse_temporal_duration(text) == nanos
    assert where(f"ExecutionDuration = '{text}'") == Comparison(EXECUTION_DURATION, "=", nanos)


@pytest.mark.parametrize("text", ["", "s", "1", "1x", "1:60:00", "-1:00:00", "1..5s", ".s"])
def test_bad_durations(text: str) -> None:
    if text == "1":
        assert parse_go_duration(text) is None
        return
    assert parse_temporal_duration(text) is None
    with pytest.raises(QueryError):
        parse_query(f"ExecutionDuration = '{text}'")


@pytest.mark.parametrize(("text", "status"), [
    ("'Failed'", FAILED), ("'failed'", FAILED), ("'timed_out'", TIMED_OUT), ("'TimedOut'", TIMED_OUT),
    ("'TIMED_OUT'", TIMED_OUT), ("'ContinuedAsNew'", 6), ("'continued_as_new'", 6), ("'Running'", 1),
    ("'Completed'", 2), ("'Canceled'", 4), ("'Terminated'", 5), ("'WORKFLOW_EXECUTION_STATUS_FAILED'", FAILED),
    ("3", FAILED), ("'3'", FAILED), ("1", 1), ("7", 7),
])
def test_status_forms(text: str, status: int) -> None:
    assert where(f"ExecutionStatus = {text}") == Comparison(EXECUTION_STATUS, "=", status)


def test_workflow_type_name_alias() -> None:
    assert where("WorkflowTypeName = 'x'") == Comparison(WORKFLOW_TYPE, "=", "x")


def test_string_escapes() -> None:
    assert where(r"WorkflowId = 'a\'b\\c''d'") == Comparison(WORKFLOW_ID, "=", "a'b\\c'd")
    assert where('WorkflowId = "say ""hi"""') == Comparison(WORKFLOW_ID, "=", 'say "hi"')


# ------------------------------------------------------------------------------------------------
# SearchPrecision
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("precision", "unit"), [("Day", DAY), ("Hour", 3600 * S), ("Minute", 60 * S),
                                                  ("Second", S)])
def test_search_precision_desugars_to_half_open_range(precision: str, unit: int) -> None:
    q = where(f"WorkflowId = 'w' AND CloseTime = '2019-01-01T11:11:11.25Z' AND SearchPrecision = '{precision}'")
    start = (T2019 + S // 4) // unit * unit
    assert q == And((Comparison(WORKFLOW_ID, "=", "w"),
                     And((Comparison(CLOSE_TIME, ">=", start), Comparison(CLOSE_TIME, "<", start + unit)))))


def test_search_precision_uses_written_wall_clock_like_upstream() -> None:
    # Go formats the query time in its own offset, then matches UTC keys: the written date counts.
    q = where("StartTime = '2019-01-01T05:00:00+08:00' AND SearchPrecision = 'Day'")
    day = T2019 // DAY * DAY
    assert q == And((Comparison(START_TIME, ">=", day), Comparison(START_TIME, "<", day + DAY)))


def test_search_precision_with_both_times_and_order_independence() -> None:
    q = where("SearchPrecision = 'Hour' AND (StartTime = 0 AND CloseTime = 3600000000001)")
    assert q == And((And((Comparison(START_TIME, ">=", 0), Comparison(START_TIME, "<", 3600 * S))),
                     And((Comparison(CLOSE_TIME, ">=", 3600 * S), Comparison(CLOSE_TIME, "<", 7200 * S)))))


@pytest.mark.parametrize("text", [
    "WorkflowId = 'w' AND SearchPrecision = 'Day'",
    "CloseTime = 1 AND SearchPrecision = 'day'",
    "CloseTime = 1 AND SearchPrecision = 'Invalid string'",
    "CloseTime = 1 AND SearchPrecision != 'Day'",
    "CloseTime = 1 AND SearchPrecision = 'Day' AND SearchPrecision = 'Hour'",
    "CloseTime = 1 OR SearchPrecision = 'Day'",
    "CloseTime = 1 AND NOT SearchPrecision = 'Day'",
    "(CloseTime = 1 OR WorkflowId = 'a') AND SearchPrecision = 'Day'",
    "CloseTime > 1 AND SearchPrecision = 'Day'",
])
def test_search_precision_errors(text: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(text)
    assert info.value.position is not None


def test_time_equality_without_precision_is_exact() -> None:
    assert where("CloseTime = 2000") == Comparison(CLOSE_TIME, "=", 2000)


# ------------------------------------------------------------------------------------------------
# Temporal's query_parser_test.go cases (filestore, s3store); gcloud shares s3store's forms
# ------------------------------------------------------------------------------------------------
def _c(text: str):  # type: ignore[no-untyped-def]
    return compile_query(text).constraints


FILESTORE_VALID = [
    ('WorkflowId = "random workflowID"', dict(workflow_ids={"random workflowID"})),
    ('WorkflowId = "random workflowID" and WorkflowId = "random workflowID"', dict(workflow_ids={"random workflowID"})),
    ('RunId = "random runID"', dict(run_ids={"random runID"})),
    ('WorkflowType = "random typeName"', dict(workflow_types={"random typeName"})),
    ("WorkflowId = 'random workflowID'", dict(workflow_ids={"random workflowID"})),
    ("WorkflowType = 'random typeName' and WorkflowType = \"another typeName\"", "empty"),
    ("WorkflowType = 'random typeName' and (WorkflowId = \"random workflowID\" and RunId='random runID')",
     dict(workflow_ids={"random workflowID"}, run_ids={"random runID"}, workflow_types={"random typeName"})),
    ('ExecutionStatus = "Completed"', dict(statuses={COMPLETED})),
    ('ExecutionStatus = "failed"', dict(statuses={FAILED})),
    ('ExecutionStatus = "canceled"', dict(statuses={4})),
    ('ExecutionStatus = "terminated"', dict(statuses={5})),
    ("ExecutionStatus = 'continuedasnew'", dict(statuses={6})),
    ("ExecutionStatus = 'TIMED_OUT'", dict(statuses={TIMED_OUT})),
    ("ExecutionStatus = 'Failed' and ExecutionStatus = \"Failed\"", dict(statuses={FAILED})),
    ("(ExecutionStatus = 'Timedout' and ExecutionStatus = \"canceled\")", "empty"),
    ("ExecutionStatus = 3", dict(statuses={FAILED})),
    ("CloseTime <= 1000", dict(close=(None, 1000))),
    ("CloseTime < 2000 and CloseTime <= 1000 and CloseTime > 300", dict(close=(301, 1000))),
    ("CloseTime = 2000 and (CloseTime > 1000 and CloseTime <= 9999)", dict(close=(2000, 2000))),
    ('CloseTime <= "2019-01-01T11:11:11Z" and CloseTime >= 1000000', dict(close=(1000000, T2019))),
    ("CloseTime <= \"2019-01-01T11:11:11Z\" and WorkflowId = 'random workflowID'",
     dict(close=(None, T2019), workflow_ids={"random workflowID"})),
    ("CloseTime > 1999 and CloseTime < 10000 and RunId = 'random runID' and ExecutionStatus = 'Failed'",
     dict(close=(2000, 9999), run_ids={"random runID"}, statuses={FAILED})),
    ("CloseTime > 2001 and CloseTime < 10000 and (RunId = 'random runID') and ExecutionStatus = 'Failed' "
     "and (RunId = 'another ID')", "empty"),
]

W = {"random workflowID"}
S3_VALID = [
    ('WorkflowId = "random workflowID"', dict(workflow_ids={"random workflowID"})),
    ('WorkflowTypeName = "random workflowTypeName"', dict(workflow_types={"random workflowTypeName"})),
    ('WorkflowType = "random workflowType"', dict(workflow_types={"random workflowType"})),
    ("(WorkflowId = \"random workflowID\")", dict(workflow_ids={"random workflowID"})),
    ('WorkflowId = "random workflowID" AND CloseTime = 1000 and SearchPrecision = \'Day\'',
     dict(workflow_ids=W, close=(0, DAY - 1))),
    ('WorkflowId = "random workflowID" AND CloseTime = 1000 and SearchPrecision = \'Hour\'',
     dict(workflow_ids=W, close=(0, 3600 * S - 1))),
    ('WorkflowId = "random workflowID" AND CloseTime = 1000 and SearchPrecision = \'Minute\'',
     dict(workflow_ids=W, close=(0, 60 * S - 1))),
    ('WorkflowId = "random workflowID" AND StartTime = 1000 and SearchPrecision = \'Second\'',
     dict(workflow_ids=W, start=(0, S - 1))),
    ("WorkflowId = \"random workflowID\" AND SearchPrecision = 'Day' AND CloseTime = \"2019-01-01T11:11:11Z\"",
     dict(workflow_ids=W, close=(T2019 // DAY * DAY, T2019 // DAY * DAY + DAY - 1))),
    ("WorkflowId = \"random workflowID\" AND SearchPrecision = 'Day' AND StartTime = \"2019-01-01T11:11:11Z\"",
     dict(workflow_ids=W, start=(T2019 // DAY * DAY, T2019 // DAY * DAY + DAY - 1))),
    # The README example of interop.md section 6.
    ("WorkflowType = 'OrderFlow' AND CloseTime = '2024-05-01T00:00:00Z' AND SearchPrecision = 'Day'",
     dict(workflow_types={"OrderFlow"}, close=(1714521600 * S, 1714521600 * S + DAY - 1))),
]

# Rejected by a built-in parser: we reject them too (with a position) ...
STILL_ERRORS = [
    "runId = random workflowID", "workflowid = \"random workflowID\"", "runId > \"random workflowID\"",
    "status = \"Failed\"", "ExecutionStatus = \"unknown\"", "ExecutionStatus > \"Failed\"", "CloseStatus = 10",
    "closeTime = 2000", "CloseTime > \"2019-01-01 00:00:00\"", "ExecutionStatus > 2000 or ExecutionStatus < 1000",
    "WorkflowId = 'x' AND SearchPrecision = 'Second'", "WorkflowId = 'x' AND SearchPrecision = 'Invalid string'",
    "startTime = 2000", "StartTime > \"2019-01-01 00:00:00\"",
]
# ... or give them their natural List Filter meaning.
NATURAL = [
    ('WorkflowId = "random workflowID" or WorkflowId = "another workflowID"',
     dict(workflow_ids={"random workflowID", "another workflowID"})),
    ('WorkflowId = "random workflowID" or runId = "random runID"', None),  # runId: unknown field -> error
    ('ExecutionStatus = "Failed" or ExecutionStatus = "Failed"', dict(statuses={FAILED})),
    ('WorkflowId = "random workflowID" and WorkflowTypeName = "random workflowTypeName"',
     dict(workflow_ids={"random workflowID"}, workflow_types={"random workflowTypeName"})),
    ('WorkflowTypeName = "a" and WorkflowType = "a"', dict(workflow_types={"a"})),
    ('WorkflowId = "a" and WorkflowId = "a"', dict(workflow_ids={"a"})),
    ('RunId = "random runID"', dict(run_ids={"random runID"})),
]


def _check(text: str, expected: object) -> None:
    c = _c(text)
    if expected == "empty":
        assert c.is_empty, text
        return
    assert isinstance(expected, dict)
    assert not c.is_empty
    for key, attr in (("workflow_ids", "workflow_ids"), ("run_ids", "run_ids"),
                      ("workflow_types", "workflow_types"), ("statuses", "statuses")):
        want = expected.get(key)
        assert getattr(c, attr) == (None if want is None else frozenset(want)), (text, key)
    for key, attr in (("close", "close_time"), ("start", "start_time")):
        lo, hi = expected.get(key, (None, None))
        assert (getattr(c, attr).lower, getattr(c, attr).upper) == (lo, hi), (text, key)


@pytest.mark.parametrize(("text", "expected"), FILESTORE_VALID + S3_VALID)
def test_builtin_valid_queries_keep_their_meaning(text: str, expected: object) -> None:
    _check(text, expected)


@pytest.mark.parametrize("text", STILL_ERRORS)
def test_builtin_errors_stay_errors(text: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(text)
    assert info.value.position is not None


@pytest.mark.parametrize(("text", "expected"), NATURAL)
def test_builtin_errors_with_natural_meaning(text: str, expected: object) -> None:
    if expected is None:
        with pytest.raises(QueryError):
            compile_query(text)
    else:
        _check(text, expected)


def test_precision_window_matches_s3_prefix_semantics() -> None:
    # s3store lists keys with prefix ".../closeTimeout/2019-01-01T11" for Hour precision.
    q = compile_query("WorkflowId = 'w' AND CloseTime = '2019-01-01T11:59:59Z' AND SearchPrecision = 'Hour'")
    hour = (T2019 // (3600 * S)) * 3600 * S
    assert (q.constraints.close_time.lower, q.constraints.close_time.upper_exclusive) == (hour, hour + 3600 * S)


# ------------------------------------------------------------------------------------------------
# errors: positions and suggestions
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "position", "fragment"), [
    ("workflowId = 'a'", 0, "did you mean 'WorkflowId'"),
    ("WorkflowId = 'a' AND ClosTime > 5", 21, "did you mean 'CloseTime'"),
    ("WorkflowId = 'a' AND Foo = 5", 21, "type map"),
    ("customkeyword = 'x'", 0, "did you mean 'CustomKeyword'"),
    ("WorkflowId = abc", 13, "forget to quote"),
    ("WorkflowId = 5", 13, "quoted string"),
    ("HistoryLength = 'x'", 16, "number"),
    ("CustomBool = 'true'", 13, "TRUE or FALSE"),
    ("CustomText < 'x'", 11, "not supported"),
    ("CustomKeywordList STARTS_WITH 'x'", 18, "not supported"),
    ("WorkflowId = 'a' OR", 19, "expected"),
    ("WorkflowId = 'a' WorkflowId = 'b'", 17, "expected AND"),
    ("(WorkflowId = 'a'", 17, "')'"),
    ("WorkflowId IN ()", 15, "value"),
    ("WorkflowId = 'a' $", 17, "unexpected character"),
    ("CloseTime = '2019-13-01T00:00:00Z'", 12, "invalid time"),
    ("TaskQueue = 'q'", 0, "not stored"),
    ("ORDER BY CustomKeywordList", 9, "cannot ORDER BY"),
    ("WorkflowId IS 'x'", 14, "NULL"),
    ("HistoryLength = 1e999", 16, "out of range"),
    ("AND = 1", 0, "keyword"),
])
def test_error_positions_and_messages(text: str, position: int, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(text, TYPES)
    assert info.value.position == position, str(info.value)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_deep_nesting_is_a_query_error() -> None:
    with pytest.raises(QueryError):
        parse_query("(" * 5000 + "WorkflowId = 'a'" + ")" * 5000)
    with pytest.raises(QueryError):
        parse_query("NOT " * 5000 + "WorkflowId = 'a'")


# ------------------------------------------------------------------------------------------------
# printer
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "WorkflowId = 'a' OR WorkflowId = 'b' AND NOT (RunId = 'c' OR RunId = 'd')",
    "NOT NOT WorkflowId = 'x'",
    "CustomKeyword STARTS_WITH 'a''b\\\\c' ORDER BY CustomInt DESC, `weird name`",
    "CustomDouble BETWEEN -1e-07 AND 1e+300 AND CustomInt IN (1, 2.5, -3)",
    "CloseTime > '1969-12-31T23:59:59.999999999Z' AND ExecutionStatus NOT IN ('Failed', 'TimedOut')",
    "ExecutionDuration >= '1h' AND CustomDatetime < 5 AND CustomBool != FALSE AND `Order` IS NOT NULL",
    "WorkflowId = 'a' AND CloseTime = '2019-01-01T11:11:11Z' AND SearchPrecision = 'Minute'",
    "ORDER BY StartTime",
])
def test_print_parse_roundtrip(text: str) -> None:
    q = parse_query(text, TYPES)
    printed = to_query_string(q)
    assert parse_query(printed, TYPES) == q
    assert to_query_string(parse_query(printed, TYPES)) == printed


def test_canonical_text() -> None:
    q = parse_query("workflowtypename = \"x\" and closetime IS null".replace("workflowtypename", "WorkflowTypeName")
                    .replace("closetime", "CloseTime"))
    assert to_query_string(q) == "WorkflowType = 'x' AND CloseTime IS NULL"
    assert to_query_string(parse_query("ExecutionStatus = 3 order by CloseTime asc")) == (
        "ExecutionStatus = 'Failed' ORDER BY CloseTime")


def test_fingerprint_identifies_meaning() -> None:
    a = compile_query("WorkflowId = 'a' and ExecutionStatus = 'failed'")
    b = compile_query("WorkflowId = \"a\" AND ExecutionStatus = 3")
    c = compile_query("WorkflowId = 'a' AND ExecutionStatus = 3 ORDER BY StartTime")
    assert a.fingerprint == b.fingerprint != c.fingerprint
    k = compile_query("X = 'a'", {"X": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD})
    t = compile_query("X = 'a'", {"X": IndexedValueType.INDEXED_VALUE_TYPE_TEXT})
    assert k.fingerprint != t.fingerprint
    assert compile_query("").where is None and compile_query(None).where is None
