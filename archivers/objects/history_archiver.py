"""History archiver over any object store, written once for every object layout and SDK.

Archive: batches are grouped into parts of about 2 MiB and each part is created with ONE
conditional put (put-if-absent). Parts are written in order, so the stored parts are always a
prefix 0..n of the history and are themselves the durable progress: when a part already exists
(a retry, or a concurrent duplicate) its content tells where to continue, so the happy path costs
exactly one request per part and no probe. A history is complete once its last part is marked
last (s3store) or ends with a close event (gcloud); Get only ever serves complete versions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from temporalio.api.history.v1 import History

from archivers.batches import PROTOBUF, BatchInfo, EncodedBatches, read_batch
from archivers.errors import ArchiveNotFoundError, InvalidHistoryError, InvalidPageTokenError
from archivers.history_checks import CheckedBatches, CheckedEncoded
from archivers.interfaces import (
    ArchiveHistoryRequest,
    DeleteRunRequest,
    DeleteRunResponse,
    EncodedHistoryPage,
    GetHistoryRequest,
    GetHistoryResponse,
    HistoryArchiver,
)
from archivers.layouts.base import HistoryLayout, ObjectLayout, Part, PartBuilder, RunRequest, check_continues
from archivers.lru import LruCache
from archivers.objects.access import LayoutOf, ObjectStoreAccess, StoreProvider, URICheck
from archivers.progress import ArchiveProgress, ProgressRecorder
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.timefmt import INT64_MAX, INT64_MIN
from archivers.tokens import decode_token, encode_token
from archivers.uri import URI

_B = TypeVar("_B", History, bytes)

TOKEN_KIND = "history"


@dataclass(frozen=True)
class _Stored:
    """What is stored for one version: its part indexes in order."""

    version: int
    indexes: list[int]


class ObjectHistoryArchiver(ObjectStoreAccess, HistoryArchiver):
    """``HistoryArchiver`` over an :class:`ObjectStore` in an object layout; see the module docstring."""

    def __init__(self, stores: StoreProvider, layouts: LayoutOf, uri_check: URICheck) -> None:
        super().__init__(stores, layouts, uri_check)
        self._parts: LruCache[str, Part] = LruCache(8)  # parts are immutable: valid until the run is deleted

    # -- archive ---------------------------------------------------------------------------

    def _archive(
        self, uri: URI, request: ArchiveHistoryRequest, batches: Iterable[History], progress: ProgressRecorder | None
    ) -> None:
        self._write(uri, request, batches, progress, _first_event_of_batch, self._encoded)

    def _archive_encoded(
        self, uri: URI, request: ArchiveHistoryRequest, batches: EncodedBatches, progress: ProgressRecorder | None
    ) -> None:
        encoding = batches.encoding
        if self._open(uri)[2].stored_encoding != encoding:
            super()._archive_encoded(uri, request, batches, progress)
            return

        def first_event(data: bytes) -> int | None:
            info = read_batch(data, 0, encoding)[1]
            return None if info is None else info.first_event_id

        def as_received(
            request: ArchiveHistoryRequest, batches: Iterable[bytes], resume_after: int, layout: HistoryLayout
        ) -> Iterable[tuple[BatchInfo, bytes]]:
            return CheckedEncoded(request, EncodedBatches(batches, encoding), resume_after)

        self._write(uri, request, batches.batches, progress, first_event, as_received)

    def _encoded(
        self, request: ArchiveHistoryRequest, batches: Iterable[History], resume_after: int, layout: HistoryLayout
    ) -> Iterator[tuple[BatchInfo, bytes]]:
        for batch, info in CheckedBatches(request, batches, resume_after).with_info():
            yield info, layout.encode_batch(batch)

    def _write(
        self,
        uri: URI,
        request: ArchiveHistoryRequest,
        batches: Iterable[_B],
        progress: ProgressRecorder | None,
        first_event: Callable[[_B], int | None],
        checked: Callable[[ArchiveHistoryRequest, Iterable[_B], int, HistoryLayout], Iterable[tuple[BatchInfo, bytes]]],
    ) -> None:
        """Archive ``batches``: optimistic from part 0 when they start at event 1, else after the stored progress."""
        store, root, layout = self._open(uri)
        pending = iter(batches)
        first = next(pending, None)
        if first is None:
            return  # the history is already gone
        if first_event(first) == 1:
            index, resume_after = 0, 0  # optimistic: no probe on the happy path
        else:
            state = self._progress(uri, request)
            if state.complete:
                _notify(progress, state)
                return
            resume_after = state.last_event_id
            index = self._next_index(store, root, layout, request)
        writer = _PartWriter(store, layout, root, request, index, progress)
        writer.write(checked(request, _chain(first, pending), resume_after, layout))

    def _next_index(self, store: ObjectStore, root: str, layout: ObjectLayout, request: ArchiveHistoryRequest) -> int:
        stored = self._versions(store, root, layout, request).get(request.close_failover_version)
        return stored.indexes[-1] + 1 if stored else 0

    # -- progress --------------------------------------------------------------------------

    def _progress(self, uri: URI, request: ArchiveHistoryRequest) -> ArchiveProgress:
        store, root, layout = self._open(uri)
        # Asked when the shim retries an archive (a first attempt streams without asking): a one-byte
        # read of the first part answers "nothing archived yet" (a failure before the first part was
        # stored) in one GET-priced request instead of a LIST (a HEAD could not tell a missing
        # object from a missing bucket without a second request).
        try:
            store.get_range(layout.part_key(root, request, request.close_failover_version, 0), 0, 1)
        except ObjectNotFoundError:
            return ArchiveProgress()
        stored = self._versions(store, root, layout, request).get(request.close_failover_version)
        if stored is None:
            return ArchiveProgress()
        part = self._read_part(store, root, layout, request, stored.version, stored.indexes[-1])
        return ArchiveProgress(part.last_event_id, complete=part.is_last)

    # -- get -------------------------------------------------------------------------------

    def _get(self, uri: URI, request: GetHistoryRequest) -> GetHistoryResponse:
        batches, token = self._page(uri, request, _decoded)
        return GetHistoryResponse(batches, token)

    def _get_encoded(self, uri: URI, request: GetHistoryRequest, accepted: Collection[str]) -> EncodedHistoryPage:
        stored = self._stored_encoding(uri)
        if stored in accepted:
            batches, token = self._page(uri, request, _sliced)
            return EncodedHistoryPage(batches, stored, token)
        batches, token = self._page(uri, request, _serialized)
        return EncodedHistoryPage(batches, PROTOBUF, token)

    def _stored_encoding(self, uri: URI) -> str:
        return self._open(uri)[2].stored_encoding

    def _page(self, uri: URI, request: GetHistoryRequest, take: _Take[_B]) -> tuple[list[_B], bytes]:
        """One page: ``take`` gives the batches of each part it reads (see :data:`_Take`)."""
        store, root, layout = self._open(uri)
        binding = f"{request.namespace_id}\n{request.workflow_id}\n{request.run_id}"
        cache: dict[int, Part] = {}
        if request.next_page_token:
            version, first_index, last_index, index, offset, expected = _parse_state(
                decode_token(request.next_page_token, TOKEN_KIND, binding)
            )
        else:
            version, first_index, last_index, cache = self._complete_version(store, root, layout, request)
            index, offset, expected = first_index, 0, 1
        batches: list[_B] = []
        events = 0
        page_size = request.effective_page_size
        token_given = bool(request.next_page_token)
        while events < page_size and index <= last_index:
            part = cache.get(index) or self._read_part(
                store, root, layout, request, version, index, token_given=token_given
            )
            if offset > len(part):
                raise InvalidPageTokenError("invalid next page token: batch position past the end of its part")
            taken, offset, after = take(part, offset, expected, page_size - events)
            batches += taken
            events += after - expected
            expected = after
            if offset >= len(part):
                index, offset = index + 1, 0
        token = b""
        if index <= last_index:
            token = encode_token(TOKEN_KIND, binding, [version, first_index, last_index, index, offset, expected])
        return batches, token

    def _complete_version(
        self, store: ObjectStore, root: str, layout: ObjectLayout, request: GetHistoryRequest
    ) -> tuple[int, int, int, dict[int, Part]]:
        """The requested (or highest) version whose last part says the history is complete.

        With a version asked for, its part 0 is read first (its key is known): a history stored in
        one part is then served from that one read, without listing.
        """
        if request.close_failover_version is not None:
            try:
                first = self._read_part(store, root, layout, request, request.close_failover_version, 0)
            except ArchiveNotFoundError:
                first = None
            if first is not None and first.is_last:
                return request.close_failover_version, 0, 0, {0: first}
        versions = self._versions(store, root, layout, request)
        if request.close_failover_version is not None:
            candidates = [request.close_failover_version] if request.close_failover_version in versions else []
        else:
            candidates = sorted(versions, reverse=True)
        for version in candidates:
            indexes = versions[version].indexes
            last = self._read_part(store, root, layout, request, version, indexes[-1])
            if last.is_last and indexes == list(range(indexes[0], indexes[-1] + 1)):
                return version, indexes[0], indexes[-1], {indexes[-1]: last}
        raise ArchiveNotFoundError(
            f"archived history not found: workflow {request.workflow_id!r} run {request.run_id!r}"
            + (
                f" at close failover version {request.close_failover_version}"
                if request.close_failover_version is not None
                else ""
            )
        )

    # -- delete ----------------------------------------------------------------------------

    def _delete(self, uri: URI, request: DeleteRunRequest) -> DeleteRunResponse:
        """Every part of every version, each version's last part first: ``get`` stops serving it at once."""
        store, root, layout = self._open(uri)
        keys = [
            layout.part_key(root, request, version, index)
            for version, stored in sorted(self._versions(store, root, layout, request).items())
            for index in reversed(stored.indexes)
        ]
        if not request.dry_run:
            for key in keys:
                store.delete(key)
                self._parts.discard(_cache_key(store, key))
        return DeleteRunResponse([f"{store.bucket}/{key}" for key in keys])

    # -- shared ----------------------------------------------------------------------------

    def _versions(self, store: ObjectStore, root: str, layout: ObjectLayout, run: RunRequest) -> dict[int, _Stored]:
        """Every stored version of the run and its part indexes, from one listing (all pages)."""
        found: dict[int, list[int]] = {}
        for page in store.list_all(layout.list_prefix(root, run)):
            for info in page.objects:
                parsed = layout.parse_key(root, run, info.key)
                if parsed is not None:
                    found.setdefault(parsed[0], []).append(parsed[1])
        return {version: _Stored(version, sorted(indexes)) for version, indexes in found.items()}

    def _read_part(
        self,
        store: ObjectStore,
        root: str,
        layout: ObjectLayout,
        run: RunRequest,
        version: int,
        index: int,
        *,
        token_given: bool = False,
    ) -> Part:
        key = layout.part_key(root, run, version, index)
        source = f"{store.bucket}/{key}"
        cache_key = _cache_key(store, key)
        cached = self._parts.get(cache_key)
        if cached is not None:
            return cached
        try:
            data = store.get(key)
        except ArchiveNotFoundError:
            if token_given:
                raise InvalidPageTokenError(f"invalid next page token: part {index} does not exist") from None
            raise
        part = layout.decode_part(data, source)
        self._parts.put(cache_key, part)
        return part


