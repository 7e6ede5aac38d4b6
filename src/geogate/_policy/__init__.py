"""
Policy files: bytes to positioned nodes to validated models, with diagnostics.

Also the lock file and the garbage-collection guard used while a set is built.
May import `_world` (and `geogate.exceptions`).
"""
