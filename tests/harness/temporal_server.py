"""Process harness for end-to-end tests: a Temporal server built with the shim, and the sidecar.

* :func:`build_server` runs ``scripts/build_server.sh`` and returns the binary
  (``.tools/bin/temporal-archivers-server``).
* :func:`server_config` turns ``deploy/temporal/server.yaml`` into a config for one test server: free
  loopback ports, the sidecar's address in every ``customStores`` entry, a private dynamic config file,
  optionally a file-backed SQLite database (survives a restart) and Temporal's built-in ``s3store``
  in place of the shim for ``s3://``.
* :class:`ArchiversTemporalServer` runs that binary (``--config-file``), waits until
  ``temporal operator cluster health`` says ``SERVING`` and offers :meth:`~ArchiversTemporalServer.cli`.
* :class:`SidecarProcess` runs ``archiver serve`` as a separate process (so that a test can kill and
  restart it on the same port) and reads its Prometheus metrics.

Both follow the emulator contract of :mod:`tests.harness.emulators` (``start()``/``stop()``,
context manager, the process dies with the test process, log tail in start errors). Their logs are
kept in ``log_dir`` across restarts (each start appends), so a failing test can print them.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from typing_extensions import Self

from .emulators import (
    EmulatorError,
    EmulatorNotInstalledError,
    _ProcessEmulator,
    _terminate,
    find_temporal_cli,
    free_port,
    run_temporal_cli,
)

__all__ = [
    "REPO_ROOT",
    "ArchiversTemporalServer",
    "ServerPorts",
    "SidecarProcess",
    "build_server",
    "find_server_binary",
    "server_config",
    "tail",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository checkout this module lives in."""

SERVER_BINARY = REPO_ROOT / ".tools" / "bin" / "temporal-archivers-server"
BASE_SERVER_CONFIG = REPO_ROOT / "deploy" / "temporal" / "server.yaml"
BASE_DYNAMIC_CONFIG = REPO_ROOT / "deploy" / "temporal" / "dynamicconfig.yaml"

#: Dynamic config added for tests: namespaces and search attributes usable at once after creation.
TEST_DYNAMIC_CONFIG: dict[str, Any] = {
    "system.namespaceCacheRefreshInterval": "1s",
    "system.forceSearchAttributesCacheRefreshOnRead": True,
}


def tail(path: Path | None, chars: int = 8000) -> str:
    """The last ``chars`` characters of the text file ``path`` ("" when missing)."""
    if path is None or not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - chars))
        return fh.read().decode("utf-8", errors="replace")


def find_server_binary() -> Path:
    """The shim server binary: ``TEMPORAL_ARCHIVERS_SERVER`` or ``.tools/bin/temporal-archivers-server``."""
    override = os.environ.get("TEMPORAL_ARCHIVERS_SERVER")
    path = Path(override) if override else SERVER_BINARY
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise EmulatorNotInstalledError(f"{path} is missing: run bash scripts/build_server.sh")
    return path


def build_server(timeout: float = 1800.0) -> Path:
    """Run ``bash scripts/build_server.sh`` (incremental ``go build``) and return the binary.

    Skipped when ``TEMPORAL_ARCHIVERS_SERVER`` names a binary. Raises :class:`EmulatorError` with the
    build's output when it fails.
    """
    if os.environ.get("TEMPORAL_ARCHIVERS_SERVER"):
        return find_server_binary()
    if shutil.which("go") is None:
        raise EmulatorNotInstalledError("Go is not installed: the e2e tests build the server with `go build`")
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "build_server.sh")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise EmulatorError(f"scripts/build_server.sh failed with exit code {result.returncode}:\n{output[-6000:]}")
    return find_server_binary()


class ServerPorts:
    """Free loopback ports for one server: gRPC and membership per service, plus the frontend's HTTP."""

    SERVICES = ("frontend", "history", "matching", "worker")

    def __init__(self, host: str = "127.0.0.1", frontend: int | None = None) -> None:
        taken: set[int] = set()

        def pick() -> int:
            port = free_port(host)
            while port in taken:
                port = free_port(host)
            taken.add(port)
            return port

        self.grpc = {service: pick() for service in self.SERVICES}
        if frontend:
            taken.add(frontend)
            self.grpc["frontend"] = frontend
        self.membership = {service: pick() for service in self.SERVICES}
        self.http = pick()


