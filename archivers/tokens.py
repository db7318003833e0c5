"""Opaque, versioned, checksummed page tokens.

A token is compact JSON ``{"v":1,"k":kind,"b":binding,"s":state,"c":check}``: ``kind`` names
the call that issued it, ``binding`` fingerprints the request it belongs to (namespace, query),
``state`` is the backend's cursor and ``check`` a keyed BLAKE2b digest over the rest. A token that
is malformed, edited, nested too deeply, or presented with another request raises
:class:`InvalidPageTokenError`.

The key is a constant, not a secret: the check catches truncated, edited and misdirected tokens,
but anyone who reads this module can build a token that passes it. Tokens are therefore
checksummed, not signed, and a token only ever moves a listing's position within results the same
request returns; callers range-check the decoded state (a cursor outside its field's range is an
:class:`InvalidPageTokenError` too), so a forged token is either refused or positions the listing
as a genuine token could; it is trusted for nothing more.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from archivers.errors import InvalidPageTokenError
from archivers.nesting import nesting_limit

VERSION = 1
_KEY = b"temporal-archivers/page-token/v1"


def _digest(text: str, size: int) -> str:
    return hashlib.blake2b(text.encode(), key=_KEY, digest_size=size).hexdigest()


def seal(text: str) -> str:
    """A short keyed digest of ``text``: lets a token whose shape an upstream format fixes carry a tamper check."""
    return _digest(text, 8)


def _body(kind: str, binding: str, state: Any) -> str:
    return json.dumps([VERSION, kind, binding, state], separators=(",", ":"), sort_keys=True)


def encode_token(kind: str, binding: str, state: Any) -> bytes:
    """Encode ``state`` (JSON-serializable) as a token bound to ``kind`` and ``binding``."""
    bound = _digest(binding, 8)
    check = _digest(_body(kind, bound, state), 12)
    return json.dumps({"v": VERSION, "k": kind, "b": bound, "s": state, "c": check}, separators=(",", ":")).encode()


def decode_token(token: bytes, kind: str, binding: str) -> Any:
    """Return the state of a token issued by :func:`encode_token` for the same kind and binding."""
    try:
        with nesting_limit(InvalidPageTokenError, "invalid next page token"):
            parsed = json.loads(token)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPageTokenError("invalid next page token: not a token issued by this archiver") from exc
    if not isinstance(parsed, dict) or set(parsed) != {"v", "k", "b", "s", "c"}:
        raise InvalidPageTokenError("invalid next page token: not a token issued by this archiver")
    if parsed["v"] != VERSION:
        raise InvalidPageTokenError(f"invalid next page token: unsupported version {parsed['v']!r}")
    if parsed["k"] != kind:
        raise InvalidPageTokenError(f"invalid next page token: issued for {parsed['k']!r}, not {kind!r}")
    if not isinstance(parsed["b"], str) or _digest(_body(kind, parsed["b"], parsed["s"]), 12) != parsed["c"]:
        raise InvalidPageTokenError("invalid next page token: it was modified")
    if parsed["b"] != _digest(binding, 8):
        raise InvalidPageTokenError("invalid next page token: it belongs to another request or query")
    return parsed["s"]
