"""The names and types of search attributes for ``archiver query``: flags, the cluster, Temporal's own.

``--search-attribute-type NAME=TYPE`` types an attribute, ``--search-attribute-alias FIELD=NAME``
names a stored field (SQL visibility's ``Keyword07``) by the name users registered, ``--address``
reads both from a running cluster (:mod:`archivers.cli.cluster_names`); an aliased SQL column is
typed by its name (:mod:`archivers.codec.known_search_attributes`). :func:`resolve_names` combines them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import click
from temporalio.api.enums.v1 import IndexedValueType

from archivers.cli.cluster_names import ClusterNames
from archivers.codec.known_search_attributes import sql_column_type


def _normalize_type(name: str) -> str:
    key = "".join(c for c in name.lower() if c.isalnum())
    return key.removeprefix("indexedvaluetype")


SEARCH_ATTRIBUTE_TYPES: Mapping[str, int] = {
    _normalize_type(name): int(number)
    for name, number in IndexedValueType.items()
    if number != IndexedValueType.INDEXED_VALUE_TYPE_UNSPECIFIED
}
"""Normalized type name (``keyword``, ``keywordlist``, ...) -> ``IndexedValueType`` value."""


def parse_search_attribute_types(values: Sequence[str]) -> dict[str, int]:
    """Turn ``NAME=TYPE`` strings into a name -> ``IndexedValueType`` map.

    TYPE is spelled as Temporal's CLI and SDKs do (Keyword, Text, Int, Double, Bool, Datetime,
    KeywordList), case-insensitively; ``INDEXED_VALUE_TYPE_KEYWORD`` and ``keyword_list`` also work.
    Raises :class:`click.BadParameter` for a malformed pair, an unknown type, or one name given
    two different types.
    """
    types: dict[str, int] = {}
    for value in values:
        name, sep, type_name = value.partition("=")
        name, type_name = name.strip(), type_name.strip()
        if not sep or not name or not type_name:
            raise click.BadParameter(f"expected NAME=TYPE (e.g. CustomerId=Keyword), got {value!r}")
        number = SEARCH_ATTRIBUTE_TYPES.get(_normalize_type(type_name))
        if number is None:
            raise click.BadParameter(
                f"unknown search attribute type {type_name!r} for {name!r}; "
                "use one of Keyword, Text, Int, Double, Bool, Datetime, KeywordList"
            )
        if types.get(name, number) != number:
            raise click.BadParameter(f"search attribute {name!r} is given two different types")
        types[name] = number
    return types


def parse_search_attribute_aliases(values: Sequence[str]) -> dict[str, str]:
    """Turn ``FIELD=NAME`` strings (``Keyword07=CustomerId``) into a stored field -> registered name map.

    Raises :class:`click.BadParameter` for a malformed pair or one field given two names.
    """
    aliases: dict[str, str] = {}
    for value in values:
        stored, sep, name = (part.strip() for part in value.partition("="))
        if not sep or not stored or not name:
            raise click.BadParameter(f"expected FIELD=NAME (e.g. Keyword07=CustomerId), got {value!r}")
        if aliases.get(stored, name) != name:
            raise click.BadParameter(f"search attribute field {stored!r} is given two names")
        aliases[stored] = name
    return aliases


@dataclass(frozen=True)
class SearchAttributeNames:
    """What a query needs: ``types`` (stored or registered name -> type) and ``aliases`` (stored -> registered)."""

    types: dict[str, int]
    aliases: dict[str, str]


def resolve_names(
    types: Mapping[str, int], aliases: Mapping[str, str], cluster: ClusterNames | None = None
) -> SearchAttributeNames:
    """Combine the ``cluster``'s names and the flags (flags win over the cluster).

    An aliased field is typed by its registered name's type, else by its SQL column name. Temporal's
    predefined attributes need nothing here: every query types them (:mod:`archivers.visibility_query`).
    """
    all_types = {**(cluster.types if cluster else {}), **types}
    all_aliases = {**(cluster.aliases if cluster else {}), **aliases}
    for stored, name in all_aliases.items():
        value_type = all_types.get(name) or sql_column_type(stored)
        if value_type is not None:
            all_types.setdefault(stored, value_type)
            all_types.setdefault(name, value_type)
    return SearchAttributeNames(all_types, all_aliases)
