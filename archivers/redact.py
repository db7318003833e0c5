"""The one redaction of secrets from text: every error message, log line and status detail goes through it.

:func:`redact` works on raw text, never by parsing a URI, so it also cleans URIs too malformed to
parse (a bad percent-escape, port or IPv6 host). In every ``scheme://...`` of the text it removes:

- the userinfo (``user:password@``, a lone key or token before ``@``). A password may hold ``/``
  (AWS secret keys often do), so when the first path segment has a ``:`` and an ``@`` follows,
  everything up to the last ``@`` is userinfo;
- the query and the fragment, where SAS tokens, presigned signatures and fsspec options live.

Outside URIs, the value of every well-known secret parameter (``AccountKey=``,
``SharedAccessSignature=``, ``sig=``, ``X-Amz-Signature=``, ``token=``, ``password=``, ...) becomes
``***``, as in an Azure connection string. :func:`redact_uri` is the form used as a log field and
metric label: the redacted URI alone. Removing too much is preferred to leaking: a message may lose
a harmless ``user@`` path segment, never a key.
"""

from __future__ import annotations

import re

_URI = re.compile(r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]*)://(\S*)")
_QUERY_END = re.compile(r"['\"<>]")
_OPAQUE_USERINFO = re.compile(r"(?<![A-Za-z0-9+.\-/])([A-Za-z][A-Za-z0-9+.\-]*):(?!//)[^\s/@'\"]*@")
_SECRET_PARAMETER = re.compile(
    r"(?i)(?<![A-Za-z0-9_\-])("
    r"accountkey|sharedaccesssignature|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token"
    r"|x-goog-signature|x-goog-credential|aws_secret_access_key|aws_session_token|secret|client_secret"
    r"|password|passwd|pwd|token|access_token|sas_token|api_key|apikey|key"
    r")=[^&;\s'\"<>]+"
)
MASK = "***"
"""What a secret parameter's value is replaced with."""


def redact(text: str) -> str:
    """``text`` without secrets: userinfo, query and fragment of every URI, secret ``name=value`` values.

    Never raises; idempotent (``redact(redact(t)) == redact(t)``).
    """
    text = _URI.sub(_redacted_uri, text)
    text = _OPAQUE_USERINFO.sub(r"\1:", text)
    return _SECRET_PARAMETER.sub(lambda match: f"{match.group(1)}={MASK}", text)


def redact_uri(uri: str) -> str:
    """``uri`` without userinfo, query or fragment: ``s3://k:s@host/p?x=1`` becomes ``s3://host/p``.

    Also cuts the query of a text that is not a ``scheme://`` URI (``s3:k@b?sig=x`` becomes ``s3:b``).
    """
    return redact(uri.split("?", 1)[0].split("#", 1)[0])


def _redacted_uri(match: re.Match[str]) -> str:
    rest = match.group(2)
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=-1)
    tail = ""
    if cut >= 0:
        end = _QUERY_END.search(rest, cut)
        tail = rest[end.start() :] if end else ""
        rest = rest[:cut]
    first_segment = rest.partition("/")[0]
    if "@" in first_segment:
        rest = rest[first_segment.rindex("@") + 1 :]
    elif ":" in first_segment and "@" in rest:
        rest = rest[rest.rindex("@") + 1 :]
    return f"{match.group(1)}://{rest}{tail}"
