"""Visibility archiver for ``file://`` URIs in Temporal's filestore layout.

Each record is one protojson file ``<dir>/<namespaceID>/<closeTime nanos>_<h(runID)>.visibility``,
written atomically. A query lists the namespace directory once, narrows the candidates by the
close time and run id encoded in the file names, and reads only the files that can be on the page
(see :mod:`archivers.visibility_query`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.backends.filestore_history import FileModes, validate_dir_uri
from archivers.codec.naming import fingerprint
from archivers.codec.protojson import decode_message, encode_message
from archivers.interfaces import (
    QueryVisibilityRequest,
    QueryVisibilityResponse,
    SearchAttributeTypes,
    VisibilityArchiver,
)
from archivers.layouts import filestore as layout
from archivers.query import CompiledQuery
from archivers.store.local_files import atomic_write, ensure_dir, translate_os_error
from archivers.uri import URI
from archivers.visibility_query import Candidate, run_query


class FilestoreVisibilityArchiver(VisibilityArchiver):
    """``VisibilityArchiver`` over a local (or mounted) directory; see the module docstring."""

    def __init__(self, modes: FileModes | None = None) -> None:
        self._modes = modes or FileModes()

    def check_uri(self, uri: URI) -> None:
        """See :func:`archivers.backends.filestore_history.validate_dir_uri`."""
        validate_dir_uri(uri)

    def _archive(self, uri: URI, record: VisibilityRecord) -> None:
        directory = os.path.join(uri.path, layout.namespace_dirname(record.namespace_id))
        ensure_dir(directory, self._modes.dir_mode)
        name = layout.visibility_filename(record.close_time.ToNanoseconds(), record.run_id)
        # The temp file stays out of the namespace directory: Temporal's own filestore query fails
        # on any file name there that is not a visibility record's.
        atomic_write(os.path.join(directory, name), encode_message(record), self._modes.file_mode, temp_dir=uri.path)

    def _query(
        self, uri: URI, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
    ) -> QueryVisibilityResponse:
        directory = os.path.join(uri.path, layout.namespace_dirname(request.namespace_id))
        return run_query(request, search_attribute_types, functools.partial(_candidates, directory))


def _candidates(directory: str, compiled: CompiledQuery) -> Iterator[Candidate]:
    """The records whose file names fit the query's close time and run id constraints."""
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
        parsed = layout.parse_visibility_filename(name)
        if parsed is None:
            continue
        close_nanos, run_hash = parsed
        if run_hashes is not None and run_hash not in run_hashes:
            continue
        if constraints.close_time.contains(close_nanos):
            yield Candidate(close_nanos, close_nanos, functools.partial(_read, os.path.join(directory, name)))


def _read(path: str) -> VisibilityRecord | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None  # removed since the listing
    except OSError as exc:
        raise translate_os_error(exc, path) from exc
    return decode_message(data, VisibilityRecord, source=path)
