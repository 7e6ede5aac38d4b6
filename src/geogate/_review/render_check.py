"""
Diagnostics for tools, and the split places: what ``geogate check`` prints besides its lines.

GitHub workflow annotations, a SARIF 2.1.0 log, and the list of split places.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from geogate._policy.codes import CODES
from geogate._version import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

    from geogate._engine.splits import SplitPlace
    from geogate._policy.diagnostics import Diagnostic

__all__ = ["github_annotation", "sarif", "split_places_text"]

_SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def split_places_text(splits: Sequence[SplitPlace]) -> str | None:
    """List the split places under a heading that says what they mean (None when none)."""
    if not splits:
        return None
    lines = [
        click.style("Split places", bold=True)
        + ": rules decide differently inside them; a request naming only the place gets the "
        "feature's partial setting, or deny where a hard_deny rule decides inside"
    ]
    lines += [f"  {split.describe()}" for split in splits]
    return "\n".join(lines)


def _escape(text: str, *, property_value: bool = False) -> str:
    """Escape text for a GitHub workflow command (its data, or a property value)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_annotation(diagnostic: Diagnostic) -> str:
    """Return ``::warning file=...,line=...,col=...,title=code::message`` (hint on a new line)."""
    position = diagnostic.position
    message = diagnostic.message
    if diagnostic.hint:
        message += f"\nhint: {diagnostic.hint}"
    properties = ",".join(
        (
            f"file={_escape(position.path, property_value=True)}",
            f"line={position.line}",
            f"col={position.column}",
            f"title={_escape(diagnostic.code, property_value=True)}",
        )
    )
    return f"::{diagnostic.severity} {properties}::{_escape(message)}"


def _anchor(code: str) -> str:
    return CODES[code].anchor if code in CODES else code


def sarif(diagnostics: Sequence[Diagnostic]) -> dict[str, object]:
    """Return a SARIF 2.1.0 log: one rule per code, one result per diagnostic."""
    codes = sorted({d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    rules = [
        {
            "id": code,
            "name": code,
            "shortDescription": {"text": CODES[code].summary if code in CODES else code},
            "help": {"text": f"See docs/diagnostics.md#{_anchor(code)} in geogate."},
        }
        for code in codes
    ]
    results = [
        {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": d.severity,
            "message": {"text": d.message + (f"\nhint: {d.hint}" if d.hint else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": d.position.path.replace("\\", "/")},
                        "region": {"startLine": d.position.line, "startColumn": d.position.column},
                    }
                }
            ],
        }
        for d in diagnostics
    ]
    return {
        "$schema": _SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "geogate",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/geogate/",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
