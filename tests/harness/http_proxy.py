"""A fault-injecting HTTP/1.1 reverse proxy for tests (standard library only).

Put :class:`HttpProxy` between a cloud SDK and an emulator (moto's S3 server, fake-gcs-server,
Azurite — plain HTTP on loopback), point the SDK's endpoint at :attr:`HttpProxy.url`, and the proxy

* forwards every request to the one upstream: method, request target (path and query, byte for
  byte), every end-to-end header exactly as the client sent it — including ``Host``, which S3 SigV4
  and Azure SharedKey sign — and the body, whether framed by ``Content-Length`` or
  ``Transfer-Encoding: chunked`` (the payload, e.g. ``aws-chunked`` content, is never touched);
  it streams the response back (status, reason, headers, body; ``Content-Length``, chunked and
  close-delimited bodies) and keeps client connections alive between requests;
* records every request as a :class:`RequestRecord` (method, path, query, status the client got,
  the fault applied, status the upstream gave) — see :attr:`HttpProxy.requests` and
  :meth:`HttpProxy.count`;
* injects faults described by :class:`Fault` rules: an HTTP error without forwarding (``"status"``),
  a TCP reset after reading the request (``"reset"``), a pause before forwarding (``"delay"``), or a
  TCP reset after the upstream has executed the request (``"drop_after_forward"``). Randomness comes
  from one ``random.Random(seed)``, so a sequential test sees the same faults on every run.

Example::

    with MotoS3Server() as moto, HttpProxy(moto.endpoint_url) as proxy:
        proxy.set_faults([Fault.s3_slow_down(probability=0.3)])
        s3 = boto3.client("s3", endpoint_url=proxy.url, ...)
        ...
        assert proxy.count(method="PUT", status=503) == proxy.faults_injected["status"]

Hop-by-hop headers (``Connection``, ``Keep-Alive``, ``Proxy-*``, ``TE``, ``Trailer``, ``Upgrade``,
``Transfer-Encoding`` and whatever ``Connection`` names) and ``Expect`` are not forwarded: the proxy
answers ``Expect: 100-continue`` itself and does its own framing on each hop. None of them is signed
by SigV4 or SharedKey. Upstream connections are opened per request and closed after it.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import struct
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal

from typing_extensions import Self

__all__ = [
    "FAULT_KINDS",
    "S3_INTERNAL_ERROR_BODY",
    "S3_SLOW_DOWN_BODY",
    "Fault",
    "FaultKind",
    "HttpProxy",
    "RequestRecord",
]

FaultKind = Literal["status", "reset", "delay", "drop_after_forward"]
#: Every valid :attr:`Fault.kind`.
FAULT_KINDS: tuple[FaultKind, ...] = ("status", "reset", "delay", "drop_after_forward")

#: The body S3 sends with ``503 Slow Down`` (botocore retries it as a throttling error).
S3_SLOW_DOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>FAULTPROXY</RequestId><HostId>fault-proxy</HostId></Error>"
)
#: The body S3 sends with ``500 Internal Error`` (botocore retries it as a transient error).
S3_INTERNAL_ERROR_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again."
    b"</Message><RequestId>FAULTPROXY</RequestId><HostId>fault-proxy</HostId></Error>"
)

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",  # answered by the proxy itself (100 Continue); never signed by the SDKs
    }
)
_BUFSIZE = 64 * 1024
_MAX_LINE = 65536


@dataclass(frozen=True, eq=False)
class Fault:
    """A rule that makes the proxy misbehave on some requests (compared and hashed by identity).

    ``kind``:

    * ``"status"`` — read the whole request, do not forward it, answer ``status`` with ``body`` and
      ``headers`` (``Content-Length`` is added; the client connection stays usable);
    * ``"reset"`` — read the whole request, do not forward it, close the client socket with
      ``SO_LINGER`` 0 so the client sees a TCP RST (``ConnectionResetError``; a client that has not
      started reading may see ``RemoteDisconnected`` / ``BrokenPipeError`` instead);
    * ``"delay"`` — wait ``delay`` seconds, then forward normally (a client whose read timeout is
      shorter gives up; the upstream still executes the request afterwards);
    * ``"drop_after_forward"`` — forward the request, read the upstream's whole response (so its side
      effect has happened), then reset the client as ``"reset"`` does.

    Which requests: a request *matches* when ``match`` is ``None`` or ``match(method, path)`` is true
    (``path`` is the request target without the query string, as sent, percent-encoded). Among
    matching requests the rule fires on exactly the ``nth`` one (1-based) when ``nth`` is set,
    otherwise with ``probability`` (one draw from the proxy's seeded RNG per matching request when
    ``0 < probability < 1``; none for 0 or 1). ``times`` caps how often the rule fires (``None``: no
    cap); once spent, the rule neither draws nor fires. The proxy consults its rules in order and
    applies the first that fires; later rules do not see that request.
    """

    kind: FaultKind
    probability: float = 1.0
    match: Callable[[str, str], bool] | None = None
    times: int | None = None
    nth: int | None = None
    status: int = 503
    body: bytes = S3_SLOW_DOWN_BODY
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/xml"})
    delay: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {self.probability!r}")
        if self.times is not None and self.times < 0:
            raise ValueError(f"times must be >= 0 or None, got {self.times!r}")
        if self.nth is not None and self.nth < 1:
            raise ValueError(f"nth must be >= 1 or None, got {self.nth!r}")
        if not 200 <= self.status <= 599:
            raise ValueError(f"status must be a final HTTP status (200-599), got {self.status!r}")
        if self.delay < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay!r}")
        if isinstance(self.body, str):  # be forgiving at runtime; the type says bytes
            object.__setattr__(self, "body", self.body.encode())

    @classmethod
    def s3_slow_down(
        cls,
        probability: float = 1.0,
        *,
        match: Callable[[str, str], bool] | None = None,
        times: int | None = None,
        nth: int | None = None,
    ) -> Fault:
        """A ``"status"`` rule answering ``503`` with S3's ``SlowDown`` XML (botocore: throttling, retried)."""
        return cls("status", probability, match, times, nth, status=503, body=S3_SLOW_DOWN_BODY)

    @classmethod
    def s3_internal_error(
        cls,
        probability: float = 1.0,
        *,
        match: Callable[[str, str], bool] | None = None,
        times: int | None = None,
        nth: int | None = None,
    ) -> Fault:
        """A ``"status"`` rule answering ``500`` with S3's ``InternalError`` XML (botocore: transient, retried)."""
        return cls("status", probability, match, times, nth, status=500, body=S3_INTERNAL_ERROR_BODY)

    @classmethod
    def too_many_requests(
        cls,
        probability: float = 1.0,
        *,
        match: Callable[[str, str], bool] | None = None,
        times: int | None = None,
        nth: int | None = None,
    ) -> Fault:
        """A ``"status"`` rule answering ``429 Too Many Requests`` with ``Retry-After: 0`` and no body."""
        return cls("status", probability, match, times, nth, status=429, body=b"", headers={"Retry-After": "0"})

    def describe(self) -> str:
        """A short human-readable summary, e.g. ``status 503 p=0.3 times=5``."""
        text: str = self.kind
        if self.kind == "status":
            text += f" {self.status}"
        elif self.kind == "delay":
            text += f" {self.delay:g}s"
        text += f" nth={self.nth}" if self.nth is not None else f" p={self.probability:g}"
        if self.times is not None:
            text += f" times={self.times}"
        if self.match is not None:
            text += " (matched)"
        return text


