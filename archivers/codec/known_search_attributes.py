"""The search attributes whose types Temporal itself fixes: its predefined ones and SQL visibility's columns.

:data:`PREDEFINED_TYPES` is ``predefined`` of the Temporal server this project builds against
(v1.32.2, ``common/searchattribute/sadefs/constants.go``): the attributes Temporal sets itself and
stores *with* the custom ones (so archived records carry them), such as ``BuildIds``,
``TemporalChangeVersion``, ``TemporalScheduledById`` and ``TemporalPauseInfo``. The server's
``system`` attributes are columns of their own and are the query language's built-in fields (or are
not archived at all, see :data:`archivers.query.fields.NOT_ARCHIVED`); ``TemporalNamespaceDivision``
is left out for that reason.

:func:`sql_column_type` types SQL visibility's column names (``Keyword07``, ``Int03``, ...), which a
cluster with SQL visibility stores custom search attributes under, different per namespace; the
namespace's aliases (``customSearchAttributeAliases``) give the names users registered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from archivers.codec.search_attributes import (
    BOOL,
    DATETIME,
    DOUBLE,
    INT,
    KEYWORD,
    KEYWORD_LIST,
    TEXT,
    type_from_name,
)

PREDEFINED_TYPES: Mapping[str, int] = MappingProxyType(
    {
        "TemporalChangeVersion": KEYWORD_LIST,
        "BinaryChecksums": KEYWORD_LIST,
        "BuildIds": KEYWORD_LIST,
        "BatcherNamespace": KEYWORD,
        "BatcherUser": KEYWORD,
        "TemporalScheduledStartTime": DATETIME,
        "TemporalScheduledById": KEYWORD,
        "TemporalSchedulePaused": BOOL,
        "TemporalPauseInfo": KEYWORD_LIST,
        "TemporalReportedProblems": KEYWORD_LIST,
        "TemporalWorkerDeploymentVersion": KEYWORD,
        "TemporalWorkflowVersioningBehavior": KEYWORD,
        "TemporalWorkerDeployment": KEYWORD,
        "TemporalUsedWorkerDeploymentVersions": KEYWORD_LIST,
        "TemporalExternalPayloadCount": INT,
        "TemporalExternalPayloadSizeBytes": INT,
    }
)
"""Temporal's predefined search attributes (server v1.32.2) -> ``IndexedValueType``."""

_SQL_COLUMN = re.compile(r"(Bool|Datetime|Double|Int|Keyword|KeywordList|Text)(\d\d)\Z")
_SQL_TYPES = frozenset({BOOL, DATETIME, DOUBLE, INT, KEYWORD, KEYWORD_LIST, TEXT})


def sql_column_type(name: str) -> int | None:
    """The ``IndexedValueType`` of a SQL visibility column name (``Keyword07``: Keyword), ``None`` for other names."""
    match = _SQL_COLUMN.match(name)
    if match is None:
        return None
    value_type = type_from_name(match.group(1))
    return value_type if value_type in _SQL_TYPES else None
