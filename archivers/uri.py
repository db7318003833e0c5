"""Archival URIs, parsed with the rules of Go's ``url.ParseRequestURI`` (as Temporal does)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from archivers.errors import InvalidURIError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class URI:
    """An archival URI such as ``file:///var/archive`` or ``s3://bucket/prefix``.

    ``scheme`` is lower-cased; ``path`` is percent-decoded; ``query`` maps each parameter to
    its values. Use :meth:`parse` to build one; ``str(uri)`` gives the original text.
    """

    raw: str
    scheme: str
    host: str = ""
    port: str = ""
    username: str = ""
    password: str = ""
    path: str = ""
    opaque: str = ""
    query: dict[str, list[str]] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def parse(cls, text: str) -> URI:
        """Parse ``text`` like ``url.ParseRequestURI``; raise :class:`InvalidURIError` if it is not an absolute URI."""
        if not isinstance(text, str) or not text:
            raise InvalidURIError("empty archival URI")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise InvalidURIError(f"invalid control character in URI {text!r}")
        match = _SCHEME.match(text)
        if not match:
            raise InvalidURIError(f"invalid URI {text!r}: expected scheme://location, e.g. file:///var/archive")
        scheme = match.group(1).lower()
        rest = text[match.end() :]
        rest, _, raw_query = rest.partition("?")
        if not rest.startswith("/"):
            return cls(raw=text, scheme=scheme, opaque=rest, query=_parse_query(text, raw_query))
        host = port = username = password = ""
        if rest.startswith("//"):
            authority, slash, path_part = rest[2:].partition("/")
            rest = slash + path_part
            userinfo, at, hostport = authority.rpartition("@")
            if at:
                user, colon, pwd = userinfo.partition(":")
                username = _unquote(text, user)
                password = _unquote(text, pwd) if colon else ""
            host, port = _split_host_port(text, hostport)
        return cls(
            raw=text,
            scheme=scheme,
            host=host,
            port=port,
            username=username,
            password=password,
            path=_unquote(text, rest),
            query=_parse_query(text, raw_query),
        )

    def __str__(self) -> str:
        return self.raw


def as_uri(value: URI | str) -> URI:
    """Return ``value`` as a :class:`URI`, parsing it if it is a string."""
    return value if isinstance(value, URI) else URI.parse(value)


def _unquote(text: str, part: str) -> str:
    if _BAD_ESCAPE.search(part):
        raise InvalidURIError(f"invalid percent-escape in URI {text!r}")
    try:
        return urllib.parse.unquote(part, errors="strict")
    except UnicodeDecodeError:
        raise InvalidURIError(f"percent-escapes in URI {text!r} are not UTF-8") from None


def _split_host_port(text: str, hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise InvalidURIError(f"missing ']' in host of URI {text!r}")
        host, after = hostport[1:end], hostport[end + 1 :]
        if after and not after.startswith(":"):
            raise InvalidURIError(f"invalid port in URI {text!r}")
        port = after[1:]
    else:
        host, _, port = hostport.partition(":")
    if port and not port.isdigit():
        raise InvalidURIError(f"invalid port {port!r} in URI {text!r}")
    if any(c in host for c in ' <>"{}|\\^`'):
        raise InvalidURIError(f"invalid character in host of URI {text!r}")
    return _unquote(text, host), port


def _parse_query(text: str, raw_query: str) -> dict[str, list[str]]:
    if not raw_query:
        return {}
    if _BAD_ESCAPE.search(raw_query):
        raise InvalidURIError(f"invalid percent-escape in query of URI {text!r}")
    return urllib.parse.parse_qs(raw_query, keep_blank_values=True)
