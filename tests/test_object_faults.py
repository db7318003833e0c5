"""Archiving over S3, GCS and Azure while the network misbehaves: faults injected on the wire.

The real SDKs talk to the real emulators (moto, fake-gcs-server, Azurite) through
:class:`~tests.harness.http_proxy.HttpProxy`, which injects seeded faults on a fraction of the
requests: 5xx answers (S3's ``503 SlowDown``, ``500``/``503`` of GCS and Azure), ``429``, TCP resets
before forwarding (``reset``), responses lost after the store applied the request
(``drop_after_forward``) and delays past the client's read timeout (``delay``).

Under each scenario (5xx and 429 answers, resets, lost responses, delays: one fault on about a
quarter of the requests, seeded) a multi-part history (4 parts of ~2 MiB) and 3 visibility records
are archived. An archiver call may give up once the SDK's own retries are exhausted; it must then
raise an error with ``retryable is True``, and the test calls it again as the server would (bounded,
:data:`MAX_CALLS`; see :func:`_archive_history`). Once every call has succeeded, the faults are
cleared and what is stored is read back: exactly the 4 parts exist, the history equals the input
(no lost, duplicated or reordered event), and a query finds every record exactly once.

Failures no retry can fix — permission denied (moto with IAM auth enforced, a wrong Azure account
key, an injected GCS 403) and a missing bucket or container — must fail at once: one request on the
wire, :class:`StoreConfigurationError`, ``retryable is False``, the bucket named in the message.

SDK retry settings are tuned for speed: S3 ``maxAttempts`` 2, GCS ``retryDeadline`` 2 s (its first
backoff is up to 1 s and cannot be configured), read timeouts 0.3 s (delays are 0.6 s). Azure's ``ExponentialRetry``
waits 15 s ± 3 s before its first retry and the backend exposes no backoff setting, so Azure runs
with ``maxAttempts`` 1 and every fault is retried by the caller's loop (the archivers' resumption).
"""

from __future__ import annotations

import functools
import itertools
import re
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import AzureContainer, GcsBucket, S3Bucket
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import ArchiverError, StoreConfigurationError
from archivers.interfaces import (
    ArchiveHistoryRequest,
    GetHistoryRequest,
    HistoryArchiver,
    QueryVisibilityRequest,
    VisibilityArchiver,
)
from archivers.layouts import gcloud, s3store
from archivers.layouts.base import HistoryLayout
from archivers.registry import get_history_archiver, get_visibility_archiver
from archivers.store.azure import azure_store
from archivers.store.base import ObjectStore
from archivers.store.gcs import gcs_store
from archivers.store.s3 import s3_store
from archivers.testing.records import make_records
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.uri import URI
from tests.harness.emulators import AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME, MotoS3Server
from tests.harness.http_proxy import Fault, HttpProxy, RequestRecord

_BUCKET_METADATA = re.compile(r"/storage/v1/b/[^/]+")

PREFIX = "arch"
"""Key prefix (URI path) of every test."""
PROBABILITY = 0.25
"""Share of requests that get a fault."""
READ_TIMEOUT = 0.3
"""Client read timeout (seconds); ``delay`` faults wait twice as long."""
MAX_CALLS = 20
"""How often the test calls an archiver before giving up (the server retries for much longer)."""
SEED = 100
"""Seed of the proxy's fault RNG for the first scenario (the next ones add their index)."""
RECORDS = 3
"""Visibility records archived per scenario."""

SCHEMES = ("s3", "gs", "azblob")
GCS_JSON = {"Content-Type": "application/json"}
AZURE_XML = {"Content-Type": "application/xml"}


def _gcs_error(status: int, reason: str) -> bytes:
    return b'{"error":{"code":%d,"message":"injected by the fault proxy","errors":[{"reason":"%s"}]}}' % (
        status,
        reason.encode(),
    )


def _azure_error(code: str) -> bytes:
    return (
        b'<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code>'
        b"<Message>injected by the fault proxy</Message></Error>" % code.encode()
    )


#: scenario -> backend scheme -> fault rules, each firing with its probability on data requests
#: (``"status"`` mixes the store's 5xx answers with ``429``; the probabilities add up to ~0.25).
SCENARIOS: dict[str, dict[str, list[Fault]]] = {
    "status": {
        "s3": [Fault.s3_slow_down(0.15), Fault.too_many_requests(0.1)],
        "gs": [
            Fault("status", 0.08, status=500, body=_gcs_error(500, "backendError"), headers=GCS_JSON),
            Fault("status", 0.08, status=503, body=_gcs_error(503, "backendError"), headers=GCS_JSON),
            Fault("status", 0.1, status=429, body=_gcs_error(429, "rateLimitExceeded"), headers=GCS_JSON),
        ],
        "azblob": [
            Fault("status", 0.08, status=500, body=_azure_error("InternalError"), headers=AZURE_XML),
            Fault("status", 0.08, status=503, body=_azure_error("ServerBusy"), headers=AZURE_XML),
            Fault.too_many_requests(0.1),
        ],
    },
    "reset": {scheme: [Fault("reset", PROBABILITY)] for scheme in SCHEMES},
    "drop_after_forward": {scheme: [Fault("drop_after_forward", PROBABILITY)] for scheme in SCHEMES},
    "delay": {scheme: [Fault("delay", 0.2, delay=2 * READ_TIMEOUT)] for scheme in SCHEMES},
}


