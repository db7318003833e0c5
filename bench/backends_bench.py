"""Archive and read back histories on every object-store backend, beside the raw SDK on the same bytes.

For each backend (``s3`` on moto's S3 server, ``gs`` on fake-gcs-server, ``azblob`` on Azurite,
``fsspec+memory`` and ``memory``), started by this script on loopback and stopped before the next
one, it times:

- *archive*: ``HistoryArchiver.archive`` of a synthetic history (a new run each time);
- *get*: ``HistoryArchiver.get`` of every page of that run (256 events a page, what Temporal's
  frontend asks for);
- the *baseline*, in the same run: the backend's own SDK uploading (``put_object``,
  ``upload_from_string``, ``upload_blob``, fsspec ``pipe_file``, ``MemoryStore.put``) and
  downloading (``get_object``, ``download_as_bytes``, ``download_blob``, ``cat_file``,
  ``MemoryStore.get``) exactly the bytes the archiver stores: the history's parts, encoded
  beforehand with the backend's layout. The script checks that they equal the stored objects.

Then, through a counting HTTP proxy (:class:`tests.harness.http_proxy.HttpProxy`), it counts the
HTTP requests of one archive, a duplicate archive of the same run, one full get, one visibility archive
and one ``WorkflowId`` query.

    python bench/backends_bench.py [--sizes 1000,20000] [--repeat 3] [--backends s3,gs,azblob,fsspec+memory,memory]

Azurite must be installed first (``bash scripts/install_tools.sh``); a backend whose emulator or SDK
is missing is reported and skipped. Every emulator is stopped when its backend is done, also on
error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import _repo_on_path  # noqa: F401  (for tests.harness)
from temporalio.api.history.v1 import History

from archivers.errors import MissingDependencyError
from archivers.interfaces import ArchiveHistoryRequest, GetHistoryRequest, HistoryArchiver, QueryVisibilityRequest
from archivers.layouts import gcloud, s3store
from archivers.layouts.base import HistoryLayout, encode_history
from archivers.registry import get_history_archiver, get_visibility_archiver
from archivers.testing.sample import sample_records
from archivers.testing.synthetic import request_for, synthetic_history
from tests.harness.emulators import (
    AzuriteBlobServer,
    EmulatorError,
    EmulatorNotInstalledError,
    FakeGcsServer,
    MotoS3Server,
)
from tests.harness.http_proxy import HttpProxy, RequestRecord

ALL_BACKENDS = ("s3", "gs", "azblob", "fsspec+memory", "memory")
NAMESPACE_ID = "bench-namespace-id"
_AWS_OVERRIDES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@dataclass
class Target:
    """One backend, ready to use: its archive URI and settings, its layout, and the raw SDK calls.

    ``raw_put``/``raw_get`` take an object key as the archiver's layout writes it (relative to the
    bucket, container or fsspec root). ``proxied`` returns the settings and environment variables
    that send the backend's SDK through a proxy at the given URL (``None``: no HTTP to count).
    """

    name: str
    uri: str
    settings: dict[str, Any]
    objects: HistoryLayout
    raw_put: Callable[[str, bytes], None]
    raw_get: Callable[[str], bytes]
    key_path: str
    upstream: str | None = None
    proxied: Callable[[str], tuple[dict[str, Any], dict[str, str]]] | None = None


@dataclass
class Timings:
    """Best-of-``repeat`` seconds for one backend and size, and the stored bytes."""

    archive_s: float
    get_s: float
    raw_put_s: float
    raw_get_s: float
    stored_bytes: int
    parts: int


@dataclass
class Requests:
    """HTTP requests counted through the proxy, by operation."""

    parts: int
    archive: Counter[str] = field(default_factory=Counter)
    again: Counter[str] = field(default_factory=Counter)
    get: Counter[str] = field(default_factory=Counter)
    visibility: Counter[str] = field(default_factory=Counter)
    query: Counter[str] = field(default_factory=Counter)


@contextlib.contextmanager
def environment(values: dict[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """Set ``values`` (and remove ``remove``) in ``os.environ``; restore the previous values on exit."""
    saved = {name: os.environ.get(name) for name in (*values, *remove)}
    try:
        for name in remove:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def split_parts(objects: HistoryLayout, request: ArchiveHistoryRequest, batches: list[History]) -> list[bytes]:
    """The stored bytes of every part, split as the archiver splits them (a part closes at ~2 MiB)."""
    return encode_history(objects, request, batches)


def part_keys(target: Target, request: ArchiveHistoryRequest, count: int) -> list[str]:
    """The keys under which the archiver stores the ``count`` parts of ``request``'s run."""
    return [target.objects.part_key(target.key_path, request, request.close_failover_version, i) for i in range(count)]


