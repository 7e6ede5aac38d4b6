"""A gate of one feature ``f`` from a few lines of rules, and what it decides."""

from __future__ import annotations

import textwrap

from geogate import Gate

__all__ = ["DAY", "feature_gate", "outcome", "write_policy"]

#: The day `outcome` decides on unless told otherwise.
DAY = "2026-01-01"


def write_policy(tmp_path, text):
    """Write one policy file into *tmp_path* and return the directory."""
    (tmp_path / "policy.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def feature_gate(tmp_path, rules, *, strict=False, jurisdictions="", **settings):
    """
    Load a gate with one feature ``f`` whose rules are the YAML list *rules*.

    *settings* are the feature's keys (``default`` is ``allow`` unless given).
    """
    settings = {"default": "allow", **settings}
    lines = ["features:", "  f:"]
    lines += [f"    {key}: {value}" for key, value in settings.items()]
    lines.append("    rules:")
    lines += [f"      {line}" for line in textwrap.dedent(rules).strip().splitlines()]
    text = "\n".join(lines) + "\n"
    if jurisdictions:
        text = "jurisdictions:\n" + textwrap.indent(textwrap.dedent(jurisdictions), "  ") + text
    return Gate.from_path(write_policy(tmp_path, text), strict=strict)


def outcome(gate, **kwargs):
    """Return ``(effect, rule)`` of feature ``f`` for the request in *kwargs*."""
    kwargs.setdefault("at", DAY)
    decision = gate.evaluate("f", **kwargs)
    return str(decision.effect), decision.rule
