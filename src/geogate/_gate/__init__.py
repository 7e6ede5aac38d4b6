"""
The `Gate`: fast path, state, slow path, overrides, reloading, watching, decision log.

May import `_locate`, `_load`, `_engine`, `_policy` and `_world`.
"""
