"""``geogate diff``: what a policy change does to who gets which feature."""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

import click

from geogate._engine.decision import short_revision
from geogate._load.sources import load_side
from geogate._review.diff import diff_policies
from geogate._review.diffcells import HARD_INSIDE, UNDEFINED
from geogate.exceptions import PolicySourceError

from ._common import (
    DATE,
    ExitCode,
    echo_json,
    exit_code_for,
    features_option,
    format_option,
    print_diagnostics,
)

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable

    from geogate._load.sources import Side
    from geogate._policy.model import PolicySet, Rule
    from geogate._review.diff import (
        Change,
        ChangeGroup,
        FeatureDiff,
        Period,
        PlaceGroup,
        PolicyDiff,
        RuleChange,
    )

__all__ = ["diff"]

_WIDTH = 100


@click.command()
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@click.option("--at", type=DATE, default=None, help="Compare on this date [default: today, UTC].")
@click.option("--from", "start", type=DATE, default=None, help="Compare every day from this date…")
@click.option("--to", "end", type=DATE, default=None, help="…to this date (both inclusive).")
@features_option
@click.option(
    "--fail-on-new-access",
    is_flag=True,
    help="Exit 1 when a country, a subdivision or the unknown location gains access (a CI gate).",
)
@format_option(
    "text",
    "json",
    "markdown",
    help="text for people; json for tools; markdown for a pull-request comment.",
)
def diff(
    old: str,
    new: str,
    at: dt.date | None,
    start: dt.date | None,
    end: dt.date | None,
    features: tuple[str, ...],
    fail_on_new_access: bool,
    output: str,
) -> None:
    """
    Show which countries and subdivisions gain or lose access between two policy sets.

    OLD and NEW are each a policy file or directory, or git:REV[:PATH]: the
    policies at a revision of the git repository around the current directory
    (PATH defaults to `policies`), e.g. `geogate diff git:origin/main policies`.
    Places compared: every country (a request naming only it), every
    subdivision either side's rules name, and the rest of a country that
    rules name places inside; those are listed by country. Also lists
    features and rules added, removed or changed. Exit 0; 1 with
    --fail-on-new-access when any place (or the unknown location) gains
    access for any feature on any date compared, or when a side does not
    load; 3 when git, the repository, a revision or a path is missing.
    """
    if at is not None and (start is not None or end is not None):
        msg = "give either --at or --from/--to, not both"
        raise click.UsageError(msg)
    if (start is None) != (end is None):
        msg = "--from and --to go together: give both, or neither (and --at)"
        raise click.UsageError(msg)
    if start is not None and end is not None and end < start:
        msg = f"--to {end} is before --from {start}"
        raise click.UsageError(msg)
    old_policy, old_side = _load("OLD", old)
    new_policy, new_side = _load("NEW", new)
    unknown = [f for f in features if f not in old_policy.features and f not in new_policy.features]
    if unknown:
        known = ", ".join(sorted(set(old_policy.features) | set(new_policy.features))) or "(none)"
        msg = f"no feature {unknown[0]!r} on either side; known features: {known}"
        raise click.BadParameter(msg, param_hint="--feature")
    result = diff_policies(
        old_policy,
        new_policy,
        at=at,
        start=start,
        end=end,
        features=features or None,
        old_side=old_side,
        new_side=new_side,
    )
    if output == "json":
        echo_json(result.to_dict())
    elif output == "markdown":
        click.echo(markdown(result), nl=False)
    else:
        _print_text(result)
    if fail_on_new_access and result.new_access:
        sys.exit(ExitCode.FINDINGS)


def _load(which: str, spec: str) -> tuple[PolicySet, Side]:
    """Load one side, or print why not and exit (3 for git or a missing path, else 1)."""
    try:
        policy, diagnostics, side = load_side(spec)
    except PolicySourceError as error:
        click.echo(f"geogate: {which}: {error}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)
    if policy is None or side is None:
        print_diagnostics(diagnostics, err=True)
        errors = sum(d.severity == "error" for d in diagnostics)
        click.echo(
            f"geogate: the {which} policies {spec!r} did not load ({errors} error(s))", err=True
        )
        sys.exit(exit_code_for(diagnostics))
    return policy, side


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
    if all(c.scope == "country" for c in (*gained, *lost)):
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
    countries = sum(c.scope == "country" for c in changes)
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
    "default": "the default",
    "partial": "the partial setting",
    HARD_INSIDE: "a hard-deny rule inside",
    "ambiguous": "rules that disagree",
    "unknown": "the setting for unknown locations",
}