def read_all(archiver: HistoryArchiver, uri: str, request: ArchiveHistoryRequest, page_size: int) -> int:
    """Read every page of the run's history; return the number of events read."""
    token = b""
    events = 0
    while True:
        response = archiver.get(
            uri,
            GetHistoryRequest(
                request.namespace_id, request.workflow_id, request.run_id, next_page_token=token, page_size=page_size
            ),
        )
        events += sum(len(batch.events) for batch in response.history_batches)
        token = response.next_page_token
        if not token:
            return events


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench(target: Target, archiver: HistoryArchiver, size: int, repeat: int, page_size: int) -> Timings:
    """Time archive, get and the raw SDK baseline for one history size (best of ``repeat``).

    Every repetition archives a new run, so nothing is served from the archiver's part cache
    across repetitions, and uploads the baseline under new keys.
    """
    batches = synthetic_history(size, version=7)
    template = request_for(batches, namespace_id=NAMESPACE_ID, workflow_id=f"bench-{size}", run_id=f"run-{size}-0")
    parts = split_parts(target.objects, template, batches)  # those of run 0; the others differ in one digit
    times: dict[str, list[float]] = {"archive": [], "get": [], "put": [], "rawget": []}
    for attempt in range(repeat):
        request = replace(template, run_id=f"run-{size}-{attempt}")

        def archive(request: ArchiveHistoryRequest = request) -> None:
            archiver.archive(target.uri, request, batches)

        times["archive"].append(_timed(archive))
        if attempt == 0:
            stored = [target.raw_get(key) for key in part_keys(target, request, len(parts))]
            if stored != parts:
                raise SystemExit(f"{target.name}: the baseline bytes differ from the stored parts; fix split_parts")
        got = 0

        def get_all(request: ArchiveHistoryRequest = request) -> None:
            nonlocal got
            got = read_all(archiver, target.uri, request, page_size)

        times["get"].append(_timed(get_all))
        if got != size:
            raise SystemExit(f"{target.name}: read {got} events back, archived {size}")
        raw_keys = [f"baseline/{size}/{attempt}/{index}" for index in range(len(parts))]

        def upload(keys: list[str] = raw_keys) -> None:
            for key, data in zip(keys, parts, strict=True):
                target.raw_put(key, data)

        def download(keys: list[str] = raw_keys) -> None:
            for key in keys:
                target.raw_get(key)

        times["put"].append(_timed(upload))
        times["rawget"].append(_timed(download))
    return Timings(
        archive_s=min(times["archive"]),
        get_s=min(times["get"]),
        raw_put_s=min(times["put"]),
        raw_get_s=min(times["rawget"]),
        stored_bytes=sum(map(len, parts)),
        parts=len(parts),
    )


def classify(record: RequestRecord) -> str:
    """``LIST``, ``GET``, ``PUT``, ``POST``, ``HEAD``... of one proxied request (listings told apart from reads)."""
    query = record.query
    if record.method == "GET" and (
        "list-type=" in query or "comp=list" in query or record.path.rstrip("/").endswith("/o")
    ):
        return "LIST"
    return record.method


