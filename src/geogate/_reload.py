"""
Reloading a gate's policies: the result a reload reports, and how it is told.

`geogate.Gate.reload` re-reads the gate's policy paths and swaps the policy
set atomically (the swap itself lives in `geogate._gate`). It never raises
for bad files: it returns a `ReloadResult`, logs every diagnostic on the
``geogate`` logger, and calls the gate's reload listeners.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs

from ._diagnostics import Diagnostic

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["ReloadResult", "log_result", "notify"]

logger = logging.getLogger("geogate")


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
        diagnostics: Every problem found while loading (errors and warnings).
    """

    ok: bool
    revision: str
    previous: str
    diagnostics: tuple[Diagnostic, ...] = ()

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
    if not result.ok:
        logger.error(
            "geogate: reloading the policies from %s failed with %d error(s); "
            "still answering from revision %s",
            where,
            len(result.errors),
            result.previous[:19],
        )
    elif result.changed:
        logger.info(
            "geogate: reloaded the policies from %s: revision %s (was %s)",
            where,
            result.revision[:19],
            result.previous[:19],
        )


def notify(listeners: Sequence[Callable[[ReloadResult], object]], result: ReloadResult) -> None:
    """Call each listener with *result*; a listener that raises is logged, not propagated."""
    for listener in listeners:
        try:
            listener(result)
        except Exception:
            logger.exception("geogate: reload listener %r raised", listener)
