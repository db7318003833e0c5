"""The sidecar over TLS and mutual TLS, with a CA and certificates generated per test module.

With TLS a plaintext client is refused; with mutual TLS a client without a certificate, or with
one from another CA, is refused, and a client with a certificate from the configured CA works.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.config import ConfigError
from archivers.errors import InvalidArgumentError
from archivers.remote import connect
from sidecar import SERVICE_NAME
from sidecar.config import TLSConfig, load_sidecar_config
from sidecar.server import SidecarServer

SERVER_NAME = "sidecar.test"
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Issued:
    """PEM files of one key pair and its certificate."""

    cert: Path
    key: Path


class CA:
    """A throwaway certificate authority writing PEM files into ``directory``."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.file = directory / f"{name}-ca.pem"
        self.file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, *, server: bool) -> Issued:
        """A leaf certificate for ``common_name`` (server: SANs for it, localhost and 127.0.0.1)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server:
            names: list[x509.GeneralName] = [
                x509.DNSName(common_name),
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            usage = ExtendedKeyUsageOID.SERVER_AUTH
        else:
            usage = ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        stem = f"{self.name}-{common_name}"
        issued = Issued(cert=self.directory / f"{stem}.pem", key=self.directory / f"{stem}-key.pem")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return issued


@dataclass(frozen=True)
class PKI:
    """The trusted CA, its server and client certificates, and a foreign CA's client certificate."""

    ca: CA
    server: Issued
    client: Issued
    foreign_client: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    directory = tmp_path_factory.mktemp("pki")
    ca = CA(directory, "trusted")
    other = CA(directory, "foreign")
    return PKI(
        ca=ca,
        server=ca.issue(SERVER_NAME, server=True),
        client=ca.issue("shim", server=False),
        foreign_client=other.issue("intruder", server=False),
    )


def _start(tls: TLSConfig) -> SidecarServer:
    server = SidecarServer(listen="127.0.0.1:0", grace=0, tls=tls)
    server.start()
    return server


@pytest.fixture(scope="module")
def tls_server(pki: PKI) -> Iterator[SidecarServer]:
    server = _start(TLSConfig(cert_file=str(pki.server.cert), key_file=str(pki.server.key)))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls_server(pki: PKI) -> Iterator[SidecarServer]:
    tls = TLSConfig(cert_file=str(pki.server.cert), key_file=str(pki.server.key), client_ca_file=str(pki.ca.file))
    server = _start(tls)
    yield server
    server.stop()


def _health(channel: grpc.Channel) -> int:
    with channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5
        )
        return int(response.status)


