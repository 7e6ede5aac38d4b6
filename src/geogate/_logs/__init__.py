"""
Decision logs read back: what was served where, and whether the policy that decided it agrees.

Above the review layer: reads logs with DuckDB (`read`), summarises them
(`summary`) and re-decides them with the policy revision they name (`verify`).
"""
