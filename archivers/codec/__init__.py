"""Encodings shared with Temporal's archivers: Go-compatible protojson, FarmHash names, search attributes."""
