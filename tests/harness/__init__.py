"""The repository's process harness for tests and benchmarks; not part of the installed package.

* :mod:`tests.harness.emulators`: moto's S3 server, fake-gcs-server, Azurite and the Temporal dev server,
  started on free loopback ports.
* :mod:`tests.harness.http_proxy`: an HTTP proxy that records requests and injects seeded faults.
* :mod:`tests.harness.temporal_dev`: real workflows run on a Temporal server, histories exported with the
  ``temporal`` CLI.
* :mod:`tests.harness.temporal_server`: the Temporal server built with the shim, and the sidecar process.

Import it as ``tests.harness`` with the repository root on ``sys.path`` (pytest's ``pythonpath``; the
``bench/`` scripts add the root themselves).
"""
