"""The history and visibility archivers over any object store, written once for every object layout.

They take a store per URI (:class:`archivers.store.base.ObjectStore`) and an object layout
(:class:`archivers.layouts.base.ObjectLayout`); a backend is that pair (:mod:`archivers.backends`).
"""
