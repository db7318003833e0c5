"""``--search-attribute-type NAME=TYPE``: typing custom search attributes for ``archiver query``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import click
from temporalio.api.enums.v1 import IndexedValueType


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
