"""The sidecar's YAML config: the ``archival`` section plus an optional ``sidecar`` section.

The ``archival`` section is read by :func:`archivers.config.load_config`; the top-level ``sidecar``
section configures the server itself.

.. code-block:: yaml

    sidecar:
      listen: 127.0.0.1:7299        # host:port; --listen overrides it (loopback by default)
      maxWorkers: 16                # threads for unary calls, and as many for ArchiveHistory streams
      maxConcurrentRpcs: 64         # calls beyond this many at once get RESOURCE_EXHAUSTED (default: no limit)
      maxMessageBytes: 67108864     # largest message received or sent (default 64 MiB)
      shutdownGraceSeconds: 10      # how long in-flight calls may finish on SIGTERM
      streamIdleTimeout: 60         # seconds an ArchiveHistory stream may send nothing before it ends UNAVAILABLE
      defaultLayout: native         # layout ValidateURI gives a new root: native (default) or compat (none written)
      tls:                          # absent: plaintext
        certFile: /etc/sidecar/tls.crt
        keyFile: /etc/sidecar/tls.key
        clientCaFile: /etc/sidecar/ca.crt   # set: mutual TLS, clients must present a cert it signed
      metrics:
        listen: 127.0.0.1:9299      # Prometheus /metrics (absent: no metrics endpoint)
      logs:
        format: json                # text (default) or json
        level: info                 # debug, info, warning, error
    archival:
      history:
        provider:
          filestore: {fileMode: "0666", dirMode: "0766"}

File paths in ``tls`` are used as written (relative ones from the working directory) and must
exist when the config is loaded. Errors name the file and the key (``sidecar.tls.keyFile``).
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archivers.config import ArchivalConfig, ConfigError, load_config
from archivers.roots import COMPAT, NATIVE
from sidecar import DEFAULT_LISTEN

DEFAULT_LAYOUTS = (NATIVE, COMPAT)
"""``sidecar.defaultLayout``: what ``ValidateURI`` makes of a root without a descriptor (see :mod:`archivers.roots`)."""
DEFAULT_MAX_WORKERS = 16
"""Threads serving calls when the config does not say."""

DEFAULT_GRACE_SECONDS = 10.0
"""Seconds in-flight calls get to finish on shutdown when the config does not say."""

DEFAULT_STREAM_IDLE_TIMEOUT = 60.0
"""Seconds an ``ArchiveHistory`` stream may send nothing before it ends (retryable) when the config does not say."""

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest message received or sent when the config does not say (a GetHistory page, one batch group)."""

MIN_MAX_MESSAGE_BYTES = 1024
"""Smallest ``maxMessageBytes`` accepted (below it not even a header fits)."""

LOG_FORMATS = ("text", "json")
"""Accepted values of ``sidecar.logs.format``."""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
"""Accepted values of ``sidecar.logs.level`` (case-insensitive)."""

_SIDECAR_KEYS = (
    "listen",
    "maxWorkers",
    "maxConcurrentRpcs",
    "maxMessageBytes",
    "shutdownGraceSeconds",
    "streamIdleTimeout",
    "defaultLayout",
    "tls",
    "metrics",
    "logs",
)