class _PartWriter:
    """Groups checked batches into parts and creates each with one conditional put."""

    def __init__(
        self,
        store: ObjectStore,
        layout: HistoryLayout,
        root: str,
        request: ArchiveHistoryRequest,
        index: int,
        progress: ProgressRecorder | None,
    ) -> None:
        self._store, self._layout, self._root = store, layout, root
        self._request = request
        self._index = index
        self._progress = progress
        self._durable_through = 0  # events up to here are stored (by us or by someone else)

    def write(self, checked: Iterable[tuple[BatchInfo, bytes]]) -> None:
        """Write every part; the last one only after the whole history passed the checks."""
        builder = self._layout.part_builder(self._request)
        for info, data in checked:
            if builder.full:
                if self._flush(builder, is_last=False):
                    return
                builder = self._carry(builder)
            if not self._durable(info):
                builder.add(info, data)
        while builder.infos:
            if self._flush(builder, is_last=True):
                return
            builder = self._carry(builder)

    def _durable(self, info: BatchInfo) -> bool:
        """Whether a batch is already stored; a batch cut by a stored part's end is an error."""
        first, last = info.first_event_id, info.last_event_id
        if last <= self._durable_through:
            return True
        if first <= self._durable_through:
            raise InvalidHistoryError(
                f"batch of events {first}..{last} straddles the end of an already stored part "
                f"({self._durable_through}); batches must keep their boundaries between attempts"
            )
        return False

    def _carry(self, flushed: PartBuilder) -> PartBuilder:
        """The next part's builder, with the batches of ``flushed`` that a shorter, stored part did not cover."""
        builder = self._layout.part_builder(self._request)
        for info, data in zip(flushed.infos, flushed.encoded, strict=True):
            if not self._durable(info):
                builder.add(info, data)
        return builder

    def _flush(self, builder: PartBuilder, *, is_last: bool) -> bool:
        """Create the next part; return True if the stored history is complete."""
        key = self._layout.part_key(self._root, self._request, self._request.close_failover_version, self._index)
        data = builder.build(is_last)
        last_event_id = builder.infos[-1].last_event_id
        if self._store.put_if_absent(key, data):
            complete = is_last
        else:  # stored by an earlier attempt or a concurrent duplicate: continue after it
            existing = self._layout.decode_part(self._store.get(key), f"{self._store.bucket}/{key}")
            last_event_id, complete = existing.last_event_id, existing.is_last
        self._index += 1
        self._durable_through = last_event_id
        _notify(self._progress, ArchiveProgress(last_event_id, complete=complete))
        return complete


