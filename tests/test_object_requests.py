"""Requests per archived run on S3, GCS and Azure, counted on the wire by a reverse proxy.

Every test drives the real SDK against a real emulator (moto, fake-gcs-server, Azurite) through
:class:`~tests.harness.http_proxy.HttpProxy`, which logs each HTTP request the SDK sends. The
design promises (``/work/shared/design.md``, principle 2; ``interop.md`` §5):

* archiving a small (one-part) history costs exactly ONE request — the conditional create — with
  no HEAD, GET or LIST before it;
* archiving a visibility record costs exactly 4 PUTs on the s3store layout (``s3``, ``azblob``) and
  2 uploads on the gcloud layout (``gs``).

The assertions compare the full list of ``(method, path)`` pairs (plus the query parameters that
make a GCS upload conditional), so any extra request fails the test. Reading the history back and a
query by WorkflowId are recorded too, printed (visible with ``pytest -s``) and bounded.

Each test builds fresh archivers, hence fresh SDK clients, and first uses them once on another run
and record (:func:`_warm_up`). boto3 (static credentials from the environment) and
azure-storage-blob (shared key) send no one-off request: their warm-up costs exactly what the
measured operations cost, and that is asserted. google-cloud-storage 3.17+ does send one: a
background ``GET /storage/v1/b/<bucket>`` the first time a client touches a bucket (bucket metadata
for OpenTelemetry attributes) — once per client and bucket, not per archived run — which the
warm-up waits for so the measured operations see only their own requests.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import AzureContainer, GcsBucket, S3Bucket

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.config import ArchivalConfig
from archivers.interfaces import GetHistoryRequest, HistoryArchiver, QueryVisibilityRequest, VisibilityArchiver
from archivers.layouts import gcloud, native, s3store
from archivers.progress import ArchiveProgress
from archivers.registry import get_history_archiver, get_root_manager, get_visibility_archiver
from archivers.remote import RemoteHistoryArchiver, RemoteVisibilityArchiver, connect
from archivers.roots import DESCRIPTOR_NAME
from archivers.store.azure import encode_key
from archivers.testing.records import make_records
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.uri import URI
from sidecar.server import SidecarServer
from tests.harness.emulators import AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME
from tests.harness.http_proxy import HttpProxy, RequestRecord

PREFIX = "arch"
"""Key prefix (URI path) used by every test, so keys exercise the prefix handling too."""

Wire = tuple[str, str]
"""``(method, decoded path)`` of one request, plus (GCS only) a marker of the conditional create."""


@dataclass
class Target:
    """One backend behind a fresh proxy: where to archive, with which settings, and how keys look on the wire."""

    scheme: str
    bucket: str
    proxy: HttpProxy
    settings: dict[str, Any]
    #: the request a conditional create of ``key`` sends, as :func:`wire` reports it
    create: Callable[[str], Wire]
    #: the request a plain (overwriting) put of ``key`` sends, as :func:`wire` reports it
    put: Callable[[str], Wire]

    @property
    def uri(self) -> str:
        """The archival URI (with a key prefix)."""
        return f"{self.scheme}://{self.bucket}/{PREFIX}"


def wire(record: RequestRecord) -> Wire:
    """A logged request as ``(method, path)`` with the path percent-decoded.

    A GCS upload carries the object name in its body, so for ``/upload/`` paths the path is
    followed by ``?ifGenerationMatch=0`` when the upload is a conditional create.
    """
    path = urllib.parse.unquote(record.path)
    if path.startswith("/upload/"):
        query = urllib.parse.parse_qs(record.query)
        if query.get("ifGenerationMatch") == ["0"]:
            path += "?ifGenerationMatch=0"
    return record.method, path


def describe(records: list[RequestRecord]) -> str:
    """One line per request: method, status, path and query as sent."""
    return (
        "\n".join(f"  {r.method} {r.status} {r.path}{'?' + r.query if r.query else ''}" for r in records) or "  (none)"
    )


@pytest.fixture(params=["s3", "gs", "azblob"])
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """A fresh bucket/container of the parametrized backend, reached only through a new proxy."""
    scheme: str = request.param
    if scheme == "s3":
        s3: S3Bucket = request.getfixturevalue("s3_bucket")
        with HttpProxy(s3.endpoint_url) as proxy:
            settings = {"endpoint": proxy.url, "s3ForcePathStyle": True, "region": s3.region}
            path = f"/{s3.name}/"
            yield Target(scheme, s3.name, proxy, settings, lambda k: ("PUT", path + k), lambda k: ("PUT", path + k))
    elif scheme == "gs":
        gs: GcsBucket = request.getfixturevalue("gcs_bucket")
        with HttpProxy(gs.endpoint_url) as proxy:
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
            upload = f"/upload/storage/v1/b/{gs.name}/o"
            yield Target(
                scheme,
                gs.name,
                proxy,
                {},
                lambda k: ("POST", upload + "?ifGenerationMatch=0"),
                lambda k: ("POST", upload),
            )
    else:
        az: AzureContainer = request.getfixturevalue("azure_container")
        with HttpProxy(f"http://{az.server.host}:{az.server.port}") as proxy:
            connection = (
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT_NAME};"
                f"AccountKey={AZURITE_ACCOUNT_KEY};BlobEndpoint={proxy.url}/{AZURITE_ACCOUNT_NAME};"
            )
            path = f"/{AZURITE_ACCOUNT_NAME}/{az.name}/"
            yield Target(
                scheme,
                az.name,
                proxy,
                {"connectionString": connection},
                lambda k: ("PUT", path + encode_key(k)),
                lambda k: ("PUT", path + encode_key(k)),
            )


def _history_key(target: Target, namespace_id: str, workflow_id: str, run_id: str, version: int) -> str:
    layout = gcloud.LAYOUT if target.scheme == "gs" else s3store.LAYOUT
    return layout.part_key(PREFIX, GetHistoryRequest(namespace_id, workflow_id, run_id), version, 0)


def _visibility_keys(target: Target, record: VisibilityRecord) -> list[str]:
    layout = gcloud.LAYOUT if target.scheme == "gs" else s3store.LAYOUT
    return layout.keys(PREFIX, record)


def _ok(record: RequestRecord) -> bool:
    """Whether the client got a success (Azure answers 201 to a create and 206 to a ranged read)."""
    return record.status is not None and 200 <= record.status < 300


def _warm_up(target: Target, history: HistoryArchiver, visibility: VisibilityArchiver) -> str:
    """Use both archivers' clients once, on another run and record, then forget what was logged.

    google-cloud-storage (3.17+) sends a one-off ``GET /storage/v1/b/<bucket>`` from a background
    thread the first time a client touches a bucket (its bucket metadata cache for OpenTelemetry
    attributes; ``DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA`` turns it off). It happens once
    per client and bucket, not per archived run, and it races with the first real request, so it is
    waited for here and then excluded. boto3 and azure-storage-blob send no such request: their
    warm-up costs exactly what the measured operations cost, plus one read of the root's descriptor
    (its layout is read once per root and process, see :mod:`archivers.roots`; on gs a missing
    object is followed by a ``fields=name`` bucket check, telling a missing bucket from it).
    """
    batches = synthetic_history(6)
    history.archive(target.uri, request_for(batches, workflow_id="wf-warm-up", run_id="run-warm-up"), batches)
    visibility.archive(target.uri, make_records(2)[1])
    metadata = f"/storage/v1/b/{target.bucket}"
    if target.scheme == "gs":  # one per client: see test_history_and_visibility_archivers_share_one_client
        deadline = time.monotonic() + 10
        while (
            target.proxy.count("GET", metadata, query_contains="projection=noAcl") < 1 and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        time.sleep(0.3)  # the other archiver's client, if it has its own, fetches right after its first request
    sent = _take(target.proxy)
    descriptor = [r for r in sent if r.method == "GET" and DESCRIPTOR_NAME in urllib.parse.unquote(r.path)]
    bucket_checks = [r for r in sent if (r.method, r.path) == ("GET", metadata) and "fields=name" in r.query]
    one_offs = [r for r in sent if (r.method, r.path) == ("GET", metadata) and r not in bucket_checks]
    data = [wire(r) for r in sent if (r.method, r.path) != ("GET", metadata) and r not in descriptor]
    assert len(one_offs) in ((1, 2) if target.scheme == "gs" else (0,)), describe(sent)
    assert len(descriptor) == 1, describe(sent)
    assert len(data) == 1 + (2 if target.scheme == "gs" else 4), describe(sent)
    return f" warm-up (another run and record): {len(sent)}, of which one-off: {len(one_offs)}\n{describe(sent)}"


def _take(proxy: HttpProxy) -> list[RequestRecord]:
    """The requests logged since the last call (and forget them)."""
    records = proxy.requests
    proxy.reset_counts()
    return records


def test_requests_per_archived_run(target: Target) -> None:
    """Archive = 1 conditional create; visibility = 4 PUTs (s3, azblob) or 2 uploads (gs); reads bounded."""
    proxy = target.proxy
    history = get_history_archiver(target.uri, target.settings)
    visibility = get_visibility_archiver(target.uri, target.settings)
    batches = synthetic_history(24)
    request = request_for(batches, workflow_id="wf-requests", run_id="run-requests")
    record = make_records(1)[0]
    report: list[str] = [f"[{target.scheme}] requests per operation (one-part history of 24 events):"]
    report.append(_warm_up(target, history, visibility))

    # -- archive a one-part history: exactly one conditional create, nothing before it ---------------
    history.archive(target.uri, request, batches)
    sent = _take(proxy)
    report.append(f" archive history: {len(sent)}\n{describe(sent)}")
    key = _history_key(target, request.namespace_id, request.workflow_id, request.run_id, 0)
    assert [wire(r) for r in sent] == [target.create(key)], "\n".join(report)
    assert all(_ok(r) for r in sent), "\n".join(report)

    # -- archive a visibility record: one plain put per index key ------------------------------------
    visibility.archive(target.uri, record)
    sent = _take(proxy)
    report.append(f" archive visibility: {len(sent)}\n{describe(sent)}")
    keys = _visibility_keys(target, record)
    assert len(keys) == (2 if target.scheme == "gs" else 4)
    assert [wire(r) for r in sent] == [target.put(k) for k in keys], "\n".join(report)
    assert all(_ok(r) for r in sent), "\n".join(report)

    # -- read the history back: one listing (versions) + one read of the only part ----------------------
    response = history.get(target.uri, GetHistoryRequest(request.namespace_id, request.workflow_id, request.run_id))
    sent = _take(proxy)
    report.append(f" get history: {len(sent)}\n{describe(sent)}")
    assert list(response.history_batches) == batches and not response.next_page_token
    assert len(sent) <= 2 and all(_ok(r) for r in sent), "\n".join(report)
    assert sorted(r.method for r in sent) == ["GET", "GET"], "\n".join(report)

    # -- query by WorkflowId: one listing + one read of the matching record -------------------------------
    query = QueryVisibilityRequest(record.namespace_id, page_size=10, query=f"WorkflowId = '{record.workflow_id}'")
    result = visibility.query(target.uri, query)
    sent = _take(proxy)
    report.append(f" query by WorkflowId: {len(sent)}\n{describe(sent)}")
    assert [e.execution.run_id for e in result.executions] == [record.run_id]
    assert not result.next_page_token
    assert len(sent) <= 2 and all(_ok(r) for r in sent), "\n".join(report)

    print("\n".join(report))


def test_a_query_asked_again_reads_only_the_records_that_changed(target: Target) -> None:
    """Records read once are reused while the listing shows the same etag; a rewritten one is read again."""
    proxy = target.proxy
    visibility = get_visibility_archiver(target.uri, target.settings)
    records = make_records(3)
    for record in records:
        visibility.archive(target.uri, record)
    query = QueryVisibilityRequest(records[0].namespace_id, page_size=10, query="")

    def run_ids_and_reads() -> tuple[list[str], list[str]]:
        _take(proxy)
        executions = visibility.query(target.uri, query).executions
        # a record read names the record's key in its path; a listing names only the bucket
        reads = [path for method, path in map(wire, _take(proxy)) if method == "GET" and "visibility" in path]
        return sorted(e.execution.run_id for e in executions), reads

    expected = sorted(r.run_id for r in records)
    first, first_reads = run_ids_and_reads()
    assert first == expected and len(first_reads) == 3, first_reads
    again, again_reads = run_ids_and_reads()
    assert again == expected and again_reads == [], again_reads

    changed = VisibilityRecord()
    changed.CopyFrom(records[1])
    changed.history_length += 1
    visibility.archive(target.uri, changed)
    third, third_reads = run_ids_and_reads()
    assert third == expected and len(third_reads) == 1, third_reads
    lengths = {e.execution.run_id: e.history_length for e in visibility.query(target.uri, query).executions}
    assert lengths[changed.run_id] == changed.history_length


def test_archive_of_an_already_archived_run_costs_one_request_per_part(target: Target) -> None:
    """A retried archive of a complete one-part history: the create answers 'exists', one read tells it is complete."""
    proxy = target.proxy
    history = get_history_archiver(target.uri, target.settings)
    batches = synthetic_history(24)
    request = request_for(batches, workflow_id="wf-again", run_id="run-again")
    visibility = get_visibility_archiver(target.uri, target.settings)
    _warm_up(target, history, visibility)
    history.archive(target.uri, request, batches)
    proxy.reset_counts()

    history.archive(target.uri, request, batches)
    sent = _take(proxy)
    print(f"\n[{target.scheme}] archive of an already archived one-part history: {len(sent)}\n{describe(sent)}")
    key = _history_key(target, request.namespace_id, request.workflow_id, request.run_id, 0)
    assert [wire(r) for r in sent][:1] == [target.create(key)], describe(sent)
    assert sent[0].status in (409, 412), describe(sent)
    assert len(sent) == 2 and sent[1].method == "GET" and _ok(sent[1]), describe(sent)


def test_archive_through_the_sidecar_costs_the_part_creates_only(target: Target) -> None:
    """What a first archive costs on a server (the shim's path): the sidecar's ``ArchiveHistory``.

    The shim streams a first attempt without asking ``GetArchiveProgress``; through the sidecar,
    a new run's history then costs exactly one conditional create per part (one for a small
    history, several for ~5 MiB), nothing else, and its visibility record exactly the layout's puts.
    """
    archival = ArchivalConfig(history={target.scheme: target.settings}, visibility={target.scheme: target.settings})
    server = SidecarServer(archival, listen="127.0.0.1:0", grace=1)
    server.start()
    try:
        with connect(server.address) as channel:
            history = RemoteHistoryArchiver(channel, timeout=60)
            visibility = RemoteVisibilityArchiver(channel, timeout=60)
            _warm_up(target, history, visibility)
            report = [f"[{target.scheme}] through the sidecar:"]
            layout = gcloud.LAYOUT if target.scheme == "gs" else s3store.LAYOUT
            for events, payload in ((24, 64), (1200, 4096)):  # one part; several parts (~5 MiB)
                batches = synthetic_history(events, payload_bytes=payload)
                request = request_for(batches, workflow_id=f"wf-sidecar-{events}", run_id=f"run-sidecar-{events}")
                run = GetHistoryRequest(request.namespace_id, request.workflow_id, request.run_id)
                history.archive(target.uri, request, batches)
                sent = _take(target.proxy)
                report.append(f" archive history of {events} events: {len(sent)}\n{describe(sent)}")
                creates = [target.create(layout.part_key(PREFIX, run, 0, index)) for index in range(len(sent))]
                assert [wire(r) for r in sent] == creates, "\n".join(report)
                assert all(_ok(r) for r in sent), "\n".join(report)
                assert (len(sent) == 1) == (events == 24), "\n".join(report)
            record = make_records(1)[0]
            visibility.archive(target.uri, record)
            sent = _take(target.proxy)
            report.append(f" archive visibility: {len(sent)}\n{describe(sent)}")
            puts = [target.put(k) for k in _visibility_keys(target, record)]
            assert [wire(r) for r in sent] == puts, "\n".join(report)
            print("\n".join(report))
    finally:
        server.stop()


def test_progress_of_a_run_not_archived_yet_costs_one_read(target: Target) -> None:
    """The shim asks for progress when it retries an archive: nothing stored yet = one (ranged) GET, no LIST."""
    proxy = target.proxy
    history = get_history_archiver(target.uri, target.settings)
    _warm_up(target, history, get_visibility_archiver(target.uri, target.settings))
    batches = synthetic_history(24)
    request = request_for(batches, workflow_id="wf-progress", run_id="run-progress")

    assert history.progress(target.uri, request) == ArchiveProgress()
    sent = _take(proxy)
    print(f"\n[{target.scheme}] progress of a run not archived yet: {len(sent)}\n{describe(sent)}")
    assert sent and sent[0].method == "GET" and sent[0].status == 404, describe(sent)
    if target.scheme == "gs":
        # GCS's 404 does not say whether the bucket or the object is missing: the store asks the
        # bucket (objects.list is never sent).
        assert all(r.method == "GET" and "fields=name" in r.query for r in sent[1:]), describe(sent)
    else:
        assert len(sent) == 1, describe(sent)

    history.archive(target.uri, request, batches)
    _take(proxy)
    assert history.progress(target.uri, request) == ArchiveProgress(batches[-1].events[-1].event_id, complete=True)


@pytest.mark.parametrize("target", ["gs"], indirect=True)
def test_history_and_visibility_archivers_share_one_client(target: Target) -> None:
    """One SDK client per bucket and settings, shared by the backend's history and visibility archivers.

    ``archivers/backends/object_backends.py`` documents it ("Stores are built lazily, once per
    bucket, with the scheme's settings ... and shared by the history and visibility archivers of the
    backend"; ``object_backend``: "archivers share one StoreCache per settings mapping"). On GCS it
    is visible on the wire: every client fetches the bucket's metadata once, in the background, the
    first time it touches the bucket, so one shared client means one such request.
    """
    settings: dict[str, Any] = dict(target.settings)
    history = get_history_archiver(target.uri, settings)
    visibility = get_visibility_archiver(target.uri, settings)
    batches = synthetic_history(6)
    history.archive(target.uri, request_for(batches, workflow_id="wf-share", run_id="run-share"), batches)
    visibility.archive(target.uri, make_records(1)[0])
    metadata = f"/storage/v1/b/{target.bucket}"
    deadline = time.monotonic() + 5
    while target.proxy.count("GET", metadata, query_contains="projection=noAcl") < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # a second client's fetch starts right after its first request
    clients = target.proxy.count("GET", metadata, query_contains="projection=noAcl")  # not the bucket checks
    print(f"\n[gs] bucket metadata fetches (one per SDK client): {clients}\n{describe(target.proxy.requests)}")
    if clients != 1:
        pytest.fail(
            f"BUG (archivers/backends/object_backends.py, object_backend): the history and visibility "
            f"archivers built with the same settings mapping use {clients} separate stores/SDK clients "
            f"for one bucket (each `history=`/`visibility=` lambda calls `stores(config)`, which builds a "
            f"new StoreCache), although the module documents one store per bucket shared by both; "
            f"seen here as {clients} one-off `GET {metadata}` requests instead of 1"
        )


def test_first_page_of_a_native_history_costs_one_get_when_its_version_is_known(target: Target) -> None:
    """A native history of 20k events is one part (parts are sized by their compressed bytes).

    Its first page, asked with the close failover version, is ONE read of part 0 (its key is known
    and its header says it is the last part); without the version, one listing finds the versions
    first. A new archiver each time, so no part is cached.
    """
    uri = target.uri
    get_root_manager(uri, target.settings).init(URI.parse(uri), "native", "tests")
    _take(target.proxy)
    batches = synthetic_history(20_000, version=4)
    request = request_for(batches, workflow_id="wf-native-first", run_id="run-native-first")
    get_history_archiver(uri, target.settings).archive(uri, request, batches)
    sent = _take(target.proxy)
    key = native.LAYOUT.part_key(PREFIX, request, 4, 0)
    assert [wire(r) for r in sent] == [target.create(key)], describe(sent)
    ids = (request.namespace_id, request.workflow_id, request.run_id)
    for version, expected in ((4, ["GET"]), (None, ["GET", "GET"])):  # a LIST is a GET too
        page = get_history_archiver(uri, target.settings).get(uri, GetHistoryRequest(*ids, version, page_size=256))
        sent = _take(target.proxy)
        print(f"\n[{target.scheme}] first page of a native history, version {version}: {len(sent)}\n{describe(sent)}")
        assert page.history_batches[0].events[0].event_id == 1 and page.next_page_token
        assert [r.method for r in sent] == expected and all(_ok(r) for r in sent), describe(sent)
        assert key in urllib.parse.unquote(sent[-1].path), describe(sent)
