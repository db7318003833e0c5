"""Pluggable Temporal history and visibility archivers: the library, its codecs, layouts, stores and CLI."""