@dataclass(frozen=True)
class RequestRecord:
    """One request the proxy handled.

    ``path`` and ``query`` are the request target split at the first ``?`` (as sent, percent-encoded).
    ``status`` is the status the client received, ``None`` when it received none (reset, or the
    client vanished before a response was written). ``fault`` is the kind of the fault applied, if
    any. ``upstream_status`` is the status the upstream answered, ``None`` when the request was not
    forwarded or the upstream failed (the proxy answers ``502`` then).
    """

    method: str
    path: str
    query: str
    status: int | None
    fault: FaultKind | None = None
    upstream_status: int | None = None


@dataclass
class _FaultState:
    """A rule plus how many requests it matched and how often it fired."""

    fault: Fault
    matched: int = 0
    fired: int = 0


class _ClientGone(Exception):
    """The client connection failed while the proxy was reading the request body."""


class _Server(ThreadingHTTPServer):
    """The listening server: one daemon thread per connection, each tracked so ``stop()`` can end it."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], proxy: HttpProxy) -> None:
        self.proxy = proxy
        super().__init__(address, _Handler)

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        """Serve ``request`` in a new tracked daemon thread (or close it when the proxy is stopping)."""
        proxy = self.proxy
        if proxy._stopping.is_set():
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"http-proxy-conn-{client_address[1]}",
            daemon=True,
        )
        with proxy._lock:
            proxy._connections[thread] = request
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        try:
            self.process_request_thread(request, client_address)  # handles errors, closes the socket
        finally:
            with self.proxy._lock:
                self.proxy._connections.pop(threading.current_thread(), None)

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet: a client or upstream that goes away mid-request is part of the job."""


