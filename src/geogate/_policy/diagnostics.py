"""
Diagnostics: one problem in a policy file, as a value.

A diagnostic knows where it is (path, 1-based line and column), how bad it is,
a stable kebab-case code that tools and documentation can rely on, a message
that shows the bad value, and an optional hint on how to fix it.
"""

from __future__ import annotations

import attrs

from .codes import DiagnosticCode, Severity

__all__ = ["Diagnostic", "Position", "Severity"]


@attrs.frozen(order=True)
class Position:
    """
    A place in a policy file.

    Attributes:
        path: The file, as given or found (relative paths stay relative).
        line: 1-based line.
        column: 1-based column.
    """

    path: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@attrs.frozen(kw_only=True)
class Diagnostic:
    """
    One problem found while loading or checking a policy set.

    Attributes:
        position: Where the problem is.
        severity: ``error`` (the set does not load) or ``warning``.
        code: Stable kebab-case identifier, documented in docs/diagnostics.md
            (`geogate._policy.codes` defines each once).
        message: What is wrong, naming the bad value.
        hint: How to fix it, when there is something useful to say.
    """

    position: Position
    severity: Severity
    code: str
    message: str
    hint: str | None = None

    @classmethod
    def of(
        cls, code: DiagnosticCode, position: Position, message: str, hint: str | None = None
    ) -> Diagnostic:
        """Report *code* at *position*: its severity is the registry's (`Code`)."""
        return cls(
            position=position, severity=code.severity, code=code.code, message=message, hint=hint
        )

    def __str__(self) -> str:
        text = f"{self.position}: {self.severity}: {self.message} [{self.code}]"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "path": self.position.path,
            "line": self.position.line,
            "column": self.position.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }
