"""Byte-level interoperability of the s3://, gs:// and azblob:// backends with Temporal's own archivers.

Every expectation here is derived from the Go source of Temporal Server v1.32.2
(``common/archiver/{s3store,gcloud}``, ``common/codec/jsonpb.go``, ``common/archiver/history_iterator.go``)
and written out by hand: object keys, JSON field names, Go protojson's value forms (int64 as strings,
int32 as numbers, enums by full name, defaults omitted). Nothing is computed with this project's
encoder or layout modules. Objects are listed and read with boto3 / google-cloud-storage /
azure-storage-blob directly, on real emulators (moto, fake-gcs-server, Azurite).

The other direction is covered too: objects written by the test exactly as Temporal writes them
(reordered fields, extra whitespace) must be read back by ``get_history_archiver(uri).get`` and
``get_visibility_archiver(uri).query``, and a damaged or incomplete stored history must never be
served as if it were whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import farmhash
import pytest
from conftest import AzureContainer, GcsBucket, S3Bucket
from google.protobuf import json_format
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import ArchiveNotFoundError, ArchiverError, InvalidURIError
from archivers.interfaces import ArchiveHistoryRequest, GetHistoryRequest, QueryVisibilityRequest
from archivers.registry import get_history_archiver, get_visibility_archiver
from archivers.testing.synthetic import synthetic_history

# -- the interop.md §4 vectors ------------------------------------------------------------------

NS_ID = "test-namespace-id"
NS_NAME = "test-namespace"
WF_ID = "test-workflow-id"
RUN_ID = "test-run-id"
WF_TYPE = "test-workflow-type"
VERSION = 100
H_NS = "14132369870106350908"
H_WF = "17396722804854894889"
H_RUN = "11532452831150339470"
RUN_HASH = H_NS + H_WF + H_RUN
H_TYPE = str(farmhash.fingerprint64(WF_TYPE))  # pyfarmhash, not the project's naming module

# A 3-event history written by hand as Go's protojson prints it (two batches: [1, 2] and [3]).
EVENT_1: dict[str, Any] = {
    "eventId": "1",
    "eventTime": "2024-05-01T10:00:00Z",
    "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
    "version": "100",
    "taskId": "1048577",
    "workflowExecutionStartedEventAttributes": {
        "workflowType": {"name": WF_TYPE},
        "taskQueue": {"name": "test-tq", "kind": "TASK_QUEUE_KIND_NORMAL"},
        "input": {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "ImhpIg=="}]},
        "workflowRunTimeout": "60s",
        "attempt": 1,
    },
}
EVENT_2: dict[str, Any] = {
    "eventId": "2",
    "eventTime": "2024-05-01T10:00:00.500Z",
    "eventType": "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
    "version": "100",
    "taskId": "1048578",
    "workflowTaskScheduledEventAttributes": {
        "taskQueue": {"name": "test-tq", "kind": "TASK_QUEUE_KIND_NORMAL"},
        "startToCloseTimeout": "10s",
        "attempt": 1,
    },
}
EVENT_3: dict[str, Any] = {
    "eventId": "3",
    "eventTime": "2024-05-01T10:00:01.250Z",
    "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
    "version": "100",
    "taskId": "1048579",
    "workflowExecutionCompletedEventAttributes": {
        "result": {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "ImRvbmUi"}]},
        "workflowTaskCompletedEventId": "2",
    },
}
BODY = [{"events": [EVENT_1, EVENT_2]}, {"events": [EVENT_3]}]
HEADER = {  # HistoryBlobHeader of the one and last blob, as history_iterator.go fills it
    "namespace": NS_NAME,
    "namespaceId": NS_ID,
    "workflowId": WF_ID,
    "runId": RUN_ID,
    "isLast": True,
    "firstFailoverVersion": "100",
    "lastFailoverVersion": "100",
    "firstEventId": "1",
    "lastEventId": "3",
    "eventCount": "3",
}

# A visibility record as the server hands it to the archiver, and its protojson.
RECORD: dict[str, Any] = {
    "namespaceId": NS_ID,
    "namespace": NS_NAME,
    "workflowId": WF_ID,
    "runId": RUN_ID,
    "workflowTypeName": WF_TYPE,
    "startTime": "2024-05-01T10:00:00Z",
    "executionTime": "2024-05-01T10:00:00Z",
    "closeTime": "2024-05-01T10:05:30.250Z",
    "status": "WORKFLOW_EXECUTION_STATUS_COMPLETED",
    "historyLength": "3",
    "memo": {"fields": {"note": {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "ImhpIg=="}}},
    "historyArchivalUri": "s3://somewhere/else",
    "executionDuration": "330.250s",
}
START_KEY_TIME = "2024-05-01T10:00:00Z"
CLOSE_KEY_TIME = "2024-05-01T10:05:30Z"  # RFC3339: second precision, fraction dropped


def s3_history_key(prefix: str, version: int = VERSION, index: int = 0) -> str:
    """constructHistoryKey: TrimLeft(Join([path, ns, "history", wf, run], "/"), "/") + "/<version>/<index>"."""
    return f"{prefix}{NS_ID}/history/{WF_ID}/{RUN_ID}/{version}/{index}"


def s3_visibility_keys(prefix: str) -> set[str]:
    """The four keys of constructTimestampIndex for RECORD (``prefix`` already trimmed, with its slash)."""
    base = f"{prefix}{NS_ID}/visibility"
    return {
        f"{base}/workflowTypeName/{WF_TYPE}/closeTimeout/{CLOSE_KEY_TIME}/{RUN_ID}",
        f"{base}/workflowTypeName/{WF_TYPE}/startTimeout/{START_KEY_TIME}/{RUN_ID}",
        f"{base}/workflowID/{WF_ID}/closeTimeout/{CLOSE_KEY_TIME}/{RUN_ID}",
        f"{base}/workflowID/{WF_ID}/startTimeout/{START_KEY_TIME}/{RUN_ID}",
    }


# -- helpers ------------------------------------------------------------------------------------


def batches_of(body: list[dict[str, Any]]) -> list[History]:
    """Parse hand-written History JSON with Google's parser (unknown fields are an error)."""
    return [json_format.ParseDict(batch, History()) for batch in body]


