"""History archiver for ``file://`` URIs in Temporal's filestore layout.

One JSON array of ``History`` batches per run and close failover version, written atomically.
While an archive is in progress its batches are appended, one per line, to a hidden partial
file ``.<name>.partial`` that also serves as the run's lock (``flock``) and as its durable
progress: a retried archive resumes after the last complete line.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import IO, Any, TypeVar

from temporalio.api.history.v1 import History

from archivers.batches import PROTOJSON, EncodedBatches
from archivers.codec.protojson import decode_histories, encode_message
from archivers.errors import (
    ArchiveNotFoundError,
    ArchiverError,
    CorruptArchiveError,
    InvalidPageTokenError,
    TransientError,
)
from archivers.groupcommit import fsync_dir
from archivers.history_checks import Checked, CheckedBatches, CheckedEncoded
from archivers.interfaces import (
    ArchiveHistoryRequest,
    DeleteRunRequest,
    DeleteRunResponse,
    EncodedHistoryPage,
    GetHistoryRequest,
    GetHistoryResponse,
    HistoryArchiver,
)
from archivers.layouts import filestore as layout
from archivers.localfiles import (
    Durability,
    FileModes,
    atomic_write,
    ensure_dir,
    list_dir,
    os_errors,
    remove_files,
    remove_stale_temps,
    translate_os_error,
    validate_dir_uri,
)
from archivers.progress import ArchiveProgress, ProgressRecorder
from archivers.uri import URI

T = TypeVar("T")
PARTIAL_SUFFIX = ".partial"
SYNC_EVERY_BYTES = 2 * 1024 * 1024
"""Durability step of an archive in progress, like Temporal's ~2 MiB history blobs."""


