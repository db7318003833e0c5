"""Tests of :mod:`tests.harness.http_proxy` against a tiny stdlib upstream, plus one boto3 + moto smoke test."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib.util
import io
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.harness.http_proxy import S3_SLOW_DOWN_BODY, Fault, HttpProxy, RequestRecord

BIG_SIZE = 10 * 1024 * 1024
BIG_BLOCK = bytes(range(256)) * 256  # 64 KiB
BIG_SHA256 = hashlib.sha256(BIG_BLOCK * (BIG_SIZE // len(BIG_BLOCK))).hexdigest()


# ---------------------------------------------------------------------------------------------------
# a recording upstream
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the upstream received it."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Upstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.read(2)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        body = self._read_body()
        seen = Seen(self.command, self.path, list(self.headers.items()), body)
        with self.server.lock:
            self.server.seen.append(seen)
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(BIG_SIZE))
            self.end_headers()
            for _ in range(BIG_SIZE // len(BIG_BLOCK)):
                self.wfile.write(BIG_BLOCK)
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(BIG_SIZE // len(BIG_BLOCK)):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(BIG_BLOCK), BIG_BLOCK))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/slow-stream":  # first chunk, then wait until the test has seen it
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nfirst\r\n")
            self.wfile.flush()
            self.server.release.wait(10)
            self.wfile.write(b"6\r\nsecond\r\n0\r\n\r\n")
        elif self.path == "/no-content":
            self.send_response(204)
            self.end_headers()
        elif self.command == "HEAD":
            self.send_response(200)
            self.send_header("Content-Length", "1234")
            self.send_header("ETag", '"head-etag"')
            self.end_headers()
        else:
            echo = b"%s %s %d:" % (self.command.encode(), self.path.encode(), len(body)) + body
            self._reply(201 if self.command == "PUT" else 200, echo, {"X-Upstream": "yes", "Set-Cookie": "a=1"})

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle


class Upstream(ThreadingHTTPServer):
    """A stdlib HTTP server that records every request it received (``seen``)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Seen]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.seen) >= n:
                    return list(self.seen)
            time.sleep(0.01)
        raise AssertionError(f"upstream saw {len(self.seen)} requests, expected {n}")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[HttpProxy]:
    with HttpProxy(upstream.url, seed=1234) as p:
        yield p


def connect(p: HttpProxy, timeout: float = 10.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", p.port, timeout=timeout)


def get_status(p: HttpProxy, path: str = "/x", timeout: float = 10.0) -> int:
    """One GET through the proxy on a fresh connection; returns the status (reading the body)."""
    conn = connect(p, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------
# forwarding
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "POST", "DELETE", "PATCH"])
def test_forwards_method_target_headers_and_content_length_body(
    proxy: HttpProxy, upstream: Upstream, method: str
) -> None:
    body = b"payload \x00\xff" * 1000 if method != "GET" else b""
    target = "/bucket/some%20key/%E2%82%AC?list-type=2&prefix=a%2Fb&uploads"
    conn = connect(proxy)
    conn.request(
        method,
        target,
        body=body,
        headers={
            "Host": "signed-host.example:9000",  # the proxy must forward the Host the client sent, as is
            "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
            "Authorization": "AWS4-HMAC-SHA256 Credential=x",
            "Content-Type": "application/octet-stream",
        },
    )
    response = conn.getresponse()
    echo = response.read()
    conn.close()

    assert response.status == (201 if method == "PUT" else 200)
    assert response.getheader("X-Upstream") == "yes"
    assert echo == b"%s %s %d:" % (method.encode(), target.encode(), len(body)) + body
    (seen,) = upstream.wait_for(1)
    assert (seen.method, seen.target, seen.body) == (method, target, body)
    assert seen.header("Host") == "signed-host.example:9000"
    assert seen.header("X-Amz-Content-Sha256") == "UNSIGNED-PAYLOAD"
    assert seen.header("Authorization") == "AWS4-HMAC-SHA256 Credential=x"
    assert seen.header("Content-Type") == "application/octet-stream"
    if body:
        assert seen.header("Content-Length") == str(len(body))
    assert proxy.requests == [
        RequestRecord(
            method,
            "/bucket/some%20key/%E2%82%AC",
            "list-type=2&prefix=a%2Fb&uploads",
            response.status,
            None,
            response.status,
        )
    ]


