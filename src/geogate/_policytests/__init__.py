"""
Declarative policy tests: finding test files, reading cases and places, running them.

May import `_review`, `_gate`, `_locate`, `_load`, `_engine`, `_policy` and `_world`.
"""
