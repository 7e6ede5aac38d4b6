"""
Exceptions geogate raises.

Every exception derives from one root, so ``except GeogateError`` catches them
all::

    GeogateError
    ├── PolicyError            a policy set failed to load; carries every diagnostic
    ├── DecisionLogError       a decision log file is already written by another FileSink
    ├── GeoDatabaseError       a GeoIP database is missing, unreadable, corrupt or of the wrong type
    ├── PolicySourceError      a ``git:REV[:PATH]`` policy source cannot be read
    ├── RevisionMismatchError  the policy files are not the reviewed ones (``expect_revision``)
    └── UnknownFeatureError    strict gates only: a feature id that no policy defines

Evaluation itself never raises for bad run-time input: it returns a denying
`geogate.Decision` that says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ._policy.diagnostics import Diagnostic

__all__ = [
    "DecisionLogError",
    "GeoDatabaseError",
    "GeogateError",
    "PolicyError",
    "PolicySourceError",
    "RevisionMismatchError",
    "UnknownFeatureError",
]


class GeogateError(Exception):
    """The root of every exception geogate raises."""


class PolicyError(GeogateError):
    """
    A policy set could not be loaded.

    Attributes:
        diagnostics: Every problem found (errors and warnings), in file order.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        lines = [f"{len(errors)} error(s) in the policy set; nothing was loaded:"]
        lines.extend(str(d) for d in self.diagnostics)
        super().__init__("\n".join(lines))

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """The diagnostics of severity ``error``."""
        return tuple(d for d in self.diagnostics if d.severity == "error")


class UnknownFeatureError(GeogateError, LookupError):
    """
    A strict gate was asked about a feature that no policy defines.

    Attributes:
        feature: The id that was asked for.
        known: The ids the policy set defines.
    """

    def __init__(self, feature: str, known: Sequence[str], suggestion: str | None) -> None:
        self.feature = feature
        self.known = tuple(known)
        msg = f"no feature {feature!r} in the loaded policies"
        if suggestion is not None:
            msg += f"; did you mean {suggestion!r}?"
        else:
            msg += f"; known features: {', '.join(self.known) or '(none)'}"
        super().__init__(msg)


class GeoDatabaseError(GeogateError):
    """
    A GeoIP database cannot be used; raised when a gate is built, never per request.

    Attributes:
        path: The database path as given.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


class DecisionLogError(GeogateError):
    """
    A decision log file cannot be written: another `geogate.FileSink` holds it.

    Raised when the sink is built, never per decision. A file has one writer
    at a time (rotation renames it under any other), held through an
    advisory lock on ``NAME.lock`` beside it.

    Attributes:
        path: The decision log file.
        holder: The process that holds it, when known.
    """

    def __init__(self, message: str, path: Path, holder: int | None = None) -> None:
        self.path = path
        self.holder = holder
        super().__init__(message)


class PolicySourceError(GeogateError):
    """
    A ``git:`` side could not be read: no git, no repository, no such revision or path.

    Attributes:
        spec: The side as written (``git:HEAD~1:policies``).
    """

    def __init__(self, message: str, spec: str) -> None:
        self.spec = spec
        super().__init__(message)


class RevisionMismatchError(GeogateError):
    """
    The policy files are not the ones expected: their revision differs from ``expect_revision``.

    Nothing was loaded. The revision is the ``sha256:`` of the very bytes
    that were read, so a file changed after review, on disk or in transit, is
    refused.

    Attributes:
        where: The policy paths, as given.
        expected: The revision that was expected (``sha256:...``).
        actual: The revision of the files that were read.
    """

    def __init__(self, where: str, expected: str, actual: str) -> None:
        self.where = where
        self.expected = expected
        self.actual = actual
        msg = (
            f"the policies at {where} have revision {actual!r}, but {expected!r} was "
            "expected; nothing was loaded. The files differ from the reviewed policy set: "
            "deploy the reviewed files, or, if this change was reviewed, expect its revision "
            "(`geogate check` prints it)"
        )
        super().__init__(msg)
