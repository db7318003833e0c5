"""Visibility archiver for ``file://`` URIs in Temporal's filestore layout.

Each record is one protojson file ``<dir>/<namespaceID>/<closeTime nanos>_<h(runID)>.visibility``,
written atomically. A query lists the namespace directory once, narrows the candidates by the
close time and run id encoded in the file names, and reads only the files that can be on the page
(see :mod:`archivers.visibility_query`).
"""

from __future__ import annotations

import os

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.protojson import encode_message
from archivers.interfaces import (
    DeleteRunRequest,
    DeleteRunResponse,
    QueryVisibilityRequest,
    QueryVisibilityResponse,
    SearchAttributeTypes,
    VisibilityArchiver,
)
from archivers.layouts import filestore as layout
from archivers.localfiles import Durability, FileModes, atomic_write, ensure_dir, remove_files, validate_dir_uri
from archivers.query import Constraints
from archivers.uri import URI
from archivers.visibility_query import run_query


class FilestoreVisibilityArchiver(VisibilityArchiver):
    """``VisibilityArchiver`` over a local (or mounted) directory; see the module docstring."""

    def __init__(self, modes: FileModes | None = None, durability: Durability = Durability.DURABLE) -> None:
        self._modes = modes or FileModes()
        self._durability = durability

    def check_uri(self, uri: URI) -> None:
        """See :func:`archivers.localfiles.validate_dir_uri`."""
        validate_dir_uri(uri)

    def _archive(self, uri: URI, record: VisibilityRecord) -> None:
        directory = os.path.join(uri.path, layout.namespace_dirname(record.namespace_id))
        ensure_dir(directory, self._modes.dir_mode)
        name = layout.visibility_filename(record.close_time.ToNanoseconds(), record.run_id)
        # The temp file stays out of the namespace directory: Temporal's own filestore query fails
        # on any file name there that is not a visibility record's.
        atomic_write(
            os.path.join(directory, name),
            encode_message(record),
            self._modes.file_mode,
            temp_dir=uri.path,
            durability=self._durability,
        )

    def _delete(self, uri: URI, request: DeleteRunRequest) -> DeleteRunResponse:
        """The run's record files (named by close time and run id hash; each read to confirm the run)."""
        directory = os.path.join(uri.path, layout.namespace_dirname(request.namespace_id))
        run = Constraints(run_ids=frozenset({request.run_id}))
        paths = []
        for path, _ in layout.visibility_files(directory, run):
            record = layout.read_record(path)
            if record is not None and (record.workflow_id, record.run_id) == (request.workflow_id, request.run_id):
                paths.append(path)
        if not request.dry_run:
            remove_files(paths, directory, durable=self._durability is Durability.DURABLE)
        return DeleteRunResponse(paths)

    def _query(
        self, uri: URI, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
    ) -> QueryVisibilityResponse:
        directory = os.path.join(uri.path, layout.namespace_dirname(request.namespace_id))
        return run_query(
            request, search_attribute_types, lambda compiled, window: layout.list_visibility(directory, compiled)
        )
