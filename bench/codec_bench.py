"""Protojson encode and decode of a history: the compiled codec beside json_format and binary protobuf.

Encodes a synthetic history (``--events`` events, 3 a batch) as Temporal's filestore stores it (a
JSON array of ``History`` batches) and decodes it back, printing MB/s for:

- *compiled*: :mod:`archivers.codec.protojson` (the compiled per-type writer and reader);
- *json_format*: protobuf's ``MessageToDict`` + ``json.dumps`` and ``json.loads`` + ``ParseDict``,
  what the codec did before (the baseline);
- *binary*: ``SerializeToString`` / ``FromString`` of the same batches, the floor.

It also times printing the events as ``temporal workflow show --output json`` does (indented by two
spaces): :func:`archivers.codec.protojson.encode_json` beside ``json.dumps(..., indent=2)`` of the
same dicts. Each figure is the best of ``--repeat`` runs; MB are of the compact protojson.

    python bench/codec_bench.py [--events 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from temporalio.api.history.v1 import History

from archivers.codec.protojson import decode_histories, encode_json, encode_message, message_to_dict
from archivers.testing.synthetic import synthetic_history


def _best(repeat: int, action: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Parse the arguments, run the measurements, print one line per codec and direction."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    batches = synthetic_history(args.events, version=7)
    compiled_text = b"[" + b",".join(encode_message(batch) for batch in batches) + b"]"
    megabytes = len(compiled_text) / 1e6

    def json_format_encode() -> bytes:
        dicts = [json_format.MessageToDict(batch) for batch in batches]
        return json.dumps(dicts, separators=(",", ":"), ensure_ascii=False).encode()

    def json_format_decode() -> list[History]:
        parsed = json.loads(compiled_text)
        return [json_format.ParseDict(item, History(), ignore_unknown_fields=True) for item in parsed]

    binary = [batch.SerializeToString() for batch in batches]
    rows = [
        ("compiled", lambda: b"[" + b",".join(encode_message(b) for b in batches) + b"]",
         lambda: decode_histories(compiled_text, source="bench")),
        ("json_format", json_format_encode, json_format_decode),
        ("binary", lambda: [b.SerializeToString() for b in batches], lambda: [History.FromString(b) for b in binary]),
    ]
    assert decode_histories(compiled_text, source="bench") == json_format_decode() == batches
    print(f"history: {args.events} events in {len(batches)} batches, {megabytes:.1f} MB of protojson")
    print(f"{'codec':<12} {'encode MB/s':>12} {'decode MB/s':>12}")
    for name, encode, decode in rows:
        encode_seconds, decode_seconds = _best(args.repeat, encode), _best(args.repeat, decode)
        print(f"{name:<12} {megabytes / encode_seconds:>12.1f} {megabytes / decode_seconds:>12.1f}")
    events = [event for batch in batches for event in batch.events]
    dicts = {"events": [message_to_dict(event) for event in events]}
    printed = _best(args.repeat, lambda: encode_json({"events": events}, indent=2))
    dumped = _best(args.repeat, lambda: json.dumps(dicts, indent=2, ensure_ascii=False))
    print(f"indented output: encode_json {printed:.2f} s (messages to text); "
          f"json.dumps(indent=2) {dumped:.2f} s (of ready dicts)")


if __name__ == "__main__":
    main()
