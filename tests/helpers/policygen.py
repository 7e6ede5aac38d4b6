"""
Random policy sets for hypothesis, and the YAML they are written as.

Two shapes, sharing the rule generator and writer:

- `feature_strategy`: one feature as ``(default, unknown, rules)``, for tests
  that place features in files themselves (rule and file order, in
  `laws/test_decisions.py`);
- `policy_specs`: a whole policy set, a `PolicySpec` (a custom jurisdiction
  built from other jurisdictions, a custom jurisdiction REGIONS holding
  subdivisions and perhaps a country, some of them members for a window
  only, one to three features, each with a basis, rules with windows that
  target countries, subdivisions and jurisdictions, and ``overrides:``
  declarations; with ``partials=True`` also the ``partial`` setting), for the
  laws in `laws/test_policy_sets.py`. `policy_pairs` draws two sets, either
  independent or the second a mutation of the first, so that diffs are both
  large and small.

A rule is ``(kind, targets, start, length)``: ``from: start`` and ``until:
start + length`` days when both are given; a rule with only a length ends
``length`` days after 2010-01-01. Rule ``i`` of feature ``f`` has the id
``f-ri``. Some generated sets are refused at load time (ambiguous rules);
`load` returns their diagnostics instead of a gate.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import attrs
from hypothesis import HealthCheck
from hypothesis import strategies as st

from geogate import Gate, PolicyError
from helpers import properties

__all__ = [
    "BASES",
    "FEATURE_IDS",
    "JURISDICTIONS",
    "REGION_MEMBERS",
    "SET_TARGETS",
    "TARGETS",
    "FeatureSpec",
    "PolicySpec",
    "examples",
    "feature_specs",
    "feature_strategy",
    "feature_yaml",
    "load",
    "load_spec",
    "policy_files",
    "policy_pairs",
    "policy_specs",
    "rule_yaml",
    "rules_strategy",
    "window",
]


def examples(count):
    """
    Settings for a property over generated policy sets, worth *count* examples.

    As `helpers.properties.examples`, with the too-slow health check off: loading
    a policy set per example is slow by nature.
    """
    return properties.examples(count, suppress_health_check=[HealthCheck.too_slow])


# One feature at a time: (default, unknown, rules).

TARGETS = [
    "EU",
    "EEA",
    "EFTA",
    "UK",
    "WORLD",
    "NORDIC",
    "FR",
    "DE",
    "GB",
    "NO",
    "CH",
    "IE",
    "SE",
    "GB-NIR",
    "FR-IDF",
]
JURISDICTIONS = "jurisdictions:\n  NORDIC: [DK, SE, NO, FI, IS]\n"
KINDS = ["allow", "deny", "hard_deny"]
_STARTS = st.none() | st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31))
_LENGTHS = st.none() | st.integers(0, 20 * 365)

rules_strategy = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True),
        _STARTS,
        _LENGTHS,
    ),
    min_size=1,
    max_size=5,
)
feature_strategy = st.tuples(
    st.sampled_from(["allow", "deny"]),
    st.sampled_from(["allow", "deny"]),
    rules_strategy,
)


def window(rule):
    """The first and last day (both inclusive, None: open) of a generated rule."""
    _, _, start, length = rule
    if start is not None:
        return start, None if length is None else start + dt.timedelta(days=length)
    if length is not None:
        return None, dt.date(2010, 1, 1) + dt.timedelta(days=length)
    return None, None


def rule_yaml(feature, index, rule, overrides=None):
    """One rule as a YAML flow mapping; *overrides* is the index of a rule it declares."""
    kind, targets, _, _ = rule
    start, end = window(rule)
    parts = [f"id: {feature}-r{index}", f"{kind}: [{', '.join(targets)}]", "reason: r"]
    if start is not None:
        parts.append(f"from: {start.isoformat()}")
    if end is not None:
        parts.append(f"until: {end.isoformat()}")
    if overrides is not None:
        parts.append(f"overrides: {feature}-r{overrides}")
    return "{" + ", ".join(parts) + "}"


def feature_yaml(name, feature, order):
    """A ``(default, unknown, rules)`` feature under ``features:``, its rules in *order*."""
    default, unknown, rules = feature
    lines = [f"  {name}:", f"    default: {default}", f"    unknown: {unknown}", "    rules:"]
    lines += [f"      - {rule_yaml(name, i, rules[i])}" for i in order]
    return "\n".join(lines) + "\n"


def load(folder, files):
    """Write *files* into the new *folder* and load it: (gate, ()) or (None, diagnostics)."""
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    try:
        return Gate.from_path(folder), ()
    except PolicyError as error:
        return None, {(d.severity, d.code, d.message) for d in error.diagnostics}


# Whole policy sets.

#: The targets of whole sets: `TARGETS`, the custom jurisdictions BLOC and REGIONS, RE (EU
#: territory with its own code), US and UA, subdivisions nested in others (GB-BFS in
#: GB-NIR), and subdivisions that split a country (US-IL, US-TX, GB-SCT, UA-43).
SET_TARGETS = [
    *TARGETS, "BLOC", "REGIONS", "RE", "US", "UA", "GB-BFS", "ES-CN", "US-IL", "US-TX", "GB-SCT",
    "UA-43",
]  # fmt: skip
#: What REGIONS may hold: subdivisions (some of them inside others, or inside places other
#: targets name) and one country, each perhaps for a window only.
REGION_MEMBERS = ["UA-43", "UA-40", "UA-14", "UA-09", "US-IL", "GB-SCT", "GB-NIR", "FR-IDF",
                  "ES-CN", "CH"]  # fmt: skip
#: REGIONS when a set does not draw its own: four occupied Ukrainian regions, two from 2022.
DEFAULT_REGIONS = (
    ("UA-43", None, None),
    ("UA-40", None, None),
    ("UA-14", dt.date(2022, 2, 21), None),
    ("UA-09", dt.date(2022, 2, 21), None),
)
#: What BLOC may be made of: countries, built-in and custom jurisdictions.
BLOC_MEMBERS = ["AT", "CH", "PL", "US", "RE", "EU", "EFTA", "NORDIC", "UK"]
FEATURE_IDS = ("f", "g", "h")
BASES = ("location", "domicile", "location+domicile")


@attrs.frozen
class FeatureSpec:
    """
    One generated feature.

    Attributes:
        default: ``allow`` or ``deny``.
        unknown: ``allow`` or ``deny``.
        basis: One of `BASES`.
        rules: ``(kind, targets, start, length)`` tuples; rule ``i`` is ``<feature>-ri``.
        overrides: Per rule, the index of the rule it declares to override, or None.
        partial: ``allow`` or ``deny`` (the default, and then not written).
    """

    default: str
    unknown: str
    basis: str
    rules: tuple[tuple[str, tuple[str, ...], dt.date | None, int | None], ...]
    overrides: tuple[int | None, ...]
    partial: str = "deny"

    def yaml(self, name, order):
        """The feature under ``features:``, its rules in *order*."""
        lines = [f"  {name}:", f"    default: {self.default}", f"    unknown: {self.unknown}"]
        if self.partial != "deny":
            lines.append(f"    partial: {self.partial}")
        if self.basis != "location":
            lines.append(f"    basis: {self.basis}")
        lines.append("    rules:" if self.rules else "    rules: []")
        lines += [f"      - {rule_yaml(name, i, self.rules[i], self.overrides[i])}" for i in order]
        return "\n".join(lines) + "\n"


@attrs.frozen
class PolicySpec:
    """
    One generated policy set.

    Attributes:
        bloc: The members of the custom jurisdiction BLOC (NORDIC is always defined too).
        features: Feature id -> its spec, sorted by id.
        regions: The members of the custom jurisdiction REGIONS, each ``(code, from,
            until)`` (both inclusive, None: open).
    """

    bloc: tuple[str, ...]
    features: tuple[tuple[str, FeatureSpec], ...]
    regions: tuple[tuple[str, dt.date | None, dt.date | None], ...] = DEFAULT_REGIONS

    def feature(self, name):
        """The spec of feature *name*, or None."""
        return dict(self.features).get(name)

    def jurisdictions_yaml(self):
        """The ``jurisdictions:`` section."""
        regions = []
        for code, start, end in self.regions:
            if start is None and end is None:
                regions.append(code)
                continue
            parts = [f"code: {code}"]
            parts += [f"from: {start.isoformat()}"] if start is not None else []
            parts += [f"until: {end.isoformat()}"] if end is not None else []
            regions.append("{" + ", ".join(parts) + "}")
        return (
            JURISDICTIONS
            + f"  BLOC: [{', '.join(self.bloc)}]\n"
            + f"  REGIONS: [{', '.join(regions)}]\n"
        )


def policy_files(spec, orders=None, *, split=False):
    """
    Write *spec* as policy files: one file, or (*split*) one per feature in reverse order.

    *orders* gives, per feature, the order its rules are written in (default: as drawn).
    """
    orders = orders or {}
    sections = {
        name: feature.yaml(name, orders.get(name, range(len(feature.rules))))
        for name, feature in spec.features
    }
    if not split:
        return {
            "policy.yaml": spec.jurisdictions_yaml() + "features:\n" + "".join(sections.values())
        }
    files = {"z-jurisdictions.yaml": spec.jurisdictions_yaml()}
    for index, (name, text) in enumerate(reversed(sections.items())):
        files[f"{index}-{name}.yaml"] = "features:\n" + text
    return files


def load_spec(spec, orders=None, *, split=False):
    """Load *spec* from a temporary directory, as `load` does."""
    with tempfile.TemporaryDirectory() as tmp:
        return load(Path(tmp) / "policies", policy_files(spec, orders, split=split))


_BASIS = st.sampled_from(["location", "location", "location", "domicile", "location+domicile"])
_EFFECT = st.sampled_from(["allow", "deny"])
_BLOCS = st.lists(st.sampled_from(BLOC_MEMBERS), min_size=1, max_size=4, unique=True).map(tuple)
_REGION_DAYS = st.dates(dt.date(2005, 1, 1), dt.date(2030, 12, 31))


@st.composite
def _region(draw, code):
    """A member of REGIONS: always, from a day, until a day, or for a window."""
    start = draw(st.none() | _REGION_DAYS)
    end = draw(st.none() | _REGION_DAYS)
    if start is not None and end is not None and end < start:
        start, end = end, start
    return code, start, end


_REGIONS = st.lists(st.sampled_from(REGION_MEMBERS), min_size=1, max_size=4, unique=True).flatmap(
    lambda codes: st.tuples(*(_region(code) for code in codes))
)


@st.composite
def feature_specs(draw, partials=False):
    """
    A feature for a whole set; a domicile feature targets no subdivision (a load error).

    With *partials*, the ``partial`` setting is drawn too (else it is the default, deny).
    """
    basis = draw(_BASIS)
    pool = [t for t in SET_TARGETS if basis != "domicile" or "-" not in t]
    rules = draw(
        st.lists(
            st.tuples(
                st.sampled_from(KINDS),
                st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True).map(tuple),
                _STARTS,
                _LENGTHS,
            ),
            max_size=5,
        )
    )
    overrides = []
    for index in range(len(rules)):
        other = draw(st.none() | st.integers(0, len(rules) - 1))
        # Declaring an override of itself or of a hard_deny is a load error: never drawn.
        valid = other is not None and other != index and rules[other][0] != "hard_deny"
        overrides.append(other if valid else None)
    partial = draw(_EFFECT) if partials else "deny"
    return FeatureSpec(draw(_EFFECT), draw(_EFFECT), basis, tuple(rules), tuple(overrides), partial)


@st.composite
def policy_specs(draw, partials=False):
    """A whole policy set: BLOC, REGIONS and one to three features (*partials*: drawn)."""
    bloc = draw(_BLOCS)
    regions = draw(st.just(DEFAULT_REGIONS) | _REGIONS)
    ids = draw(st.lists(st.sampled_from(FEATURE_IDS), min_size=1, max_size=3, unique=True))
    features = tuple((name, draw(feature_specs(partials))) for name in sorted(ids))
    return PolicySpec(bloc, features, regions)


def _flip(effect):
    return "deny" if effect == "allow" else "allow"


@st.composite
def _mutation(draw, spec):
    """*spec* with features kept, changed, dropped or redrawn, perhaps another BLOC or REGIONS."""
    bloc = spec.bloc
    if draw(st.booleans()):
        bloc = draw(_BLOCS)
    regions = spec.regions
    if draw(st.integers(0, 3)) == 0:
        regions = draw(_REGIONS)
    features = []
    for name in FEATURE_IDS:
        old = spec.feature(name)
        how = draw(st.sampled_from(["keep", "keep", "default", "unknown", "rule", "drop", "new"]))
        if how == "new":
            features.append((name, draw(feature_specs())))
        elif old is None or how == "drop":
            continue
        elif how == "keep":
            features.append((name, old))
        elif how == "default":
            features.append((name, attrs.evolve(old, default=_flip(old.default))))
        elif how == "unknown":
            features.append((name, attrs.evolve(old, unknown=_flip(old.unknown))))
        elif how == "rule" and old.rules:
            # Drop the last rule, and any declaration that it is overridden.
            last = len(old.rules) - 1
            overrides = tuple(None if o == last else o for o in old.overrides[:last])
            features.append((name, attrs.evolve(old, rules=old.rules[:last], overrides=overrides)))
        elif how == "rule":
            features.append((name, old))
    return PolicySpec(bloc, tuple(features), regions) if features else spec


@st.composite
def policy_pairs(draw):
    """Two policy sets: independent, or the second a mutation of the first."""
    first = draw(policy_specs())
    second = draw(st.one_of(policy_specs(), _mutation(first)))
    return first, second
