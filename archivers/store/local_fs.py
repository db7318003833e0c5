"""Local files through the part of fsspec's file-system API that :class:`FsspecStore` calls, with ``os`` alone.

The ``file://`` backend keeps a native root's histories in an :class:`FsspecStore` over this file
system: same keys, atomic writes, conditional creates and listings as ``fsspec+file://``, without
importing fsspec (whose import costs more than a whole first page of a history). It promises what
fsspec's ``LocalFileSystem`` promises for these calls: paths are absolute ``/``-separated strings;
errors are the ``OSError`` subclasses ``os`` raises (``FileNotFoundError``...), which
:func:`archivers.store.fsspec_store.translate_error` translates.
"""

from __future__ import annotations

import os
from typing import Any


class LocalFileSystem:
    """The calls :class:`archivers.store.fsspec_store.FsspecStore` makes, on the local file system."""

    protocol = "file"

    @staticmethod
    def _strip_protocol(path: str) -> str:
        """An absolute path without a trailing ``/`` (and without a ``file://`` prefix)."""
        path = path.removeprefix("file://")
        return os.path.abspath(path).rstrip("/") or "/"

    def isdir(self, path: str) -> bool:
        """Whether ``path`` is a directory."""
        return os.path.isdir(path)

    def exists(self, path: str) -> bool:
        """Whether anything is at ``path``."""
        return os.path.lexists(path)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Create ``path`` and its parents."""
        os.makedirs(path, exist_ok=exist_ok)

    def pipe_file(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` (created or truncated)."""
        with open(path, "wb") as handle:
            handle.write(data)

    def rm_file(self, path: str) -> None:
        """Remove the file ``path``."""
        os.unlink(path)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        """The bytes of ``path`` from ``start`` (default 0) to ``end`` (exclusive; default the end)."""
        with open(path, "rb") as handle:
            if start is None and end is None:
                return handle.read()
            begin = start or 0
            handle.seek(begin)
            return handle.read() if end is None else handle.read(max(0, end - begin))

    def info(self, path: str) -> dict[str, Any]:
        """``name``, ``size`` and ``type`` (``file``, ``directory`` or ``other``) of ``path``."""
        found = os.stat(path)
        kind = "directory" if os.path.isdir(path) else "file" if os.path.isfile(path) else "other"
        return {"name": path, "size": found.st_size, "type": kind}

    def find(self, path: str, withdirs: bool = False, detail: bool = True) -> dict[str, Any]:
        """Every file below ``path`` (or ``path`` itself, a file) -> its :meth:`info`; ``{}`` if nothing is there."""
        if os.path.isfile(path):
            return {path: self.info(path)}
        found: dict[str, Any] = {}
        for directory, _, names in os.walk(path):
            for name in names:
                full = f"{directory}/{name}"
                try:
                    found[full] = {"name": full, "size": os.stat(full).st_size, "type": "file"}
                except FileNotFoundError:  # removed while walking
                    continue
        return found
