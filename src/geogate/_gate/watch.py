"""
Watch policy paths (and a GeoIP database) and reload a gate once a change has settled.

A daemon thread polls: every *interval* seconds it takes a snapshot of the
watched files (path, modification and status-change times in nanoseconds,
size, inode; ``os.utime`` can set the first back, not the second): the
policy files under the paths, the lock file (`geogate._policy.lock`) and the GeoIP
database, if any. A file added, removed, rewritten or replaced by a rename
changes the snapshot.

A change is not acted on at once. Editors, ``cp``, ``scp`` and configuration
tools write files in place, and a file cut at a byte offset is often still a
valid policy (a feature whose deny rules are not written yet). So the watcher
reloads only once the snapshot has stayed the same for *settle* seconds: a
writer that pauses for less than that between two writes is never read
half-way. `Gate.reload` then checks, too, that the files did not change while
it read them, and that they match the directory's lock when there is one; a
set that fails any check keeps the last good policies, and is picked up once
it is complete. A writer that may pause for longer than *settle* must publish
by atomic rename or write a lock last (see SECURITY.md, "Publishing policies").
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from typing import TYPE_CHECKING

from geogate._load.loader import is_policy_file

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["DEFAULT_SETTLE", "Snapshot", "Watcher", "snapshot"]

logger = logging.getLogger("geogate")

#: (path, mtime_ns, ctime_ns, size, inode) of each watched file; a missing one has -1s.
Entry = tuple[str, int, int, int, int]
Snapshot = frozenset[Entry]
_MISSING = (-1, -1, -1, -1)

#: Seconds the watched files must stay unchanged before a reload reads them.
DEFAULT_SETTLE = 2.0


def _entry(path: str) -> Entry:
    try:
        info = os.stat(path)  # noqa: PTH116 (polled often: no Path objects)
    except OSError:
        return (path, *_MISSING)
    return (path, info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino)


def snapshot(paths: Sequence[str], files: Sequence[str] = ()) -> Snapshot:
    """
    Return what identifies the current content of the policy files under *paths*.

    *files* are single files watched as they are (the lock, a GeoIP database).
    """
    entries: list[Entry] = [_entry(path) for path in files]
    for root in paths:
        try:
            mode = os.stat(root).st_mode  # noqa: PTH116
        except OSError:
            entries.append((root, *_MISSING))
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
                if is_policy_file(name)
            )
    return frozenset(entries)


class Watcher:
    """
    A daemon thread that calls *reload* once the files under *paths* changed and settled.

    *initial* is the snapshot taken just before the policies were loaded, so
    a change made between loading and watching is not missed. *files* are
    watched too (the lock, the GeoIP database).

    Attributes:
        interval: Seconds between two polls.
        settle: Seconds the files must stay unchanged before a reload.
    """

    def __init__(
        self,
        paths: Sequence[str],
        reload: Callable[[], object],
        *,
        interval: float,
        settle: float = DEFAULT_SETTLE,
        initial: Snapshot | None = None,
        files: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval > 0:
            msg = f"the watch interval must be a positive number of seconds, not {interval!r}"
            raise ValueError(msg)
        if not settle >= 0:
            msg = f"the settle time must be a number of seconds >= 0, not {settle!r}"
            raise ValueError(msg)
        self.interval = interval
        self.settle = settle
        self._paths = tuple(paths)
        self._files = tuple(files)
        #: What is called on a settled change (the gate's ``reload``).
        self.reload = reload
        self._clock = clock
        self._stop = threading.Event()
        #: The snapshot of the last load or reload attempt (taken before it read the files).
        self._last = self.snapshot() if initial is None else initial
        #: The snapshot seen at the last poll, and since when it has been seen.
        self._seen = self._last
        self._since = clock()
        self._thread = threading.Thread(
            target=self._run, name="geogate-policy-watcher", daemon=True
        )

    def snapshot(self) -> Snapshot:
        """Return the snapshot of everything watched."""
        return snapshot(self._paths, self._files)

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
        """
        Reload if the files changed since the last reload and have settled; say whether it did.

        A snapshot that differs from the one seen at the last poll restarts
        the settle clock; once it has been the same for `settle` seconds and
        differs from the last reload's, the reload runs.
        """
        current = self.snapshot()
        now = self._clock()
        if current != self._seen:
            self._seen, self._since = current, now
        if current == self._last or now - self._since < self.settle:
            return False
        self._last = current
        self.reload()
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # the watcher must outlive any one bad reload
                logger.exception("geogate: the policy watcher failed to reload")