def server_config(
    *,
    ports: ServerPorts,
    sidecar_address: str,
    dynamic_config_path: Path,
    db_path: Path | None = None,
    builtin_s3: Mapping[str, Any] | None = None,
    log_level: str = "warn",
    base: Path = BASE_SERVER_CONFIG,
) -> dict[str, Any]:
    """The server config for a test server, from ``base`` (``deploy/temporal/server.yaml``).

    ``db_path`` set: both datastores use that SQLite file (``mode: rwc``, ``setup: true``) instead of
    memory, so namespaces and closed workflows survive a restart. ``builtin_s3`` set (e.g.
    ``{"region": "us-east-1", "endpoint": "http://127.0.0.1:9000", "s3ForcePathStyle": True}``):
    ``s3`` leaves ``customStores`` and Temporal's own ``s3store`` provider serves ``s3://``.
    """
    config: dict[str, Any] = copy.deepcopy(yaml.safe_load(base.read_text(encoding="utf-8")))
    config.setdefault("log", {})["level"] = log_level
    config["log"]["stdout"] = True
    for service in ServerPorts.SERVICES:
        rpc = config["services"][service]["rpc"]
        rpc["grpcPort"] = ports.grpc[service]
        rpc["membershipPort"] = ports.membership[service]
        rpc["bindOnLocalHost"] = True
    config["services"]["frontend"]["rpc"]["httpPort"] = ports.http
    frontend = f"127.0.0.1:{ports.grpc['frontend']}"
    for info in config["clusterMetadata"]["clusterInformation"].values():
        info["rpcAddress"] = frontend
        info["httpAddress"] = f"127.0.0.1:{ports.http}"
    if db_path is not None:
        for store in config["persistence"]["datastores"].values():
            sql = store["sql"]
            sql["databaseName"] = str(db_path)
            sql["connectAttributes"] = {"mode": "rwc", "setup": "true"}
    for kind in ("history", "visibility"):
        provider = config["archival"][kind]["provider"]
        stores = provider.setdefault("customStores", {})
        for scheme in list(stores):
            entry = dict(stores[scheme])  # the YAML anchors share one dict: copy before changing
            entry["address"] = sidecar_address
            stores[scheme] = entry
        if builtin_s3 is not None:
            stores.pop("s3", None)
            provider["s3store"] = dict(builtin_s3)
    config["dynamicConfigClient"] = {"filepath": str(dynamic_config_path), "pollInterval": "5s"}
    return config


def _dynamic_config(extra: Mapping[str, Any]) -> dict[str, Any]:
    """The base dynamic config plus :data:`TEST_DYNAMIC_CONFIG` plus ``extra`` (plain values)."""
    data: dict[str, Any] = yaml.safe_load(BASE_DYNAMIC_CONFIG.read_text(encoding="utf-8")) or {}
    for key, value in {**TEST_DYNAMIC_CONFIG, **extra}.items():
        data[key] = [{"value": value}]
    return data


