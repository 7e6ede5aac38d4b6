"""
Review: audit, timeline, explain, diff, lints and the HTML report with its world map.

May import `_gate`, `_locate`, `_load`, `_engine`, `_policy` and `_world`.
"""