def as_dicts(batches: list[History]) -> list[dict[str, Any]]:
    """Google's own protojson of returned batches, for comparison with the hand-written JSON."""
    return [json_format.MessageToDict(batch) for batch in batches]


def request_for_vectors(last_event_id: int = 3, version: int = VERSION) -> ArchiveHistoryRequest:
    """The archive request of the vector run."""
    return ArchiveHistoryRequest(
        namespace_id=NS_ID,
        namespace=NS_NAME,
        workflow_id=WF_ID,
        run_id=RUN_ID,
        next_event_id=last_event_id + 1,
        close_failover_version=version,
    )


def record_of(value: dict[str, Any]) -> VisibilityRecord:
    """Parse a protojson VisibilityRecord with Google's parser."""
    return json_format.ParseDict(value, VisibilityRecord())


def go_json(value: Any) -> bytes:
    """JSON as Go's protojson may print it: fields in another order, extra whitespace around tokens."""

    def reorder(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: reorder(node[key]) for key in reversed(list(node))}
        if isinstance(node, list):
            return [reorder(item) for item in node]
        return node

    return ("\n " + json.dumps(reorder(value), indent=1, separators=(" ,", ":  ")) + " \n").encode()


def read_all(uri: str, request: GetHistoryRequest) -> tuple[list[History], int]:
    """Every batch of an archived history, following tokens; also the number of pages."""
    archiver = get_history_archiver(uri)
    batches: list[History] = []
    token = b""
    pages = 0
    while True:
        response = archiver.get(
            uri,
            GetHistoryRequest(
                namespace_id=request.namespace_id,
                workflow_id=request.workflow_id,
                run_id=request.run_id,
                close_failover_version=request.close_failover_version,
                next_page_token=token,
                page_size=request.page_size,
            ),
        )
        batches.extend(response.history_batches)
        pages += 1
        if not response.next_page_token:
            return batches, pages
        assert pages < 1000, "the archiver keeps returning page tokens"
        token = response.next_page_token


