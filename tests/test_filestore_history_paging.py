"""file:// history pages read only what they serve: prefix reads, offset tokens, bounded memory, corrupt files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from temporalio.api.history.v1 import History

from archivers.codec.protojson import message_to_dict
from archivers.errors import CorruptArchiveError, InvalidPageTokenError
from archivers.interfaces import GetHistoryRequest
from archivers.localfs.history_archiver import FilestoreHistoryArchiver
from archivers.testing.synthetic import synthetic_history

NAME = "141323698701063509081739672280485489488911532452831150339470_5.history"
IDS = ("test-namespace-id", "test-workflow-id", "test-run-id")


def write_history(directory: Path, batches: list[History]) -> Path:
    """The history file as Temporal's filestore writes it (Go's spacing differs; readers must not care)."""
    path = directory / NAME
    path.write_text(json.dumps([message_to_dict(b) for b in batches], separators=(",", ":")), encoding="utf-8")
    return path


def get(uri: str, token: bytes = b"", page_size: int = 256) -> tuple[list[History], bytes]:
    response = FilestoreHistoryArchiver().get(uri, GetHistoryRequest(*IDS, next_page_token=token, page_size=page_size))
    return list(response.history_batches), response.next_page_token


def read_all(uri: str, page_size: int, legacy_tokens: bool = False) -> list[History]:
    token = b""
    batches: list[History] = []
    while True:
        page, token = get(uri, token, page_size)
        batches += page
        if not token:
            return batches
        if legacy_tokens:  # Temporal's own token: no byte offset
            parsed = json.loads(token)
            token = json.dumps({k: parsed[k] for k in ("CloseFailoverVersion", "NextBatchIdx")}).encode()


def bytes_read_by_this_process() -> int:
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, list[History]]:
    directory = tmp_path_factory.mktemp("big")
    batches = synthetic_history(30_000, version=5)
    return f"file://{directory}", write_history(directory, batches), batches


def test_first_page_reads_only_a_prefix_of_the_file(big: tuple[str, Path, list[History]]) -> None:
    uri, path, batches = big
    before = bytes_read_by_this_process()
    page, token = get(uri)
    read = bytes_read_by_this_process() - before
    assert page == batches[: len(page)] and token
    assert read < path.stat().st_size / 10, f"the first page read {read} of {path.stat().st_size} bytes"


@pytest.mark.parametrize("page_size", [1, 7, 256, 5000])
def test_offset_tokens_and_temporal_tokens_resume_exactly(tmp_path: Path, page_size: int) -> None:
    batches = synthetic_history(3_000, version=5)
    write_history(tmp_path, batches)
    uri = f"file://{tmp_path}"
    assert read_all(uri, page_size) == batches
    if page_size >= 7:  # Temporal tokens re-scan from the start: quadratic in pages
        assert read_all(uri, page_size, legacy_tokens=True) == batches


def test_later_pages_read_only_their_part_of_the_file(big: tuple[str, Path, list[History]]) -> None:
    uri, path, batches = big
    token = b""
    for _ in range(50):
        _, token = get(uri, token)
    before = bytes_read_by_this_process()
    page, _ = get(uri, token)
    assert bytes_read_by_this_process() - before < path.stat().st_size / 10
    assert page == batches[50 * 86 : 50 * 86 + len(page)]


def test_forged_or_foreign_offsets_are_invalid_tokens(tmp_path: Path) -> None:
    write_history(tmp_path, synthetic_history(30, version=5))
    uri = f"file://{tmp_path}"
    _, token = get(uri, page_size=3)
    parsed = json.loads(token)
    for forged in ({**parsed, "NextBatchOffset": parsed["NextBatchOffset"] + 1}, {**parsed, "NextBatchIdx": 0}):
        with pytest.raises(InvalidPageTokenError):
            get(uri, json.dumps(forged).encode())
    other = FilestoreHistoryArchiver()
    with pytest.raises(InvalidPageTokenError):  # a token of this run, presented for another run
        other.get(uri, GetHistoryRequest("test-namespace-id", "test-workflow-id", "other-run", next_page_token=token))


def test_non_ascii_batches_decode_as_utf8(tmp_path: Path) -> None:
    batches = synthetic_history(12, version=5)
    batches[1].events[0].workflow_execution_started_event_attributes.identity = "wörker-世界-🚀"
    write_history(tmp_path, batches)
    assert read_all(f"file://{tmp_path}", 2) == batches


@pytest.mark.parametrize("cut", [0.3, 0.7, 0.999])
def test_truncated_file_is_data_loss_after_correct_events(tmp_path: Path, cut: float) -> None:
    batches = synthetic_history(3_000, version=5)
    path = write_history(tmp_path, batches)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    served: list[History] = []
    token = b""
    with pytest.raises(CorruptArchiveError, match=NAME) as info:
        while True:
            page, token = get(f"file://{tmp_path}", token, 100)
            served += page
            assert token, "a truncated history must not end cleanly"
    assert info.value.retryable is False
    assert served == batches[: len(served)]


@pytest.mark.parametrize("damage", [b'"eventId":"1x"', b"}}}", b"\xff\xfe"])
def test_invalid_json_in_the_middle_is_data_loss_after_correct_events(tmp_path: Path, damage: bytes) -> None:
    batches = synthetic_history(3_000, version=5)
    path = write_history(tmp_path, batches)
    data = path.read_bytes()
    middle = data.index(b'"eventId"', len(data) // 2)
    path.write_bytes(data[:middle] + damage + data[middle + len(damage) :])
    served: list[History] = []
    token = b""
    with pytest.raises(CorruptArchiveError, match=NAME):
        while True:
            page, token = get(f"file://{tmp_path}", token, 100)
            served += page
            assert token, "a damaged history must not end cleanly"
    assert served == batches[: len(served)]


PEAK_RSS_OF_READING = textwrap.dedent(
    """
    import sys
    from archivers.interfaces import GetHistoryRequest
    from archivers.localfs.history_archiver import FilestoreHistoryArchiver
    from archivers.paging import iter_history_batches

    uri, small_uri = sys.argv[1], sys.argv[2]
    request = GetHistoryRequest("test-namespace-id", "test-workflow-id", "test-run-id", page_size=256)
    archiver = FilestoreHistoryArchiver()
    for _ in iter_history_batches(archiver, small_uri, request):  # warm up every code path
        pass
    def status_kib(key):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(key + ":"))
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets the peak RSS (VmHWM) to the current RSS
    before = status_kib("VmRSS")
    for _ in iter_history_batches(archiver, uri, request):
        pass
    print((status_kib("VmHWM") - before) * 1024)
    """
)


def test_reading_a_whole_history_page_by_page_keeps_memory_bounded(
    big: tuple[str, Path, list[History]], tmp_path: Path
) -> None:
    uri, path, _ = big
    write_history(tmp_path, synthetic_history(300, version=5))
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_OF_READING, uri, f"file://{tmp_path}"],
        capture_output=True,
        text=True,
        check=True,
    )
    growth = int(result.stdout)
    assert growth < path.stat().st_size / 2, f"peak RSS grew by {growth} bytes for a {path.stat().st_size}-byte file"
