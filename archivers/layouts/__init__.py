"""Storage layouts: one module per layout, holding everything that layout means.

A layout decides what is stored where and in which bytes; it does no I/O of its own except
listing through the store it is handed. Three exist, each byte-compatible with a Temporal archiver:

- :mod:`archivers.layouts.s3store` (``s3``, ``azblob``, ``fsspec+P``, ``memory``) and
  :mod:`archivers.layouts.gcloud` (``gs``) are **object layouts**: each exports ``LAYOUT``, an
  :class:`archivers.layouts.base.ObjectLayout`, which the layout-independent archivers of
  :mod:`archivers.objects` run over any :class:`archivers.store.base.ObjectStore`;
- :mod:`archivers.layouts.filestore` (``file``) is the names, file format and directory listing of
  Temporal's filestore, used by the local-file archivers of :mod:`archivers.localfs`.

**Adding an object layout** (say ``native``: zstd binary protobuf history, a Parquet visibility
index) is one new module ``archivers/layouts/native.py`` that exports ``LAYOUT``, an instance of a
subclass of :class:`~archivers.layouts.base.ObjectLayout` implementing its two halves:

History (:class:`~archivers.layouts.base.HistoryLayout`): a history is stored as parts 0, 1, 2, ...
of whole batches per run and close failover version; each part is created once, with one
conditional put, and never rewritten.

- ``part_key(root, run, version, index)``: the key of one part; ``root`` is the prefix every key of
  the archival URI starts with (:meth:`ObjectStore.key_prefix`), ``run`` names the run;
- ``list_prefix(root, run)`` and ``parse_key(root, run, key)``: one listing prefix covering every
  part of every version of the run, and ``(version, index)`` of a listed key (``None`` for others);
- ``encode_part(request, encoded_batches, infos, is_last)``: a part's stored bytes from its batches
  as ``encode_batch`` made them and their :class:`~archivers.layouts.base.BatchInfo`;
  ``part_builder(request)`` collects a part's batches until it is full (by default at about 2 MiB
  of encoded batches; a compressing layout measures what it stores);
- ``decode_part(data, source)``: a stored part as a :class:`~archivers.layouts.base.Part`, which must
  tell its last event id and whether it ends the history; bad bytes raise
  :class:`~archivers.errors.CorruptArchiveError` naming ``source``.

Visibility (:class:`~archivers.layouts.base.VisibilityLayout`):

- ``keys(root, record)``: every key one record is stored under (each written with a plain,
  idempotent put of the record's protojson);
- ``list_index(store, root, namespace_id, constraints, index)``: lists as little as the query's
  :class:`~archivers.query.Constraints` allow and yields ``(key, low, high)`` for every record that
  may match (a superset), ``low..high`` bounding in Unix nanos the time ``index`` says the listing
  is by (close or start time), pruned with ``index.allows(low, high)``.
"""
