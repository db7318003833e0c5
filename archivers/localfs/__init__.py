"""The history and visibility archivers of ``file://``: Temporal's filestore layout on local files.

Not an :class:`archivers.store.base.ObjectStore`: durability and compatibility need what object
stores do not offer (fsync of files and directories, ``flock`` on partial files, file names exactly
Temporal's), so these archivers work on the file system directly (:mod:`archivers.localfiles`)
and take their names from :mod:`archivers.layouts.filestore`.
"""
