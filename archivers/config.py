"""Backend settings from a YAML file shaped like Temporal server's ``archival`` section.

.. code-block:: yaml

    archival:
      history:
        provider:
          filestore: {fileMode: "0666", dirMode: "0766", durability: durable}  # scheme file
          s3store: {region: us-east-1, endpoint: http://127.0.0.1:9000, s3ForcePathStyle: true}  # s3
          gstorage: {credentialsPath: /etc/gcs.json}          # scheme gs
          customStores:                                       # any scheme, free-form
            azblob: {accountURL: https://acct.blob.core.windows.net}
      visibility:
        provider: {...same keys...}

The ``archival`` section may be the top level of the file or nested anywhere inside a bigger file
(a sidecar or server config); it must occur once. Other keys of Temporal's section (``state``,
``enableRead``) are allowed and ignored. A Temporal server config also holds
``namespaceDefaults.archival`` (the state and URI new namespaces get, no provider settings): every
section below a ``namespaceDefaults`` key is skipped, so the server's file is read as it is.
For a scheme, ``customStores.<scheme>`` wins over the built-in provider key, as the server asks a
custom archiver factory first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from archivers.errors import InvalidArgumentError
from archivers.nesting import nesting_limit
from archivers.textfile import read_text

PROVIDER_KEYS: Mapping[str, str] = MappingProxyType({"file": "filestore", "s3": "s3store", "gs": "gstorage"})
"""Scheme -> the key of its built-in provider block in Temporal's config."""

_KEY_TYPES: Mapping[str, Mapping[str, tuple[type, ...]]] = MappingProxyType(
    {
        "filestore": {"fileMode": (str, int), "dirMode": (str, int), "durability": (str,)},
        "s3store": {"region": (str,), "endpoint": (str,), "s3ForcePathStyle": (bool,)},
        "gstorage": {"credentialsPath": (str,)},
    }
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})

NAMESPACE_DEFAULTS = "namespaceDefaults"
"""The server config's section of namespace defaults, whose ``archival`` holds no provider settings."""


class ConfigError(InvalidArgumentError):
    """The config file cannot be read or is not a valid archival config; the message names the file."""


@dataclass(frozen=True)
class ArchivalConfig:
    """Per-scheme settings for history and visibility archivers, read by :func:`load_config`.

    ``history`` and ``visibility`` map a lower-case scheme to its settings; ``source`` names the
    file they came from (empty for a config built in code).
    """

    history: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    visibility: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = ""

    def history_settings(self, scheme: str) -> Mapping[str, Any]:
        """Settings for the history archiver of ``scheme`` (an empty mapping if none are configured)."""
        return self.history.get(scheme.lower(), _EMPTY)

    def visibility_settings(self, scheme: str) -> Mapping[str, Any]:
        """Settings for the visibility archiver of ``scheme`` (an empty mapping if none are configured)."""
        return self.visibility.get(scheme.lower(), _EMPTY)


def load_config(path: str) -> ArchivalConfig:
    """Read the archival settings of the YAML file at ``path``.

    Raises :class:`ConfigError` (an :class:`InvalidArgumentError` whose one-line message names
    ``path`` and the problem) if the file cannot be read, is not YAML, has no ``archival``
    section or more than one, or a provider block or known key has the wrong type.
    """
    text = read_text(path, "config file", ConfigError)
    with nesting_limit(ConfigError, path):
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            raise ConfigError(f"{path}: invalid YAML{where}: {' '.join(str(problem).split())}") from exc
        return config_from_document(document, source=path)


def config_from_document(document: Any, *, source: str = "<config>") -> ArchivalConfig:
    """Build an :class:`ArchivalConfig` from an already parsed YAML/JSON document (see :func:`load_config`)."""
    found = _find_archival(document, ())
    if not found:
        raise ConfigError(f"{source}: no 'archival' section found")
    if len(found) > 1:
        places = ", ".join(".".join(p) for p, _ in found)
        raise ConfigError(f"{source}: more than one 'archival' section ({places})")
    place, archival = found[0]
    where = ".".join(place)
    if archival is None:
        return ArchivalConfig(source=source)
    if not isinstance(archival, Mapping):
        raise ConfigError(f"{source}: {where} must be a mapping")
    return ArchivalConfig(
        history=_providers(archival, "history", where, source),
        visibility=_providers(archival, "visibility", where, source),
        source=source,
    )


def _find_archival(node: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    if not isinstance(node, Mapping):
        return []
    found: list[tuple[tuple[str, ...], Any]] = []
    for key, value in node.items():
        if key == NAMESPACE_DEFAULTS:
            continue  # the server's per-namespace defaults (state, URI): no provider settings
        if key == "archival":
            found.append(((*path, "archival"), value))
        else:
            found.extend(_find_archival(value, (*path, str(key))))
    return found


def _providers(archival: Mapping[str, Any], kind: str, where: str, source: str) -> dict[str, Mapping[str, Any]]:
    section = archival.get(kind)
    if section is None:
        return {}
    here = f"{where}.{kind}"
    if not isinstance(section, Mapping):
        raise ConfigError(f"{source}: {here} must be a mapping")
    provider = section.get("provider")
    if provider is None:
        return {}
    here += ".provider"
    if not isinstance(provider, Mapping):
        raise ConfigError(f"{source}: {here} must be a mapping")
    settings: dict[str, Mapping[str, Any]] = {}
    for scheme, key in PROVIDER_KEYS.items():
        block = _block(provider.get(key), f"{here}.{key}", source)
        if block is not None:
            _check_types(block, key, f"{here}.{key}", source)
            settings[scheme] = block
    custom = provider.get("customStores")
    if custom is not None:
        if not isinstance(custom, Mapping):
            raise ConfigError(f"{source}: {here}.customStores must be a mapping of scheme to settings")
        for scheme, value in custom.items():
            block = _block(value, f"{here}.customStores.{scheme}", source)
            settings[str(scheme).lower()] = block if block is not None else _EMPTY
    return settings


def _block(value: Any, where: str, source: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: {where} must be a mapping, got {type(value).__name__}")
    return MappingProxyType({str(k): v for k, v in value.items()})


def _check_types(block: Mapping[str, Any], key: str, where: str, source: str) -> None:
    for name, types in _KEY_TYPES.get(key, {}).items():
        value = block.get(name)
        if value is None:
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            wanted = " or ".join("a boolean" if t is bool else "an integer" if t is int else "a string" for t in types)
            raise ConfigError(f"{source}: {where}.{name} must be {wanted}, got {value!r}")