@dataclass(frozen=True)
class TLSConfig:
    """Server TLS: certificate chain and key (PEM files); ``client_ca_file`` set means mutual TLS."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None

    @property
    def mutual(self) -> bool:
        """Whether clients must present a certificate signed by ``client_ca_file``."""
        return self.client_ca_file is not None


@dataclass(frozen=True)
class LogConfig:
    """Log output: ``format`` ``text`` or ``json``, ``level`` a :mod:`logging` level name (lower case)."""

    format: str = "text"
    level: str = "info"


@dataclass(frozen=True)
class SidecarConfig:
    """What the sidecar server needs: listen address, limits, TLS, metrics, logs, archival settings."""

    listen: str = DEFAULT_LISTEN
    max_workers: int = DEFAULT_MAX_WORKERS
    shutdown_grace_seconds: float = DEFAULT_GRACE_SECONDS
    archival: ArchivalConfig = field(default_factory=ArchivalConfig)
    max_concurrent_rpcs: int | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    tls: TLSConfig | None = None
    metrics_listen: str | None = None
    logs: LogConfig = field(default_factory=LogConfig)
    stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT
    default_layout: str = NATIVE


def load_sidecar_config(path: str | None) -> SidecarConfig:
    """Read the sidecar config at ``path`` (``None``: all defaults, no backend settings).

    Raises :class:`ConfigError` naming ``path`` and the key if the file is unreadable, has no
    valid ``archival`` section, or its ``sidecar`` section has an unknown key, a wrong type, an
    out-of-range value or a TLS file that does not exist.
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
    section = _mapping(section, "sidecar", path)
    _known(section, "sidecar", _SIDECAR_KEYS, path)
    listen = _typed(section, "sidecar", "listen", str, DEFAULT_LISTEN, path)
    _check_address(listen, "sidecar.listen", path)
    workers = _typed(section, "sidecar", "maxWorkers", int, DEFAULT_MAX_WORKERS, path)
    concurrent = _typed(section, "sidecar", "maxConcurrentRpcs", int, None, path)
    message_bytes = _typed(section, "sidecar", "maxMessageBytes", int, DEFAULT_MAX_MESSAGE_BYTES, path)
    grace = _typed(section, "sidecar", "shutdownGraceSeconds", (int, float), DEFAULT_GRACE_SECONDS, path)
    idle = _typed(section, "sidecar", "streamIdleTimeout", (int, float), DEFAULT_STREAM_IDLE_TIMEOUT, path)
    default_layout = _typed(section, "sidecar", "defaultLayout", str, NATIVE, path)
    if default_layout not in DEFAULT_LAYOUTS:
        raise ConfigError(
            f"{path}: sidecar.defaultLayout must be one of {', '.join(DEFAULT_LAYOUTS)}, got {default_layout!r}"
        )
    if workers < 1:
        raise ConfigError(f"{path}: sidecar.maxWorkers must be >= 1, got {workers}")
    if concurrent is not None and concurrent < 1:
        raise ConfigError(f"{path}: sidecar.maxConcurrentRpcs must be >= 1, got {concurrent}")
    if message_bytes < MIN_MAX_MESSAGE_BYTES:
        raise ConfigError(f"{path}: sidecar.maxMessageBytes must be >= {MIN_MAX_MESSAGE_BYTES}, got {message_bytes}")
    if grace < 0:
        raise ConfigError(f"{path}: sidecar.shutdownGraceSeconds must be >= 0, got {grace}")
    if not 0 < idle < math.inf:  # also refuses .nan
        raise ConfigError(f"{path}: sidecar.streamIdleTimeout must be a finite number > 0, got {idle}")
    return SidecarConfig(
        listen=listen,
        max_workers=workers,
        shutdown_grace_seconds=float(grace),
        archival=archival,
        max_concurrent_rpcs=concurrent,
        max_message_bytes=message_bytes,
        tls=_tls(section, path),
        metrics_listen=_metrics(section.get("metrics"), path),
        logs=_logs(section.get("logs"), path),
        stream_idle_timeout=float(idle),
        default_layout=default_layout,
    )


def _tls(sidecar: Mapping[str, Any], path: str) -> TLSConfig | None:
    if "tls" not in sidecar:
        return None
    if sidecar["tls"] is None:  # "tls:" with no value must not silently mean plaintext
        raise ConfigError(f"{path}: sidecar.tls is empty: set certFile and keyFile, or remove it for plaintext")
    section = _mapping(sidecar["tls"], "sidecar.tls", path)
    _known(section, "sidecar.tls", ("certFile", "keyFile", "clientCaFile"), path)
    files: dict[str, str | None] = {}
    for key in ("certFile", "keyFile", "clientCaFile"):
        name = _typed(section, "sidecar.tls", key, str, None, path)
        if name is not None and not os.path.isfile(name):
            raise ConfigError(f"{path}: sidecar.tls.{key}: no such file: {name}")
        files[key] = name
    cert_file, key_file = files["certFile"], files["keyFile"]
    if cert_file is None or key_file is None:
        missing = "certFile" if cert_file is None else "keyFile"
        raise ConfigError(f"{path}: sidecar.tls.{missing} is required when sidecar.tls is set")
    tls = TLSConfig(cert_file=cert_file, key_file=key_file, client_ca_file=files["clientCaFile"])
    problem = tls_problem(tls)
    if problem is not None:
        raise ConfigError(f"{path}: {problem}")
    return tls