def test_forwards_head_and_204_without_body_on_a_kept_alive_connection(proxy: HttpProxy, upstream: Upstream) -> None:
    conn = connect(proxy)
    conn.request("HEAD", "/bucket/key")
    head = conn.getresponse()
    assert head.read() == b""
    assert (head.status, head.getheader("Content-Length"), head.getheader("ETag")) == (200, "1234", '"head-etag"')
    conn.request("DELETE", "/no-content")
    deleted = conn.getresponse()
    assert (deleted.status, deleted.read()) == (204, b"")
    conn.request("GET", "/after")  # the same connection is still in a sane state
    after = conn.getresponse()
    assert after.read() == b"GET /after 0:"
    assert conn.sock is not None  # never closed by the proxy
    conn.close()
    assert [s.method for s in upstream.wait_for(3)] == ["HEAD", "DELETE", "GET"]


def test_forwards_chunked_request_body(proxy: HttpProxy, upstream: Upstream) -> None:
    pieces = [b"aws-chunked-ish;chunk-signature=abc\r\n", b"x" * 100_000, b"", b"tail"]
    conn = connect(proxy)
    conn.request(
        "PUT",
        "/bucket/chunked",
        body=iter(pieces),
        headers={"Transfer-Encoding": "chunked", "Content-Encoding": "aws-chunked"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    expected = b"".join(pieces)
    assert response.status == 201
    assert response.read().endswith(b"%d:" % len(expected) + expected)
    conn.close()
    (seen,) = upstream.wait_for(1)
    assert seen.body == expected
    assert seen.header("Transfer-Encoding") == "chunked"
    assert seen.header("Content-Encoding") == "aws-chunked"
    assert seen.header("Content-Length") is None


def test_expect_100_continue_is_answered_by_the_proxy(proxy: HttpProxy, upstream: Upstream) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100")
        sock.sendall(b"abc")
        sock.settimeout(5)
        data = b""
        while b"abc" not in data:
            data += sock.recv(1000)
    assert data.startswith(b"HTTP/1.1 201")
    (seen,) = upstream.wait_for(1)
    assert seen.body == b"abc"
    assert seen.header("Expect") is None


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_streams_a_10mb_response(proxy: HttpProxy, path: str) -> None:
    conn = connect(proxy)
    conn.request("GET", path)
    response = conn.getresponse()
    digest = hashlib.sha256()
    size = 0
    while chunk := response.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    conn.close()
    assert (size, digest.hexdigest()) == (BIG_SIZE, BIG_SHA256)
    assert proxy.count(path_contains="big") == 1


def test_response_is_streamed_not_buffered(proxy: HttpProxy, upstream: Upstream) -> None:
    conn = connect(proxy, timeout=5)
    conn.request("GET", "/slow-stream")
    response = conn.getresponse()
    assert response.read1(100) == b"first"  # arrives while the upstream still holds the rest back
    upstream.release.set()
    assert response.read() == b"second"
    conn.close()


def test_urllib_client(proxy: HttpProxy) -> None:
    with urllib.request.urlopen(proxy.url + "/via-urllib?q=1", timeout=5) as response:
        assert response.read() == b"GET /via-urllib?q=1 0:"
    assert proxy.count("GET", "/via-urllib") == 1


def test_upstream_down_gives_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: connection refused
        with HttpProxy(dead) as p:
            assert get_status(p) == 502
            assert p.requests[0].status == 502 and p.requests[0].upstream_status is None


# ---------------------------------------------------------------------------------------------------
# counting
# ---------------------------------------------------------------------------------------------------


def test_counting(proxy: HttpProxy) -> None:
    conn = connect(proxy)
    for method, target in [("GET", "/a/1?x=1"), ("PUT", "/a/2"), ("GET", "/b/3"), ("DELETE", "/a/4")]:
        conn.request(method, target, body=b"z" if method == "PUT" else None)
        conn.getresponse().read()
    conn.close()
    assert proxy.count() == 4
    assert proxy.count(method="get") == 2
    assert proxy.count(path_contains="/a/") == 3
    assert proxy.count("GET", "/a/") == 1
    assert proxy.count(query_contains="x=1") == 1
    assert proxy.count(status=201) == 1
    assert [(r.method, r.path, r.query, r.status) for r in proxy.requests][:2] == [
        ("GET", "/a/1", "x=1", 200),
        ("PUT", "/a/2", "", 201),
    ]
    proxy.reset_counts()
    assert proxy.requests == [] and proxy.count() == 0


def test_counting_is_thread_safe(proxy: HttpProxy) -> None:
    def worker() -> None:
        conn = connect(proxy)
        for _ in range(25):
            conn.request("GET", "/t")
            conn.getresponse().read()
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert proxy.count("GET", "/t") == 200


# ---------------------------------------------------------------------------------------------------
# faults
# ---------------------------------------------------------------------------------------------------


def test_status_fault_answers_without_forwarding(proxy: HttpProxy, upstream: Upstream) -> None:
    proxy.set_faults([Fault.s3_slow_down(times=1)])
    conn = connect(proxy)
    conn.request("PUT", "/bucket/key", body=b"q" * 50_000)  # the body is read and discarded
    response = conn.getresponse()
    assert response.status == 503
    assert response.getheader("Content-Type") == "application/xml"
    assert response.read() == S3_SLOW_DOWN_BODY
    assert b"<Code>SlowDown</Code>" in S3_SLOW_DOWN_BODY
    conn.request("PUT", "/bucket/key", body=b"q")  # the connection stays usable; the fault is spent
    assert conn.getresponse().status == 201
    conn.close()
    assert [s.body for s in upstream.wait_for(1)] == [b"q"]
    assert proxy.faults_injected["status"] == 1
    assert [(r.status, r.fault, r.upstream_status) for r in proxy.requests] == [(503, "status", None), (201, None, 201)]


def test_429_and_500_faults(proxy: HttpProxy) -> None:
    # rules are consulted in order and the first that fires wins, so the second rule only sees the
    # requests the first one let through: its first matching request is the second request overall
    proxy.set_faults([Fault.too_many_requests(nth=1), Fault.s3_internal_error(nth=1)])
    conn = connect(proxy)
    conn.request("GET", "/k")
    first = conn.getresponse()
    assert (first.status, first.getheader("Retry-After"), first.read()) == (429, "0", b"")
    conn.request("GET", "/k")
    second = conn.getresponse()
    assert second.status == 500 and b"<Code>InternalError</Code>" in second.read()
    conn.close()


def test_reset_fault(proxy: HttpProxy, upstream: Upstream) -> None:
    proxy.set_faults([Fault("reset")])
    conn = connect(proxy)
    conn.request("PUT", "/bucket/key", body=b"r" * 100_000)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        conn.getresponse()
    conn.close()
    with pytest.raises(ConnectionResetError):  # urllib lets errors of getresponse() through unwrapped
        urllib.request.urlopen(proxy.url + "/x", timeout=5)
    time.sleep(0.1)
    assert upstream.seen == []
    assert proxy.faults_injected["reset"] == 2
    assert [(r.method, r.status, r.fault) for r in proxy.requests] == [("PUT", None, "reset"), ("GET", None, "reset")]


def test_reset_is_a_tcp_rst(proxy: HttpProxy) -> None:
    proxy.set_faults([Fault("reset")])
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            while sock.recv(100):
                pass


def test_delay_fault_triggers_client_timeout_then_forwards(proxy: HttpProxy, upstream: Upstream) -> None:
    proxy.set_faults([Fault("delay", delay=1.0, times=1)])
    conn = connect(proxy, timeout=0.3)
    started = time.monotonic()
    conn.request("GET", "/slow")
    with pytest.raises(TimeoutError):
        conn.getresponse()
    assert time.monotonic() - started < 0.9
    conn.close()
    (seen,) = upstream.wait_for(1)  # forwarded after the delay anyway
    assert seen.target == "/slow"
    assert get_status(proxy, "/fast", timeout=0.5) == 200  # the fault is spent


def test_delay_shorter_than_timeout_just_slows_down(proxy: HttpProxy) -> None:
    proxy.set_faults([Fault("delay", delay=0.2)])
    started = time.monotonic()
    assert get_status(proxy) == 200
    assert time.monotonic() - started >= 0.2
    assert proxy.requests[0].fault == "delay"


def test_drop_after_forward(proxy: HttpProxy, upstream: Upstream) -> None:
    proxy.set_faults([Fault("drop_after_forward", match=lambda method, path: method == "PUT")])
    conn = connect(proxy)
    conn.request("PUT", "/bucket/key", body=b"side effect")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        conn.getresponse()
    conn.close()
    (seen,) = upstream.wait_for(1)
    assert (seen.method, seen.body) == ("PUT", b"side effect")
    assert get_status(proxy, "/bucket/key") == 200  # GET does not match
    assert [(r.method, r.status, r.fault, r.upstream_status) for r in proxy.requests] == [
        ("PUT", None, "drop_after_forward", 201),
        ("GET", 200, None, 200),
    ]


def test_probability_is_seeded_and_reproducible(proxy: HttpProxy, upstream: Upstream) -> None:
    def run() -> list[int]:
        proxy.set_faults([Fault("status", probability=0.3, status=500)], seed=42)
        conn = connect(proxy)
        statuses = []
        for _ in range(200):
            conn.request("GET", "/p")
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        conn.close()
        return statuses

    rng = random.Random(42)
    expected = [500 if rng.random() < 0.3 else 200 for _ in range(200)]
    first = run()
    assert first == expected
    assert run() == first
    failures = first.count(500)
    assert 40 <= failures <= 80  # ~ 0.3 * 200
    assert proxy.faults_injected["status"] == 2 * failures
    assert proxy.count(status=500) == 2 * failures
    assert len(upstream.seen) == 2 * (200 - failures)


def test_times_and_nth_and_match(proxy: HttpProxy) -> None:
    limited = Fault("status", status=500, times=3)
    proxy.set_faults([limited])
    assert [get_status(proxy) for _ in range(5)] == [500, 500, 500, 200, 200]
    assert proxy.fired(limited) == 3

    proxy.set_faults([Fault("status", status=500, nth=3, match=lambda m, p: p.startswith("/m"))])
    statuses = [get_status(proxy, path) for path in ["/m1", "/other", "/m2", "/other", "/m3", "/m4"]]
    assert statuses == [200, 200, 200, 200, 500, 200]

    proxy.set_faults([Fault("status", status=500, probability=0.0), Fault("status", status=418, times=1)])
    assert [get_status(proxy) for _ in range(2)] == [418, 200]  # first rule never fires; the second once

    proxy.clear_faults()
    assert get_status(proxy) == 200 and proxy.faults == []
    assert proxy.faults_injected["status"] == 5


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="probability"):
        Fault("reset", probability=1.5)
    with pytest.raises(ValueError, match="nth"):
        Fault("reset", nth=0)
    with pytest.raises(ValueError, match="times"):
        Fault("reset", times=-1)
    with pytest.raises(ValueError, match="status"):
        Fault("status", status=100)
    with pytest.raises(ValueError, match="upstream"):
        HttpProxy("https://example.com")


# ---------------------------------------------------------------------------------------------------
# lifecycle
# ---------------------------------------------------------------------------------------------------


def _proxy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("http-proxy")]


