"""The sidecar's YAML config: the ``archival`` section (read by :func:`archivers.config.load_config`)
plus an optional top-level ``sidecar`` section for the server itself.

.. code-block:: yaml

    sidecar:
      listen: 127.0.0.1:7299        # host:port; --listen overrides it
      maxWorkers: 16                # threads serving calls (concurrent calls)
      shutdownGraceSeconds: 10      # how long in-flight calls may finish on SIGTERM
    archival:
      history:
        provider:
          filestore: {fileMode: "0666", dirMode: "0766"}
      visibility:
        provider:
          filestore: {fileMode: "0666", dirMode: "0766"}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archivers.config import ArchivalConfig, ConfigError, load_config
from sidecar import DEFAULT_LISTEN

DEFAULT_MAX_WORKERS = 16
"""Threads serving calls when the config does not say."""

DEFAULT_GRACE_SECONDS = 10.0
"""Seconds in-flight calls get to finish on shutdown when the config does not say."""


@dataclass(frozen=True)
class SidecarConfig:
    """What the sidecar server needs: listen address, thread pool size, shutdown grace, archival settings."""

    listen: str = DEFAULT_LISTEN
    max_workers: int = DEFAULT_MAX_WORKERS
    shutdown_grace_seconds: float = DEFAULT_GRACE_SECONDS
    archival: ArchivalConfig = field(default_factory=ArchivalConfig)


def load_sidecar_config(path: str | None) -> SidecarConfig:
    """Read the sidecar config at ``path`` (``None``: all defaults, no backend settings).

    Raises :class:`ConfigError` naming ``path`` and the problem if the file is unreadable, has no
    valid ``archival`` section, or its ``sidecar`` section has an unknown key or a wrong type.
    """
    if path is None:
        return SidecarConfig()
    archival = load_config(path)  # reports unreadable files and YAML errors with the file name
    import yaml

    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    section = document.get("sidecar") if isinstance(document, Mapping) else None
    if section is None:
        return SidecarConfig(archival=archival)
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: sidecar must be a mapping")
    unknown = sorted(set(map(str, section)) - {"listen", "maxWorkers", "shutdownGraceSeconds"})
    if unknown:
        raise ConfigError(f"{path}: unknown key sidecar.{unknown[0]} (known: listen, maxWorkers, shutdownGraceSeconds)")
    listen = _typed(section, "listen", str, DEFAULT_LISTEN, path)
    workers = _typed(section, "maxWorkers", int, DEFAULT_MAX_WORKERS, path)
    grace = _typed(section, "shutdownGraceSeconds", (int, float), DEFAULT_GRACE_SECONDS, path)
    if workers < 1:
        raise ConfigError(f"{path}: sidecar.maxWorkers must be >= 1, got {workers}")
    if grace < 0:
        raise ConfigError(f"{path}: sidecar.shutdownGraceSeconds must be >= 0, got {grace}")
    return SidecarConfig(listen=listen, max_workers=workers, shutdown_grace_seconds=float(grace), archival=archival)


def _typed(section: Mapping[str, Any], key: str, types: type | tuple[type, ...], default: Any, path: str) -> Any:
    value = section.get(key)
    if value is None:
        return default
    if not isinstance(value, types) or isinstance(value, bool):
        raise ConfigError(f"{path}: sidecar.{key} has the wrong type: {value!r}")
    return value