def _cache_key(store: ObjectStore, key: str) -> str:
    """The part cache's key of a stored part (the store cache keeps each store alive, so its id is stable)."""
    return f"{id(store)}:{key}"


def _chain(first: _B, rest: Iterator[_B]) -> Iterator[_B]:
    yield first
    yield from rest


def _first_event_of_batch(batch: History) -> int | None:
    return batch.events[0].event_id if batch.events else None


def _notify(progress: ProgressRecorder | None, value: ArchiveProgress) -> None:
    if progress is not None:
        progress.record(value)


def _parse_state(state: object) -> tuple[int, int, int, int, int, int]:
    if (
        not isinstance(state, list)
        or len(state) != 6
        or not all(type(v) is int and INT64_MIN <= v <= INT64_MAX for v in state)
        or not 0 <= state[1] <= state[3] <= state[2]
        or state[4] < 0
        or state[5] < 1
    ):
        raise InvalidPageTokenError("invalid next page token: bad history position")
    return state[0], state[1], state[2], state[3], state[4], state[5]


_Take = Callable[[Part, int, int, int], tuple[list[_B], int, int]]
"""How a page takes batches of a part from ``index`` on, whose events start at ``expected``, until
``budget`` events are taken or the part ends: ``(batches, index after them, event id after them)``."""


def _decoded(part: Part, index: int, expected: int, budget: int) -> tuple[list[History], int, int]:
    taken: list[History] = []
    start = expected
    while index < len(part) and expected - start < budget:
        batch = part.batch(index)
        expected = check_continues((event.event_id for event in batch.events), expected, part.source)
        taken.append(batch)
        index += 1
    return taken, index, expected


def _sliced(part: Part, index: int, expected: int, budget: int) -> tuple[list[bytes], int, int]:
    """The batches as stored (in the layout's stored encoding), not decoded."""
    return part.slices(index, expected, budget)


def _serialized(part: Part, index: int, expected: int, budget: int) -> tuple[list[bytes], int, int]:
    """The batches decoded and serialized as binary protobuf (for a layout storing protojson)."""
    taken, index, expected = _decoded(part, index, expected, budget)
    return [batch.SerializeToString() for batch in taken], index, expected
