"""
Export: a loaded policy set compiled into other engines' formats (flagd's flag definitions).

Each decision in an export is made by the engine itself, for every place and
every stretch of days between change dates, so the other engine answers
lookups rather than re-deriving geogate's semantics.

May import `_load`, `_engine`, `_policy` and `_world`.
"""
