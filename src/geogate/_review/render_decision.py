"""One decision for people: what ``geogate eval`` prints (its JSON is `Decision.to_dict`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from geogate._engine.decision import Decision

__all__ = ["decision_text"]


def decision_text(decision: Decision) -> str:
    """Return the verdict and the explanation, then the rule, its place, source and context."""
    verdict = click.style(
        "ALLOWED" if decision.allowed else "DENIED",
        fg="green" if decision.allowed else "red",
        bold=True,
    )
    lines = [f"{verdict}  {decision.explanation}"]
    rows = [
        ("rule", decision.rule),
        ("defined at", decision.source),
        ("source", decision.citation),
        ("jurisdictions", ", ".join(decision.jurisdictions) or None),
        ("location", str(decision.location)),
        ("revision", decision.revision),
    ]
    lines += [f"  {label + ':':<15}{value}" for label, value in rows if value]
    return "\n".join(lines)
