"""
Reloading a gate's policies: the `Reloader` a gate holds, its listeners and watcher.

`geogate.Gate.reload` asks its `Reloader` to re-read the policy paths; when
they load, the reloader hands the new policy set to the gate, which compiles
a new `geogate._gate.state.State` and publishes it atomically (see
``Gate._publish`` in `geogate._gate.gate` for why every decision is made
entirely under one revision). It never raises for bad files: it returns a
`ReloadResult`, logs every diagnostic on the ``geogate`` logger, and calls the
gate's reload listeners. A gate built with ``expect_revision=`` answers only
from that revision: `checked_revision` reads it, and a reload to other
content is refused with the error of `mismatch_diagnostic`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from contextlib import suppress
from typing import TYPE_CHECKING

import attrs

from geogate._load.loader import check_paths
from geogate._policy.codes import Code
from geogate._policy.diagnostics import Diagnostic, Position
from geogate._policy.lock import LOCK_NAME, find_lock
from geogate._world.countries import describe_value
from geogate.exceptions import GeoDatabaseError, GeogateError

from .watch import DEFAULT_SETTLE, Snapshot, Watcher, snapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from geogate._locate.geo import GeoDatabase
    from geogate._policy.model import PolicySet

__all__ = [
    "ReloadResult",
    "Reloader",
    "checked_revision",
    "has_lock",
    "mismatch_diagnostic",
    "watched_files",
]

logger = logging.getLogger("geogate")

#: A policy revision as `PolicySet.revision` writes it.
_REVISION = re.compile(r"sha256:[0-9a-f]{64}")


@attrs.frozen(kw_only=True)
class ReloadResult:
    """
    What one `Gate.reload` did.

    Attributes:
        ok: True when the files loaded; False when any of them has an error
            (the gate keeps answering from its last good policies).
        revision: The revision the gate answers from now (unchanged after a
            failed reload).
        previous: The revision it answered from before the reload.
        diagnostics: Every problem found while loading (errors and warnings),
            and a ``geoip-database`` error when the GeoIP database changed
            but could not be reopened (the last good one keeps answering).
        geoip_reopened: Whether the GeoIP database's file had changed and the
            gate now locates addresses with the new one.
    """

    ok: bool
    revision: str
    previous: str
    diagnostics: tuple[Diagnostic, ...] = ()
    geoip_reopened: bool = False

    @property
    def changed(self) -> bool:
        """Whether the gate now answers from another revision."""
        return self.revision != self.previous

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """The diagnostics of severity ``error`` (empty when *ok*)."""
        return tuple(d for d in self.diagnostics if d.severity == "error")


def log_result(result: ReloadResult, paths: Sequence[str]) -> None:
    """Log *result*: every diagnostic at its severity, then one summary line."""
    for diagnostic in result.diagnostics:
        level = logging.ERROR if diagnostic.severity == "error" else logging.WARNING
        logger.log(level, "geogate: %s", diagnostic)
    where = ", ".join(paths)
    if result.changed:
        logger.log(
            logging.INFO if result.ok else logging.ERROR,
            "geogate: reloaded the policies from %s: revision %s (was %s)%s",
            where,
            result.revision[:19],
            result.previous[:19],
            "" if result.ok else f", with {len(result.errors)} error(s) reported above",
        )
    elif not result.ok:
        logger.error(
            "geogate: reloading the policies from %s failed with %d error(s); "
            "still answering from revision %s",
            where,
            len(result.errors),
            result.previous[:19],
        )


def notify(listeners: Sequence[Callable[[ReloadResult], object]], result: ReloadResult) -> None:
    """Call each listener with *result*; a listener that raises is logged, not propagated."""
    for listener in listeners:
        try:
            listener(result)
        except Exception:
            logger.exception("geogate: reload listener %r raised", listener)


class Reloader:
    """
    What a gate holds to reload its policies: the paths, the last load, the listeners, the watcher.

    The reloader reads files and decides whether the gate may answer from
    them; the gate compiles and publishes what it accepts. The gate passes
    its own methods on each call (`reload`, `watch`) rather than the reloader
    keeping them, so a gate and its reloader form no reference cycle: a gate
    nobody holds is freed at once. A gate built from a `PolicySet` holds one
    without paths, which only keeps listeners; `Gate.from_path` then
    `attach`es the paths.

    Attributes:
        paths: The policy paths (absolute), or None.
        expected: The only revision accepted (``expect_revision=``), if any.
    """

    __slots__ = (
        "_geoip",
        "_listeners",
        "_lock",
        "_locked",
        "_snapshot",
        "_watcher",
        "expected",
        "paths",
    )

    def __init__(self, geoip: GeoDatabase | None = None) -> None:
        self.paths: tuple[str, ...] | None = None
        self._geoip = geoip
        #: The snapshot of the files taken before the last load.
        self._snapshot: Snapshot | None = None
        self.expected: str | None = None
        #: Whether the policy directory held a lock (``geogate lock``) when it
        #: was loaded: from then on, a reload requires one.
        self._locked = False
        self._listeners: list[Callable[[ReloadResult], object]] = []
        self._watcher: Watcher | None = None
        #: Serialises reloads (listeners run inside it).
        self._lock = threading.RLock()

    def attach(
        self, paths: tuple[str, ...], taken: Snapshot, *, expected: str | None, locked: bool
    ) -> None:
        """Reload from *paths* (absolute), loaded after the snapshot *taken*, from now on."""
        with self._lock:
            self.paths = paths
            self._snapshot = taken
            self.expected = expected
            self._locked = locked

    def reload(
        self, current: Callable[[], PolicySet], republish: Callable[[PolicySet], None]
    ) -> ReloadResult:
        """
        Re-read the policy paths; hand what loads to *republish* (`geogate.Gate.reload`).

        *current* returns the policy set the gate answers from now.
        """
        paths = self.paths
        if paths is None:
            msg = (
                "this gate was built from a PolicySet, so it has no policy paths to "
                "reload; build it with Gate.from_path(...) to use reload() or watch()"
            )
            raise GeogateError(msg)
        with self._lock:
            answering = current()
            previous = answering.revision
            files = watched_files(paths, self._geoip)
            taken = snapshot(paths, files)
            policy, diagnostics = check_paths(paths)
            self._snapshot = taken
            refused = self._refusal(paths, files, taken, policy)
            if refused is not None:
                policy, diagnostics = None, (*diagnostics, refused)
            reopened, trouble = self._reopen_geoip()
            if trouble is not None:
                diagnostics = (*diagnostics, trouble)
            ok = policy is not None and trouble is None
            if policy is None or policy.revision == previous:
                result = ReloadResult(
                    ok=ok,
                    revision=previous,
                    previous=previous,
                    diagnostics=diagnostics,
                    geoip_reopened=reopened,
                )
                if reopened:  # same policies, new database: today's answers by address go
                    republish(answering)
                if ok:
                    return result
            else:
                # Atomic: see the argument above `Gate._publish` (geogate._gate.gate).
                republish(policy)
                self._locked = self._locked or has_lock(paths)
                result = ReloadResult(
                    ok=ok,
                    revision=policy.revision,
                    previous=previous,
                    diagnostics=diagnostics,
                    geoip_reopened=reopened,
                )
            log_result(result, paths)
            notify(tuple(self._listeners), result)
            return result

    def _refusal(
        self, paths: Sequence[str], files: Sequence[str], taken: Snapshot, policy: PolicySet | None
    ) -> Diagnostic | None:
        """Return why files that loaded are refused anyway, or None."""
        if policy is None:
            return None
        if snapshot(paths, files) != taken:
            return Diagnostic.of(
                Code.FILES_CHANGED,
                Position(paths[0]),
                "the policy files changed while they were read, so a writer is at work",
                hint="nothing to do: the last good policies keep answering, and the watcher "
                "reads the files again once they have stopped changing",
            )
        if self._locked and not has_lock(paths):
            return Diagnostic.of(
                Code.LOCK_MISSING,
                Position(paths[0]),
                f"the policy directory held a lock ({LOCK_NAME}) when the gate loaded "
                "it, and holds none now",
                hint=f"a deployment that is replacing the directory will write {LOCK_NAME} "
                "again; to stop using a lock, restart the process",
            )
        if self.expected is not None and policy.revision != self.expected:
            return mismatch_diagnostic(paths[0], self.expected, policy.revision)
        return None

    def _reopen_geoip(self) -> tuple[bool, Diagnostic | None]:
        """Reopen the GeoIP database if its file changed: (reopened, the error if it failed)."""
        geoip = self._geoip
        if geoip is None or not geoip.changed():
            return False, None
        try:
            reopened = geoip.reopen()
        except GeoDatabaseError as error:
            logger.error("geogate: %s; the last good GeoIP database keeps answering", error)  # noqa: TRY400 (a message, not a traceback)
            return False, Diagnostic.of(
                Code.GEOIP_DATABASE,
                Position(geoip.path),
                f"the GeoIP database changed but cannot be reopened: {error}",
                hint="the last good database keeps answering; replace the file by writing a "
                "temporary file and renaming it into place, as geoipupdate does",
            )
        if reopened:
            logger.info("geogate: reopened the GeoIP database %r", geoip.path)
        return reopened, None

    def add_listener(self, listener: Callable[[ReloadResult], object]) -> None:
        """Call *listener* after each reload that swapped or failed (`Gate.add_reload_listener`)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[ReloadResult], object]) -> None:
        """Stop calling *listener*; a listener that was not added is ignored."""
        with self._lock, suppress(ValueError):
            self._listeners.remove(listener)

    def watch(
        self, reload: Callable[[], object], interval: float = 1.0, *, settle: float = DEFAULT_SETTLE
    ) -> None:
        """Call *reload* (the gate's) once the files changed and settled (`geogate.Gate.watch`)."""
        if self.paths is None:
            msg = (
                "this gate was built from a PolicySet, so it has no policy paths to "
                "watch; build it with Gate.from_path(...) to use reload() or watch()"
            )
            raise GeogateError(msg)
        with self._lock:
            if self._watcher is not None and self._watcher.running:
                return
            self._start_watcher(self.paths, reload, interval, settle)

    def _start_watcher(
        self, paths: tuple[str, ...], reload: Callable[[], object], interval: float, settle: float
    ) -> None:
        """Start a watcher of *paths* (and the lock and database) from the last load's snapshot."""
        self._watcher = Watcher(
            paths,
            reload,
            interval=interval,
            settle=settle,
            initial=self._snapshot,
            files=watched_files(paths, self._geoip),
        )
        self._watcher.start()

    @property
    def watching(self) -> bool:
        """Whether a watcher reloads the policies when their files change."""
        watcher = self._watcher
        return watcher is not None and watcher.running

    def stop(self) -> None:
        """Stop the watcher, if one runs; stopping twice is harmless."""
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def after_fork_in_child(self) -> None:
        """
        Mend the reloader in a child process made by `os.fork`.

        Only the forking thread lives on in the child: the lock another thread
        held at the fork would stay held forever, and the watcher's thread is
        gone; a reloader that was watching gets a new watcher.
        """
        self._lock = threading.RLock()
        watcher, paths = self._watcher, self.paths
        if watcher is not None and paths is not None:
            self._start_watcher(paths, watcher.reload, watcher.interval, watcher.settle)


