"""
The ``geogate`` command line.

One module per command; `main` is the entry point named in pyproject.toml.
Exit codes are `ExitCode`: 0 ok, 1 findings, 2 usage, 3 environment.
"""

from __future__ import annotations

from ._app import main
from ._common import ExitCode

__all__ = ["ExitCode", "main"]
