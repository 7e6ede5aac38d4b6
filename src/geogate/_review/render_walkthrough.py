"""A walk-through for people: what ``geogate explain`` prints, numbered steps."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import click

from geogate._engine.decision import short_revision

if TYPE_CHECKING:
    from .walkthrough import WalkThrough

__all__ = ["walk_through_text"]

_WIDTH = 100


def walk_through_text(result: WalkThrough, feature: str) -> str:
    """Return the heading and the numbered steps, the verdict of the last one coloured."""
    lines = [
        click.style(f"Why {feature}", bold=True)
        + f" — as of {result.as_of}, policy {short_revision(result.revision)}"
    ]
    steps = result.steps
    for number, step in enumerate(steps, 1):
        prefix = f"{number}. "
        text = textwrap.fill(
            step,
            _WIDTH,
            initial_indent=prefix,
            subsequent_indent=" " * len(prefix),
            break_on_hyphens=False,
            break_long_words=False,
        )
        if number == len(steps):
            verdict = "ALLOWED" if result.decision.allowed else "DENIED"
            colour = "green" if result.decision.allowed else "red"
            text = text.replace(verdict, click.style(verdict, fg=colour, bold=True), 1)
        lines.append(text)
    return "\n".join(lines)
