"""
The decision procedure (`decide`), `Decision` and its explanation, split places.

May import `_policy` and `_world`; it knows no gate, web, CLI or review code.
"""
