"""Temporal's filestore layout (``file://``), byte for byte: its file names, file format and listing.

History: ``<h(namespaceID)><h(workflowID)><h(runID)>_<closeFailoverVersion>.history``.
Visibility: ``<namespaceID>/<closeTime unix nanos>_<h(runID)>.visibility``.
``h`` is FarmHash Fingerprint64 in decimal.

A history file is a JSON array of ``History`` batches (protojson); its page token is
``{"CloseFailoverVersion":n,"NextBatchIdx":n}``. A visibility file is one record's protojson.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.batches import dumps_batch
from archivers.codec.naming import fingerprint
from archivers.codec.protojson import decode_message, dict_to_message
from archivers.errors import CorruptArchiveError, InvalidArgumentError, InvalidPageTokenError
from archivers.jsonstream import JSONStream, JSONStreamError
from archivers.localfiles import list_dir, translate_os_error
from archivers.nesting import nesting_limit
from archivers.query import CompiledQuery, Constraints
from archivers.timefmt import INT64_MAX, INT64_MIN
from archivers.tokens import seal
from archivers.visibility_query import Candidate

HISTORY_SUFFIX = ".history"
VISIBILITY_SUFFIX = ".visibility"
_HISTORY_NAME = re.compile(r"^(\d+)_(-?\d+)\.history$")
_VISIBILITY_NAME = re.compile(r"^(-?\d+)_(\d+)\.visibility$")
T = TypeVar("T")


def history_prefix(namespace_id: str, workflow_id: str, run_id: str) -> str:
    """The hash prefix shared by every version of one run's history file."""
    return fingerprint(namespace_id) + fingerprint(workflow_id) + fingerprint(run_id)


def history_filename(namespace_id: str, workflow_id: str, run_id: str, close_failover_version: int) -> str:
    """The history file name of one run at one close failover version."""
    return f"{history_prefix(namespace_id, workflow_id, run_id)}_{close_failover_version}{HISTORY_SUFFIX}"


def history_version(filename: str, prefix: str) -> int | None:
    """The close failover version in ``filename`` if it is a history file of the run with ``prefix``."""
    match = _HISTORY_NAME.match(filename)
    if not match or match.group(1) != prefix:
        return None
    return int(match.group(2))


def visibility_filename(close_time_nanos: int, run_id: str) -> str:
    """The visibility file name of one run."""
    return f"{close_time_nanos}_{fingerprint(run_id)}{VISIBILITY_SUFFIX}"


def parse_visibility_filename(filename: str) -> tuple[int, str] | None:
    """``(close time nanos, run id hash)`` of a visibility file name, or ``None`` for other files."""
    match = _VISIBILITY_NAME.match(filename)
    return (int(match.group(1)), match.group(2)) if match else None


def namespace_dirname(namespace_id: str) -> str:
    """The visibility directory name of a namespace, refusing ids that would leave the URI directory."""
    if namespace_id in (".", "..") or any(c in namespace_id for c in "/\\\0"):
        raise InvalidArgumentError(f"namespace id {namespace_id!r} cannot be used as a directory name")
    return namespace_id


def json_array(lines: Iterable[bytes]) -> Iterator[bytes]:
    """The history file's bytes from its batches' protojson, one per line: a JSON array of them."""
    yield b"["
    first = True
    for line in lines:
        if not first:
            yield b","
        yield line.rstrip(b"\n")
        first = False
    yield b"]"


@dataclass(frozen=True)
class HistoryCursor:
    """Where a history page starts: the file's version, the batch index and (if known) its byte offset."""

    version: int
    index: int = 0
    offset: int | None = None


def parse_history_token(token: bytes, prefix: str) -> HistoryCursor:
    """Temporal's filestore token ``{"CloseFailoverVersion":n,"NextBatchIdx":n}``, strictly checked.

    Tokens issued here also carry ``NextBatchOffset`` (the batch's byte offset in the file) and
    ``OffsetCheck`` (a keyed digest binding it to the run ``prefix``, the version and the index);
    Go's reader ignores both. A token without them (Temporal's own) is accepted.
    """
    try:
        with nesting_limit(InvalidPageTokenError, "invalid next page token"):
            parsed = json.loads(token)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPageTokenError("invalid next page token: not valid JSON") from exc
    if not isinstance(parsed, dict) or not set(parsed) <= {"CloseFailoverVersion", "NextBatchIdx", *_OFFSET_KEYS}:
        raise InvalidPageTokenError("invalid next page token: not a filestore history token")
    version = parsed.get("CloseFailoverVersion", 0)
    index = parsed.get("NextBatchIdx", 0)
    if type(version) is not int or type(index) is not int or not (INT64_MIN <= version <= INT64_MAX
                                                                    and 0 <= index <= INT64_MAX):
        raise InvalidPageTokenError("invalid next page token: bad field values")
    if not set(_OFFSET_KEYS) & set(parsed):
        return HistoryCursor(version, index)
    offset = parsed.get("NextBatchOffset")
    if type(offset) is not int or parsed.get("OffsetCheck") != _offset_check(prefix, version, index, offset):
        raise InvalidPageTokenError("invalid next page token: it was modified or belongs to another run")
    return HistoryCursor(version, index, offset)


def history_token(prefix: str, cursor: HistoryCursor) -> bytes:
    """The page token of ``cursor`` (see :func:`parse_history_token`) for the run with ``prefix``."""
    token: dict[str, Any] = {"CloseFailoverVersion": cursor.version, "NextBatchIdx": cursor.index}
    if cursor.offset is not None:
        token["NextBatchOffset"] = cursor.offset
        token["OffsetCheck"] = _offset_check(prefix, cursor.version, cursor.index, cursor.offset)
    return json.dumps(token).encode()


