"""Durable, atomic file operations for the ``file://`` archivers (fsync, atomic rename, errors)."""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from archivers.errors import ArchiverError, InvalidURIError, StoreConfigurationError, TransientError
from archivers.groupcommit import GROUP_COMMIT, Rename, fsync_dir
from archivers.uri import URI

TEMP_MARKER = ".tmp-"


def temp_name(final_name: str) -> str:
    """A hidden, unique temporary name in the same directory as ``final_name``."""
    return f".{final_name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}"


def ensure_dir(path: str, dir_mode: int) -> None:
    """Create ``path`` and its parents with ``dir_mode`` if missing."""
    with os_errors(path):
        os.makedirs(path, mode=dir_mode, exist_ok=True)


class Durability(str, enum.Enum):
    """When a ``file://`` write is acknowledged (the filestore setting ``durability``).

    ``durable`` (the default): after the file's data and its rename are on disk (fsync of the
    file, then of its directory, the directory fsyncs shared by concurrent writers, see
    :mod:`archivers.groupcommit`). ``upstream``: as Temporal's own filestore, without any fsync:
    the write is still atomic (temp file and rename), but a machine crash can lose or undo the
    writes of the last seconds that were already acknowledged.
    """

    DURABLE = "durable"
    UPSTREAM = "upstream"


def atomic_write(
    path: str,
    chunks: Iterator[bytes] | bytes,
    file_mode: int,
    temp_dir: str | None = None,
    durability: Durability = Durability.DURABLE,
) -> None:
    """Write ``path`` atomically: a temp file, (fsync,) rename, (fsync the directory).

    Readers see either the old content or the whole new content, never a part. The temp file is
    hidden and lives in ``temp_dir`` (default: ``path``'s directory), which must be on the same
    file system. With :attr:`Durability.DURABLE` the call returns only once the content and the
    rename are durable; concurrent calls share the directory fsyncs.
    """
    directory, name = os.path.split(path)
    tmp = os.path.join(temp_dir or directory, temp_name(name))
    durable = durability is Durability.DURABLE
    with os_errors(path):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
        try:
            with os.fdopen(fd, "wb") as handle:
                if isinstance(chunks, bytes):
                    handle.write(chunks)
                else:
                    for chunk in chunks:
                        handle.write(chunk)
                handle.flush()
                os.fchmod(handle.fileno(), file_mode)
                if durable:
                    os.fsync(handle.fileno())
            if not durable:
                os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if durable:
            GROUP_COMMIT.commit(Rename(tmp, path))


def remove_stale_temps(directory: str, final_name: str) -> None:
    """Delete temp files left for ``final_name`` by an earlier, interrupted write."""
    prefix = f".{final_name}{TEMP_MARKER}"
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            if entry.name.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


@contextlib.contextmanager
def os_errors(path: str) -> Iterator[None]:
    """Translate ``OSError`` into the project's errors, naming ``path``; the original is kept as ``__cause__``."""
    try:
        yield
    except ArchiverError:
        raise
    except OSError as exc:
        raise translate_os_error(exc, path) from exc


_TRANSIENT = {errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT, errno.EIO, errno.ENOSPC, errno.EDQUOT}


def translate_os_error(exc: OSError, path: str) -> ArchiverError:
    """The one translation of file-system errors: permission and layout problems are permanent."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreConfigurationError(f"permission denied: {path}: {reason}")
    if exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP):
        return StoreConfigurationError(f"{path}: {reason}")
    if exc.errno in _TRANSIENT:
        return TransientError(f"{path}: {reason}")
    return ArchiverError(f"{path}: {reason}")


def list_dir(directory: str) -> list[str]:
    """The names in ``directory`` (none if it does not exist); other OS errors translated, naming it."""
    try:
        with os.scandir(directory) as entries:
            return [entry.name for entry in entries]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise translate_os_error(exc, directory) from exc


def remove_files(paths: list[str], directory: str, *, durable: bool) -> None:
    """Unlink ``paths`` (all in ``directory``; one already gone is fine), then fsync the directory if ``durable``."""
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise translate_os_error(exc, path) from exc
    if durable and paths:
        with os_errors(directory):
            fsync_dir(directory)


@dataclass(frozen=True)
class FileModes:
    """Permissions of created files and directories (Temporal's ``fileMode``/``dirMode``)."""

    file_mode: int = 0o666
    dir_mode: int = 0o766


def check_os_path(uri: URI, path: str) -> None:
    """Raise :class:`InvalidURIError` unless the OS can name ``path`` (the local directory of ``uri``).

    A NUL (``%00`` in the URI) ends a path for the OS, and a string the file system encoding cannot
    encode has no bytes: either would only fail later, at the first write.
    """
    if "\0" in path:
        raise InvalidURIError(f"URI {uri} holds a NUL character (%00), which no local path can contain")
    try:
        os.fsencode(path)
    except UnicodeError:
        raise InvalidURIError(f"URI {uri} holds characters a local path cannot contain") from None


def validate_dir_uri(uri: URI) -> None:
    """Check a ``file://`` URI as Temporal's filestore does: scheme ``file`` and an absolute directory path."""
    if uri.scheme != "file":
        raise InvalidURIError(f"URI scheme {uri.scheme!r} does not match the filestore scheme 'file'")
    if uri.host:
        raise InvalidURIError(f"file URI {uri} must not name a host: use file:///absolute/path")
    if not uri.path:
        raise InvalidURIError(f"file URI {uri} has an empty directory path")
    if not uri.path.startswith("/"):
        raise InvalidURIError(f"file URI {uri} must hold an absolute directory path")
    check_os_path(uri, uri.path)
    if os.path.exists(uri.path) and not os.path.isdir(uri.path):
        raise InvalidURIError(f"file URI {uri} names a file, not a directory")
