"""Where the native visibility index keeps its objects below a root (one function per kind of key).

``<root>/native-visibility/`` is a Hive-partitioned dataset that engines read as is:

- ``namespace_id=<ns>/close_date=<YYYY-MM-DD>/part-<uuid>.parquet``: compacted files;
- ``namespace_id=<ns>/_manifest/<generation, 20 digits>.json``: the manifests (engines skip ``_`` names);
- ``_inbox/namespace_id=<ns>/close_date=<YYYY-MM-DD>/<runID>.rec``: records not yet compacted.

Ids are percent-encoded key segments (:func:`archivers.layouts.native.key_segment`), which is also
Hive's escaping of partition values. Close dates are the UTC day of the record's close time.
"""

from __future__ import annotations

from datetime import datetime, timezone

from archivers.layouts.native import key_segment

DATASET = "native-visibility"
MANIFEST_DIR = "_manifest"
INBOX_DIR = "_inbox"
INBOX_SUFFIX = ".rec"
_GENERATION_DIGITS = 20
MICROS = 1_000_000


def _join(*parts: str) -> str:
    return "/".join(parts).lstrip("/")


def namespace_dir(root: str, namespace_id: str) -> str:
    """``<root>/native-visibility/namespace_id=<ns>``: the namespace's Hive partition (no trailing slash)."""
    return _join(root, DATASET, f"namespace_id={key_segment(namespace_id)}")


def manifest_prefix(root: str, namespace_id: str) -> str:
    """The listing prefix of the namespace's manifests."""
    return f"{namespace_dir(root, namespace_id)}/{MANIFEST_DIR}/"


def manifest_key(root: str, namespace_id: str, generation: int) -> str:
    """The key of manifest ``generation`` (zero-padded, so keys list in generation order)."""
    return f"{manifest_prefix(root, namespace_id)}{generation:0{_GENERATION_DIGITS}d}.json"


def parse_generation(key: str, prefix: str) -> int | None:
    """The generation of a listed manifest key, ``None`` for any other key."""
    name = key.removeprefix(prefix)
    digits = name.removesuffix(".json")
    if name == key or digits == name or len(digits) != _GENERATION_DIGITS or not digits.isdigit():
        return None
    return int(digits)


def file_key(root: str, namespace_id: str, path: str) -> str:
    """The key of a compacted file whose manifest ``path`` is ``close_date=<d>/<name>``."""
    return f"{namespace_dir(root, namespace_id)}/{path}"


def inbox_prefix(root: str, namespace_id: str) -> str:
    """The listing prefix of the namespace's inbox; inbox names in manifests are relative to it."""
    return _join(root, DATASET, INBOX_DIR, f"namespace_id={key_segment(namespace_id)}") + "/"


def inbox_name(close_micros: int, run_id: str) -> str:
    """An inbox object's name below :func:`inbox_prefix`: ``close_date=<d>/<runID>.rec``."""
    return f"close_date={close_date(close_micros)}/{key_segment(run_id)}{INBOX_SUFFIX}"


def inbox_date(name: str) -> str | None:
    """The close date of an inbox name, ``None`` if the name is not one :func:`inbox_name` makes."""
    partition, slash, rest = name.partition("/")
    if not slash or "/" in rest or not rest.endswith(INBOX_SUFFIX) or not partition.startswith("close_date="):
        return None
    return partition.removeprefix("close_date=")


def close_date(micros: int) -> str:
    """The UTC day of a time in Unix microseconds, ``YYYY-MM-DD``."""
    seconds, _ = divmod(micros, MICROS)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d")


def day_range_nanos(date: str) -> tuple[int, int]:
    """The closed Unix-nanosecond range of a ``YYYY-MM-DD`` day (UTC)."""
    start = int(datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp())
    return start * 1_000_000_000, (start + 86_400) * 1_000_000_000 - 1
