"""The ``file://`` backend: local files (:mod:`archivers.localfs`) in Temporal's filestore layout.

Settings (Temporal's ``filestore`` provider keys): ``fileMode`` and ``dirMode`` as octal strings
such as ``"0666"`` and ``"0766"``; and this project's ``durability``, ``durable`` (the default) or
``upstream`` (no fsync, as Temporal's filestore; see :class:`archivers.localfiles.Durability`).
"""

from __future__ import annotations

from typing import Any

from archivers.errors import InvalidArgumentError
from archivers.interfaces import Backend, BackendConfig
from archivers.localfiles import Durability, FileModes
from archivers.localfs.history_archiver import FilestoreHistoryArchiver
from archivers.localfs.visibility_archiver import FilestoreVisibilityArchiver


def modes_from_config(config: BackendConfig) -> FileModes:
    """Read ``fileMode``/``dirMode`` (octal strings or ints) from a filestore provider block."""
    defaults = FileModes()
    return FileModes(
        file_mode=_mode(config.get("fileMode"), defaults.file_mode, "fileMode"),
        dir_mode=_mode(config.get("dirMode"), defaults.dir_mode, "dirMode"),
    )


def durability_from_config(config: BackendConfig) -> Durability:
    """Read ``durability`` (``durable``, the default, or ``upstream``) from a filestore provider block."""
    value = config.get("durability")
    if value is None or value == "":
        return Durability.DURABLE
    try:
        return Durability(value)
    except ValueError:
        choices = ", ".join(repr(d.value) for d in Durability)
        raise InvalidArgumentError(f"filestore durability must be one of {choices}, got {value!r}") from None


def _mode(value: Any, default: int, key: str) -> int:
    if value is None or value == "":
        return default
    try:
        mode = value if isinstance(value, int) else int(str(value), 8)
    except ValueError:
        raise InvalidArgumentError(f"filestore {key} must be an octal string like '0666', got {value!r}") from None
    if not 0 <= mode <= 0o7777:
        raise InvalidArgumentError(f"filestore {key} {value!r} is out of range")
    return mode


BACKEND = Backend(
    scheme="file",
    history=lambda config: FilestoreHistoryArchiver(
        modes_from_config(config), durability=durability_from_config(config)
    ),
    visibility=lambda config: FilestoreVisibilityArchiver(
        modes_from_config(config), durability=durability_from_config(config)
    ),
)