class FilestoreHistoryArchiver(HistoryArchiver):
    """``HistoryArchiver`` over a local (or mounted) directory; see the module docstring."""

    def __init__(
        self, modes: FileModes | None = None, lock_timeout: float = 300.0, durability: Durability = Durability.DURABLE
    ) -> None:
        self._modes = modes or FileModes()
        self._lock_timeout = lock_timeout
        self._durable = durability is Durability.DURABLE
        self._durability = durability

    def check_uri(self, uri: URI) -> None:
        """See :func:`validate_dir_uri`."""
        validate_dir_uri(uri)

    # -- archive ---------------------------------------------------------------------------

    def _archive(
        self, uri: URI, request: ArchiveHistoryRequest, batches: Iterable[History], progress: ProgressRecorder | None
    ) -> None:
        def encoded(resume_after: int) -> tuple[Checked, Iterable[bytes]]:
            checked = CheckedBatches(request, batches, resume_after)
            return checked, (encode_message(batch) for batch in checked)

        self._store(uri, request, encoded, progress)

    def _archive_encoded(
        self, uri: URI, request: ArchiveHistoryRequest, batches: EncodedBatches, progress: ProgressRecorder | None
    ) -> None:
        if batches.encoding != PROTOJSON:
            super()._archive_encoded(uri, request, batches, progress)
            return

        def as_received(resume_after: int) -> tuple[Checked, Iterable[bytes]]:
            checked = CheckedEncoded(request, batches, resume_after)
            return checked, (data for _, data in checked)

        self._store(uri, request, as_received, progress)

    def _store(
        self,
        uri: URI,
        request: ArchiveHistoryRequest,
        lines: Callable[[int], tuple[Checked, Iterable[bytes]]],
        progress: ProgressRecorder | None,
    ) -> None:
        """Archive the protojson batches ``lines(resume_after)`` gives (with their checker) into the history file."""
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
            checked, encoded = lines(resume.last_event_id)
            try:
                _append(partial, checked, encoded, progress, self._durable)
            except BaseException as exc:
                # Input no retry can fix, or a stream that ended before storing anything: leave no
                # trace. A retryable failure after progress keeps the partial file to resume from.
                if (isinstance(exc, ArchiverError) and not exc.retryable) or partial.tell() == 0:
                    os.unlink(partial_path)
                raise
            if checked.empty and resume.last_event_id == 0:
                os.unlink(partial_path)  # the history is already gone: nothing to archive
                return
            if self._durable:
                _sync(partial)
            remove_stale_temps(directory, name)
            partial.seek(0)
            atomic_write(final, layout.json_array(partial), self._modes.file_mode, durability=self._durability)
            os.unlink(partial_path)
            if self._durable:
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

    # -- delete ----------------------------------------------------------------------------

    def _delete(self, uri: URI, request: DeleteRunRequest) -> DeleteRunResponse:
        """Every version's file, and the partial file of an archive left unfinished."""
        directory = uri.path
        prefix = layout.history_prefix(request.namespace_id, request.workflow_id, request.run_id)
        paths = [
            os.path.join(directory, name)
            for name in sorted(list_dir(directory))
            if layout.history_version(name.removeprefix(".").removesuffix(PARTIAL_SUFFIX), prefix) is not None
        ]
        if not request.dry_run:
            remove_files(paths, directory, durable=self._durable)
        return DeleteRunResponse(paths)

    # -- get -------------------------------------------------------------------------------

    def _stored_encoding(self, uri: URI) -> str:
        return PROTOJSON  # a history file is a JSON array of protojson batches

    def _get_encoded(self, uri: URI, request: GetHistoryRequest, accepted: Collection[str]) -> EncodedHistoryPage:
        """Protojson batches are cut from the file, events not decoded, if accepted."""
        if PROTOJSON not in accepted:
            return super()._get_encoded(uri, request, accepted)
        batches, token = self._page(uri, request, layout.as_protojson)
        return EncodedHistoryPage(batches, PROTOJSON, token)

    def _get(self, uri: URI, request: GetHistoryRequest) -> GetHistoryResponse:
        batches, token = self._page(uri, request, layout.as_history)
        return GetHistoryResponse(batches, token)

    def _page(
        self, uri: URI, request: GetHistoryRequest, convert: Callable[[dict[str, Any], str], T]
    ) -> tuple[list[T], bytes]:
        """One page of the history file, each batch as ``convert`` makes it (see :func:`layout.read_page`)."""
        directory = uri.path
        if not os.path.isdir(directory):
            raise ArchiveNotFoundError(_not_found(request))
        prefix = layout.history_prefix(request.namespace_id, request.workflow_id, request.run_id)
        if request.next_page_token:
            cursor = layout.parse_history_token(request.next_page_token, prefix)
        elif request.close_failover_version is not None:
            cursor = layout.HistoryCursor(request.close_failover_version)
        else:
            cursor = layout.HistoryCursor(_highest_version(directory, request))
        path = os.path.join(
            directory,
            layout.history_filename(request.namespace_id, request.workflow_id, request.run_id, cursor.version),
        )
        try:
            with _open_history(path, request) as handle:
                batches, next_cursor = layout.read_page(handle, path, cursor, request.effective_page_size, convert)
        except ArchiveNotFoundError:
            if request.next_page_token:
                raise InvalidPageTokenError(
                    f"invalid next page token: no archive at close failover version {cursor.version}"
                ) from None
            raise
        token = b"" if next_cursor is None else layout.history_token(prefix, next_cursor)
        return batches, token


def _final_name(request: ArchiveHistoryRequest) -> str:
    return layout.history_filename(
        request.namespace_id, request.workflow_id, request.run_id, request.close_failover_version
    )


def _not_found(request: GetHistoryRequest) -> str:
    return f"archived history not found: workflow {request.workflow_id!r} run {request.run_id!r}"


def _notify(progress: ProgressRecorder | None, value: ArchiveProgress) -> None:
    if progress is not None:
        progress.record(value)


def _append(
    partial: IO[bytes], checked: Checked, encoded: Iterable[bytes], progress: ProgressRecorder | None, durable: bool
) -> None:
    """Append the ``encoded`` batches ``checked`` lets through as lines, syncing and reporting progress.

    Syncs (if ``durable``) and reports progress every ``SYNC_EVERY_BYTES``.
    """
    unsynced = 0
    for data in encoded:
        line = data + b"\n"
        partial.write(line)
        unsynced += len(line)
        if unsynced >= SYNC_EVERY_BYTES:
            if durable:
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
