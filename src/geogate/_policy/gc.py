"""
Pausing the cyclic garbage collector while a policy set is built.

Loading and compiling a large policy set creates hundreds of thousands of
small objects and no reference cycles. With the collector running, every 700
allocations start a collection, and the older generations are walked again
and again: 10,000 features took 0.6 s to compile instead of 0.1 s. Reference
counting still frees everything that becomes garbage while paused.
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["collector_paused"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block; restore it as it was."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
