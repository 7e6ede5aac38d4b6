"""
A diff for people and pull requests: what ``geogate diff`` prints.

Text for a terminal and Markdown for a pull-request comment, with one sentence
of summary shared by both (the JSON is `geogate._review.diff.PolicyDiff.to_dict`).
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import click

from geogate._engine.decision import short_revision
from geogate._world.jurisdictions import describe_window

from .diff import Scope
from .diffcells import Cause

if TYPE_CHECKING:
    from collections.abc import Iterable

    from geogate._load.sources import Side
    from geogate._policy.model import Rule

    from .diff import Change, CountryGroup, FeatureDiff, Period, PlaceGroup, PolicyDiff, RuleChange

__all__ = ["diff_markdown", "diff_text", "summary"]

_WIDTH = 100


# -- words shared by the formats -----------------------------------------------------------------


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _when(result: PolicyDiff) -> str:
    if result.ranged:
        return f"from {result.start} to {result.end}"
    return f"as of {result.start}"


def summary(result: PolicyDiff) -> str:
    """One sentence: how many places gain and lose access, in how many features."""
    if result.empty:
        return f"No differences: every feature decides every country the same way, {_when(result)}."
    features = result.features.values()
    gained = [c for f in features for c in f.gained]
    lost = [c for f in features for c in f.lost]
    unknown = sum(any(c.new == "allow" for c in f.unknown) for f in features)
    if all(c.scope is Scope.COUNTRY for c in (*gained, *lost)):
        text = (
            f"{_plural(len(gained), 'country gains', 'countries gain')} access and "
            f"{_plural(len(lost), 'country loses', 'countries lose')} access"
        )
    else:
        text = f"{_count_places(gained, 'gain')} access and {_count_places(lost, 'lose')} access"
    if unknown:
        text += f", and unknown locations gain access in {_plural(unknown, 'feature', 'features')}"
    differ = _plural(len(result.features), "feature differs", "features differ")
    return f"{text}; {differ}, {_when(result)}."


def _count_places(changes: list[Change], verb: str) -> str:
    """``1 country and 2 places inside countries gain``, ``no place loses``."""
    countries = sum(c.scope is Scope.COUNTRY for c in changes)
    inside = len(changes) - countries
    parts = []
    if countries:
        parts.append(_plural(countries, "country", "countries"))
    if inside:
        parts.append(_plural(inside, "place inside a country", "places inside countries"))
    if not parts:
        return f"no place {verb}s"
    one = len(changes) == 1
    return f"{' and '.join(parts)} {verb}{'s' if one else ''}"


#: How each cause of a cell is named: "was denied by rule face-ccpa".
_CAUSES = {
    Cause.DEFAULT: "the default",
    Cause.PARTIAL: "the partial setting",
    Cause.HARD_INSIDE: "a hard-deny rule inside",
    Cause.AMBIGUOUS: "rules that disagree",
    Cause.UNKNOWN: "the setting for unknown locations",
}


def _cause(when: str, effect: str, by: Cause, rule: str | None) -> str:
    """``was denied by rule face-ccpa``, ``now allowed by the default``."""
    past = "allowed" if effect == "allow" else "denied"
    if by is Cause.UNDEFINED:
        return f"{when} {past} (no such feature)"
    return f"{when} {past} by {f'rule {rule}' if by is Cause.RULE else _CAUSES.get(by, by)}"


def _causes(group: PlaceGroup) -> str:
    was = _cause("was", group.old, group.old_by, group.old_rule)
    return f"{was}; {_cause('now', group.new, group.new_by, group.new_rule)}"


def _places(group: PlaceGroup) -> str:
    """What a place group is about: ``US-CA, US-NY``, ``the rest of US``."""
    if group.scope is Scope.COUNTRY:
        return f"requests naming only {group.country}"
    if group.scope is Scope.REST:
        return "the rest of " + " and of ".join(group.places)
    return ", ".join(group.places)


def _place_line(group: PlaceGroup) -> str:
    """``GB: GB-SCT (was denied by the default; now allowed by rule pilot-scotland)``."""
    return f"{group.country}: {_places(group)} ({_causes(group)})"


def _periods(periods: Iterable[Period]) -> str:
    return ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in periods)


def _describe_rule(rule: Rule) -> str:
    text = f"{rule.kind} {' '.join(t.code for t in rule.targets)}"
    return (
        text
        if rule.start is None and rule.end is None
        else f"{text}, {describe_window(rule.start, rule.end)}"
    )


def _describe_change(change: RuleChange) -> str:
    old, new = change.old, change.new
    parts: list[str] = []
    for name in change.fields:
        if name == "targets":
            moved = [f"+{c}" for c in change.targets_added]
            moved += [f"-{c}" for c in change.targets_removed]
            parts.append(f"targets {' '.join(moved)}")
        elif name == "kind":
            parts.append(f"kind {old.kind} -> {new.kind}")
        elif name == "window":
            before = describe_window(old.start, old.end)
            parts.append(f"window {before} -> {describe_window(new.start, new.end)}")
        elif name == "overrides":
            before = ", ".join(old.overrides) or "none"
            parts.append(f"overrides {before} -> {', '.join(new.overrides) or 'none'}")
        else:
            parts.append(name)
    return "; ".join(parts)


def _side(label: str, side: Side, quote: str = "") -> str:
    """Describe a side; *quote* is a backtick in markdown."""
    q = quote
    commit = f" (commit {q}{side.commit[:12]}{q})" if side.commit else ""
    return f"{label} {q}{side.spec}{q}{commit}, policy {q}{short_revision(side.revision)}{q}"


# -- text ----------------------------------------------------------------------------------------


def diff_text(result: PolicyDiff) -> str:
    """Return the diff for a terminal (without a final newline)."""
    lines = [
        click.style("geogate diff", bold=True) + f" — {_when(result)}",
        f"  {_side('old:', result.old)}",
        f"  {_side('new:', result.new)}",
    ]
    for fid, feature in result.features.items():
        lines.append("")
        lines.append(click.style(fid, bold=True) + f"  ({feature.status})")
        lines += _group_lines(
            "GAINS ACCESS", "green", feature.gained_groups, feature.gained_places, result.ranged
        )
        lines += _group_lines(
            "LOSES ACCESS", "red", feature.lost_groups, feature.lost_places, result.ranged
        )
        for change in feature.unknown:
            note = "  (new access)" if change.new == "allow" else ""
            days = f"  [{_periods(change.periods)}]" if result.ranged else ""
            lines.append(f"  unknown locations: {change.old} -> {change.new}{note}{days}")
        lines += [
            f"  setting {name}: {before} -> {after}" for name, before, after in feature.settings
        ]
        if not (feature.gained or feature.lost or feature.unknown):
            lines.append("  no country or subdivision gains or loses access")
        lines += [
            _wrapped(f"rule added: {rule.id} ({_describe_rule(rule)}): {rule.reason}")
            for rule in feature.rules_added
        ]
        lines += [
            _wrapped(f"rule removed: {rule.id} ({_describe_rule(rule)})")
            for rule in feature.rules_removed
        ]
        lines += [
            _wrapped(f"rule changed: {rule_change.id} ({_describe_change(rule_change)})")
            for rule_change in feature.rules_changed
        ]
    lines.append("")
    lines.append(textwrap.fill(summary(result), _WIDTH))
    if not result.empty:
        lines.append(f"New access: {'yes' if result.new_access else 'no'}.")
    return "\n".join(lines)


def _group_lines(
    title: str,
    colour: str,
    groups: tuple[CountryGroup, ...],
    places: tuple[PlaceGroup, ...],
    ranged: bool,
) -> list[str]:
    """Whole countries by jurisdiction, then the places of divided countries."""
    if not groups and not places:
        return []
    total = sum(len(g.countries) for g in groups) + sum(len(p.places) for p in places)
    lines = [f"  {click.style(title, fg=colour)}: {total}"]
    for group in groups:
        days = f"  [{_periods(group.periods)}]" if ranged else ""
        lines.append(
            textwrap.fill(
                " ".join(group.countries) + days,
                _WIDTH,
                initial_indent=f"    {group.label} ({len(group.countries)}): ",
                subsequent_indent=" " * 6,
            )
        )
    for place in places:
        days = f"  [{_periods(place.periods)}]" if ranged else ""
        lines.append(
            textwrap.fill(
                _place_line(place) + days,
                _WIDTH,
                initial_indent="    ",
                subsequent_indent=" " * 6,
            )
        )
    return lines


def _wrapped(text: str) -> str:
    return textwrap.fill(text, _WIDTH, initial_indent="  ", subsequent_indent="    ")


# -- markdown ------------------------------------------------------------------------------------


def diff_markdown(result: PolicyDiff) -> str:
    """Render the diff as a pull-request comment."""
    if result.empty:
        verdict = "no change in access"
    elif result.new_access:
        verdict = "new access"
    else:
        verdict = "no new access"
    lines = [f"**geogate diff: {verdict}.** {summary(result)}", ""]
    for fid, feature in result.features.items():
        lines.extend([f"### `{fid}` ({feature.status})", ""])
        lines.extend(_markdown_table(feature, result.ranged))
        lines.extend(_markdown_rules(feature))
    old, new = _side("Old:", result.old, "`"), _side("New:", result.new, "`")
    lines.append(f"<sub>{old}. {new}.</sub>")
    return "\n".join(lines) + "\n"


def _markdown_table(feature: FeatureDiff, ranged: bool) -> list[str]:
    rows: list[list[str]] = []
    divided = bool(feature.gained_places or feature.lost_places)
    for access, groups, places in (
        ("gains", feature.gained_groups, feature.gained_places),
        ("loses", feature.lost_groups, feature.lost_places),
    ):
        rows.extend(
            [
                f"**{access}**" if access == "gains" else access,
                f"{g.label} ({len(g.countries)})",
                " ".join(g.countries),
                _periods(g.periods),
            ]
            for g in groups
        )
        rows.extend(
            [
                f"**{access}**" if access == "gains" else access,
                p.country,
                f"{_places(p)} ({_causes(p)})",
                _periods(p.periods),
            ]
            for p in places
        )
    rows.extend(
        [
            "**gains**" if c.new == "allow" else "loses",
            "unknown locations",
            f"{c.old} → {c.new}",
            _periods(c.periods),
        ]
        for c in feature.unknown
    )
    if not rows:
        return ["No country or subdivision gains or loses access.", ""]
    head = ["Access", "Where", "Places" if divided else "Countries", "Days"]
    width = len(head) if ranged else len(head) - 1
    table = [head[:width], ["---"] * width, *(row[:width] for row in rows)]
    return [*("| " + " | ".join(cells) + " |" for cells in table), ""]


def _markdown_rules(feature: FeatureDiff) -> list[str]:
    items = [f"- setting `{name}`: {old} → {new}" for name, old, new in feature.settings]
    items += [
        f"- added `{r.id}`: {_describe_rule(r)}. {_escape(r.reason)}" for r in feature.rules_added
    ]
    items += [f"- removed `{r.id}`: {_describe_rule(r)}" for r in feature.rules_removed]
    items += [
        f"- changed `{c.id}`: {_describe_change(c).replace(' -> ', ' → ')}"
        for c in feature.rules_changed
    ]
    return [*items, ""] if items else []


def _escape(text: str) -> str:
    """Keep a rule's reason on one line and out of HTML."""
    return " ".join(text.split()).replace("<", "&lt;").replace(">", "&gt;")
