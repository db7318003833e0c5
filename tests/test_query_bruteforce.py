"""Brute force: paging through compiled queries equals an independent reference filter + sort.

Records are generated as plain dicts, then stored as VisibilityRecord protos. Each query comes with a
hand-written reference predicate and sort key over the dicts, independent of the evaluator.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.api.enums.v1 import IndexedValueType

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import InvalidPageTokenError
from archivers.query import CompiledQuery, compile_query

S = 1_000_000_000
H = 3600 * S
BASE = int(dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc).timestamp()) * S
TYPES = {
    "CustomKeyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "CustomText": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "CustomInt": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "CustomDouble": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "CustomBool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "CustomDatetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "CustomKeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}
R = dict[str, Any]


def _iso(nanos: int) -> str:
    secs, frac = divmod(nanos, S)
    text = dt.datetime.fromtimestamp(secs, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def make_records(n: int, seed: int) -> list[R]:
    rnd = random.Random(seed)
    out: list[R] = []
    for i in range(n):
        close = BASE + rnd.randrange(-3 * 24 * H, 3 * 24 * H) + rnd.choice([0, 0, 1, 999_999_999])
        if i % 17 == 0 and out:
            close = out[-1]["close"]  # ties on CloseTime
        duration = rnd.choice([None, rnd.randrange(0, 3 * H), rnd.randrange(0, 10 * S)])
        r: R = {
            "wid": f"wf-{rnd.randrange(30)}", "rid": f"run-{seed}-{i:04d}-{rnd.randrange(10**6):06d}",
            "type": rnd.choice(["A", "B", "OrderFlow", "Other"]), "status": rnd.randrange(1, 8),
            "close": None if i % 23 == 5 else close,
            "start": None if duration is None else close - duration,
            "duration": duration, "exec": None if i % 5 == 0 else close - (duration or 0) - S,
            "hlen": rnd.randrange(1, 200), "sa": {},
        }
        sa = r["sa"]
        if rnd.random() < 0.8:
            sa["CustomKeyword"] = rnd.choice(["k1", "k2", "k3", "a'b"])
        if rnd.random() < 0.8:
            sa["CustomInt"] = rnd.randrange(-5, 100)
        if rnd.random() < 0.7:
            sa["CustomDouble"] = rnd.choice([0.5, 1.25, 2.5, -3.75, 100.0])
        if rnd.random() < 0.7:
            sa["CustomBool"] = rnd.random() < 0.5
        if rnd.random() < 0.7:
            sa["CustomDatetime"] = BASE + rnd.randrange(-2 * 24 * H, 2 * 24 * H)
        if rnd.random() < 0.7:
            sa["CustomKeywordList"] = rnd.sample(["a", "b", "c", "d"], rnd.randrange(0, 4))
        if rnd.random() < 0.5:
            sa["CustomText"] = rnd.choice(["hello world", "hello", "other text"])
        out.append(r)
    return out


def to_proto(r: R) -> VisibilityRecord:
    rec = VisibilityRecord(namespace_id="ns", namespace="ns", workflow_id=r["wid"], run_id=r["rid"],
                           workflow_type_name=r["type"], status=r["status"], history_length=r["hlen"])
    for key, name in (("close", "close_time"), ("start", "start_time"), ("exec", "execution_time")):
        if r[key] is not None:
            getattr(rec, name).seconds, getattr(rec, name).nanos = divmod(r[key], S)
    if r["duration"] is not None:
        rec.execution_duration.seconds, rec.execution_duration.nanos = divmod(r["duration"], S)
    for name, value in r["sa"].items():
        if name == "CustomDatetime":
            text = _iso(value)
        elif name == "CustomKeywordList":
            text = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = repr(value).removesuffix(".0")
        else:
            text = str(value)
        rec.search_attributes[name] = text
    return rec


def has(r: R, name: str) -> bool:
    value = r["sa"].get(name)
    return value is not None and value != []


def sa(r: R, name: str) -> Any:
    return r["sa"][name]


DAY_START = BASE  # 2024-05-01
DAY_END = BASE + 24 * H
T1, T2 = BASE - 24 * H, BASE + 12 * H
DEFAULT = "default"
# (query, reference predicate, sort key spec or DEFAULT)
CASES: list[tuple[str, Callable[[R], bool], Any]] = [
    ("", lambda r: True, DEFAULT),
    ("WorkflowId = 'wf-3'", lambda r: r["wid"] == "wf-3", DEFAULT),
    ("WorkflowId != 'wf-3'", lambda r: r["wid"] != "wf-3", DEFAULT),
    ("WorkflowId = 'wf-1' AND WorkflowId = 'wf-2'", lambda r: False, DEFAULT),
    ("WorkflowId IN ('wf-1', 'wf-2') OR RunId = 'nope'", lambda r: r["wid"] in ("wf-1", "wf-2"), DEFAULT),
    ("WorkflowId NOT IN ('wf-1', 'wf-2')", lambda r: r["wid"] not in ("wf-1", "wf-2"), DEFAULT),
    ("WorkflowId STARTS_WITH 'wf-1'", lambda r: r["wid"].startswith("wf-1"), DEFAULT),
    ("WorkflowId NOT STARTS_WITH 'wf-1'", lambda r: not r["wid"].startswith("wf-1"), DEFAULT),
    ("WorkflowId > 'wf-2' AND WorkflowId <= 'wf-5'", lambda r: "wf-2" < r["wid"] <= "wf-5", DEFAULT),
    ("WorkflowId BETWEEN 'wf-2' AND 'wf-25'", lambda r: "wf-2" <= r["wid"] <= "wf-25", DEFAULT),
    ("WorkflowTypeName = 'OrderFlow'", lambda r: r["type"] == "OrderFlow", DEFAULT),
    ("ExecutionStatus = 'Failed' OR ExecutionStatus = 'timed_out'", lambda r: r["status"] in (3, 7), DEFAULT),
    ("ExecutionStatus != 'Completed'", lambda r: r["status"] != 2, DEFAULT),
    ("WorkflowType IN ('A', 'B') AND NOT ExecutionStatus IN ('Completed', 'ContinuedAsNew')",
     lambda r: r["type"] in ("A", "B") and r["status"] not in (2, 6), DEFAULT),
    (f"CloseTime >= {T1} AND CloseTime < {T2}", lambda r: r["close"] is not None and T1 <= r["close"] < T2, DEFAULT),
    (f"CloseTime > '{_iso(T1)}' AND CloseTime <= '{_iso(T2)}' AND ExecutionStatus = 3",
     lambda r: r["close"] is not None and T1 < r["close"] <= T2 and r["status"] == 3, DEFAULT),
    (f"CloseTime BETWEEN {T1} AND {T2}", lambda r: r["close"] is not None and T1 <= r["close"] <= T2, DEFAULT),
    (f"CloseTime NOT BETWEEN {T1} AND {T2}",
     lambda r: r["close"] is not None and not T1 <= r["close"] <= T2, DEFAULT),
    ("CloseTime IS NULL", lambda r: r["close"] is None, DEFAULT),
    ("StartTime IS NOT NULL AND ExecutionDuration > '1h'", lambda r: r["start"] is not None and r["duration"] > H,
     DEFAULT),
    ("ExecutionDuration BETWEEN '10m' AND '2h'",
     lambda r: r["duration"] is not None and 600 * S <= r["duration"] <= 2 * H, DEFAULT),
    ("ExecutionDuration < 5000000000", lambda r: r["duration"] is not None and r["duration"] < 5 * S, DEFAULT),
    ("ExecutionTime < '2024-05-01'", lambda r: r["exec"] is not None and r["exec"] < BASE, DEFAULT),
    ("HistoryLength NOT BETWEEN 10 AND 100", lambda r: not 10 <= r["hlen"] <= 100, DEFAULT),
    ("HistoryLength >= 150 OR HistoryLength = 7", lambda r: r["hlen"] >= 150 or r["hlen"] == 7, DEFAULT),
    ("CustomInt > 50", lambda r: has(r, "CustomInt") and sa(r, "CustomInt") > 50, DEFAULT),
    ("NOT CustomInt > 50", lambda r: has(r, "CustomInt") and not sa(r, "CustomInt") > 50, DEFAULT),
    ("CustomInt IN (1, 2, 3) OR CustomInt < 0",
     lambda r: has(r, "CustomInt") and (sa(r, "CustomInt") in (1, 2, 3) or sa(r, "CustomInt") < 0), DEFAULT),
    ("CustomKeyword != 'k1'", lambda r: has(r, "CustomKeyword") and sa(r, "CustomKeyword") != "k1", DEFAULT),
    ("CustomKeyword = 'a''b'", lambda r: has(r, "CustomKeyword") and sa(r, "CustomKeyword") == "a'b", DEFAULT),
    ("CustomKeyword IS NULL", lambda r: not has(r, "CustomKeyword"), DEFAULT),
    ("CustomKeywordList = 'a'", lambda r: has(r, "CustomKeywordList") and "a" in sa(r, "CustomKeywordList"),
     DEFAULT),
    ("CustomKeywordList != 'a'",
     lambda r: has(r, "CustomKeywordList") and "a" not in sa(r, "CustomKeywordList"), DEFAULT),
    ("CustomKeywordList IN ('c', 'd')",
     lambda r: has(r, "CustomKeywordList") and bool({"c", "d"} & set(sa(r, "CustomKeywordList"))), DEFAULT),
    ("CustomKeywordList IS NULL", lambda r: not has(r, "CustomKeywordList"), DEFAULT),
    ("CustomDatetime < '2024-05-01T00:00:00Z'",
     lambda r: has(r, "CustomDatetime") and sa(r, "CustomDatetime") < BASE, DEFAULT),
    ("CustomBool = true", lambda r: has(r, "CustomBool") and sa(r, "CustomBool") is True, DEFAULT),
    ("CustomDouble <= 2.5", lambda r: has(r, "CustomDouble") and sa(r, "CustomDouble") <= 2.5, DEFAULT),
    ("CustomText = 'hello world'", lambda r: has(r, "CustomText") and sa(r, "CustomText") == "hello world",
     DEFAULT),
    ("NOT (WorkflowId = 'wf-1' OR CustomInt < 10)",
     lambda r: r["wid"] != "wf-1" and has(r, "CustomInt") and sa(r, "CustomInt") >= 10, DEFAULT),
    ("(CustomInt < 10 OR CustomInt >= 90) AND CloseTime IS NOT NULL",
     lambda r: has(r, "CustomInt") and (sa(r, "CustomInt") < 10 or sa(r, "CustomInt") >= 90)
     and r["close"] is not None, DEFAULT),
    ("WorkflowId = 'wf-4' OR NOT CustomBool = true",
     lambda r: r["wid"] == "wf-4" or (has(r, "CustomBool") and sa(r, "CustomBool") is False), DEFAULT),
    # built-in archivers' forms
    ("WorkflowType = 'OrderFlow' AND CloseTime = '2024-05-01T00:00:00Z' AND SearchPrecision = 'Day'",
     lambda r: r["type"] == "OrderFlow" and r["close"] is not None and DAY_START <= r["close"] < DAY_END, DEFAULT),
    ("WorkflowId = \"wf-2\" AND SearchPrecision = 'Hour' AND StartTime = '2024-05-01T10:30:00Z'",
     lambda r: r["wid"] == "wf-2" and r["start"] is not None and BASE + 10 * H <= r["start"] < BASE + 11 * H,
     DEFAULT),
    (f"CloseTime = {BASE + 7 * H + 5} AND SearchPrecision = 'Day'",
     lambda r: r["close"] is not None and DAY_START <= r["close"] < DAY_END, DEFAULT),
    ("CloseTime > 1999 and CloseTime < 1714600000000000000 and ExecutionStatus = 'Failed'",
     lambda r: r["close"] is not None and 1999 < r["close"] < 1714600000000000000 and r["status"] == 3, DEFAULT),
    # ORDER BY
    ("ExecutionStatus = 'Completed' ORDER BY StartTime", lambda r: r["status"] == 2, [("start", False)]),
    ("ORDER BY HistoryLength DESC, WorkflowId", lambda r: True, [("hlen", True), ("wid", False)]),
    ("CustomInt > 0 ORDER BY CustomInt", lambda r: has(r, "CustomInt") and sa(r, "CustomInt") > 0,
     [("CustomInt", False)]),
    ("ORDER BY CustomDatetime DESC", lambda r: True, [("CustomDatetime", True)]),
    ("ORDER BY CloseTime ASC", lambda r: True, [("close", False)]),
    ("ORDER BY RunId DESC", lambda r: True, [("rid", True)]),
]


def reference(records: list[R], pred: Callable[[R], bool], spec: Any) -> list[str]:
    rows = [r for r in records if pred(r)]
    keys = [("close", True)] if spec == DEFAULT else list(spec)
    if all(k != "rid" for k, _ in keys):
        keys.append(("rid", False))
    for key, desc in reversed(keys):
        def get(r: R, key: str = key) -> Any:
            return r[key] if key in r else r["sa"].get(key)
        rows.sort(key=lambda r, get=get: (get(r) is not None, get(r) if get(r) is not None else 0), reverse=desc)
    return [r["rid"] for r in rows]


def page_all(q: CompiledQuery, protos: list[VisibilityRecord], size: int) -> list[str]:
    out: list[str] = []
    cursor = None
    for _ in range(len(protos) + 2):
        page = q.page(protos, cursor, size)
        assert len(page.records) <= size
        out += [p.run_id for p in page.records]
        if page.next_cursor is None:
            return out
        assert len(page.records) == size
        cursor = json.loads(json.dumps(page.next_cursor))
    raise AssertionError("paging did not terminate")


RECORDS = make_records(240, seed=7)
PROTOS = [to_proto(r) for r in RECORDS]


def test_records_are_varied() -> None:
    assert len({r["status"] for r in RECORDS}) == 7
    assert all(sum(1 for r in RECORDS if name in r["sa"]) > 50 for name in TYPES)
    assert any(r["close"] is None for r in RECORDS) and any(r["duration"] is None for r in RECORDS)


@pytest.mark.parametrize(("text", "pred", "spec"), CASES, ids=[c[0][:60] or "<empty>" for c in CASES])
def test_paging_matches_reference(text: str, pred: Callable[[R], bool], spec: Any) -> None:
    q = compile_query(text, TYPES)
    expected = reference(RECORDS, pred, spec)
    for size in (1, 3, 7, 50, 1000):
        assert page_all(q, PROTOS, size) == expected, (text, size)
    # constraints are sound: every matching record satisfies them
    c = q.constraints
    for r in RECORDS:
        if not pred(r):
            continue
        assert c.workflow_ids is None or r["wid"] in c.workflow_ids
        assert c.run_ids is None or r["rid"] in c.run_ids
        assert c.workflow_types is None or r["type"] in c.workflow_types
        assert c.statuses is None or r["status"] in c.statuses
        assert c.close_time.is_unbounded or (r["close"] is not None and c.close_time.contains(r["close"]))
        assert c.start_time.is_unbounded or (r["start"] is not None and c.start_time.contains(r["start"]))


def test_pages_stay_consistent_when_records_are_added_between_pages() -> None:
    q = compile_query("ExecutionStatus != 'Running'", TYPES)
    protos = list(PROTOS[:150])
    seen: list[str] = []
    cursor = None
    extra = iter(PROTOS[150:])
    while True:
        page = q.page(protos, cursor, 11)
        seen += [p.run_id for p in page.records]
        protos.extend(x for _, x in zip(range(5), extra, strict=False))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    original = [p.run_id for p in PROTOS[:150] if p.status != 1]
    assert set(original) <= set(seen)
    order = {rid: i for i, rid in enumerate(reference(RECORDS, lambda r: r["status"] != 1, DEFAULT))}
    assert [order[x] for x in seen] == sorted(order[x] for x in seen)


@pytest.mark.parametrize("cursor", [[], [1], ["x", "y"], [1, 2, 3], "abc", [True, "r"], [1.5, "r"], [None, 5]])
def test_bad_cursor_shape_is_rejected(cursor: Any) -> None:
    q = compile_query("", TYPES)
    with pytest.raises(InvalidPageTokenError):
        q.page(PROTOS, cursor, 10)


def test_page_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        compile_query("").page(PROTOS, None, 0)
