"""
Loading a policy set: files on disk or at a git revision to a checked `PolicySet`.

Also the load-time ambiguity checks. May import `_engine`, `_policy` and `_world`.
"""