def _restricted(rule: Fault, match: Callable[[str, str], bool]) -> Fault:
    """``rule`` applying only to requests ``match`` accepts."""
    return Fault(
        rule.kind,
        rule.probability,
        match,
        status=rule.status,
        body=rule.body,
        headers=rule.headers,
        delay=rule.delay,
    )


@dataclass
class Target:
    """One backend behind a fresh proxy, with fast-failing SDK settings."""

    scheme: str
    bucket: str
    proxy: HttpProxy
    settings: dict[str, Any]

    @property
    def uri(self) -> str:
        """The archival URI (with a key prefix)."""
        return f"{self.scheme}://{self.bucket}/{PREFIX}"

    def data_request(self, method: str, path: str) -> bool:
        """Every request but google-cloud-storage's one-off ``GET /storage/v1/b/<bucket>``.

        google-cloud-storage 3.17+ fetches a bucket's metadata from a background thread the first
        time a client touches it (for OpenTelemetry attributes); that request races with the
        archiver's, so it is neither counted nor given faults (which keeps the seeded faults
        reproducible). Its errors are swallowed by the SDK.
        """
        return not (self.scheme == "gs" and method == "GET" and _BUCKET_METADATA.fullmatch(path) is not None)


def _azure_connection(endpoint: str, key: str = AZURITE_ACCOUNT_KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT_NAME};AccountKey={key};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT_NAME};"
    )


def _settings(scheme: str, proxy_url: str) -> dict[str, Any]:
    """SDK settings pointing at ``proxy_url`` with short timeouts and few SDK-level attempts."""
    if scheme == "s3":
        return {
            "endpoint": proxy_url,
            "s3ForcePathStyle": True,
            "region": "us-east-1",
            "maxAttempts": 2,
            "readTimeout": READ_TIMEOUT,
            "connectTimeout": 1,
        }
    if scheme == "gs":
        return {"timeout": READ_TIMEOUT, "retryDeadline": 2.0}
    return {
        "connectionString": _azure_connection(proxy_url),
        "maxAttempts": 1,
        "readTimeout": READ_TIMEOUT,
        "connectionTimeout": 1,
    }


