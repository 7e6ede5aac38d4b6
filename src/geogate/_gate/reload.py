"""
Reloading a gate's policies: `Gate.reload`, its listeners and watcher, and what it reports.

`geogate.Gate.reload` re-reads the gate's policy paths and swaps the policy
set atomically: it compiles a new `geogate._gate.state.State` and publishes it
with ``Gate._publish`` (see `geogate._gate.gate` for why every decision is made
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
from contextlib import suppress
from typing import TYPE_CHECKING

import attrs

from geogate._load.loader import check_paths
from geogate._policy.diagnostics import Diagnostic, Position
from geogate._policy.lock import LOCK_NAME, find_lock
from geogate._world.countries import describe_value
from geogate.exceptions import GeoDatabaseError, GeogateError

from .state import GateBase
from .watch import DEFAULT_SETTLE, Snapshot, Watcher, snapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from geogate._locate.geo import GeoDatabase
    from geogate._policy.model import PolicySet

__all__ = [
    "ReloadResult",
    "Reloading",
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


class Reloading(GateBase):
    """
    The part of `geogate.Gate` that reloads its policies, and tells its listeners.

    A part of the gate (see `GateBase`): it builds a state from the policy
    set it loads (``Gate._build``, by the gate's clock) and publishes it
    (``Gate._publish``).
    """

    __slots__ = ()

    def reload(self) -> ReloadResult:
        """
        Re-read the policy paths and, when they load, answer from them from now on.

        The swap is atomic: every decision is made entirely from one policy
        set, and the decision's ``revision`` says which. A reload that finds
        errors keeps the last good policies; it logs every diagnostic on the
        ``geogate`` logger and reports them in the result, and never raises for
        bad files. A reload that finds the same revision swaps nothing. Files
        are refused, the same way, when:

        - they changed while they were read (``files-changed``: a writer is
          at work; the watcher tries again once they have settled);
        - the policy directory holds a lock (``geogate lock``) they do not
          match (``lock-mismatch``), or held one when the gate loaded it and
          no longer does (``lock-missing``);
        - the gate was built with ``expect_revision=`` and they are of
          another revision (``revision-mismatch``).

        The GeoIP database is reopened when its file changed (inode, size or
        modification time), atomically with respect to decisions; one that
        cannot be reopened is reported (``geoip-database``) and the last good
        one keeps answering.

        Reload listeners (see `add_reload_listener`) are called with the
        result after a reload that swapped the policies or failed, on the
        thread that reloaded, one reload at a time.

        Raises:
            GeogateError: when the gate was built from a PolicySet, not from paths.
        """
        paths = self._paths
        if paths is None:
            msg = (
                "this gate was built from a PolicySet, so it has no policy paths to "
                "reload; build it with Gate.from_path(...) to use reload() or watch()"
            )
            raise GeogateError(msg)
        with self._reload_lock:
            previous = self._state.policy.revision
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
                    self._republish(self._state.policy)
                if ok:
                    return result
            else:
                # Atomic: see the argument above `Gate._publish` (geogate._gate.gate).
                self._republish(policy)
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
            return Diagnostic(
                position=Position(paths[0]),
                severity="error",
                code="files-changed",
                message="the policy files changed while they were read, so a writer is at work",
                hint="nothing to do: the last good policies keep answering, and the watcher "
                "reads the files again once they have stopped changing",
            )
        if self._locked and not has_lock(paths):
            return Diagnostic(
                position=Position(paths[0]),
                severity="error",
                code="lock-missing",
                message=f"the policy directory held a lock ({LOCK_NAME}) when the gate loaded "
                "it, and holds none now",
                hint=f"a deployment that is replacing the directory will write {LOCK_NAME} "
                "again; to stop using a lock, restart the process",
            )
        if self._expected is not None and policy.revision != self._expected:
            return mismatch_diagnostic(paths[0], self._expected, policy.revision)
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
            return False, Diagnostic(
                position=Position(geoip.path),
                severity="error",
                code="geoip-database",
                message=f"the GeoIP database changed but cannot be reopened: {error}",
                hint="the last good database keeps answering; replace the file by writing a "
                "temporary file and renaming it into place, as geoipupdate does",
            )
        if reopened:
            logger.info("geogate: reopened the GeoIP database %r", geoip.path)
        return reopened, None

    def add_reload_listener(self, listener: Callable[[ReloadResult], object]) -> None:
        """
        Call *listener* with the `ReloadResult` of each reload that swapped or failed.

        ``result.ok`` tells a successful swap (the policies changed: an
        OpenFeature provider emits ``PROVIDER_CONFIGURATION_CHANGED``) from a
        failed reload (the gate still answers from ``result.previous``). A
        listener that raises is logged and does not stop the others.
        """
        with self._reload_lock:
            self._listeners.append(listener)

    def remove_reload_listener(self, listener: Callable[[ReloadResult], object]) -> None:
        """Stop calling *listener*; a listener that was not added is ignored."""
        with self._reload_lock, suppress(ValueError):
            self._listeners.remove(listener)

    def watch(self, interval: float = 1.0, *, settle: float = DEFAULT_SETTLE) -> None:
        """
        Reload once the policy files changed and settled, polling every *interval* seconds.

        A daemon thread compares the policy files under the paths, the lock
        file and the GeoIP database (names, modification times, sizes,
        inodes) with the last load; a change triggers `reload` once nothing
        has changed for *settle* seconds, so a file being written in place is
        not read half-way (see `geogate._gate.watch`). `close` stops it. Watching
        twice is harmless.

        Raises:
            GeogateError: when the gate was built from a PolicySet, not from paths.
            ValueError: when *interval* is not a positive number or *settle*
                is negative.
        """
        if self._paths is None:
            msg = (
                "this gate was built from a PolicySet, so it has no policy paths to "
                "watch; build it with Gate.from_path(...) to use reload() or watch()"
            )
            raise GeogateError(msg)
        with self._reload_lock:
            if self._watcher is not None and self._watcher.running:
                return
            self._start_watcher(self._paths, interval, settle)

    def _start_watcher(self, paths: tuple[str, ...], interval: float, settle: float) -> None:
        """Start a watcher of *paths* (and the lock and database) from the last load's snapshot."""
        self._watcher = Watcher(
            paths,
            self.reload,
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
    return Diagnostic(
        position=Position(path),
        severity="error",
        code="revision-mismatch",
        message=f"the policies have revision {actual!r}, not the expected {expected!r}",
        hint=(
            "the files differ from the reviewed policy set: deploy the reviewed files, or, "
            "if this change was reviewed, expect its revision (`geogate check` prints it)"
        ),
    )