def _cause(when: str, effect: str, by: str, rule: str | None) -> str:
    """``was denied by rule face-ccpa``, ``now allowed by the default``."""
    past = "allowed" if effect == "allow" else "denied"
    if by == UNDEFINED:
        return f"{when} {past} (no such feature)"
    return f"{when} {past} by {f'rule {rule}' if by == 'rule' else _CAUSES.get(by, by)}"


def _causes(group: PlaceGroup) -> str:
    was = _cause("was", group.old, group.old_by, group.old_rule)
    return f"{was}; {_cause('now', group.new, group.new_by, group.new_rule)}"


def _places(group: PlaceGroup) -> str:
    """What a place group is about: ``US-CA, US-NY``, ``the rest of US``."""
    if group.scope == "country":
        return f"requests naming only {group.country}"
    if group.scope == "rest":
        return "the rest of " + " and of ".join(group.places)
    return ", ".join(group.places)


def _place_line(group: PlaceGroup) -> str:
    """``GB: GB-SCT (was denied by the default; now allowed by rule pilot-scotland)``."""
    return f"{group.country}: {_places(group)} ({_causes(group)})"


def _periods(periods: Iterable[Period]) -> str:
    return ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in periods)


def _window(rule: Rule) -> str:
    if rule.start is None and rule.end is None:
        return "always"
    if rule.end is None:
        return f"from {rule.start}"
    if rule.start is None:
        return f"until {rule.end}"
    return f"{rule.start} to {rule.end}"


def _describe_rule(rule: Rule) -> str:
    text = f"{rule.kind} {' '.join(t.code for t in rule.targets)}"
    return text if rule.start is None and rule.end is None else f"{text}, {_window(rule)}"


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
            parts.append(f"window {_window(old)} -> {_window(new)}")
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


def _print_text(result: PolicyDiff) -> None:
    click.echo(click.style("geogate diff", bold=True) + f" — {_when(result)}")
    click.echo(f"  {_side('old:', result.old)}")
    click.echo(f"  {_side('new:', result.new)}")
    for fid, feature in result.features.items():
        click.echo()
        click.echo(click.style(fid, bold=True) + f"  ({feature.status})")
        _print_groups(
            "GAINS ACCESS", "green", feature.gained_groups, feature.gained_places, result.ranged
        )
        _print_groups(
            "LOSES ACCESS", "red", feature.lost_groups, feature.lost_places, result.ranged
        )
        for change in feature.unknown:
            note = "  (new access)" if change.new == "allow" else ""
            days = f"  [{_periods(change.periods)}]" if result.ranged else ""
            click.echo(f"  unknown locations: {change.old} -> {change.new}{note}{days}")
        for name, before, after in feature.settings:
            click.echo(f"  setting {name}: {before} -> {after}")
        if not (feature.gained or feature.lost or feature.unknown):
            click.echo("  no country or subdivision gains or loses access")
        for rule in feature.rules_added:
            _echo_wrapped(f"rule added: {rule.id} ({_describe_rule(rule)}): {rule.reason}")
        for rule in feature.rules_removed:
            _echo_wrapped(f"rule removed: {rule.id} ({_describe_rule(rule)})")
        for rule_change in feature.rules_changed:
            _echo_wrapped(f"rule changed: {rule_change.id} ({_describe_change(rule_change)})")
    click.echo()
    click.echo(textwrap.fill(summary(result), _WIDTH))
    if not result.empty:
        click.echo(f"New access: {'yes' if result.new_access else 'no'}.")


def _print_groups(
    title: str,
    colour: str,
    groups: tuple[ChangeGroup, ...],
    places: tuple[PlaceGroup, ...],
    ranged: bool,
) -> None:
    """Print whole countries by jurisdiction, then the places of divided countries."""
    if not groups and not places:
        return
    total = sum(len(g.countries) for g in groups) + sum(len(p.places) for p in places)
    click.echo(f"  {click.style(title, fg=colour)}: {total}")
    for group in groups:
        days = f"  [{_periods(group.periods)}]" if ranged else ""
        click.echo(
            textwrap.fill(
                " ".join(group.countries) + days,
                _WIDTH,
                initial_indent=f"    {group.label} ({len(group.countries)}): ",
                subsequent_indent=" " * 6,
            )
        )
    for place in places:
        days = f"  [{_periods(place.periods)}]" if ranged else ""
        click.echo(
            textwrap.fill(
                _place_line(place) + days,
                _WIDTH,
                initial_indent="    ",
                subsequent_indent=" " * 6,
            )
        )


def _echo_wrapped(text: str) -> None:
    click.echo(textwrap.fill(text, _WIDTH, initial_indent="  ", subsequent_indent="    "))


# -- markdown ------------------------------------------------------------------------------------


def markdown(result: PolicyDiff) -> str:
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
