"""
Watch policy paths and reload a gate when they change, without a dependency.

A daemon thread polls: every *interval* seconds it takes a snapshot of the
policy files under the paths (path, modification time in nanoseconds, size,
inode) and calls the reload function when the snapshot differs from the last
one. A file added, removed, rewritten or replaced by a rename changes the
snapshot. A reload that finds the same content (the same revision) swaps
nothing, so touching a file is harmless; a half-written set of files fails
validation, keeps the last good policies, and is picked up on the next poll
once complete.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from typing import TYPE_CHECKING

from ._loader import SUFFIXES

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Snapshot", "Watcher", "snapshot"]

logger = logging.getLogger("geogate")

#: (path, mtime_ns, size, inode) of each policy file; a missing root is (path, -1, -1, -1).
Snapshot = frozenset[tuple[str, int, int, int]]


def _entry(path: str) -> tuple[str, int, int, int]:
    try:
        info = os.stat(path)  # noqa: PTH116 (polled often: no Path objects)
    except OSError:
        return (path, -1, -1, -1)
    return (path, info.st_mtime_ns, info.st_size, info.st_ino)


def snapshot(paths: Sequence[str]) -> Snapshot:
    """Return what identifies the current content of the policy files under *paths*."""
    entries: list[tuple[str, int, int, int]] = []
    for root in paths:
        try:
            mode = os.stat(root).st_mode  # noqa: PTH116
        except OSError:
            entries.append((root, -1, -1, -1))
            continue
        if not stat.S_ISDIR(mode):
            entries.append(_entry(root))
            continue
        for folder, folders, names in os.walk(root):
            # The loader's rules: no hidden folders, no policy-test folders.
            folders[:] = [f for f in folders if not f.startswith(".") and f != "tests"]
            entries.extend(
                _entry(os.path.join(folder, name))  # noqa: PTH118 (os.walk gives strings)
                for name in names
                if name.endswith(SUFFIXES) and not name.startswith(".")
            )
    return frozenset(entries)


class Watcher:
    """
    A daemon thread that calls *reload* when the files under *paths* change.

    *initial* is the snapshot taken just before the policies were loaded, so
    a change made between loading and watching is not missed.

    Attributes:
        interval: Seconds between two polls.
    """

    def __init__(
        self,
        paths: Sequence[str],
        reload: Callable[[], object],
        *,
        interval: float,
        initial: Snapshot | None = None,
    ) -> None:
        if not interval > 0:
            msg = f"the watch interval must be a positive number of seconds, not {interval!r}"
            raise ValueError(msg)
        self.interval = interval
        self._paths = tuple(paths)
        self._reload = reload
        self._stop = threading.Event()
        #: The snapshot of the last load or reload attempt (taken before it read the files).
        self._last = snapshot(self._paths) if initial is None else initial
        self._thread = threading.Thread(
            target=self._run, name="geogate-policy-watcher", daemon=True
        )

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the thread is polling."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop polling and wait (up to *timeout* seconds) for the thread to end."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def poll(self) -> bool:
        """Reload if the files changed since the last poll; return whether they had."""
        current = snapshot(self._paths)
        if current == self._last:
            return False
        self._last = current
        self._reload()
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # the watcher must outlive any one bad reload
                logger.exception("geogate: the policy watcher failed to reload")
