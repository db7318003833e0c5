"""Temporal's filestore layout (``file://``), byte for byte: its file names, file format and listing.

History: ``<h(namespaceID)><h(workflowID)><h(runID)>_<closeFailoverVersion>.history``.
Visibility: ``<namespaceID>/<closeTime unix nanos>_<h(runID)>.visibility``.
``h`` is FarmHash Fingerprint64 in decimal.

A history file is a JSON array of ``History`` batches (protojson); its page token is
``{"CloseFailoverVersion":n,"NextBatchIdx":n}``. A visibility file is one record's protojson.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.naming import fingerprint
from archivers.codec.protojson import decode_message, dict_to_message
from archivers.errors import CorruptArchiveError, InvalidArgumentError, InvalidPageTokenError
from archivers.localfiles import translate_os_error
from archivers.nesting import nesting_limit
from archivers.query import CompiledQuery
from archivers.timefmt import INT64_MAX, INT64_MIN
from archivers.visibility_query import Candidate

HISTORY_SUFFIX = ".history"
VISIBILITY_SUFFIX = ".visibility"
_HISTORY_NAME = re.compile(r"^(\d+)_(-?\d+)\.history$")
_VISIBILITY_NAME = re.compile(r"^(-?\d+)_(\d+)\.visibility$")


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


def parse_history_token(token: bytes) -> tuple[int, int]:
    """Temporal's filestore token ``{"CloseFailoverVersion":n,"NextBatchIdx":n}``, strictly checked."""
    try:
        with nesting_limit(InvalidPageTokenError, "invalid next page token"):
            parsed = json.loads(token)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPageTokenError("invalid next page token: not valid JSON") from exc
    if not isinstance(parsed, dict) or not set(parsed) <= {"CloseFailoverVersion", "NextBatchIdx"}:
        raise InvalidPageTokenError("invalid next page token: not a filestore history token")
    version = parsed.get("CloseFailoverVersion", 0)
    index = parsed.get("NextBatchIdx", 0)
    if type(version) is not int or type(index) is not int or not (INT64_MIN <= version <= INT64_MAX
                                                                    and 0 <= index <= INT64_MAX):
        raise InvalidPageTokenError("invalid next page token: bad field values")
    return version, index


def history_token(version: int, next_index: int) -> bytes:
    """Temporal's filestore page token: the version and the index of the next batch to serve."""
    return json.dumps({"CloseFailoverVersion": version, "NextBatchIdx": next_index}).encode()


def decode_batch(raw: bytes, path: str) -> History:
    """One batch of a history file (its bytes at one span)."""
    try:
        with nesting_limit(CorruptArchiveError, path):
            parsed = json.loads(raw)
    except ValueError as exc:
        raise CorruptArchiveError(f"{path}: not valid JSON: {exc}") from exc
    return dict_to_message(parsed, History, source=path, ignore_unknown_fields=True)


Spans = list[tuple[int, int, int]]
"""(start, end, event count) of each batch of a history file, in bytes."""


def batch_spans(data: bytes, path: str) -> Spans:
    """Spans of the elements of a JSON array of ``History`` objects (validating the JSON)."""
    # Latin-1 maps each byte to one character, so string offsets are byte offsets; UTF-8 is
    # checked when a batch is decoded.
    text = data.decode("latin-1")
    decoder = json.JSONDecoder()
    spans: Spans = []
    pos = _skip_ws(text, 0)
    if not text.startswith("[", pos):
        raise CorruptArchiveError(f"{path}: expected a JSON array of event batches")
    pos = _skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        return _checked_end(text, pos + 1, path, spans)
    while True:
        try:
            value: Any
            with nesting_limit(CorruptArchiveError, path):
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


def _checked_end(text: str, pos: int, path: str, spans: Spans) -> Spans:
    if text[pos:].strip():
        raise CorruptArchiveError(f"{path}: unexpected data after the history array")
    return spans


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def list_visibility(directory: str, compiled: CompiledQuery) -> Iterator[Candidate]:
    """The records of a namespace directory whose file names fit the query's close time and run id constraints."""
    constraints = compiled.constraints
    if constraints.is_empty:
        return
    run_hashes = None if constraints.run_ids is None else {fingerprint(r) for r in constraints.run_ids}
    try:
        with os.scandir(directory) as entries:
            names = [entry.name for entry in entries]
    except FileNotFoundError:
        return
    except OSError as exc:
        raise translate_os_error(exc, directory) from exc
    for name in names:
        parsed = parse_visibility_filename(name)
        if parsed is None:
            continue
        close_nanos, run_hash = parsed
        if run_hashes is not None and run_hash not in run_hashes:
            continue
        if constraints.close_time.contains(close_nanos):
            yield Candidate(close_nanos, close_nanos, functools.partial(_read_record, os.path.join(directory, name)))


def _read_record(path: str) -> VisibilityRecord | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None  # removed since the listing
    except OSError as exc:
        raise translate_os_error(exc, path) from exc
    return decode_message(data, VisibilityRecord, source=path)
