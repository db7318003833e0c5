"""The conformance suite for archiver backends, shipped so that third-party backends can test themselves.

* :mod:`archivers.testing.conformance`: :class:`~archivers.testing.conformance.ArchiverConformance`, the
  contract of :class:`~archivers.interfaces.HistoryArchiver` and
  :class:`~archivers.interfaces.VisibilityArchiver` as pytest tests to subclass.
* :mod:`archivers.testing.store_conformance`: :class:`~archivers.testing.store_conformance.ObjectStoreConformance`,
  the contract of the storage seam (:class:`~archivers.store.base.ObjectStore`) as pytest tests to subclass.
* :mod:`archivers.testing.synthetic`, :mod:`archivers.testing.records`, :mod:`archivers.testing.sample`:
  well-formed histories and visibility records to test with (no pytest needed).

The two conformance modules need ``pytest``; nothing else here does, and nothing in the runtime package
imports this package. Process harnesses (emulators, the fault-injection proxy, the Temporal server
harness) are not shipped: they live in the repository's ``tests/harness``. See ``docs/testing.md``.
"""
