"""History archiver for ``file://`` URIs in Temporal's filestore layout.

One JSON array of ``History`` batches per run and close failover version, written atomically.
While an archive is in progress its batches are appended, one per line, to a hidden partial
file ``.<name>.partial`` that also serves as the run's lock (``flock``) and as its durable
progress: a retried archive resumes after the last complete line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from temporalio.api.history.v1 import History

from archivers.codec.protojson import decode_histories, dict_to_message, encode_message
from archivers.errors import (
    ArchiveNotFoundError,
    CorruptArchiveError,
    HistoryMutatedError,
    InvalidHistoryError,
    InvalidPageTokenError,
    InvalidURIError,
    TransientError,
)
from archivers.history_checks import CheckedBatches
from archivers.interfaces import (
    ArchiveHistoryRequest,
    GetHistoryRequest,
    GetHistoryResponse,
    HistoryArchiver,
)
from archivers.layouts import filestore as layout
from archivers.progress import ArchiveProgress, ProgressRecorder
from archivers.store.local_files import (
    atomic_write,
    ensure_dir,
    fsync_dir,
    os_errors,
    remove_stale_temps,
    translate_os_error,
)
from archivers.uri import URI

PARTIAL_SUFFIX = ".partial"
SYNC_EVERY_BYTES = 2 * 1024 * 1024
"""Durability step of an archive in progress, like Temporal's ~2 MiB history blobs."""


@dataclass(frozen=True)
class FileModes:
    """Permissions of created files and directories (Temporal's ``fileMode``/``dirMode``)."""

    file_mode: int = 0o666
    dir_mode: int = 0o766


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
    if os.path.exists(uri.path) and not os.path.isdir(uri.path):
        raise InvalidURIError(f"file URI {uri} names a file, not a directory")


class FilestoreHistoryArchiver(HistoryArchiver):
    """``HistoryArchiver`` over a local (or mounted) directory; see the module docstring."""

    def __init__(self, modes: FileModes | None = None, lock_timeout: float = 300.0) -> None:
        self._modes = modes or FileModes()
        self._lock_timeout = lock_timeout

    def check_uri(self, uri: URI) -> None:
        """See :func:`validate_dir_uri`."""
        validate_dir_uri(uri)

    # -- archive ---------------------------------------------------------------------------

    def _archive(
        self,
        uri: URI,
        request: ArchiveHistoryRequest,
        batches: Iterable[History],
        progress: ProgressRecorder | None,
    ) -> None:
        directory = uri.path
        name = _final_name(request)
        final = os.path.join(directory, name)
        if os.path.exists(final):
            _notify(progress, ArchiveProgress(request.next_event_id - 1, complete=True))
            return
        ensure_dir(directory, self._modes.dir_mode)
        partial_path = os.path.join(directory, f".{name}{PARTIAL_SUFFIX}")
        with os_errors(final), self._locked(partial_path) as partial:
            if os.path.exists(final):  # a concurrent duplicate finished while we waited
                os.unlink(partial_path)
                _notify(progress, ArchiveProgress(request.next_event_id - 1, complete=True))
                return
            resume = _recover(partial, partial_path)
            checked = CheckedBatches(request, batches, resume.last_event_id)
            try:
                _append(partial, checked, progress)
            except (HistoryMutatedError, InvalidHistoryError):
                os.unlink(partial_path)  # input no retry can fix: leave no trace of it
                raise
            if checked.empty and resume.last_event_id == 0:
                os.unlink(partial_path)  # the history is already gone: nothing to archive
                return
            _sync(partial)
            remove_stale_temps(directory, name)
            partial.seek(0)
            atomic_write(final, _as_json_array(partial), self._modes.file_mode)
            os.unlink(partial_path)
            fsync_dir(directory)
        _notify(progress, ArchiveProgress(request.next_event_id - 1, complete=True))

    @contextlib.contextmanager
    def _locked(self, path: str) -> Iterator[IO[bytes]]:
        """Open and exclusively lock the partial file at ``path`` (re-opening if it was replaced)."""
        deadline = time.monotonic() + self._lock_timeout
        while True:
            handle = open(path, "a+b")  # noqa: SIM115 - closed below or by the caller's with
            try:
                while True:
                    try:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise TransientError(
                                f"another archive of this run holds {path} for over {self._lock_timeout:.0f}s"
                            ) from None
                        time.sleep(0.02)
                if _same_file(handle, path):
                    os.fchmod(handle.fileno(), self._modes.file_mode)
                    break
            except BaseException:
                handle.close()
                raise
            handle.close()  # finished and removed by another archive meanwhile: lock the new one
        try:
            yield handle
        finally:
            handle.close()

    # -- progress --------------------------------------------------------------------------

    def _progress(self, uri: URI, request: ArchiveHistoryRequest) -> ArchiveProgress:
        name = _final_name(request)
        if os.path.exists(os.path.join(uri.path, name)):
            return ArchiveProgress(request.next_event_id - 1, complete=True)
        partial_path = os.path.join(uri.path, f".{name}{PARTIAL_SUFFIX}")
        try:
            with open(partial_path, "rb") as partial:
                return ArchiveProgress(_scan_partial(partial, partial_path)[0])
        except FileNotFoundError:
            return ArchiveProgress()

    # -- get -------------------------------------------------------------------------------

    def _get(self, uri: URI, request: GetHistoryRequest) -> GetHistoryResponse:
        directory = uri.path
        if not os.path.isdir(directory):
            raise ArchiveNotFoundError(_not_found(request))
        if request.next_page_token:
            version, next_index = _parse_get_token(request.next_page_token)
        elif request.close_failover_version is not None:
            version, next_index = request.close_failover_version, 0
        else:
            version, next_index = _highest_version(directory, request), 0
        path = os.path.join(
            directory,
            layout.history_filename(request.namespace_id, request.workflow_id, request.run_id, version),
        )
        try:
            with _open_history(path, request) as handle:
                spans = _BATCH_INDEX.spans(handle, path)
                if next_index >= len(spans) and not (next_index == 0 and not spans):
                    raise InvalidPageTokenError(
                        f"invalid next page token: batch {next_index} is past the end of the history"
                    )
                batches: list[History] = []
                events = 0
                page_size = request.effective_page_size
                for start, end, count in spans[next_index:]:
                    batches.append(_decode_batch(os.pread(handle.fileno(), end - start, start), path))
                    events += count
                    if events >= page_size:
                        break
        except ArchiveNotFoundError:
            if request.next_page_token:
                raise InvalidPageTokenError(
                    f"invalid next page token: no archive at close failover version {version}"
                ) from None
            raise
        next_index += len(batches)
        token = b""
        if next_index < len(spans):
            token = json.dumps({"CloseFailoverVersion": version, "NextBatchIdx": next_index}).encode()
        return GetHistoryResponse(batches, token)