class _LoggedProcess(_ProcessEmulator):
    """A process emulator whose log is copied to ``log_dir`` when it stops (kept across restarts)."""

    def __init__(
        self,
        *,
        host: str,
        port: int | None,
        startup_timeout: float,
        log_dir: Path | None,
        env: Mapping[str, str] | None,
    ) -> None:
        super().__init__(host=host, port=port, startup_timeout=startup_timeout)
        self.log_dir = log_dir
        self.extra_env = dict(env or {})
        self.starts = 0

    @property
    def saved_log(self) -> Path | None:
        """Where the logs of every run are kept (``log_dir/<name>.log``), if ``log_dir`` was given."""
        return None if self.log_dir is None else self.log_dir / f"{self.name}.log"

    def _env_prefix(self) -> list[str]:
        """``env K=V ...``: the extra environment of the child (``_ProcessEmulator`` passes none)."""
        if not self.extra_env:
            return []
        return ["env", *(f"{key}={value}" for key, value in self.extra_env.items())]

    def start(self) -> Self:
        """Start (see :class:`~tests.harness.emulators._ProcessEmulator`); counts starts."""
        self.starts += 1
        return super().start()

    def log(self) -> str:
        """The tail of the current run's log, or of the saved logs when not running."""
        current = super().log()
        return current if current else tail(self.saved_log)

    def log_tail(self, chars: int = 200_000) -> str:
        """The last ``chars`` characters of the logs of every run so far, the current one included."""
        return tail(self.saved_log, chars) + tail(self._log_path, chars)

    def _save_log(self, note: str = "") -> None:
        if self.saved_log is None or self._log_path is None or not self._log_path.exists():
            return
        self.saved_log.parent.mkdir(parents=True, exist_ok=True)
        with self.saved_log.open("ab") as out:
            out.write(f"\n===== {self.name} run {self.starts} {note}=====\n".encode())
            out.write(self._log_path.read_bytes())

    def stop(self) -> None:
        """Stop the process and append its log to ``saved_log``."""
        process = self._process
        if process is not None and process.poll() is None:
            _terminate(process)
        self._save_log()
        super().stop()


class ArchiversTemporalServer(_LoggedProcess):
    """The Temporal server built with the shim (``temporal-archivers-server --config-file``).

    Attributes after ``start()``: ``address`` (gRPC frontend), ``ports``, ``config`` (the dict
    written), ``config_path``. ``sidecar_address`` is written into every ``customStores`` entry.
    ``db_path`` keeps persistence in that SQLite file (restarts keep namespaces and runs);
    ``builtin_s3`` hands ``s3://`` to Temporal's own s3store (see :func:`server_config`);
    ``dynamic_config`` adds keys to the dynamic config; ``env`` is added to the server's environment
    (credentials for the built-in s3store).
    """

    name = "temporal-archivers-server"

    def __init__(
        self,
        *,
        sidecar_address: str,
        executable: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        db_path: Path | None = None,
        builtin_s3: Mapping[str, Any] | None = None,
        dynamic_config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        log_level: str = "warn",
        log_dir: Path | None = None,
        startup_timeout: float = 120.0,
        cli: Path | None = None,
        ports: ServerPorts | None = None,
    ) -> None:
        super().__init__(host=host, port=port, startup_timeout=startup_timeout, log_dir=log_dir, env=env)
        self.fixed_ports = ports
        self.sidecar_address = sidecar_address
        self.executable = executable
        self.db_path = db_path
        self.builtin_s3 = dict(builtin_s3) if builtin_s3 is not None else None
        self.dynamic_config = dict(dynamic_config or {})
        self.log_level = log_level
        self.cli_executable = cli
        self.ports: ServerPorts | None = None
        self.config: dict[str, Any] = {}
        self.config_path: Path | None = None

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the gRPC frontend."""
        return f"{self.host}:{self.port}"

    def _prepare(self) -> None:
        if self.executable is None:
            self.executable = find_server_binary()
        if self.cli_executable is None:
            self.cli_executable = find_temporal_cli()
        # Fixed ports (a restart on the same ports, as a real deployment does) skip the emulator's
        # free-port check: sockets of the previous run may linger in TIME_WAIT on them.
        self.ports = self.fixed_ports or ServerPorts(self.host, frontend=self.port)
        self.port = self.ports.grpc["frontend"]
        dynamic_path = self.workdir / "dynamicconfig.yaml"
        dynamic_path.write_text(yaml.safe_dump(_dynamic_config(self.dynamic_config)), encoding="utf-8")
        self.config = server_config(
            ports=self.ports,
            sidecar_address=self.sidecar_address,
            dynamic_config_path=dynamic_path,
            db_path=self.db_path,
            builtin_s3=self.builtin_s3,
            log_level=self.log_level,
        )
        self.config_path = self.workdir / "server.yaml"
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8")

    def _command(self) -> list[str]:
        assert self.executable is not None and self.config_path is not None
        return [*self._env_prefix(), str(self.executable), "--config-file", str(self.config_path)]

    def cli(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``temporal ARGS`` against this server (see :func:`run_temporal_cli`)."""
        return run_temporal_cli(self.cli_executable or find_temporal_cli(), self.address, *args,
                                timeout=timeout, check=check)

    def _ready(self) -> bool:
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            if sock.connect_ex((self.host, self.port)) != 0:
                return False
        try:
            result = self.cli("operator", "cluster", "health", "--command-timeout", "5s", timeout=15, check=False)
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0 and "SERVING" in result.stdout and "NOT_SERVING" not in result.stdout

    def env(self) -> dict[str, str]:
        """``TEMPORAL_ADDRESS``."""
        return {"TEMPORAL_ADDRESS": self.address}


