"""Reading numeric store settings (timeouts, attempts) from a provider block, checked once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

from archivers.errors import InvalidArgumentError


@overload
def positive_setting(
    settings: Mapping[str, Any], name: str, default: float, *, store: str, integer: bool = False
) -> float: ...
@overload
def positive_setting(
    settings: Mapping[str, Any], name: str, default: None, *, store: str, integer: bool = False
) -> float | None: ...
def positive_setting(
    settings: Mapping[str, Any], name: str, default: float | None, *, store: str, integer: bool = False
) -> float | None:
    """Setting ``name`` as a positive number (a whole one if ``integer``), or ``default`` if it is unset.

    Numbers written as strings (``"30"``) are accepted, booleans are not. Raises
    :class:`InvalidArgumentError` naming the store and the setting otherwise.
    """
    value = settings.get(name)
    if value is None:
        return default
    kind = "a positive integer" if integer else "a positive number"
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{store} setting {name!r} must be {kind}, not {value!r}") from None
    if not number > 0 or (integer and not number.is_integer()):
        raise InvalidArgumentError(f"{store} setting {name!r} must be {kind}, not {value!r}")
    return number