def get_vectors(uri: str, page_size: int = 0, version: int | None = None) -> list[dict[str, Any]]:
    """The vector run's history read back through the archiver, as protojson dicts."""
    batches, _ = read_all(uri, GetHistoryRequest(NS_ID, WF_ID, RUN_ID, version, page_size=page_size))
    return as_dicts(batches)


def event_json(event_id: int, last: int, version: int = VERSION) -> dict[str, Any]:
    """A small hand-written event of a history of ``last`` events (start, activities, completion)."""
    event: dict[str, Any] = {
        "eventId": str(event_id),
        "eventTime": f"2024-05-01T10:00:{event_id:02d}Z",
        "version": str(version),
        "taskId": str(2000 + event_id),
    }
    if event_id == 1:
        event["eventType"] = "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
        event["workflowExecutionStartedEventAttributes"] = {"workflowType": {"name": WF_TYPE}, "attempt": 1}
    elif event_id == last:
        event["eventType"] = "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
        event["workflowExecutionCompletedEventAttributes"] = {"workflowTaskCompletedEventId": str(last - 1)}
    else:
        event["eventType"] = "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
        event["activityTaskScheduledEventAttributes"] = {"activityId": f"a{event_id}"}
    return event


def blob_json(batches: list[list[int]], last: int, *, is_last: bool, version: int = VERSION) -> dict[str, Any]:
    """A HistoryBlob as s3store writes it: header (isLast omitted when false) and body."""
    ids = [i for batch in batches for i in batch]
    header: dict[str, Any] = {
        "namespace": NS_NAME,
        "namespaceId": NS_ID,
        "workflowId": WF_ID,
        "runId": RUN_ID,
        "firstFailoverVersion": str(version),
        "lastFailoverVersion": str(version),
        "firstEventId": str(ids[0]),
        "lastEventId": str(ids[-1]),
        "eventCount": str(len(ids)),
    }
    if is_last:
        header["isLast"] = True
    return {"header": header, "body": [{"events": [event_json(i, last, version) for i in b]} for b in batches]}


def ids_of(batches: list[dict[str, Any]]) -> list[list[int]]:
    """Event ids per batch."""
    return [[int(e["eventId"]) for e in batch["events"]] for batch in batches]


# -- store access without the library -----------------------------------------------------------


def s3_objects(bucket: S3Bucket) -> dict[str, bytes]:
    """Every object of the bucket, read with boto3."""
    client = bucket.server.client()
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket.name):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=bucket.name, Key=item["Key"])["Body"].read()
    return found


def s3_put(bucket: S3Bucket, key: str, data: bytes) -> None:
    """Write one object with boto3."""
    bucket.server.client().put_object(Bucket=bucket.name, Key=key, Body=data)


def gcs_objects(bucket: GcsBucket) -> dict[str, bytes]:
    """Every object of the bucket, read with google-cloud-storage."""
    client = bucket.server.client()
    return {blob.name: blob.download_as_bytes() for blob in client.list_blobs(bucket.name)}


def gcs_put(bucket: GcsBucket, name: str, data: bytes) -> None:
    """Write one object with google-cloud-storage."""
    bucket.server.client().bucket(bucket.name).blob(name).upload_from_string(data)


def azure_objects(container: AzureContainer) -> dict[str, bytes]:
    """Every blob of the container, read with azure-storage-blob."""
    with container.server.service_client() as service:
        client = service.get_container_client(container.name)
        return {blob.name: client.download_blob(blob.name).readall() for blob in client.list_blobs()}


def archive_vectors(uri: str) -> None:
    """Archive the vector history and visibility record through the library."""
    get_history_archiver(uri).archive(uri, request_for_vectors(), batches_of(BODY))
    get_visibility_archiver(uri).archive(uri, record_of(RECORD))


# -- 1. what we write is what Temporal writes ---------------------------------------------------