class SidecarProcess(_LoggedProcess):
    """``archiver serve`` in its own process, with Prometheus metrics on a second port.

    ``archival`` is the ``archival:`` section of its config (Temporal's shape). The gRPC port is fixed
    at construction (free unless given), so :meth:`restart` comes back on the same address.
    ``env`` is added to the sidecar's environment (store credentials, endpoints).
    """

    name = "archiver-sidecar"

    def __init__(
        self,
        archival: Mapping[str, Any],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        sidecar_settings: Mapping[str, Any] | None = None,
        log_dir: Path | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__(host=host, port=None, startup_timeout=startup_timeout, log_dir=log_dir, env=env)
        # Chosen once: restart() comes back on the same address (no free-port check, see _prepare).
        self.fixed_port = port or free_port(host)
        self.port = self.fixed_port
        self.archival = copy.deepcopy(dict(archival))
        self.sidecar_settings = dict(sidecar_settings or {})
        self.metrics_port = free_port(host)
        self.config_path: Path | None = None

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the gRPC server."""
        return f"{self.host}:{self.port}"

    def config(self) -> dict[str, Any]:
        """The whole config file's content."""
        sidecar: dict[str, Any] = {
            "listen": self.address,
            "shutdownGraceSeconds": 2,
            "metrics": {"listen": f"{self.host}:{self.metrics_port}"},
            "logs": {"format": "text", "level": "info"},
            "defaultLayout": "compat",  # the e2e suite checks keys of Temporal's layouts and takes over its archives
            **self.sidecar_settings,
        }
        return {"sidecar": sidecar, "archival": self.archival}

    def write_config(self, path: Path) -> Path:
        """Write :meth:`config` to ``path`` (also usable as ``archiver --config``) and return it."""
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False), encoding="utf-8")
        return path

    def _prepare(self) -> None:
        self.port = self.fixed_port
        self.config_path = self.write_config(self.workdir / "sidecar.yaml")

    def _command(self) -> list[str]:
        assert self.config_path is not None
        return [
            *self._env_prefix(),
            sys.executable, "-m", "archivers.cli", "serve",
            "--config", str(self.config_path),
            "--listen", self.address,
        ]  # fmt: skip

    def _ready(self) -> bool:
        try:
            import grpc
            from grpc_health.v1 import health_pb2, health_pb2_grpc
        except ImportError as err:  # pragma: no cover - the sidecar extra is a dev dependency
            raise EmulatorNotInstalledError(f"the sidecar extra is not installed: {err}") from err
        with grpc.insecure_channel(self.address) as channel:
            try:
                status = (
                    health_pb2_grpc.HealthStub(channel)
                    .Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                    .status
                )
            except grpc.RpcError:
                return False
        return bool(status == health_pb2.HealthCheckResponse.SERVING)

    def restart(self) -> Self:
        """Stop and start again on the same ports."""
        self.stop()
        return self.start()

    def metrics_text(self) -> str:
        """The raw Prometheus exposition from ``/metrics``."""
        url = f"http://{self.host}:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text: str = response.read().decode("utf-8")
            return text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def env(self) -> dict[str, str]:
        """``ARCHIVER_SIDECAR`` (read by the ``archiver`` CLI)."""
        return {"ARCHIVER_SIDECAR": self.address}