def _open_sockets() -> int | None:
    """How many sockets this process has open (Linux ``/proc``), ``None`` where unknown."""
    fd_dir = "/proc/self/fd"
    if not os.path.isdir(fd_dir):
        return None
    count = 0
    for name in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            count += os.readlink(os.path.join(fd_dir, name)).startswith("socket:")
    return count


def test_lifecycle_stop_is_clean(upstream: Upstream) -> None:
    assert _proxy_threads() == []
    sockets_before = _open_sockets()
    p = HttpProxy(upstream.url)
    assert "not started" in repr(p)
    with pytest.raises(RuntimeError):
        _ = p.url
    p.start()
    assert p.url == f"http://127.0.0.1:{p.port}" and p.running
    idle = connect(p)  # a kept-alive idle connection
    idle.request("GET", "/x")
    idle.getresponse().read()
    p.set_faults([Fault("delay", delay=30, match=lambda m, path: path == "/stuck")])
    stuck = connect(p, timeout=30)
    stuck.request("GET", "/stuck")  # a handler asleep in a delay
    time.sleep(0.2)
    assert f"{p.url} -> {upstream.url}" in repr(p) and "delay 30s" in repr(p)

    started = time.monotonic()
    p.stop()
    assert time.monotonic() - started < 3
    assert not p.running
    assert _proxy_threads() == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", p.port), timeout=1).close()
    with pytest.raises((OSError, http.client.HTTPException)):
        stuck.getresponse()
    idle.close()
    stuck.close()
    p.stop()  # idempotent
    if sockets_before is not None:
        deadline = time.monotonic() + 2  # the upstream's own handler threads notice the closes
        while _open_sockets() != sockets_before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _open_sockets() == sockets_before

    with p:  # restartable
        assert get_status(p) == 200
    assert _proxy_threads() == []