def tls_problem(tls: TLSConfig) -> str | None:
    """What is wrong with the PEM files of ``tls`` (naming the ``sidecar.tls`` key), or ``None``.

    Loads them as the server will: ``certFile`` must hold a PEM certificate chain, ``keyFile`` the
    unencrypted private key of its first certificate, ``clientCaFile`` (if set) PEM CA certificates.
    Unreadable files are reported too. Never includes file contents.
    """
    try:
        ssl.create_default_context(cafile=tls.cert_file)
    except (ssl.SSLError, OSError) as exc:
        return f"sidecar.tls.certFile: {tls.cert_file} is not a readable PEM certificate chain ({_reason(exc)})"
    if tls.client_ca_file is not None:
        try:
            ssl.create_default_context(cafile=tls.client_ca_file)
        except (ssl.SSLError, OSError) as exc:
            return f"sidecar.tls.clientCaFile: {tls.client_ca_file} is not a readable PEM CA bundle ({_reason(exc)})"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            return f"sidecar.tls.keyFile: {tls.key_file} is not the private key of certificate {tls.cert_file}"
        return f"sidecar.tls.keyFile: {tls.key_file} is not a readable unencrypted PEM private key ({_reason(exc)})"
    except OSError as exc:
        return f"sidecar.tls.keyFile: cannot read {tls.key_file} ({_reason(exc)})"
    return None


def _no_password() -> bytes:
    raise ssl.SSLError("the key is encrypted; the sidecar needs an unencrypted key")


def _reason(exc: OSError) -> str:
    return str(getattr(exc, "reason", None) or exc.strerror or exc)


def _metrics(value: Any, path: str) -> str | None:
    if value is None:
        return None
    section = _mapping(value, "sidecar.metrics", path)
    _known(section, "sidecar.metrics", ("listen",), path)
    listen: str | None = _typed(section, "sidecar.metrics", "listen", str, None, path)
    if listen is not None:
        _check_address(listen, "sidecar.metrics.listen", path)
    return listen


def _logs(value: Any, path: str) -> LogConfig:
    if value is None:
        return LogConfig()
    section = _mapping(value, "sidecar.logs", path)
    _known(section, "sidecar.logs", ("format", "level"), path)
    fmt = _typed(section, "sidecar.logs", "format", str, "text", path).lower()
    level = _typed(section, "sidecar.logs", "level", str, "info", path).lower()
    if fmt not in LOG_FORMATS:
        raise ConfigError(f"{path}: sidecar.logs.format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    if level not in LOG_LEVELS:
        raise ConfigError(f"{path}: sidecar.logs.level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return LogConfig(format=fmt, level=level)


def _mapping(value: Any, name: str, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: {name} must be a mapping")
    return value


def _known(section: Mapping[str, Any], name: str, known: tuple[str, ...], path: str) -> None:
    unknown = sorted(set(map(str, section)) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown key {name}.{unknown[0]} (known: {', '.join(known)})")


def _check_address(address: str, name: str, path: str) -> None:
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{path}: {name} must be host:port, got {address!r}")


def _typed(
    section: Mapping[str, Any], name: str, key: str, types: type | tuple[type, ...], default: Any, path: str
) -> Any:
    value = section.get(key)
    if value is None:
        return default
    if not isinstance(value, types) or isinstance(value, bool):
        raise ConfigError(f"{path}: {name}.{key} has the wrong type: {value!r}")
    return value
