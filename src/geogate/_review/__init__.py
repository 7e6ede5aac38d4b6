"""
Review: audit, timeline, walk-through, diff, lints, the HTML report, and what each command prints.

May import `_gate`, `_locate`, `_load`, `_engine`, `_policy` and `_world`.
"""
