"""FarmHash-based names used by Temporal's filestore and gcloud layouts."""

from __future__ import annotations

import farmhash


def fingerprint(value: str) -> str:
    """Google FarmHash Fingerprint64 of ``value``'s UTF-8 bytes, as an unsigned decimal string.

    This is Go's ``strconv.FormatUint(farm.Fingerprint64([]byte(value)), 10)``.
    """
    return str(farmhash.fingerprint64(value))


def gcloud_fingerprint(value: str) -> str:
    """The gcloud layout's hash: like :func:`fingerprint`, but the empty string hashes to ``""``."""
    return fingerprint(value) if value else ""
