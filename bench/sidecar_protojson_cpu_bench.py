"""Sidecar CPU per MB archived and read on the compat path: protojson batches vs protobuf batches, in one run.

Starts ``archiver serve`` as its own process and measures that process's CPU time (user + system,
from ``/proc/<pid>/stat``) around each phase, so only the sidecar's work is counted: the client
encodes every batch before a phase starts. For each compat root (``file://``: filestore;
``memory://`` in the sidecar: s3store) it archives ``--runs`` runs of a ``--events``-event history

- with binary protobuf batches (the baseline: what every client sent before ``BatchEncoding``; the
  sidecar encodes each batch with the Python protojson codec), and
- with protojson batches (``BATCH_ENCODING_PROTOJSON``, as the Go shim sends them; stored as is),

then reads every page of each run back (256 events a page) accepting protobuf only (baseline:
the sidecar decodes the stored JSON with the Python codec and serializes protobuf) and accepting
protojson. It prints CPU milliseconds per MB of stored protojson and the ratio to the baseline.

    python bench/sidecar_protojson_cpu_bench.py [--events 20000] [--runs 3] [--payload-bytes 200]

Needs only the project (no emulator, no Temporal server).
"""

from __future__ import annotations

import argparse
import functools
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.codec.protojson import encode_message
from archivers.interfaces import ArchiveHistoryRequest
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.wire.messages import header_to_pb

_TICKS = os.sysconf("SC_CLK_TCK")
_GROUP_BYTES = 1 << 20


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_sidecar() -> tuple[subprocess.Popen[bytes], str]:
    address = f"127.0.0.1:{_free_port()}"
    archiver = Path(sys.executable).with_name("archiver")
    process = subprocess.Popen([str(archiver), "serve", "--listen", address], stderr=subprocess.DEVNULL)
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=60)
    channel.close()
    return process, address


def _messages(uri: str, request: ArchiveHistoryRequest, payloads: list[bytes], encoding: int) -> list[Any]:
    header = header_to_pb(uri, request)
    header.batch_encoding = encoding
    messages = [pb.ArchiveHistoryRequest(header=header)]
    group: list[bytes] = []
    size = 0
    for payload in payloads:
        group.append(payload)
        size += len(payload)
        if size >= _GROUP_BYTES:
            messages.append(pb.ArchiveHistoryRequest(batches=pb.HistoryBatches(history=group)))
            group, size = [], 0
    if group:
        messages.append(pb.ArchiveHistoryRequest(batches=pb.HistoryBatches(history=group)))
    return messages


def _archive_all(stub: service_pb2_grpc.ArchiverServiceStub, streams: list[list[Any]]) -> None:
    for messages in streams:
        stub.ArchiveHistory(iter(messages), timeout=300)


def _read_all(stub: service_pb2_grpc.ArchiverServiceStub, uri: str, requests: list[ArchiveHistoryRequest],
              accepted: list[Any]) -> None:
    for request in requests:
        _read_one(stub, uri, request, accepted)


def _read_one(stub: service_pb2_grpc.ArchiverServiceStub, uri: str, request: ArchiveHistoryRequest,
              accepted: list[Any]) -> int:
    token, events = b"", 0
    while True:
        page = stub.GetHistory(pb.GetHistoryRequest(
            uri=uri, namespace_id=request.namespace_id, workflow_id=request.workflow_id, run_id=request.run_id,
            page_size=256, next_page_token=token, accepted_encodings=accepted,
        ), timeout=120)
        events += len(page.history_batches)
        token = page.next_page_token
        if not token:
            return events


def _measure(pid: int, action: Callable[[], None]) -> float:
    before = _cpu_seconds(pid)
    action()
    time.sleep(0.2)  # let the sidecar's threads settle (the response precedes their last ticks)
    return _cpu_seconds(pid) - before


def main() -> None:
    """Run both encodings on both roots and print sidecar CPU per MB."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per history (default 20000)")
    parser.add_argument("--runs", type=int, default=3, help="runs archived and read per case (default 3)")
    parser.add_argument("--payload-bytes", type=int, default=200, help="payload bytes per event (default 200)")
    args = parser.parse_args()

    batches = synthetic_history(args.events, version=1, batch_size=4, payload_bytes=args.payload_bytes)
    binary = [b.SerializeToString() for b in batches]
    as_json = [encode_message(b) for b in batches]
    megabytes = sum(map(len, as_json)) / 1e6
    print(f"history: {args.events} events in {len(batches)} batches, {megabytes:.2f} MB protojson "
          f"({sum(map(len, binary)) / 1e6:.2f} MB protobuf); {args.runs} runs per case")

    process, address = _start_sidecar()
    try:
        channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])
        stub = service_pb2_grpc.ArchiverServiceStub(channel)
        with tempfile.TemporaryDirectory() as directory:
            roots = {"file:// (filestore)": f"file://{directory}/root",
                     "memory:// (s3store)": f"memory://bench-{uuid.uuid4().hex[:8]}/root"}
            print(f"{'root':22} {'path':9} {'baseline: protobuf':>22} {'protojson':>14} {'ratio':>7}")
            for label, uri in roots.items():
                requests = {name: [request_for(batches, run_id=f"{name}-{i}") for i in range(args.runs)]
                            for name in ("protobuf", "protojson")}
                cpu: dict[tuple[str, str], float] = {}
                for name, payloads, encoding in (("protobuf", binary, pb.BATCH_ENCODING_PROTOBUF),
                                                 ("protojson", as_json, pb.BATCH_ENCODING_PROTOJSON)):
                    streams = [_messages(uri, r, payloads, encoding) for r in requests[name]]
                    cpu["archive", name] = _measure(process.pid, functools.partial(_archive_all, stub, streams))
                    accepted = [] if name == "protobuf" else [pb.BATCH_ENCODING_PROTOJSON]
                    read = functools.partial(_read_all, stub, uri, requests[name], accepted)
                    cpu["read", name] = _measure(process.pid, read)
                for phase in ("archive", "read"):
                    base = cpu[phase, "protobuf"] * 1000 / (megabytes * args.runs)
                    new = cpu[phase, "protojson"] * 1000 / (megabytes * args.runs)
                    print(f"{label:22} {phase:9} {base:17.1f} ms/MB {new:9.1f} ms/MB {new / base:6.2f}x")
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
