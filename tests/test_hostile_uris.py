"""Hostile archival URIs: credentials never leak, unrepresentable local paths are refused at validation.

Every URI below carries :data:`SECRET` (in the userinfo, in a password holding ``/``, in a query
parameter) and is malformed in some way (bad percent-escape, port, IPv6 host, missing path, host
on a local URI, a protocol whose package is missing). Through the CLI (``validate-uri``, ``get``,
``query``, with and without ``--debug``) and through the sidecar (the ``ValidateURI`` status message,
its ``grpc-status-details-bin`` detail and the sidecar's log lines) the secret never appears. A
``file://`` or ``fsspec+file://`` URI holding ``%00`` or invalid UTF-8 escapes is refused by
validation with exit 2 / ``INVALID_ARGUMENT``, and nothing is created.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import grpc
import pytest

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.cli import main
from archivers.cli.exit_codes import INVALID_INPUT
from archivers.cli.history_json import render_history_json
from archivers.errors import InvalidURIError, StoreConfigurationError
from archivers.redact import redact, redact_uri
from archivers.remote import connect
from archivers.testing.synthetic import synthetic_history
from archivers.wire.status import STATUS_DETAILS_KEY, status_for
from sidecar.config import LogConfig
from sidecar.logs import make_handler

SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY"

MALFORMED = [
    f"s3://AKIAEXAMPLE:{SECRET}@bucket/p%zz",
    f"s3://AKIAEXAMPLE:{SECRET}@bucket:notaport/p",
    f"s3://AKIAEXAMPLE:{SECRET}@[::1/p",
    f"s3://AKIAEXAMPLE:ab/{SECRET}@bucket/p%zz",
    f"s3://{SECRET}@bucket/p%zz",
    f"gs://AKIAEXAMPLE:{SECRET}@bucket",
    f"fsspec+file://user:{SECRET}@somehost/tmp/archive",
    f"file://user:{SECRET}@somehost/tmp/archive",
    f"azblob://container/p?sv=2024-01-01&sig={SECRET}%zz",
    f"s3://bucket/p?X-Amz-Signature={SECRET}&x=%zz",
    f"nosuchscheme://user:{SECRET}@host/p",
    f"s3:AKIAEXAMPLE:{SECRET}@bucket/p",
]
"""URIs that are invalid input (exit 2, ``INVALID_ARGUMENT``) and carry the secret."""

MISSING_PACKAGE = f"fsspec+sftp://user:{SECRET}@127.0.0.1:1/archive"
"""Valid in form, but the sftp protocol's package (paramiko) is not installed."""

NAMESPACE_ID = "hostile-ns"


@pytest.mark.parametrize("uri", [*MALFORMED, MISSING_PACKAGE])
def test_redact_removes_the_secret_from_any_text(uri: str) -> None:
    for text in (uri, f"invalid URI {uri!r}: reason", f"invalid URI {uri}: reason", f"(uri={uri}, x)"):
        redacted = redact(text)
        assert SECRET not in redacted
        assert redact(redacted) == redacted
    assert SECRET not in redact_uri(uri)


def test_redact_keeps_what_is_not_secret() -> None:
    assert redact("failed for 's3://k:s@bucket:9000/a/b?x=1#f' and file:///tmp/a@b") == (
        "failed for 's3://bucket:9000/a/b' and file:///tmp/a@b"
    )
    assert redact(f"AccountName=dev;AccountKey={SECRET};BlobEndpoint=http://h") == (
        "AccountName=dev;AccountKey=***;BlobEndpoint=http://h"
    )


def test_every_error_is_redacted_at_construction() -> None:
    uri = MALFORMED[0]
    for error in (InvalidURIError(f"bad {uri!r}"), StoreConfigurationError(f"cannot open {uri}")):
        assert SECRET not in str(error)
        assert SECRET not in status_for(error).details
    assert SECRET not in status_for(ValueError(f"unexpected {uri}")).details


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("uri", MALFORMED)
def test_cli_never_prints_the_secret(capsys: pytest.CaptureFixture[str], uri: str) -> None:
    commands = (
        ["validate-uri", uri],
        ["--debug", "validate-uri", uri],
        ["get", "--uri", uri, "--namespace-id", NAMESPACE_ID, "--wid", "w", "--rid", "r"],
        ["query", "--uri", uri, "--namespace-id", NAMESPACE_ID],
    )
    for args in commands:
        code, output = _cli(capsys, *args)
        assert code == INVALID_INPUT, (args, output)
        assert SECRET not in output
        assert "error: " in output


def test_cli_missing_package_error_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _cli(capsys, "validate-uri", MISSING_PACKAGE)
    assert code == 1, output
    assert "paramiko" in output
    assert SECRET not in output


def _validate_remotely(address: str, uri: str) -> grpc.RpcError:
    with connect(address) as channel:
        stub = service_pb2_grpc.ArchiverServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ValidateURI(pb.ValidateURIRequest(uri=uri, kind=pb.ARCHIVER_KIND_HISTORY), timeout=30)
    return caught.value


@pytest.mark.parametrize("uri", [*MALFORMED, MISSING_PACKAGE])
def test_sidecar_status_and_logs_never_carry_the_secret(sidecar: str, uri: str) -> None:
    stream = io.StringIO()
    handler = make_handler(LogConfig(level="debug", format="json"), stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        error = _validate_remotely(sidecar, uri)
    finally:
        root.removeHandler(handler)
    expected = grpc.StatusCode.FAILED_PRECONDITION if uri == MISSING_PACKAGE else grpc.StatusCode.INVALID_ARGUMENT
    assert error.code() == expected, error.details()
    assert SECRET not in error.details()
    details = [value for key, value in error.trailing_metadata() or () if key == STATUS_DETAILS_KEY]
    assert details and all(SECRET.encode() not in value for value in details)
    assert SECRET not in stream.getvalue()


UNREPRESENTABLE = ["%00", "a%00b", "%ff", "%ED%A0%80"]
"""Path parts no local file name can hold: NUL, bytes that are not UTF-8, an encoded surrogate."""


@pytest.mark.parametrize("scheme", ["file", "fsspec+file"])
@pytest.mark.parametrize("part", UNREPRESENTABLE)
def test_unrepresentable_local_paths_are_refused_at_validation(
    capsys: pytest.CaptureFixture[str], sidecar: str, tmp_path: Path, scheme: str, part: str
) -> None:
    uri = f"{scheme}://{tmp_path}/archive-{part}/x"
    code, output = _cli(capsys, "validate-uri", uri)
    assert code == INVALID_INPUT, output
    assert "NUL" in output if "%00" in part else "UTF-8" in output
    error = _validate_remotely(sidecar, uri)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    history = tmp_path / "history.json"
    events = [event for batch in synthetic_history(3) for event in batch.events]
    history.write_text(render_history_json(events), encoding="utf-8")
    put = ["put", "--uri", uri, "--namespace-id", NAMESPACE_ID, "--namespace", "n", "--wid", "w", "--rid", "r"]
    code, output = _cli(capsys, *put, "--history", str(history))
    assert code == INVALID_INPUT, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json"]