def count_requests(target: Target, size: int, page_size: int) -> Requests | None:
    """Through a counting proxy: archive a run, archive it again (a duplicate), read it; archive and query a record."""
    if target.upstream is None or target.proxied is None:
        return None
    batches = synthetic_history(size, version=7)
    request = request_for(batches, namespace_id=NAMESPACE_ID, workflow_id=f"count-{size}", run_id=f"count-{size}")
    record = sample_records(NAMESPACE_ID, 1)[0]
    record.workflow_id, record.run_id = f"count-{size}", f"count-{size}"
    counted = Requests(parts=len(split_parts(target.objects, request, batches)))
    with HttpProxy(target.upstream) as proxy:
        settings, env = target.proxied(proxy.url)
        with environment(env):
            history = get_history_archiver(target.uri, settings)
            visibility = get_visibility_archiver(target.uri, settings)
            # Warm up: build the clients and let SDK start-up traffic settle (google-cloud-storage
            # fetches each bucket's metadata once per client, in a background thread).
            history.validate_uri(target.uri)
            visibility.validate_uri(target.uri)
            time.sleep(0.5)
            steps: list[tuple[Counter[str], Callable[[], object]]] = [
                (counted.archive, lambda: history.archive(target.uri, request, batches)),
                (counted.again, lambda: history.archive(target.uri, request, batches)),
                (counted.get, lambda: read_all(history, target.uri, request, page_size)),
                (counted.visibility, lambda: visibility.archive(target.uri, record)),
                (
                    counted.query,
                    lambda: visibility.query(
                        target.uri, QueryVisibilityRequest(NAMESPACE_ID, query=f"WorkflowId = '{record.workflow_id}'")
                    ),
                ),
            ]
            for counter, step in steps:
                proxy.reset_counts()
                step()
                counter.update(classify(r) for r in proxy.requests)
    return counted


# -- the backends ------------------------------------------------------------------------------


