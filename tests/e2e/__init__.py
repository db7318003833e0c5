"""End-to-end tests against a Temporal server built with the shim (marker ``e2e``)."""