def _final_name(request: ArchiveHistoryRequest) -> str:
    return layout.history_filename(
        request.namespace_id, request.workflow_id, request.run_id, request.close_failover_version
    )


def _not_found(request: GetHistoryRequest) -> str:
    return f"archived history not found: workflow {request.workflow_id!r} run {request.run_id!r}"


def _notify(progress: ProgressRecorder | None, value: ArchiveProgress) -> None:
    if progress is not None:
        progress.record(value)


def _append(partial: IO[bytes], checked: CheckedBatches, progress: ProgressRecorder | None) -> None:
    """Append checked batches as lines, syncing and reporting progress every ``SYNC_EVERY_BYTES``."""
    unsynced = 0
    for batch in checked:
        line = encode_message(batch) + b"\n"
        partial.write(line)
        unsynced += len(line)
        if unsynced >= SYNC_EVERY_BYTES:
            _sync(partial)
            unsynced = 0
            _notify(progress, ArchiveProgress(checked.last_event_id))


def _sync(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _same_file(handle: IO[bytes], path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def _recover(partial: IO[bytes], path: str) -> ArchiveProgress:
    """Resume point of a locked partial file; cuts a torn last line, restarts a corrupt file."""
    try:
        last_event_id, good_size = _scan_partial(partial, path)
    except CorruptArchiveError:
        last_event_id, good_size = 0, 0
    partial.truncate(good_size)
    partial.seek(0, os.SEEK_END)
    return ArchiveProgress(last_event_id)


def _scan_partial(partial: IO[bytes], path: str) -> tuple[int, int]:
    """``(last event id, size of the complete lines)`` of a partial file."""
    partial.seek(0)
    last_event_id = 0
    size = 0
    for line in partial:
        if not line.endswith(b"\n"):
            break  # torn write of the last line
        (batch,) = decode_histories(b"[" + line + b"]", source=path)
        if batch.events:
            last_event_id = batch.events[-1].event_id
        size += len(line)
    return last_event_id, size


def _as_json_array(partial: IO[bytes]) -> Iterator[bytes]:
    yield b"["
    first = True
    for line in partial:
        if not first:
            yield b","
        yield line.rstrip(b"\n")
        first = False
    yield b"]"


def _highest_version(directory: str, request: GetHistoryRequest) -> int:
    prefix = layout.history_prefix(request.namespace_id, request.workflow_id, request.run_id)
    versions = []
    with os_errors(directory), os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(prefix):
                version = layout.history_version(entry.name, prefix)
                if version is not None:
                    versions.append(version)
    if not versions:
        raise ArchiveNotFoundError(_not_found(request))
    return max(versions)


def _parse_get_token(token: bytes) -> tuple[int, int]:
    """Temporal's filestore token ``{"CloseFailoverVersion":n,"NextBatchIdx":n}``, strictly checked."""
    try:
        parsed = json.loads(token)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPageTokenError("invalid next page token: not valid JSON") from exc
    if not isinstance(parsed, dict) or not set(parsed) <= {"CloseFailoverVersion", "NextBatchIdx"}:
        raise InvalidPageTokenError("invalid next page token: not a filestore history token")
    version = parsed.get("CloseFailoverVersion", 0)
    index = parsed.get("NextBatchIdx", 0)
    if type(version) is not int or type(index) is not int or index < 0:
        raise InvalidPageTokenError("invalid next page token: bad field values")
    return version, index


def _decode_batch(raw: bytes, path: str) -> History:
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise CorruptArchiveError(f"{path}: not valid JSON: {exc}") from exc
    return dict_to_message(parsed, History, source=path, ignore_unknown_fields=True)


Spans = list[tuple[int, int, int]]
"""(start, end, event count) of each batch of a history file, in bytes."""


@contextlib.contextmanager
def _open_history(path: str, request: GetHistoryRequest) -> Iterator[IO[bytes]]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise ArchiveNotFoundError(_not_found(request)) from None
    except OSError as exc:
        raise translate_os_error(exc, path) from exc
    with handle:
        yield handle


class _BatchIndexCache:
    """Byte spans of the batches of recently read history files, so a page reads and decodes only its batches.

    History files never change in place (they are replaced atomically), so an entry is keyed by
    the open file's identity and stays valid while that file exists. Only spans are kept, never
    file contents.
    """

    def __init__(self, capacity: int = 16) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, int, int, int], Spans] = {}

    def spans(self, handle: IO[bytes], path: str) -> Spans:
        stat = os.fstat(handle.fileno())
        key = (path, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None:
            return cached
        try:
            spans = _scan_array(handle.read(), path)
        except OSError as exc:
            raise translate_os_error(exc, path) from exc
        with self._lock:
            if len(self._entries) >= self._capacity:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = spans
        return spans


_BATCH_INDEX = _BatchIndexCache()


def _scan_array(data: bytes, path: str) -> list[tuple[int, int, int]]:
    """Spans of the elements of a JSON array of ``History`` objects (validating the JSON)."""
    # Latin-1 maps each byte to one character, so string offsets are byte offsets; UTF-8 is
    # checked when a batch is decoded.
    text = data.decode("latin-1")
    decoder = json.JSONDecoder()
    spans: list[tuple[int, int, int]] = []
    pos = _skip_ws(text, 0)
    if not text.startswith("[", pos):
        raise CorruptArchiveError(f"{path}: expected a JSON array of event batches")
    pos = _skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        return _checked_end(text, pos + 1, path, spans)
    while True:
        try:
            value: Any
            value, end = decoder.raw_decode(text, pos)
        except ValueError as exc:
            raise CorruptArchiveError(f"{path}: not a valid history file: {exc}") from exc
        if not isinstance(value, dict) or not isinstance(value.get("events", []), list):
            raise CorruptArchiveError(f"{path}: batch {len(spans)} is not a History object")
        spans.append((pos, end, len(value.get("events", []))))
        pos = _skip_ws(text, end)
        if text.startswith(",", pos):
            pos = _skip_ws(text, pos + 1)
            continue
        if text.startswith("]", pos):
            return _checked_end(text, pos + 1, path, spans)
        raise CorruptArchiveError(f"{path}: truncated or malformed history file at byte {pos}")


def _checked_end(text: str, pos: int, path: str, spans: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    if text[pos:].strip():
        raise CorruptArchiveError(f"{path}: unexpected data after the history array")
    return spans


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