# ---------------------------------------------------------------------------------------------------
# a real SDK: boto3 against moto through the proxy
# ---------------------------------------------------------------------------------------------------


def _boto3_and_moto() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("boto3", "moto"))


@pytest.mark.skipif(not _boto3_and_moto(), reason="needs boto3 and moto[s3,server]")
def test_boto3_through_the_proxy_with_slowdown_faults(request: pytest.FixtureRequest) -> None:
    import boto3
    from botocore.config import Config

    from tests.harness.emulators import MotoS3Server

    moto: MotoS3Server = request.getfixturevalue("moto_s3")
    with HttpProxy(moto.endpoint_url, seed=7) as p:
        s3 = boto3.client(
            "s3",
            endpoint_url=p.url,
            region_name=moto.region,
            aws_access_key_id=moto.access_key_id,
            aws_secret_access_key=moto.secret_access_key,
            config=Config(retries={"max_attempts": 10, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        )
        bucket = "http-proxy-smoke"
        s3.create_bucket(Bucket=bucket)
        p.reset_counts()
        p.set_faults([Fault.s3_slow_down(probability=0.3)])

        bodies = {f"k/{i:02d}": (b"%02d" % i) * (1000 + i) for i in range(8)}
        for key, body in bodies.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        for key, body in bodies.items():
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}):
            keys += [item["Key"] for item in page.get("Contents", [])]
        assert keys == sorted(bodies)

        injected = p.faults_injected["status"]
        assert injected > 0
        assert p.count(status=503) == injected
        # every operation succeeded once; each retry is one more request through the proxy
        successes = p.count(status=200)
        assert successes == len(bodies) * 2 + 3
        assert p.count() == successes + injected
        assert p.count("PUT", "/k/", status=503) > 0 or p.count("GET", "/k/", status=503) > 0

        # a connection reset and a drop after forwarding are retried too (PutObject is idempotent)
        p.set_faults([Fault("reset", times=2), Fault("drop_after_forward", nth=1)])
        s3.put_object(Bucket=bucket, Key="after-faults", Body=b"done")
        assert s3.get_object(Bucket=bucket, Key="after-faults")["Body"].read() == b"done"
        assert p.faults_injected["reset"] == 2 and p.faults_injected["drop_after_forward"] == 1

        # a multipart upload (create, 3 parts, complete) under SlowDown faults
        from boto3.s3.transfer import TransferConfig

        p.set_faults([Fault.s3_slow_down(probability=0.3)])
        data = bytes(range(256)) * (11 * 1024 * 1024 // 256)
        transfer = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
        s3.upload_fileobj(io.BytesIO(data), bucket, "multipart", Config=transfer)
        assert p.count("POST", "/multipart", query_contains="uploads") >= 1
        assert p.count("PUT", "/multipart", query_contains="partNumber", status=200) == 3
        assert s3.get_object(Bucket=bucket, Key="multipart")["Body"].read() == data