def _refused(channel: grpc.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        _health(channel)
    code = caught.value.code()
    assert isinstance(code, grpc.StatusCode)
    return code


def test_tls_health_and_calls_with_the_ca(tls_server: SidecarServer, pki: PKI) -> None:
    assert _health(connect(tls_server.address, ca_file=str(pki.ca.file))) == health_pb2.HealthCheckResponse.SERVING
    with connect(tls_server.address, ca_file=str(pki.ca.file)) as channel:
        stub = service_pb2_grpc.ArchiverServiceStub(channel)
        request = pb.ValidateURIRequest(uri="file:///tmp/archive", kind=pb.ARCHIVER_KIND_HISTORY)
        stub.ValidateURI(request, timeout=5)


def test_tls_server_name_override(tls_server: SidecarServer, pki: PKI) -> None:
    channel = connect(tls_server.address, ca_file=str(pki.ca.file), server_name=SERVER_NAME)
    assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
    wrong = connect(tls_server.address, ca_file=str(pki.ca.file), server_name="someone-else.test")
    assert _refused(wrong) == grpc.StatusCode.UNAVAILABLE


def test_tls_refuses_plaintext(tls_server: SidecarServer) -> None:
    assert _refused(connect(tls_server.address)) == grpc.StatusCode.UNAVAILABLE


def test_tls_client_must_trust_the_server(tls_server: SidecarServer, pki: PKI, tmp_path: Path) -> None:
    stranger = CA(tmp_path, "stranger")
    assert _refused(connect(tls_server.address, ca_file=str(stranger.file))) == grpc.StatusCode.UNAVAILABLE


def test_mtls_right_client_certificate_works(mtls_server: SidecarServer, pki: PKI) -> None:
    channel = connect(
        mtls_server.address, ca_file=str(pki.ca.file), cert_file=str(pki.client.cert), key_file=str(pki.client.key)
    )
    assert _health(channel) == health_pb2.HealthCheckResponse.SERVING


def test_mtls_refuses_a_client_without_certificate(mtls_server: SidecarServer, pki: PKI) -> None:
    assert _refused(connect(mtls_server.address, ca_file=str(pki.ca.file))) == grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_a_certificate_from_another_ca(mtls_server: SidecarServer, pki: PKI) -> None:
    channel = connect(
        mtls_server.address,
        ca_file=str(pki.ca.file),
        cert_file=str(pki.foreign_client.cert),
        key_file=str(pki.foreign_client.key),
    )
    assert _refused(channel) == grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_plaintext(mtls_server: SidecarServer) -> None:
    assert _refused(connect(mtls_server.address)) == grpc.StatusCode.UNAVAILABLE


def test_connect_checks_its_options(pki: PKI) -> None:
    with pytest.raises(InvalidArgumentError, match="both cert_file and key_file"):
        connect("127.0.0.1:1", cert_file=str(pki.client.cert))
    with pytest.raises(InvalidArgumentError, match="cannot read TLS file"):
        connect("127.0.0.1:1", ca_file=str(pki.ca.file) + ".missing")
    with pytest.raises(InvalidArgumentError, match="tls=False"):
        connect("127.0.0.1:1", tls=False, ca_file=str(pki.ca.file))


def test_config_tls_section(tmp_path: Path, pki: PKI) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "sidecar:\n"
        "  listen: 127.0.0.1:0\n"
        "  tls:\n"
        f"    certFile: {pki.server.cert}\n"
        f"    keyFile: {pki.server.key}\n"
        f"    clientCaFile: {pki.ca.file}\n"
        "archival: {}\n"
    )
    loaded = load_sidecar_config(str(config))
    assert loaded.tls == TLSConfig(str(pki.server.cert), str(pki.server.key), str(pki.ca.file))
    assert loaded.tls.mutual
    server = SidecarServer.from_config(loaded)
    server.start()
    try:
        assert _refused(connect(server.address, ca_file=str(pki.ca.file))) == grpc.StatusCode.UNAVAILABLE
        channel = connect(
            server.address, ca_file=str(pki.ca.file), cert_file=str(pki.client.cert), key_file=str(pki.client.key)
        )
        assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ("  tls:\n    certFile: {cert}\n", "sidecar.tls.keyFile is required"),
        ("  tls:\n    certFile: {cert}\n    keyFile: /nonexistent/key.pem\n", "sidecar.tls.keyFile: no such file"),
        ("  tls:\n    certFile: {cert}\n    keyFile: {key}\n    clientCA: x\n", "unknown key sidecar.tls.clientCA"),
        ("  tls: yes\n", "sidecar.tls must be a mapping"),
    ],
)
def test_config_tls_errors_name_file_and_key(tmp_path: Path, pki: PKI, tls: str, message: str) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text("sidecar:\n" + tls.format(cert=pki.server.cert, key=pki.server.key) + "archival: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_sidecar_config(str(config))
    assert str(config) in str(caught.value)
    assert message in str(caught.value)


BAD_TLS = {
    "no value": ("  tls:\n", "sidecar.tls is empty"),
    "key of another certificate": (
        "  tls: {{certFile: '{cert}', keyFile: '{client_key}'}}\n",
        "sidecar.tls.keyFile: {client_key} is not the private key of certificate {cert}",
    ),
    "garbage certificate": (
        "  tls: {{certFile: '{garbage}', keyFile: '{key}'}}\n",
        "sidecar.tls.certFile: {garbage} is not a readable PEM certificate chain",
    ),
    "key file holding a certificate": (
        "  tls: {{certFile: '{cert}', keyFile: '{cert}'}}\n",
        "sidecar.tls.keyFile: {cert} is not a readable unencrypted PEM private key",
    ),
    "client CA that is not PEM": (
        "  tls: {{certFile: '{cert}', keyFile: '{key}', clientCaFile: '{garbage}'}}\n",
        "sidecar.tls.clientCaFile: {garbage} is not a readable PEM CA bundle",
    ),
    "unreadable key": (
        "  tls: {{certFile: '{cert}', keyFile: '{directory}'}}\n",
        "sidecar.tls.keyFile:",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TLS))
def test_serve_refuses_a_bad_tls_setting_before_listening(tmp_path: Path, pki: PKI, case: str) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    names = {
        "cert": pki.server.cert,
        "key": pki.server.key,
        "client_key": pki.client.key,
        "garbage": garbage,
        "directory": tmp_path,
    }
    section, message = BAD_TLS[case]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "sidecar.yaml"
    config.write_text(f"sidecar:\n  listen: 127.0.0.1:{port}\n" + section.format(**names) + "archival: {}\n")
    result = subprocess.run(
        [sys.executable, "-m", "archivers.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stderr
    assert message.format(**names) in result.stderr
    assert "cannot listen" not in result.stderr and "listening on" not in result.stderr
    assert "PRIVATE KEY" not in result.stderr


def test_server_refuses_a_mismatched_key_before_binding(pki: PKI) -> None:
    server = SidecarServer(listen="127.0.0.1:0", grace=0, tls=TLSConfig(str(pki.server.cert), str(pki.client.key)))
    with pytest.raises(InvalidArgumentError, match=r"sidecar\.tls\.keyFile: .* is not the private key of certificate"):
        server.start()