class _Handler(BaseHTTPRequestHandler):
    """Proxies each request on one client connection (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small header/body writes must not wait for delayed ACKs (40 ms)
    server: _Server
    _current: tuple[str, str, str, FaultKind | None] = ("", "", "", None)  # method, path, query, fault
    _noted: bool = True  # whether the current request is logged

    def log_message(self, format: str, *args: object) -> None:
        """Silence the stdlib's per-request stderr log."""

    def handle_one_request(self) -> None:
        """Read one request line and headers, then proxy the request (any method)."""
        try:
            self.raw_requestline = self.rfile.readline(_MAX_LINE + 1)
        except OSError:
            self.close_connection = True
            return
        if len(self.raw_requestline) > _MAX_LINE:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():  # sends 400/505 itself; also answers Expect: 100-continue
            return
        try:
            self._proxy_one()
        except _ClientGone:
            self.close_connection = True
        except OSError:
            self.close_connection = True

    # -- request body ------------------------------------------------------------------------------

    def _framing(self) -> tuple[bool, int]:
        """``(chunked, content_length)`` of the request body; raises ``ValueError`` when malformed."""
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            codings = [c.strip().lower() for c in te.split(",") if c.strip()]
            if not codings or codings[-1] != "chunked":
                raise ValueError(f"unsupported Transfer-Encoding {te!r}")
            return True, 0
        lengths = {v.strip() for v in self.headers.get_all("Content-Length", [])}
        if not lengths:
            return False, 0
        if len(lengths) != 1:
            raise ValueError("conflicting Content-Length headers")
        length = int(next(iter(lengths)))
        if length < 0:
            raise ValueError("negative Content-Length")
        return False, length

    def _read_exact(self, n: int) -> bytes:
        try:
            data = self.rfile.read(n)
        except OSError as err:
            raise _ClientGone(str(err)) from err
        if len(data) != n:
            raise _ClientGone("client closed the connection mid-body")
        return data

    def _readline(self) -> bytes:
        try:
            line = self.rfile.readline(_MAX_LINE + 1)
        except OSError as err:
            raise _ClientGone(str(err)) from err
        if not line.endswith(b"\n") or len(line) > _MAX_LINE:
            raise _ClientGone("malformed or truncated chunked body")
        return line

    def _body_pieces(self, chunked: bool, length: int) -> Iterator[bytes]:
        """Yield the request body as wire bytes for the upstream hop.

        For a chunked body the pieces carry chunk framing (sizes, CRLFs, the last chunk and trailers),
        ready to send as is with ``Transfer-Encoding: chunked``; otherwise they are raw body bytes.
        """
        if not chunked:
            remaining = length
            while remaining:
                piece = self._read_exact(min(_BUFSIZE, remaining))
                remaining -= len(piece)
                yield piece
            return
        while True:
            line = self._readline()
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as err:
                raise _ClientGone(f"bad chunk size line {line[:40]!r}") from err
            if size == 0:
                trailer = [b"0\r\n"]
                while True:
                    tline = self._readline()
                    trailer.append(tline)
                    if tline in (b"\r\n", b"\n"):
                        break
                yield b"".join(trailer)
                return
            yield b"%x\r\n" % size
            remaining = size
            while remaining:
                piece = self._read_exact(min(_BUFSIZE, remaining))
                remaining -= len(piece)
                yield piece
            if self._read_exact(2) != b"\r\n":
                raise _ClientGone("chunk not followed by CRLF")
            yield b"\r\n"

    def _drain(self, chunked: bool, length: int) -> None:
        for _ in self._body_pieces(chunked, length):
            pass

    # -- responses to the client -------------------------------------------------------------------

    def _send_simple(self, status: int, body: bytes, headers: Mapping[str, str], *, close: bool = False) -> None:
        """Write a complete response with a ``Content-Length`` body (none for HEAD)."""
        self.send_response_only(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _reset_client(self) -> None:
        """Close the client socket with ``SO_LINGER`` 0: the kernel sends a TCP RST."""
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.rfile.close()  # drop the makefile() reference so close() really closes the fd
        with contextlib.suppress(OSError):
            sock.close()

    # -- the proxying ------------------------------------------------------------------------------

    def _note(self, status: int | None, upstream_status: int | None) -> None:
        """Log the current request once, *before* the client can observe its outcome.

        Logging first means a test that has just received a response (or a reset) always finds the
        request in :attr:`HttpProxy.requests`.
        """
        if self._noted:
            return
        self._noted = True
        method, path, query, fault = self._current
        self.server.proxy._record(RequestRecord(method, path, query, status, fault, upstream_status))

    def _proxy_one(self) -> None:
        proxy = self.server.proxy
        method = self.command
        target = self.path
        path, _, query = target.partition("?")
        self._current = (method, path, query, None)
        self._noted = False
        try:
            try:
                chunked, length = self._framing()
            except ValueError as err:
                self.close_connection = True
                self._note(400, None)
                self._send_simple(400, f"fault proxy: {err}\n".encode(), {"Content-Type": "text/plain"})
                return
            fault = proxy._choose_fault(method, path)
            if fault is not None:
                self._current = (method, path, query, fault.kind)
            if fault is not None and fault.kind == "status":
                self._drain(chunked, length)
                self._note(fault.status, None)
                self._send_simple(fault.status, fault.body, fault.headers)
                return
            if fault is not None and fault.kind == "reset":
                self._drain(chunked, length)
                self._note(None, None)
                self._reset_client()
                return
            if fault is not None and fault.kind == "delay" and proxy._stopping.wait(fault.delay):
                self._note(None, None)
                self._reset_client()  # stopping: do not start new upstream work
                return
            drop = fault is not None and fault.kind == "drop_after_forward"
            self._forward(method, target, chunked, length, drop=drop)
        finally:
            self._note(None, None)  # the client vanished before an outcome was logged

    def _forward(self, method: str, target: str, chunked: bool, length: int, *, drop: bool) -> None:
        """Send the request upstream and relay the answer (or reset the client when ``drop``)."""
        proxy = self.server.proxy
        conn = http.client.HTTPConnection(proxy._upstream_host, proxy._upstream_port, timeout=proxy.upstream_timeout)
        proxy._track_upstream(conn, add=True)
        body_started = False
        try:
            try:
                has_host = "Host" in self.headers
                conn.putrequest(method, target, skip_host=has_host, skip_accept_encoding=True)
                extra_hop = {
                    token.strip().lower()
                    for value in self.headers.get_all("Connection", [])
                    for token in value.split(",")
                }
                for name, value in self.headers.items():
                    lname = name.lower()
                    if lname in _HOP_BY_HOP or lname in extra_hop:
                        continue
                    if chunked and lname == "content-length":
                        continue  # Transfer-Encoding wins over Content-Length (RFC 9112 6.3)
                    conn.putheader(name, value)
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                conn.putheader("Connection", "close")
                conn.endheaders()
                for piece in self._body_pieces(chunked, length):
                    body_started = True
                    conn.send(piece)
                response = conn.getresponse()
            except _ClientGone:
                raise
            except (OSError, http.client.HTTPException) as err:
                if not body_started:
                    with contextlib.suppress(_ClientGone, OSError):
                        self._drain(chunked, length)
                self.close_connection = True
                self._note(502, None)
                self._send_simple(
                    502,
                    f"fault proxy: upstream {proxy.upstream} failed: {err!r}\n".encode(),
                    {"Content-Type": "text/plain"},
                    close=True,
                )
                return
            if drop:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    while response.read1(_BUFSIZE):
                        pass
                self._note(None, response.status)
                self._reset_client()
                return
            self._relay(method, response)
        finally:
            conn.close()
            proxy._track_upstream(conn, add=False)

    def _relay(self, method: str, response: http.client.HTTPResponse) -> None:
        """Stream ``response`` to the client, framed for the client hop; reset the client if it breaks."""
        status = response.status
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        declared = response.getheader("Content-Length")
        framing: Literal["none", "length", "chunked", "close"]
        if no_body:
            framing = "none"
        elif not response.chunked and declared is not None:
            framing = "length"
        elif self.request_version >= "HTTP/1.1":
            framing = "chunked"
        else:
            framing = "close"
            self.close_connection = True
        extra_hop = {
            token.strip().lower() for value in response.msg.get_all("Connection", []) for token in value.split(",")
        }
        self._note(status, status)
        try:
            self.send_response_only(status, response.reason)
            for name, value in response.getheaders():
                lname = name.lower()
                if lname in _HOP_BY_HOP or lname in extra_hop:
                    continue
                if lname == "content-length" and framing in ("chunked", "close"):
                    continue
                self.send_header(name, value)
            if framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
        except OSError:
            self.close_connection = True
            return
        if framing == "none":
            return
        sent = 0
        try:
            while True:
                piece = response.read1(_BUFSIZE)
                if not piece:
                    break
                sent += len(piece)
                if framing == "chunked":
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
            if framing == "chunked":
                self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            self._reset_client()  # truncated upstream body or client gone: the client must not trust it
            return
        if framing == "length" and declared is not None and sent != int(declared):
            self._reset_client()


class HttpProxy:
    """A reverse proxy on ``127.0.0.1`` that forwards to one plain-HTTP ``upstream`` and injects faults.

    ``upstream`` is ``http://HOST:PORT`` (no path). ``port`` 0 (the default) lets the OS pick a free
    port. ``seed`` seeds the RNG that probabilistic faults draw from (reseeded by every
    :meth:`set_faults`). ``upstream_timeout`` bounds each connect/read on the upstream hop; a failing
    upstream yields ``502`` to the client.

    Lifecycle: :meth:`start` binds and serves in daemon threads and returns ``self``; :meth:`stop`
    closes the listener, every client and upstream connection, wakes pending delays and joins every
    thread the proxy started (idempotent). The proxy is a context manager and can be started again
    after a stop (on a new port unless ``port`` was given). All methods are thread-safe.
    """

    def __init__(
        self,
        upstream: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        upstream_timeout: float = 60.0,
        faults: Sequence[Fault] = (),
    ) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise ValueError(f"upstream must look like http://HOST:PORT, got {upstream!r}")
        self.upstream = f"http://{parts.netloc}"
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or 80
        self.host = host
        self.upstream_timeout = upstream_timeout
        self.seed = seed
        self._requested_port = port
        self._port: int | None = None
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._faults: list[_FaultState] = [_FaultState(f) for f in faults]
        self._records: list[RequestRecord] = []
        self._injected: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._upstreams: set[http.client.HTTPConnection] = set()

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the proxy is accepting connections."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The listening port; raises ``RuntimeError`` before :meth:`start`."""
        if self._port is None:
            raise RuntimeError("HttpProxy is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` to give the SDK as its endpoint; raises ``RuntimeError`` before :meth:`start`."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Bind and start serving in a daemon thread; returns ``self`` (no-op when already running)."""
        with self._lock:
            if self._server is not None:
                return self
            self._stopping.clear()
            server = _Server((self.host, self._requested_port), self)
            self._server = server
            self._port = int(server.server_address[1])
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"http-proxy-{self._port}",
                daemon=True,
            )
            self._serve_thread = thread
            thread.start()
            return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, abort in-flight requests, close all sockets and join all proxy threads.

        Idempotent. Threads still alive after ``timeout`` seconds (a stuck upstream read, at most
        ``upstream_timeout``) are left as daemons; none is expected.
        """
        with self._lock:
            server, thread = self._server, self._serve_thread
            self._server = self._serve_thread = None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            connections = dict(self._connections)
            upstreams = list(self._upstreams)
        for sock in connections.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for conn in upstreams:
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
        for conn_thread in connections:
            conn_thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._port is not None and self.running else "not started"
        with self._lock:
            faults = ", ".join(s.fault.describe() for s in self._faults) or "none"
            n = len(self._records)
            injected = sum(self._injected.values())
        return f"<HttpProxy {where} -> {self.upstream} requests={n} faults=[{faults}] injected={injected}>"

    # -- faults ------------------------------------------------------------------------------------

    def set_faults(self, faults: Sequence[Fault], *, seed: int | None = None) -> None:
        """Replace the fault rules (fresh match/fire counters) and reseed the RNG with ``seed``
        (default: the proxy's ``seed``), so each phase of a test is reproducible on its own.
        ``faults_injected`` keeps counting across calls; see :meth:`reset_counts`."""
        with self._lock:
            self._faults = [_FaultState(f) for f in faults]
            self._rng = random.Random(self.seed if seed is None else seed)

    def clear_faults(self) -> None:
        """Remove every fault rule: from now on every request is forwarded untouched."""
        with self._lock:
            self._faults = []

    @property
    def faults(self) -> list[Fault]:
        """The current fault rules, in the order they are consulted."""
        with self._lock:
            return [s.fault for s in self._faults]

    @property
    def faults_injected(self) -> Counter[str]:
        """A copy of how many faults were applied, by kind (missing kinds count 0)."""
        with self._lock:
            return Counter(self._injected)

    def fired(self, fault: Fault) -> int:
        """How often the current rule ``fault`` (the same object given to :meth:`set_faults`) fired."""
        with self._lock:
            return sum(s.fired for s in self._faults if s.fault is fault)

    def _choose_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for state in self._faults:
                rule = state.fault
                if rule.match is not None and not rule.match(method, path):
                    continue
                state.matched += 1
                if rule.times is not None and state.fired >= rule.times:
                    continue
                if rule.nth is not None:
                    fire = state.matched == rule.nth
                elif rule.probability >= 1.0:
                    fire = True
                elif rule.probability <= 0.0:
                    fire = False
                else:
                    fire = self._rng.random() < rule.probability
                if fire:
                    state.fired += 1
                    self._injected[rule.kind] += 1
                    return rule
            return None

    # -- counting ----------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, in the order requests finished."""
        with self._lock:
            return list(self._records)

    def reset_counts(self) -> None:
        """Forget the request log and the ``faults_injected`` counters (fault rules stay as they are)."""
        with self._lock:
            self._records.clear()
            self._injected.clear()

    def count(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        *,
        query_contains: str | None = None,
        status: int | None = None,
        fault: FaultKind | None = None,
    ) -> int:
        """How many logged requests match every filter given (``None`` matches anything).

        ``method`` compares case-insensitively; ``path_contains``/``query_contains`` are substrings of
        the raw path/query; ``status`` is the status the client received; ``fault`` the kind applied.
        """
        wanted_method = method.upper() if method is not None else None
        with self._lock:
            return sum(
                1
                for r in self._records
                if (wanted_method is None or r.method.upper() == wanted_method)
                and (path_contains is None or path_contains in r.path)
                and (query_contains is None or query_contains in r.query)
                and (status is None or r.status == status)
                and (fault is None or r.fault == fault)
            )

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _track_upstream(self, conn: http.client.HTTPConnection, *, add: bool) -> None:
        with self._lock:
            if add:
                self._upstreams.add(conn)
            else:
                self._upstreams.discard(conn)