def test_s3_vectors_keys_and_json_are_temporals(s3_bucket: S3Bucket) -> None:
    uri = f"s3://{s3_bucket.name}/temporal/archive"
    archive_vectors(uri)
    objects = s3_objects(s3_bucket)
    history_key = s3_history_key("temporal/archive/")
    assert history_key == (
        "temporal/archive/test-namespace-id/history/test-workflow-id/test-run-id/100/0"
    )  # the key spelled out once, as in interop.md §5
    assert set(objects) == {history_key} | s3_visibility_keys("temporal/archive/")
    assert json.loads(objects[history_key]) == {"header": HEADER, "body": BODY}
    for key in s3_visibility_keys("temporal/archive/"):
        assert json.loads(objects[key]) == RECORD, key
    assert get_vectors(uri) == BODY


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("", ""),  # s3://bucket: Join(["", ns, ...]) = "/ns/..." then TrimLeft "/"
        ("/", ""),  # s3://bucket/: same once the leading slashes are trimmed
        ("/p/", "p//"),  # trailing slash: Join gives "/p//ns/...", TrimLeft keeps the empty segment
        ("//p", "p/"),  # leading slashes are all trimmed
    ],
    ids=["empty-path", "root-slash", "trailing-slash", "double-leading-slash"],
)
def test_s3_key_construction_edge_cases(s3_bucket: S3Bucket, path: str, prefix: str) -> None:
    uri = f"s3://{s3_bucket.name}{path}"
    archive_vectors(uri)
    objects = s3_objects(s3_bucket)
    assert set(objects) == {s3_history_key(prefix)} | s3_visibility_keys(prefix)
    assert get_vectors(uri) == BODY
    executions = get_visibility_archiver(uri).query(uri, QueryVisibilityRequest(NS_ID, query=f"WorkflowId = '{WF_ID}'"))
    assert [e.execution.run_id for e in executions.executions] == [RUN_ID]


def test_gcs_vectors_names_and_json_are_temporals(gcs_bucket: GcsBucket) -> None:
    uri = f"gs://{gcs_bucket.name}/temporal/archive"
    archive_vectors(uri)
    objects = gcs_objects(gcs_bucket)
    history_name = "temporal/archive/141323698701063509081739672280485489488911532452831150339470_100_0.history"
    assert f"temporal/archive/{RUN_HASH}_100_0.history" == history_name
    close_name = f"temporal/archive/{NS_ID}/closeTimeout_{CLOSE_KEY_TIME}_{H_TYPE}_{H_WF}_{H_RUN}.visibility"
    start_name = f"temporal/archive/{NS_ID}/startTimeout_{START_KEY_TIME}_{H_TYPE}_{H_WF}_{H_RUN}.visibility"
    assert set(objects) == {history_name, close_name, start_name}
    assert json.loads(objects[history_name]) == BODY  # a part is a bare JSON array of History
    assert json.loads(objects[close_name]) == RECORD
    assert json.loads(objects[start_name]) == RECORD
    assert get_vectors(uri) == BODY


@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("/p/", "p//"),  # formatSinkPath("/p/") + "/" + name: the empty segment stays
        ("/a/b", "a/b/"),
        ("/", "/"),  # Go accepts a path of "/" (only "" is refused): formatSinkPath gives "", names start with "/"
    ],
    ids=["trailing-slash", "two-segments", "root-slash"],
)
def test_gcs_name_construction_edge_cases(gcs_bucket: GcsBucket, path: str, base: str) -> None:
    uri = f"gs://{gcs_bucket.name}{path}"
    try:
        archive_vectors(uri)
    except InvalidURIError as err:
        pytest.fail(
            f"Temporal's gcloud archiver accepts {uri} (its validateURI refuses only an empty path), "
            f"ours refuses it: {err}",
            pytrace=False,
        )
    assert set(gcs_objects(gcs_bucket)) == {
        f"{base}{RUN_HASH}_100_0.history",
        f"{base}{NS_ID}/closeTimeout_{CLOSE_KEY_TIME}_{H_TYPE}_{H_WF}_{H_RUN}.visibility",
        f"{base}{NS_ID}/startTimeout_{START_KEY_TIME}_{H_TYPE}_{H_WF}_{H_RUN}.visibility",
    }
    assert get_vectors(uri) == BODY


