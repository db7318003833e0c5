"""The native visibility index: an inbox of records, Parquet files and a manifest (docs/native-format.md).

Contract, for every object store (:class:`archivers.store.base.ObjectStore`):

- archiving a record is ONE conditional create of its inbox object (:mod:`archivers.visindex.inbox`),
  idempotent and safe under concurrent duplicates (the first record of a run stands);
- compaction (:mod:`archivers.visindex.compaction`) and bulk loads (:func:`archivers.visindex.files.commit_records`)
  write immutable Parquet files (:mod:`archivers.visindex.table`) and make them live by creating
  the next manifest generation with a conditional create (:mod:`archivers.visindex.manifest`): two
  writers never both commit a generation, and a crash at any point loses no record and makes none
  appear twice;
- a query (:mod:`archivers.visindex.query`) reads one manifest generation's files, pruned by
  partition and statistics and filtered with pushed-down predicates, plus the inbox objects that
  generation has not compacted, and answers exactly what the compat layouts answer.
"""
