"""Conversion between the stored ``VisibilityRecord`` and Temporal's ``WorkflowExecutionInfo``.

``record_to_execution_info`` is Go's ``convertToExecutionInfo`` (filestore, s3store and gcloud share
it): execution {workflowId, runId}, type {name}, startTime, executionTime, closeTime,
executionDuration, status, historyLength, memo, searchAttributes — nothing else. Search attributes go
through ``searchattribute.Parse`` with the type map (attributes missing from the map are parsed
untyped and carry no ``type`` metadata).
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.api.common.v1 import SearchAttributes
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.search_attributes import UNSPECIFIED, payload_to_stored, stored_to_payload
from archivers.errors import CorruptArchiveError

_COPIED_MESSAGES = ("start_time", "execution_time", "close_time", "execution_duration", "memo")


def search_attributes_to_payloads(stored: Mapping[str, str], type_map: Mapping[str, int]) -> SearchAttributes:
    """Stored search attribute strings to a ``SearchAttributes`` message (Go ``searchattribute.Parse``).

    Raises :class:`CorruptArchiveError` naming the attribute when a value does not parse as its type
    (the built-in archivers fail the whole query in that case too).
    """
    result = SearchAttributes()
    for name in sorted(stored):
        value_type = type_map.get(name, UNSPECIFIED)
        try:
            result.indexed_fields[name].CopyFrom(stored_to_payload(stored[name], value_type))
        except ValueError as exc:
            raise CorruptArchiveError(f"search attribute {name!r} does not parse as its type: {exc}") from exc
    return result


def record_to_execution_info(record: VisibilityRecord, type_map: Mapping[str, int] | None = None
                             ) -> WorkflowExecutionInfo:
    """Build the ``WorkflowExecutionInfo`` a visibility query returns for ``record``.

    Unset message fields of the record stay unset; ``searchAttributes`` is unset when the record has none.
    """
    info = WorkflowExecutionInfo()
    info.execution.workflow_id = record.workflow_id
    info.execution.run_id = record.run_id
    info.type.name = record.workflow_type_name
    for name in _COPIED_MESSAGES:
        if record.HasField(name):  # type: ignore[arg-type]
            getattr(info, name).CopyFrom(getattr(record, name))
    info.status = record.status
    info.history_length = record.history_length
    if record.search_attributes:
        info.search_attributes.CopyFrom(search_attributes_to_payloads(record.search_attributes, type_map or {}))
    return info


def execution_info_to_record(info: WorkflowExecutionInfo, namespace_id: str, namespace: str,
                             type_map: Mapping[str, int] | None = None) -> VisibilityRecord:
    """The reverse of :func:`record_to_execution_info` (``historyArchivalUri`` is left empty).

    Search attribute payloads are stringified like Go's ``searchattribute.Stringify``: typed by the
    type map, else by their ``type`` metadata; null values are dropped.
    """
    record = VisibilityRecord(
        namespace_id=namespace_id,
        namespace=namespace,
        workflow_id=info.execution.workflow_id,
        run_id=info.execution.run_id,
        workflow_type_name=info.type.name,
        status=info.status,
        history_length=info.history_length,
    )
    for name in _COPIED_MESSAGES:
        if info.HasField(name):  # type: ignore[arg-type]
            getattr(record, name).CopyFrom(getattr(info, name))
    types = type_map or {}
    for name, payload in info.search_attributes.indexed_fields.items():
        value_type = types.get(name, UNSPECIFIED)
        text = payload_to_stored(payload, value_type)
        if text is not None:
            record.search_attributes[name] = text
    return record