def test_gcs_visibility_name_matches_go_unit_test_vector(gcs_bucket: GcsBucket) -> None:
    """gcloud/util_test.go: constructVisibilityFilename("namespaceID", "workflowTypeName", "workflowID",
    "runID", startTimeout, 1970-01-01T00:24:32Z)."""
    uri = f"gs://{gcs_bucket.name}/p"
    record = {
        "namespaceId": "namespaceID",
        "workflowId": "workflowID",
        "runId": "runID",
        "workflowTypeName": "workflowTypeName",
        "startTime": "1970-01-01T00:24:32Z",
        "closeTime": "1970-01-01T00:25:00Z",
    }
    get_visibility_archiver(uri).archive(uri, record_of(record))
    assert set(gcs_objects(gcs_bucket)) == {
        "p/namespaceID/startTimeout_1970-01-01T00:24:32Z_4346151385925082125_8344541402884576509_131521284625246243.visibility",
        "p/namespaceID/closeTimeout_1970-01-01T00:25:00Z_4346151385925082125_8344541402884576509_131521284625246243.visibility",
    }


def _large_history() -> tuple[list[History], int]:
    """About 5 MiB of protojson: three parts of Temporal's 2 MiB blob size."""
    batches = synthetic_history(40, version=VERSION, batch_size=2, payload_bytes=100_000)
    return batches, 40


def test_s3_multi_part_history_blobs(s3_bucket: S3Bucket) -> None:
    uri = f"s3://{s3_bucket.name}/mp"
    batches, count = _large_history()
    get_history_archiver(uri).archive(uri, request_for_vectors(count), batches)
    objects = s3_objects(s3_bucket)
    assert sorted(objects) == [s3_history_key("mp/", index=i) for i in range(3)]
    next_id = 1
    for index in range(3):
        blob = json.loads(objects[s3_history_key("mp/", index=index)])
        assert set(blob) == {"header", "body"}
        header, body = blob["header"], blob["body"]
        ids = [i for batch in ids_of(body) for i in batch]
        assert ids == list(range(next_id, ids[-1] + 1)), f"blob {index} does not continue at event {next_id}"
        expected: dict[str, Any] = {
            "namespace": NS_NAME,
            "namespaceId": NS_ID,
            "workflowId": WF_ID,
            "runId": RUN_ID,
            "firstFailoverVersion": "100",
            "lastFailoverVersion": "100",
            "firstEventId": str(ids[0]),
            "lastEventId": str(ids[-1]),
            "eventCount": str(len(ids)),
        }
        if index == 2:
            expected["isLast"] = True  # only on the last blob; false is omitted by protojson
        assert header == expected, f"blob {index}"
        next_id = ids[-1] + 1
    assert next_id == count + 1
    assert get_vectors(uri, page_size=7) == as_dicts(batches)


def test_gcs_multi_part_history_parts(gcs_bucket: GcsBucket) -> None:
    uri = f"gs://{gcs_bucket.name}/mp"
    batches, count = _large_history()
    get_history_archiver(uri).archive(uri, request_for_vectors(count), batches)
    objects = gcs_objects(gcs_bucket)
    assert sorted(objects) == [f"mp/{RUN_HASH}_100_{part}.history" for part in range(3)]  # not all at part 0
    stored = [batch for part in range(3) for batch in json.loads(objects[f"mp/{RUN_HASH}_100_{part}.history"])]
    assert stored == as_dicts(batches)
    assert get_vectors(uri, page_size=7) == as_dicts(batches)


def test_azure_layout_equals_s3_layout(s3_bucket: S3Bucket, azure_container: AzureContainer) -> None:
    for path in ("/temporal/archive", "", "/p/"):
        archive_vectors(f"s3://{s3_bucket.name}{path}")
        archive_vectors(f"azblob://{azure_container.name}{path}")
    s3 = s3_objects(s3_bucket)
    azure = azure_objects(azure_container)
    assert set(azure) == set(s3)
    assert len(s3) == 3 * 5
    for key, data in s3.items():
        assert json.loads(azure[key]) == json.loads(data), key
    assert get_vectors(f"azblob://{azure_container.name}/p/") == BODY