_OFFSET_KEYS = ("NextBatchOffset", "OffsetCheck")


def _offset_check(prefix: str, version: int, index: int, offset: int) -> str:
    return seal(f"filestore-history:{prefix}:{version}:{index}:{offset}")


def as_history(value: dict[str, Any], path: str) -> History:
    """A batch read from the history file at ``path`` as a ``History`` (unknown fields discarded, as in Go)."""
    return dict_to_message(value, History, source=path, ignore_unknown_fields=True)


def as_protojson(value: dict[str, Any], path: str) -> bytes:
    """A batch read from a history file as compact protojson text (its events not decoded)."""
    return dumps_batch(value)


def read_page(
    handle: IO[bytes],
    path: str,
    cursor: HistoryCursor,
    page_size: int,
    convert: Callable[[dict[str, Any], str], T],
) -> tuple[list[T], HistoryCursor | None]:
    """One page of a history file: whole batches from ``cursor`` until ``page_size`` events, and the next cursor.

    Each batch is given as ``convert`` (:func:`as_history` or :func:`as_protojson`) makes it
    from its parsed JSON object. Reads only as far as the page needs (from the cursor's offset, or
    from the start skipping ``cursor.index`` batches). Raises :class:`CorruptArchiveError` if
    what it reads is not a JSON array of ``History`` objects, and :class:`InvalidPageTokenError`
    if the cursor is past the end or its offset is not where a batch starts.
    """
    scanner = _BatchScanner(handle, path, cursor.offset)
    if cursor.offset is None:
        for _ in range(cursor.index):
            if not scanner.skip_batch():
                raise InvalidPageTokenError(
                    f"invalid next page token: batch {cursor.index} is past the end of the history"
                )
    batches: list[T] = []
    events = 0
    while events < page_size or not batches:
        value = scanner.next_batch()
        if value is None:
            if cursor.index > 0 and not batches:
                raise InvalidPageTokenError(
                    f"invalid next page token: batch {cursor.index} is past the end of the history"
                )
            return batches, None
        batches.append(convert(value, path))
        events += len(value.get("events", []))
    offset = scanner.next_offset()
    if offset is None:
        return batches, None
    return batches, HistoryCursor(cursor.version, cursor.index + len(batches), offset)


class _BatchScanner:
    """Reads the elements of a history file's top-level JSON array in order, from the start or a byte offset.

    A :class:`~archivers.jsonstream.JSONStream` over the file: it holds about one read and one batch.
    """

    def __init__(self, handle: IO[bytes], path: str, offset: int | None) -> None:
        self._path = path
        self._stream = JSONStream(handle, path, too_deep=CorruptArchiveError, offset=offset or 0)
        with self._errors():
            if offset is None:
                if self._stream.peek() != "[":
                    raise CorruptArchiveError(f"{path}: expected a JSON array of event batches")
                self._stream.open_array("")
                self._check_end()
            elif self._stream.peek() != "{" or self._stream.offset != offset:
                raise InvalidPageTokenError("invalid next page token: no batch starts at its offset")

    def next_batch(self) -> dict[str, Any] | None:
        """The next batch's parsed JSON object, or ``None`` after the last one."""
        return self._next_value()

    def skip_batch(self) -> bool:
        """Pass over the next batch without decoding its events; ``False`` after the last one."""
        return self._next_value() is not None

    def next_offset(self) -> int | None:
        """The byte offset of the next batch, or ``None`` after the last one."""
        return None if self._stream.array_ended else self._stream.offset

    def _next_value(self) -> dict[str, Any] | None:
        if self._stream.array_ended:
            return None
        start = self._stream.offset
        with self._errors():
            value = self._stream.next_element()
            self._check_end()
        if not isinstance(value, dict) or not isinstance(value.get("events", []), list):
            raise CorruptArchiveError(f"{self._path}: batch at byte {start} is not a History object")
        return value

    def _check_end(self) -> None:
        """After the closing bracket: only whitespace may follow."""
        if self._stream.array_ended:
            self._stream.end()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except JSONStreamError as exc:
            raise CorruptArchiveError(f"{self._path}: truncated or not a valid history file: {exc}") from exc
        except OSError as exc:
            raise translate_os_error(exc, self._path) from exc


def list_visibility(directory: str, compiled: CompiledQuery) -> Iterator[Candidate]:
    """The records of a namespace directory whose file names fit the query's close time and run id constraints."""
    constraints = compiled.constraints
    if constraints.is_empty:
        return
    for path, close_nanos in visibility_files(directory, constraints):
        yield Candidate(close_nanos, close_nanos, functools.partial(read_record, path))


def visibility_files(directory: str, constraints: Constraints) -> Iterator[tuple[str, int]]:
    """``(path, close time nanos)`` of the namespace directory's records whose names fit the constraints.

    The names tell the close time and the run id's hash; a record listed may still be another run's.
    """
    run_hashes = None if constraints.run_ids is None else {fingerprint(r) for r in constraints.run_ids}
    for name in list_dir(directory):
        parsed = parse_visibility_filename(name)
        if parsed is None:
            continue
        close_nanos, run_hash = parsed
        if run_hashes is not None and run_hash not in run_hashes:
            continue
        if constraints.close_time.contains(close_nanos):
            yield os.path.join(directory, name), close_nanos


def read_record(path: str) -> VisibilityRecord | None:
    """The record stored at ``path``, ``None`` if it is gone."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None  # removed since the listing
    except OSError as exc:
        raise translate_os_error(exc, path) from exc
    return decode_message(data, VisibilityRecord, source=path)
