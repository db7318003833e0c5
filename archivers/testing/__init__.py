"""Test helpers: emulators (:mod:`archivers.testing.emulators`), real Temporal histories
(:mod:`archivers.testing.temporal_dev`) and other fixtures. Import the submodules you need."""