# -- 2. what Temporal wrote is read back --------------------------------------------------------


def test_reads_temporal_written_s3_multi_blob_history(s3_bucket: S3Bucket) -> None:
    uri = f"s3://{s3_bucket.name}/arch"
    layout = [
        [[1, 2]],  # blob 0: one batch of two events
        [[3], [4, 5]],  # blob 1: two batches
        [[6]],  # blob 2: the close event
    ]
    for index, blob_batches in enumerate(layout):
        blob = blob_json(blob_batches, 6, is_last=index == 2)
        s3_put(s3_bucket, s3_history_key("arch/", index=index), go_json(blob))
    # an older, complete version of the same run (a failover happened before the close)
    s3_put(s3_bucket, s3_history_key("arch/", version=5), go_json(blob_json([[1, 2, 3]], 3, is_last=True, version=5)))
    expected = [{"events": [event_json(i, 6) for i in batch]} for blob in layout for batch in blob]
    for page_size in (0, 1, 2, 3):
        batches, pages = read_all(uri, GetHistoryRequest(NS_ID, WF_ID, RUN_ID, page_size=page_size))
        assert as_dicts(batches) == expected, f"page size {page_size}"
        if page_size == 1:
            assert pages == 4  # pages hold whole batches
    older, _ = read_all(uri, GetHistoryRequest(NS_ID, WF_ID, RUN_ID, close_failover_version=5))
    assert as_dicts(older) == [{"events": [event_json(i, 3, version=5) for i in (1, 2, 3)]}]


def test_reads_temporal_written_gcs_multi_part_history(gcs_bucket: GcsBucket) -> None:
    uri = f"gs://{gcs_bucket.name}/arch"
    parts = [[[1, 2], [3]], [[4]], [[5, 6], [7]]]
    for index, part in enumerate(parts):
        body: list[dict[str, Any]] = [{"events": [event_json(i, 7) for i in batch]} for batch in part]
        body[0]["someFutureField"] = "dropped"  # readers of History arrays discard unknown fields
        gcs_put(gcs_bucket, f"arch/{RUN_HASH}_{VERSION}_{index}.history", go_json(body))
    expected = [{"events": [event_json(i, 7) for i in batch]} for part in parts for batch in part]
    for page_size in (0, 1, 2, 4):
        batches, _ = read_all(uri, GetHistoryRequest(NS_ID, WF_ID, RUN_ID, page_size=page_size))
        assert as_dicts(batches) == expected, f"page size {page_size}"


def _write_gcs_parts(bucket: GcsBucket, parts: dict[int, list[list[int]]], last: int) -> None:
    for index, part in parts.items():
        body = [{"events": [event_json(i, last) for i in batch]} for batch in part]
        gcs_put(bucket, f"old/{RUN_HASH}_{VERSION}_{index}.history", go_json(body))


def test_reads_old_gcloud_single_part_history(gcs_bucket: GcsBucket) -> None:
    """The common upstream case: the whole (small) history in part 0."""
    _write_gcs_parts(gcs_bucket, {0: [[1, 2], [3, 4], [5]]}, 5)
    events = [int(e["eventId"]) for b in get_vectors(f"gs://{gcs_bucket.name}/old") for e in b["events"]]
    assert events == [1, 2, 3, 4, 5]


def test_reads_gcloud_parts_starting_above_zero(gcs_bucket: GcsBucket) -> None:
    """Go's reader reads parts lowest..highest; a complete history stored as parts 1..2 is whole."""
    _write_gcs_parts(gcs_bucket, {1: [[1, 2], [3]], 2: [[4, 5]]}, 5)
    events = [int(e["eventId"]) for b in get_vectors(f"gs://{gcs_bucket.name}/old") for e in b["events"]]
    assert events == [1, 2, 3, 4, 5]


def _served_event_ids(uri: str) -> list[int] | ArchiverError:
    try:
        batches, _ = read_all(uri, GetHistoryRequest(NS_ID, WF_ID, RUN_ID))
    except ArchiverError as err:
        return err
    return [event.event_id for batch in batches for event in batch.events]