def _open(scheme: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """A fresh bucket of ``scheme`` behind a new proxy (seed 1234)."""
    if scheme == "s3":
        s3: S3Bucket = request.getfixturevalue("s3_bucket")
        name, upstream = s3.name, s3.endpoint_url
    elif scheme == "gs":
        gs: GcsBucket = request.getfixturevalue("gcs_bucket")
        name, upstream = gs.name, gs.endpoint_url
    else:
        az: AzureContainer = request.getfixturevalue("azure_container")
        name, upstream = az.name, f"http://{az.server.host}:{az.server.port}"
    with HttpProxy(upstream, seed=1234) as proxy:
        if scheme == "gs":
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        yield Target(scheme, name, proxy, _settings(scheme, proxy.url))


@pytest.fixture(params=SCHEMES)
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """A fresh bucket/container of each backend, reached through a new proxy."""
    yield from _open(request.param, request, monkeypatch)


@pytest.fixture(scope="module")
def long_history() -> list[History]:
    """8,000 events with 500-byte payloads: ~7.2 MiB of protojson, 4 parts (3 of ~2 MiB).

    Few large events rather than many small ones: decoding the read-back costs per event.
    """
    return synthetic_history(8_000, payload_bytes=500)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _until_done(what: str, call: Callable[[], None]) -> int:
    """Call ``call`` until it succeeds, as the server would; every failure must be retryable.

    Returns the number of calls made; fails the test after :data:`MAX_CALLS`.
    """
    last: ArchiverError | None = None
    for attempt in range(1, MAX_CALLS + 1):
        try:
            call()
        except ArchiverError as err:
            assert err.retryable is True, f"{what}: attempt {attempt} failed with a non-retryable error: {err!r}"
            last = err
            continue
        return attempt
    pytest.fail(f"{what}: still failing after {MAX_CALLS} calls; last error: {last!r}")


def _read_history(archiver: HistoryArchiver, uri: str, request: ArchiveHistoryRequest) -> list[History]:
    """Every stored batch, following page tokens (pages of 4,000 events)."""
    batches: list[History] = []
    token = b""
    for _ in range(100):
        page = archiver.get(
            uri,
            GetHistoryRequest(
                request.namespace_id, request.workflow_id, request.run_id, next_page_token=token, page_size=4000
            ),
        )
        batches += page.history_batches
        token = page.next_page_token
        if not token:
            return batches
    pytest.fail("history paging did not end after 100 pages")


def _query_all(archiver: VisibilityArchiver, uri: str, namespace_id: str) -> list[str]:
    """Run ids of every archived execution of the namespace (empty query, all pages)."""
    run_ids: list[str] = []
    token = b""
    for _ in range(100):
        page = archiver.query(uri, QueryVisibilityRequest(namespace_id, page_size=2, next_page_token=token))
        run_ids += [e.execution.run_id for e in page.executions]
        token = page.next_page_token
        if not token:
            return run_ids
    pytest.fail("query paging did not end after 100 pages")


def _stored_parts(target: Target, request: ArchiveHistoryRequest) -> list[tuple[int, int]]:
    """``(version, index)`` of every stored part of the run, listed with a store of its own."""
    uri = URI.parse(target.uri)
    store: ObjectStore
    layout: HistoryLayout
    if target.scheme == "s3":
        store, layout = s3_store(uri, target.settings), s3store.LAYOUT
    elif target.scheme == "gs":
        store, layout = gcs_store(uri, target.settings), gcloud.LAYOUT
    else:
        store, layout = azure_store(uri, target.settings), s3store.LAYOUT
    try:
        keys = [info.key for page in store.list_all(layout.list_prefix(uri.path, request)) for info in page.objects]
    finally:
        store.close()
    return sorted(part for key in keys if (part := layout.parse_key(uri.path, request, key)) is not None)


def _kinds(sent: list[RequestRecord]) -> str:
    """What the client saw of the faulted requests, e.g. ``503 x3, 429 x2``."""
    seen = Counter(str(r.status) if r.fault == "status" else str(r.fault) for r in sent if r.fault is not None)
    return ", ".join(f"{kind} x{n}" for kind, n in sorted(seen.items())) or "none"


def _records(scheme: str, fault: str) -> list[VisibilityRecord]:
    """:data:`RECORDS` records with run ids unique to the scenario."""
    records = make_records(RECORDS, seed=11)
    for index, record in enumerate(records):
        record.run_id = f"run-{scheme}-{fault}-{index}"
    return records


# --------------------------------------------------------------------------------------------------
# transient faults: everything eventually succeeds, nothing is lost or duplicated
# --------------------------------------------------------------------------------------------------


def _archive_history(
    archiver: HistoryArchiver, uri: str, request: ArchiveHistoryRequest, batches: list[History]
) -> int:
    """Archive ``batches`` until it succeeds; return the number of archive calls.

    The first two calls send the whole history: the second is a plain retry of the library call,
    which must skip the parts stored already (each one's conditional create answers "exists" and
    its content says where to continue). Later calls do what the sidecar's client does: ask for
    the durable progress (``GetArchiveProgress``) and send only the batches after it, so a retry
    no longer re-sends every stored part (which, with one request per SDK call on Azure, would
    rarely get through). Asking may fail under the faults too, and is retried.
    """
    calls = 0

    def attempt() -> None:
        nonlocal calls
        remaining = batches
        if calls >= 2:
            progress = archiver.progress(uri, request)
            if progress.complete:
                return
            remaining = [b for b in batches if b.events[0].event_id > progress.last_event_id]
        calls += 1
        archiver.archive(uri, request, remaining)

    _until_done("history archive", attempt)
    return calls


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_archives_survive_transient_faults(target: Target, scenario: str, long_history: list[History]) -> None:
    """A 4-part history and 3 records are archived through seeded faults and read back exactly."""
    began = time.monotonic()
    proxy = target.proxy
    rules = [_restricted(rule, target.data_request) for rule in SCENARIOS[scenario][target.scheme]]
    history = get_history_archiver(target.uri, target.settings)
    visibility = get_visibility_archiver(target.uri, target.settings)
    request = request_for(long_history, workflow_id="wf-faults", run_id=f"run-{scenario}")
    records = _records(target.scheme, scenario)
    proxy.set_faults(rules, seed=SEED + list(SCENARIOS).index(scenario))

    history_calls = _archive_history(history, target.uri, request, long_history)
    visibility_calls = [
        _until_done(f"visibility archive of {r.run_id}", functools.partial(visibility.archive, target.uri, r))
        for r in records
    ]
    injected = sum(proxy.fired(rule) for rule in rules)
    proxy.clear_faults()
    sent = [r for r in proxy.requests if target.data_request(r.method, r.path)]  # a delayed one may be missing

    parts = _stored_parts(target, request)
    stored = _read_history(history, target.uri, request)
    found = _query_all(visibility, target.uri, records[0].namespace_id)
    faulted = [r for r in proxy.requests if r.fault is not None]  # delayed requests have finished by now

    summary = (
        f"[{target.scheme} {scenario}] {injected} faults ({_kinds(faulted)}) in {len(sent)} requests "
        f"({sum(1 for r in sent if r.method in ('PUT', 'POST'))} writes); archive calls: history {history_calls}, "
        f"visibility {visibility_calls}; {time.monotonic() - began:.1f}s"
    )
    print(f"\n{summary}")
    assert injected > 0, f"no fault was injected: the scenario tested nothing. {summary}"
    assert parts == [(0, i) for i in range(4)], f"stored parts (version, index): {parts}. {summary}"
    assert len(stored) == len(long_history), f"{len(stored)} batches read back, {len(long_history)} archived. {summary}"
    assert stored == long_history, f"the history read back differs from the one archived. {summary}"
    assert sorted(found) == sorted(r.run_id for r in records), f"records found: {found}. {summary}"


# --------------------------------------------------------------------------------------------------
# failures no retry fixes: one request, StoreConfigurationError naming the bucket
# --------------------------------------------------------------------------------------------------


def _fails_at_once(target: Target, uri: str, settings: dict[str, Any], name: str) -> None:
    """Archiving a history and a record under ``uri`` each fail after one request, non-retryable."""
    history = get_history_archiver(uri, settings)
    visibility = get_visibility_archiver(uri, settings)
    batches = synthetic_history(6)
    request = request_for(batches)
    record = make_records(1)[0]
    calls: list[tuple[str, Callable[[], None]]] = [
        ("history archive", lambda: history.archive(uri, request, batches)),
        ("visibility archive", lambda: visibility.archive(uri, record)),
    ]
    # Each call runs twice: the first also creates the SDK client (seconds on a loaded machine), the
    # second shows that the failure itself waits for nothing (no backoff before giving up).
    for (what, call), attempt in itertools.product(calls, ("cold", "warm")):
        target.proxy.reset_counts()
        began = time.monotonic()
        with pytest.raises(StoreConfigurationError) as info:
            call()
        elapsed = time.monotonic() - began
        sent = [r for r in target.proxy.requests if target.data_request(r.method, r.path)]
        wire = ", ".join(f"{r.method} {r.status} {r.path}" for r in sent)
        print(f"\n[{target.scheme}] {what} ({attempt}): {info.value} ({len(sent)} request: {wire}; {elapsed:.2f}s)")
        assert info.value.retryable is False
        assert name in str(info.value), f"the message does not name {name!r}: {info.value}"
        assert len(sent) == 1, f"{what}: expected a single attempt, got {len(sent)}: {wire}"
        if attempt == "warm":
            assert elapsed < 2, f"{what} took {elapsed:.1f}s to fail"


def test_missing_bucket_fails_at_once(target: Target) -> None:
    """A bucket or container that does not exist: one request, not retryable, named."""
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    _fails_at_once(target, f"{target.scheme}://{missing}/{PREFIX}", target.settings, missing)


def _set_moto_auth(server: MotoS3Server, free_actions: str) -> None:
    """Make moto enforce signatures and IAM policies after ``free_actions`` unchecked calls (``inf``: never)."""
    request = urllib.request.Request(
        f"{server.endpoint_url}/moto-api/reset-auth",
        method="POST",
        data=free_actions.encode(),
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("target", ["s3"], indirect=True)
def test_s3_access_denied_fails_at_once(target: Target, moto_s3: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """An IAM user without permissions (moto enforcing auth): 403 AccessDenied, one request."""
    import boto3

    iam = boto3.client("iam", endpoint_url=moto_s3.endpoint_url, region_name="us-east-1")
    user = f"nobody-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    _set_moto_auth(moto_s3, "0")
    try:
        _fails_at_once(target, target.uri, target.settings, target.bucket)
    finally:
        _set_moto_auth(moto_s3, "inf")


@pytest.mark.parametrize("target", ["azblob"], indirect=True)
def test_azure_wrong_account_key_fails_at_once(target: Target) -> None:
    """A connection string with another account key: 403 AuthenticationFailed, one request."""
    wrong = dict(target.settings, connectionString=_azure_connection(target.proxy.url, "d3Jvbmcta2V5" * 8))
    _fails_at_once(target, target.uri, wrong, target.bucket)


@pytest.mark.parametrize("target", ["gs"], indirect=True)
def test_gcs_forbidden_fails_at_once(target: Target) -> None:
    """fake-gcs-server has no auth: a 403 is injected on every request instead; one request."""
    target.proxy.set_faults(
        [Fault("status", status=403, body=_gcs_error(403, "forbidden"), headers=GCS_JSON, match=target.data_request)]
    )
    _fails_at_once(target, target.uri, target.settings, target.bucket)