def watched_files(paths: Sequence[str], geoip: GeoDatabase | None) -> tuple[str, ...]:
    """Return the single files a gate watches besides its policy files: the lock, the database."""
    lock = find_lock(paths)
    files = [] if lock is None else [str(lock)]
    if geoip is not None:
        files.append(os.path.abspath(geoip.path))  # noqa: PTH100 (keeps str)
    return tuple(files)


def has_lock(paths: Sequence[str]) -> bool:
    """Tell whether the policy directory among *paths* holds a lock now."""
    lock = find_lock(paths)
    return lock is not None and lock.exists()


def checked_revision(value: object) -> str:
    """
    Return *value* as a policy revision (``sha256:`` and 64 lower-case hex digits).

    Raises:
        ValueError: when *value* is not one.
    """
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None or not _REVISION.fullmatch(text):
        msg = (
            f"expect_revision must be 'sha256:' followed by 64 hex digits, as "
            f"`geogate check` prints it, not {describe_value(value)}"
        )
        raise ValueError(msg)
    return text


def mismatch_diagnostic(path: str, expected: str, actual: str) -> Diagnostic:
    """Return the ``revision-mismatch`` error for policies at *path* of the wrong revision."""
    return Diagnostic.of(
        Code.REVISION_MISMATCH,
        Position(path),
        f"the policies have revision {actual!r}, not the expected {expected!r}",
        hint=(
            "the files differ from the reviewed policy set: deploy the reviewed files, or, "
            "if this change was reviewed, expect its revision (`geogate check` prints it)"
        ),
    )