@pytest.mark.parametrize(
    ("parts", "last", "what"),
    [
        # upstream's multi-part bug: every blob went to part 0 and only the first survived
        ({0: [[1, 2], [3]]}, 6, "only the first blob of a 6-event history, in part 0"),
        # part 0 lost: parts 1..2 hold events 4..6 only
        ({1: [[4], [5]], 2: [[6]]}, 6, "parts 1..2 starting at event 4 (part 0 missing)"),
        # a gap between parts: part 1 lost, parts 0 and 2 present
        ({0: [[1, 2]], 2: [[5, 6]]}, 6, "parts 0 and 2 (part 1 missing)"),
        # contiguous part numbers but events 3..4 missing between them
        ({0: [[1, 2]], 1: [[5, 6]]}, 6, "parts 0..1 with events 3..4 missing"),
    ],
    ids=["first-blob-only", "starts-after-event-1", "missing-middle-part", "event-gap"],
)
def test_incomplete_gcloud_history_is_never_served(
    gcs_bucket: GcsBucket, parts: dict[int, list[list[int]]], last: int, what: str
) -> None:
    _write_gcs_parts(gcs_bucket, parts, last)
    served = _served_event_ids(f"gs://{gcs_bucket.name}/old")
    assert isinstance(served, ArchiverError), (
        f"stored history is {what}, yet get() returned events {served} without an error "
        "(a partial history served as if whole)"
    )
    assert served.retryable is False


@pytest.mark.parametrize(
    ("blobs", "what"),
    [
        ({1: ([[3, 4]], False), 2: ([[5, 6]], True)}, "blobs 1..2 starting at event 3 (blob 0 missing)"),
        ({0: ([[1, 2]], False), 1: ([[5, 6]], True)}, "blobs 0..1 with events 3..4 missing"),
        ({0: ([[1, 2]], False), 1: ([[3, 4]], False)}, "no blob marked isLast"),
    ],
    ids=["starts-after-event-1", "event-gap", "no-last-blob"],
)
def test_incomplete_s3_history_is_never_served(
    s3_bucket: S3Bucket, blobs: dict[int, tuple[list[list[int]], bool]], what: str
) -> None:
    for index, (batches, is_last) in blobs.items():
        s3_put(s3_bucket, s3_history_key("old/", index=index), go_json(blob_json(batches, 6, is_last=is_last)))
    served = _served_event_ids(f"s3://{s3_bucket.name}/old")
    assert isinstance(served, ArchiverError), (
        f"stored history is {what}, yet get() returned events {served} without an error "
        "(a partial history served as if whole)"
    )
    assert served.retryable is False


def test_incomplete_history_error_names_the_run_without_a_bogus_version(gcs_bucket: GcsBucket) -> None:
    """An incomplete stored history (upstream's part-0 bug) reads as not found, with a clear message.

    No version was asked for, so the message must not speak of "close failover version None".
    """
    _write_gcs_parts(gcs_bucket, {0: [[1, 2], [3]]}, 6)
    served = _served_event_ids(f"gs://{gcs_bucket.name}/old")
    assert isinstance(served, ArchiveNotFoundError), served
    message = str(served)
    assert WF_ID in message and RUN_ID in message, message
    assert "None" not in message, f"the error shows Python's None as a version: {message!r}"


# -- visibility written by Temporal -------------------------------------------------------------


def _records() -> list[dict[str, Any]]:
    """Three records of two types; the first is RECORD."""
    second = dict(
        RECORD,
        workflowId="wf-2",
        runId="run-2",
        closeTime="2024-05-02T08:00:00Z",
        startTime="2024-05-02T07:00:00Z",
        executionTime="2024-05-02T07:00:00Z",
        executionDuration="3600s",
        status="WORKFLOW_EXECUTION_STATUS_FAILED",
    )
    third = dict(
        second, workflowId="wf-3", runId="run-3", workflowTypeName="OtherType", closeTime="2024-05-02T09:00:00Z"
    )
    for record in (second, third):
        record.pop("memo")
    return [RECORD, second, third]


