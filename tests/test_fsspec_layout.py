"""fsspec URIs: the store is rooted at the URI's location and keys follow the s3store layout below it."""

from __future__ import annotations

import uuid

import fsspec

from archivers.registry import get_history_archiver, get_visibility_archiver
from archivers.testing.records import make_records
from archivers.testing.synthetic import request_for, synthetic_history


def test_keys_are_the_s3store_layout_under_the_root() -> None:
    filesystem = fsspec.filesystem("memory")
    root = f"/bucket-{uuid.uuid4().hex}/archive"
    filesystem.makedirs(root, exist_ok=True)
    uri = f"fsspec+memory:/{root}"
    batches = synthetic_history(10, version=100)
    get_history_archiver(uri).archive(uri, request_for(batches), batches)
    record = make_records(1)[0]
    get_visibility_archiver(uri).archive(uri, record)
    stored = sorted(path.removeprefix(root + "/") for path in filesystem.find(root))
    close = record.close_time.ToJsonString()[:19] + "Z"  # Go's RFC3339: seconds, UTC
    prefix = "test-namespace-id/visibility"
    assert stored == sorted(
        [
            "test-namespace-id/history/test-workflow-id/test-run-id/100/0",
            f"{prefix}/workflowID/wf-0/closeTimeout/{close}/run-00000",
            f"{prefix}/workflowID/wf-0/startTimeout/{record.start_time.ToJsonString()[:19]}Z/run-00000",
            f"{prefix}/workflowTypeName/{record.workflow_type_name}/closeTimeout/{close}/run-00000",
            f"{prefix}/workflowTypeName/{record.workflow_type_name}/startTimeout/"
            f"{record.start_time.ToJsonString()[:19]}Z/run-00000",
        ]
    )
    filesystem.rm(root.rsplit("/archive", 1)[0], recursive=True)
