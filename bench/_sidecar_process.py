"""A sidecar (``archiver serve``) in a process of its own, for benches that measure it from outside.

``with SidecarProcess(history_settings) as sidecar:`` starts it on a free loopback port with the
given per-provider history settings (e.g. ``{"s3store": {...}}``), waits until it answers, and stops
it on exit. ``sidecar.address`` is where to connect; ``rss_kib``, ``reset_peak`` and ``peak_kib``
read and reset its resident memory from ``/proc`` (Linux).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from types import TracebackType
from typing import Any

import grpc
from _repo_on_path import REPO_ROOT


class SidecarProcess:
    """A running ``archiver serve`` (see the module docstring)."""

    def __init__(self, history_settings: dict[str, Any] | None = None) -> None:
        provider = history_settings or {}
        self._config = {"archival": {"history": {"state": "enabled", "enableRead": True, "provider": provider}}}
        self._process: subprocess.Popen[bytes] | None = None
        self._config_file = ""
        self.address = ""

    def __enter__(self) -> SidecarProcess:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        handle, self._config_file = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(handle, "w") as out:
            json.dump(self._config, out)  # JSON is YAML
        self._process = subprocess.Popen(
            [sys.executable, "-m", "archivers.cli", "serve", "--config", self._config_file, "--listen", self.address],
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with grpc.insecure_channel(self.address) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(30)
        os.unlink(self._config_file)

    def _status_kib(self, key: str) -> int:
        assert self._process is not None
        with open(f"/proc/{self._process.pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(key + ":"))

    def rss_kib(self) -> int:
        """The sidecar's resident memory now."""
        return self._status_kib("VmRSS")

    def reset_peak(self) -> None:
        """Reset the peak :meth:`peak_kib` reports to the resident memory now."""
        assert self._process is not None
        with open(f"/proc/{self._process.pid}/clear_refs", "w") as clear:
            clear.write("5")

    def peak_kib(self) -> int:
        """The sidecar's peak resident memory since it started or :meth:`reset_peak`."""
        return self._status_kib("VmHWM")