def _execution_info(record: dict[str, Any]) -> dict[str, Any]:
    """What Go's convertToExecutionInfo makes of a record (search attributes aside)."""
    info = {
        "execution": {"workflowId": record["workflowId"], "runId": record["runId"]},
        "type": {"name": record["workflowTypeName"]},
    }
    for field in ("startTime", "executionTime", "closeTime", "executionDuration", "status", "historyLength", "memo"):
        if field in record:
            info[field] = record[field]
    return info


def _query(uri: str, query: str) -> list[dict[str, Any]]:
    response = get_visibility_archiver(uri).query(uri, QueryVisibilityRequest(NS_ID, query=query))
    found = []
    for execution in response.executions:
        info = json_format.MessageToDict(execution)
        info.pop("searchAttributes", None)
        found.append(info)
    return by_run(found)


def by_run(infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Executions in run id order (the tests compare sets of results, not the listing order)."""
    return sorted(infos, key=lambda info: str(info["execution"]["runId"]))


def _s3_record_keys(prefix: str, record: dict[str, Any]) -> Iterator[str]:
    close = record["closeTime"][:19] + "Z"
    start = record["startTime"][:19] + "Z"
    base = f"{prefix}{record['namespaceId']}/visibility"
    for primary, value in (("workflowTypeName", record["workflowTypeName"]), ("workflowID", record["workflowId"])):
        yield f"{base}/{primary}/{value}/closeTimeout/{close}/{record['runId']}"
        yield f"{base}/{primary}/{value}/startTimeout/{start}/{record['runId']}"


def test_reads_temporal_written_s3_visibility(s3_bucket: S3Bucket) -> None:
    uri = f"s3://{s3_bucket.name}/vis"
    records = _records()
    for record in records:
        for key in _s3_record_keys("vis/", record):
            s3_put(s3_bucket, key, go_json(record))
    first, second, third = (_execution_info(r) for r in records)
    assert _query(uri, f"WorkflowType = '{WF_TYPE}'") == by_run([first, second])
    assert _query(uri, "WorkflowId = 'wf-3'") == [third]
    assert _query(uri, "WorkflowTypeName = 'OtherType'") == [third]
    # s3store's own syntax: a time with SearchPrecision
    day = "WorkflowType = 'test-workflow-type' AND CloseTime = '2024-05-02T00:00:00Z' AND SearchPrecision = 'Day'"
    assert _query(uri, day) == [second]
    hour = f"WorkflowId = '{WF_ID}' AND StartTime = '2024-05-01T10:30:00Z' AND SearchPrecision = 'Hour'"
    assert _query(uri, hour) == [first]
    assert _query(uri, "") == by_run([first, second, third])


def test_reads_temporal_written_gcs_visibility(gcs_bucket: GcsBucket) -> None:
    uri = f"gs://{gcs_bucket.name}/vis"
    records = _records()
    for record in records:
        hashes = "_".join(str(farmhash.fingerprint64(record[f])) for f in ("workflowTypeName", "workflowId", "runId"))
        for tag, field in (("closeTimeout", "closeTime"), ("startTimeout", "startTime")):
            name = f"vis/{NS_ID}/{tag}_{record[field][:19]}Z_{hashes}.visibility"
            gcs_put(gcs_bucket, name, go_json(record))
    first, second, third = (_execution_info(r) for r in records)
    # gcloud's own syntax: a time with SearchPrecision, ids filtered by hash
    day = "CloseTime = '2024-05-02T00:00:00Z' AND SearchPrecision = 'Day'"
    assert _query(uri, day) == by_run([second, third])
    assert _query(uri, f"StartTime = '2024-05-01T10:00:00Z' AND SearchPrecision = 'Minute' AND RunId = '{RUN_ID}'") == [
        first
    ]
    assert _query(uri, f"WorkflowType = '{WF_TYPE}'") == by_run([first, second])
    assert _query(uri, "WorkflowId = 'wf-3'") == [third]
    assert _query(uri, "") == by_run([first, second, third])