def _s3(stack: contextlib.ExitStack) -> Target:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    moto = stack.enter_context(MotoS3Server())
    env = moto.env() | {
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    stack.enter_context(environment(env, remove=_AWS_OVERRIDES))
    bucket = "bench-s3"
    moto.create_bucket(bucket)
    client = moto.client()

    def raw_put(key: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=data)

    def raw_get(key: str) -> bytes:
        body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def settings_for(endpoint: str) -> dict[str, Any]:
        return {"endpoint": endpoint, "region": moto.region, "s3ForcePathStyle": True}

    return Target(
        "s3",
        f"s3://{bucket}/archive",
        settings_for(moto.endpoint_url),
        s3store.LAYOUT,
        raw_put,
        raw_get,
        "/archive",
        moto.endpoint_url,
        lambda url: (settings_for(url), {}),
    )


def _gs(stack: contextlib.ExitStack) -> Target:
    from google.cloud import storage

    gcs = stack.enter_context(FakeGcsServer())
    stack.enter_context(environment(gcs.env(), remove=("GOOGLE_APPLICATION_CREDENTIALS",)))
    bucket_name = "bench-gs"
    gcs.create_bucket(bucket_name)
    client = storage.Client()  # as the gs store builds it: STORAGE_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT
    stack.callback(client.close)
    bucket = client.bucket(bucket_name)

    def raw_put(key: str, data: bytes) -> None:
        bucket.blob(key).upload_from_string(data)

    def raw_get(key: str) -> bytes:
        data: bytes = bucket.blob(key).download_as_bytes()
        return data

    return Target(
        "gs",
        f"gs://{bucket_name}/archive",
        {},
        gcloud.LAYOUT,
        raw_put,
        raw_get,
        "/archive",
        gcs.endpoint_url,
        lambda url: ({}, {"STORAGE_EMULATOR_HOST": url}),
    )


def _azblob(stack: contextlib.ExitStack) -> Target:
    from azure.storage.blob import ContainerClient

    azurite = stack.enter_context(AzuriteBlobServer())
    container = "bench-azblob"
    azurite.create_container(container)
    client = stack.enter_context(ContainerClient.from_connection_string(azurite.connection_string, container))

    def raw_put(key: str, data: bytes) -> None:
        client.upload_blob(key, data, overwrite=True)

    def raw_get(key: str) -> bytes:
        data: bytes = client.download_blob(key).readall()
        return data

    def proxied(url: str) -> tuple[dict[str, Any], dict[str, str]]:
        endpoint = f"{url}/{azurite.account_name}"
        return {"connectionString": azurite.connection_string.replace(azurite.blob_endpoint, endpoint)}, {}

    return Target(
        "azblob",
        f"azblob://{container}/archive",
        {"connectionString": azurite.connection_string},
        s3store.LAYOUT,
        raw_put,
        raw_get,
        "/archive",
        f"http://{azurite.host}:{azurite.port}",
        proxied,
    )


def _fsspec_memory(stack: contextlib.ExitStack) -> Target:
    import fsspec

    fs = fsspec.filesystem("memory")
    root = "/bench-fsspec/archive"  # fsspec's memory paths of fsspec+memory://bench-fsspec/archive
    fs.makedirs(root, exist_ok=True)
    stack.callback(lambda: fs.rm("/bench-fsspec", recursive=True))

    def raw_put(key: str, data: bytes) -> None:
        fs.pipe_file(f"{root}/{key}", data)

    def raw_get(key: str) -> bytes:
        data: bytes = fs.cat_file(f"{root}/{key}")
        return data

    return Target("fsspec+memory", "fsspec+memory://bench-fsspec/archive", {}, s3store.LAYOUT, raw_put, raw_get, "")


def _memory(stack: contextlib.ExitStack) -> Target:
    from archivers.store.memory import MemoryStore, delete_bucket

    store = MemoryStore("bench-memory")
    stack.callback(delete_bucket, "bench-memory")
    return Target("memory", "memory://bench-memory/archive", {}, s3store.LAYOUT, store.put, store.get, "/archive")


SETUPS: dict[str, Callable[[contextlib.ExitStack], Target]] = {
    "s3": _s3,
    "gs": _gs,
    "azblob": _azblob,
    "fsspec+memory": _fsspec_memory,
    "memory": _memory,
}


# -- output ------------------------------------------------------------------------------------


def _ratio(archiver_s: float, raw_s: float, in_process: bool) -> str:
    if in_process or raw_s <= 0:
        return "n/a"  # a dict or fsspec memory write is no network baseline: the ratio would mean nothing
    return f"{archiver_s / raw_s:.1f}x"


def _rate(mb_per_s: float) -> str:
    return f"{mb_per_s:,.0f}" if mb_per_s >= 1000 else f"{mb_per_s:.1f}"


def format_row(backend: str, size: int, t: Timings, *, in_process: bool) -> str:
    """One line of the throughput table (``in_process``: the baseline does no I/O, no ratio is shown)."""
    mb = t.stored_bytes / 1e6
    return (
        f"{backend:<13} {size:>6} {mb:>5.1f} | {size / t.archive_s:>9,.0f} {mb / t.archive_s:>6.1f} "
        f"{_rate(mb / t.raw_put_s):>9} {_ratio(t.archive_s, t.raw_put_s, in_process):>7} | "
        f"{size / t.get_s:>9,.0f} {mb / t.get_s:>6.1f} "
        f"{_rate(mb / t.raw_get_s):>9} {_ratio(t.get_s, t.raw_get_s, in_process):>7}"
    )


HEADER = "\n".join(
    (
        f"{'backend':<13} {'events':>6} {'MB':>5} | {'archive':>9} {'':>6} {'raw put':>9} {'':>7} | "
        f"{'get':>9} {'':>6} {'raw get':>9}",
        f"{'':<13} {'':>6} {'':>5} | {'ev/s':>9} {'MB/s':>6} {'MB/s':>9} {'ratio':>7} | "
        f"{'ev/s':>9} {'MB/s':>6} {'MB/s':>9} {'ratio':>7}",
    )
)


def _summary(counter: Counter[str]) -> str:
    order = ["LIST", "HEAD", "GET", "PUT", "POST", "DELETE"]
    names = sorted(counter, key=lambda n: order.index(n) if n in order else len(order))
    return " + ".join(f"{counter[n]} {n}" for n in names) or "0"


def format_requests(backend: str, size: int, r: Requests) -> str:
    """One line of the request-count table."""
    return (
        f"{backend:<13} {size:>6} {r.parts:>5} | {_summary(r.archive):<7} | {_summary(r.again):<13} | "
        f"{_summary(r.get):<14} | {_summary(r.visibility):<10} | {_summary(r.query)}"
    )


REQUESTS_HEADER = (
    f"{'backend':<13} {'events':>6} {'parts':>5} | {'archive':<7} | {'again (dup.)':<13} | {'get all pages':<14} | "
    f"{'visibility':<10} | query WorkflowId = ..."
)


def main() -> None:
    """Parse the options, run every selected backend (stopping its emulator after it), print the tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,20000", help="history lengths in events (default 1000,20000)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; the best is shown (default 3)")
    parser.add_argument("--backends", default=",".join(ALL_BACKENDS), help=f"among {','.join(ALL_BACKENDS)}")
    parser.add_argument("--page-size", type=int, default=256, help="events per get page (Temporal's frontend: 256)")
    parser.add_argument("--no-requests", action="store_true", help="skip counting requests through the proxy")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in SETUPS]
    if unknown or not sizes or args.repeat < 1 or min(sizes) < 2:
        parser.error(f"unknown backend(s) {unknown}" if unknown else "sizes must be >= 2 and --repeat >= 1")
    rows: list[str] = []
    counts: list[str] = []
    notes: list[str] = []
    print(HEADER, flush=True)
    for backend in backends:
        began = time.monotonic()
        with contextlib.ExitStack() as stack:  # stops the emulator and restores the environment, also on error
            try:
                target = SETUPS[backend](stack)
            except (EmulatorNotInstalledError, MissingDependencyError, ImportError) as exc:
                hint = " (run: bash scripts/install_tools.sh)" if backend == "azblob" else ""
                notes.append(f"{backend}: skipped{hint}: {str(exc).splitlines()[0]}")
                print(f"# {notes[-1]}", file=sys.stderr, flush=True)
                continue
            except EmulatorError as exc:
                notes.append(f"{backend}: skipped, the emulator did not start: {str(exc).splitlines()[0]}")
                print(f"# {notes[-1]}", file=sys.stderr, flush=True)
                continue
            archiver = get_history_archiver(target.uri, target.settings)
            for size in sizes:
                timings = bench(target, archiver, size, args.repeat, args.page_size)
                row = format_row(backend, size, timings, in_process=target.upstream is None)
                rows.append(row)
                print(row, flush=True)
            if not args.no_requests:
                for size in sizes:
                    counted = count_requests(target, size, args.page_size)
                    if counted is not None:
                        counts.append(format_requests(backend, size, counted))
        print(f"# {backend}: {time.monotonic() - began:.0f}s including emulator start and stop", file=sys.stderr)
    print(
        f"(best of {args.repeat}; get pages of {args.page_size} events; MB = bytes stored; raw = the SDK "
        "moving the same bytes; ratio = archiver time / raw time; n/a: in-process store, no I/O to compare with)"
    )
    if counts:
        print()
        print("HTTP requests per run, counted through a proxy after a warm-up (LIST = a listing request):")
        print(REQUESTS_HEADER)
        for line in counts:
            print(line)
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
