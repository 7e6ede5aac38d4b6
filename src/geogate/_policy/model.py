"""
The policy model: features, rules, targets and custom jurisdictions, as values.

Each class builds itself from a positioned node with a ``from_node``
classmethod that reports every problem to a `geogate._policy.fields.Reader` and
returns None where the node cannot make a valid value. Cross-file checks
(duplicate ids, references, ambiguity) belong to `geogate._load.loader` and
`geogate._load.analysis`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

import attrs

from geogate._world.countries import (
    SUBDIVISIONS_WITH_COUNTRY_CODE,
    UNKNOWN_CODES,
    LocationStatus,
    find_subdivision,
    normalize_country,
    part_of_country,
    subdivision_name,
    subdivisions_of,
    suggest_country,
)
from geogate._world.jurisdictions import JurisdictionTable

from .codes import Code
from .diagnostics import Diagnostic, Position
from .fields import ID_PATTERN
from .nodes import MappingNode, Node, ScalarNode

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from .fields import Reader

#: What `_listed` reads: a target, or a member of a custom jurisdiction.
_Item = TypeVar("_Item", "Target", "Member")

__all__ = [
    "Basis",
    "CustomJurisdiction",
    "Effect",
    "Feature",
    "Member",
    "PolicySet",
    "Rule",
    "RuleKind",
    "Target",
    "TargetKind",
]

_NAME_PATTERN = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*")


class Effect(enum.StrEnum):
    """What a decision does: offer the feature or withhold it."""

    ALLOW = "allow"
    DENY = "deny"


class RuleKind(enum.StrEnum):
    """The three kinds of rule; ``hard_deny`` is a deny that nothing overrides."""

    ALLOW = "allow"
    DENY = "deny"
    HARD_DENY = "hard_deny"

    @property
    def effect(self) -> Effect:
        """The effect a rule of this kind has."""
        return Effect.ALLOW if self is RuleKind.ALLOW else Effect.DENY


class Basis(enum.StrEnum):
    """Which signal a feature is decided on."""

    LOCATION = "location"
    DOMICILE = "domicile"
    LOCATION_AND_DOMICILE = "location+domicile"


class TargetKind(enum.IntEnum):
    """What a rule target names; a larger value is more specific."""

    JURISDICTION = 0
    COUNTRY = 1
    SUBDIVISION = 2


@attrs.frozen
class Target:
    """
    One entry of a rule's ``allow``, ``deny`` or ``hard_deny`` list.

    Attributes:
        kind: Jurisdiction, country or subdivision.
        code: The canonical name or code (``EU``, ``GB``, ``GB-NIR``).
        position: Where it is written.
    """

    kind: TargetKind
    code: str
    position: Position = attrs.field(eq=False)

    @classmethod
    def from_node(
        cls, node: Node, where: str, reader: Reader, jurisdictions: Collection[str]
    ) -> Target | None:
        """Resolve a written target against *jurisdictions* (built-in and custom names)."""
        if not isinstance(node, ScalarNode) or isinstance(node.value, dt.date):
            reader.wrong_type(node, where, "a country code, subdivision code or jurisdiction name")
            return None
        if node.broken:
            return None
        # The text as written: a plain `NO` is Norway, not YAML's False.
        text = node.text
        upper = text.upper()
        if upper in jurisdictions:
            return cls(TargetKind.JURISDICTION, upper, node.position)
        if "-" in upper:
            return cls._subdivision(node, upper, where, reader, jurisdictions)
        part = part_of_country(text)
        if part is not None:
            codes = " and ".join(repr(code) for code in part.subdivisions or (part.country,))
            reader.diagnose(
                node.position,
                Code.PART_OF_COUNTRY,
                f"{text!r} in {where} is not an ISO 3166-1 code: it names {part.name}, "
                f"part of {part.country!r} ({part.source})",
                hint=f"write {codes}; geogate reads {text.upper()!r} in a request as {codes}",
            )
            return None
        normalized = normalize_country(text)
        if normalized.status is LocationStatus.KNOWN:
            assert normalized.code is not None  # noqa: S101 (KNOWN always has a code)
            return cls(TargetKind.COUNTRY, normalized.code, node.position)
        if upper in UNKNOWN_CODES:
            reader.diagnose(
                node.position,
                Code.UNKNOWN_LOCATION_TARGET,
                f"{text!r} in {where} means an unknown location, which no rule can target",
                hint="say what happens to unknown locations with the feature's 'unknown:' "
                "setting (allow or deny; deny when absent)",
            )
            return None
        if len(upper) <= len("ABC") and upper.isalpha():
            suggestion = suggest_country(text)
            reader.diagnose(
                node.position,
                Code.UNKNOWN_COUNTRY,
                f"unknown country code {text!r} in {where}",
                hint=(f"did you mean {suggestion!r}? " if suggestion else "")
                + "Codes are ISO 3166-1 alpha-2; `geogate jurisdictions` lists the names.",
            )
            return None
        close = difflib.get_close_matches(upper, sorted(jurisdictions), n=1)
        reader.diagnose(
            node.position,
            Code.UNKNOWN_JURISDICTION,
            f"unknown jurisdiction {text!r} in {where}",
            hint=(f"did you mean {close[0]!r}? " if close else "")
            + "Define it under 'jurisdictions:', or use ISO country and subdivision codes; "
            "`geogate jurisdictions` lists the names.",
        )
        return None

    @classmethod
    def _subdivision(
        cls,
        node: ScalarNode,
        upper: str,
        where: str,
        reader: Reader,
        jurisdictions: Collection[str],
    ) -> Target | None:
        prefix, _, rest = upper.partition("-")
        country = normalize_country(prefix)
        if country.status is not LocationStatus.KNOWN or country.code is None:
            close = difflib.get_close_matches(upper, sorted(jurisdictions), n=1)
            reader.diagnose(
                node.position,
                Code.UNKNOWN_JURISDICTION,
                f"unknown jurisdiction {node.text!r} in {where}",
                hint=(f"did you mean {close[0]!r}? " if close else "")
                + "Define it under 'jurisdictions:'; `geogate jurisdictions` lists the names.",
            )
            return None
        code = f"{country.code}-{rest}"
        if find_subdivision(code) is None:
            suggestion = _suggest_subdivision(code, country.code)
            reader.diagnose(
                node.position,
                Code.UNKNOWN_SUBDIVISION,
                f"unknown subdivision code {node.text!r} in {where}",
                hint=f"did you mean {suggestion!r} ({subdivision_name(suggestion)})?"
                if suggestion
                else f"ISO 3166-2 lists the subdivisions of {country.code}; "
                f"for example {_example_subdivision(country.code)}",
            )
            return None
        own = SUBDIVISIONS_WITH_COUNTRY_CODE.get(code)
        if own is not None:
            reader.diagnose(
                node.position,
                Code.SUBDIVISION_HAS_COUNTRY_CODE,
                f"{node.text!r} ({subdivision_name(code)}) in {where} has its own "
                f"ISO 3166-1 code {own!r}",
                hint=f"write {own!r}: locations there are reported as {own}, not as {country.code}",
            )
            return None
        return cls(TargetKind.SUBDIVISION, code, node.position)


def _suggest_subdivision(code: str, country: str) -> str | None:
    """Suggest a subdivision by the start of its name (GB-SCO: Scotland), else by spelling."""
    rest = code.partition("-")[2]
    candidates = subdivisions_of(country)
    if len(rest) >= len("ABC"):
        named = [c for c in candidates if subdivision_name(c).upper().startswith(rest)]
        if named:  # the broadest first: Scotland before the Scottish Borders
            return min(named, key=lambda c: (find_subdivision(c).parent_code is not None, c))
    close = difflib.get_close_matches(code, candidates, n=1, cutoff=0.8)
    return close[0] if close else None


def _example_subdivision(country: str) -> str:
    found = subdivisions_of(country)
    return repr(found[0]) if found else "(none: this country has no subdivisions)"


def _listed(
    node: Node,
    where: str,
    reader: Reader,
    read: Callable[[Node, str], _Item | None],
    code: Callable[[_Item], str],
    twice: str = "",
) -> tuple[_Item, ...] | None:
    """
    Read a non-empty list with *read*, one item per entry; None when an entry is wrong.

    An item equal to an earlier one is dropped with a ``duplicate-target``
    warning (*twice* ends its message); an empty list is ``empty-targets``.
    """
    items = reader.sequence(node, where)
    if items is None:
        return None
    if not items:
        reader.diagnose(
            node.position,
            Code.EMPTY_TARGETS,
            f"{where} is empty",
            hint="list at least one country, subdivision or jurisdiction",
        )
        return None
    found: list[_Item] = []
    seen: set[_Item] = set()
    ok = True
    for index, item in enumerate(items):
        value = read(item, f"{where}[{index}]")
        if value is None:
            ok = False
        elif value in seen:
            reader.diagnose(
                item.position,
                Code.DUPLICATE_TARGET,
                f"{code(value)!r} appears twice in {where}{twice}",
                hint="remove the second one",
            )
        else:
            seen.add(value)
            found.append(value)
    return tuple(found) if ok else None


def _targets(
    node: Node, where: str, reader: Reader, jurisdictions: Collection[str]
) -> tuple[Target, ...] | None:
    return _listed(
        node,
        where,
        reader,
        lambda item, at: Target.from_node(item, at, reader, jurisdictions),
        lambda target: target.code,
    )


_RULE_KINDS = tuple(kind.value for kind in RuleKind)


@attrs.frozen(kw_only=True)
class Rule:
    """
    One rule of a feature.

    Attributes:
        id: Unique across the whole policy set.
        feature: The id of the feature it belongs to.
        kind: allow, deny or hard_deny.
        targets: Where it applies.
        reason: Why, in words a non-engineer can read.
        source: Where the reason comes from (a URL or a citation), if given.
        overrides: Ids of broader rules this one is declared to override.
        start: First day it applies (inclusive), or None.
        end: Last day it applies (inclusive), or None.
        position: Where the rule starts in its file.
    """

    id: str
    feature: str
    kind: RuleKind
    targets: tuple[Target, ...]
    reason: str
    source: str | None = None
    overrides: tuple[str, ...] = ()
    start: dt.date | None = None
    end: dt.date | None = None
    position: Position = attrs.field(eq=False)

    @property
    def effect(self) -> Effect:
        """Allow or deny."""
        return self.kind.effect

    def active(self, at: dt.date) -> bool:
        """Tell whether the rule's window contains *at*."""
        return (self.start is None or self.start <= at) and (self.end is None or at <= self.end)

    @classmethod
    def from_node(
        cls,
        node: Node,
        where: str,
        feature: str,
        reader: Reader,
        jurisdictions: Collection[str],
    ) -> Rule | None:
        """Build a rule from its mapping, or report why it cannot be one."""
        named = _rule_name(node, feature)
        if named is not None:  # name the rule by its id from the first diagnostic on
            where = named
        mapping = reader.mapping(
            node,
            where,
            required=("id", "reason"),
            optional=(*_RULE_KINDS, "source", "overrides", "from", "until"),
        )
        if mapping is None:
            return None
        get = mapping.fields().get
        id_node = get("id")
        rule_id = None
        if isinstance(id_node, ScalarNode) and not id_node.broken:
            rule_id = reader.identifier(id_node, f"{where}.id")
        elif id_node is not None:
            reader.wrong_type(id_node, f"{where}.id", "a string")
        kinds = [(key, value) for key, value in mapping.entries if key.text in _RULE_KINDS]
        if len(kinds) != 1:
            names = ", ".join(key.text for key, _ in kinds) or "none"
            reader.diagnose(
                mapping.position,
                Code.RULE_KIND,
                f"{where} must have exactly one of allow, deny, hard_deny; it has {names}",
                hint="split it into one rule per effect"
                if kinds
                else "add 'allow:', 'deny:' or 'hard_deny:' with the places it applies to",
            )
            targets = None
            kind = None
        else:
            key, value = kinds[0]
            kind = RuleKind(key.text)
            targets = _targets(value, f"{where}.{key.text}", reader, jurisdictions)
        reason = reader.text(get("reason"), f"{where}.reason", required=True)
        source = reader.text(get("source"), f"{where}.source")
        overrides = _overrides(get("overrides"), where, reader)
        in_order, start, end = _read_window(get, where, reader)
        if not in_order:
            return None
        if rule_id is None or kind is None or targets is None or reason is None:
            return None
        if overrides is None:
            return None
        return cls(
            id=rule_id,
            feature=feature,
            kind=kind,
            targets=targets,
            reason=reason,
            source=source,
            overrides=overrides,
            start=start,
            end=end,
            position=mapping.position,
        )


def _read_window(
    get: Callable[[str], Node | None], where: str, reader: Reader
) -> tuple[bool, dt.date | None, dt.date | None]:
    """
    Read ``from`` and ``until`` (inclusive days) with *get*.

    Returns whether they are in order (a ``window-order`` error when not), and
    each date, None when absent or not a date (reported by the reader).
    """
    start = reader.date(get("from"), f"{where}.from")
    end = reader.date(get("until"), f"{where}.until")
    if start is not None and end is not None and end < start:
        until = get("until")
        assert until is not None  # noqa: S101 (end came from it)
        reader.diagnose(
            until.position,
            Code.WINDOW_ORDER,
            f"{where} ends ({end}) before it starts ({start})",
            hint="'from' and 'until' are both inclusive; swap them or fix the dates",
        )
        return False, start, end
    return True, start, end


def _rule_name(node: Node, feature: str) -> str | None:
    """Return ``features.F.rules[ID]`` when *node* is a rule with a valid id."""
    id_node = node.get("id") if isinstance(node, MappingNode) else None
    if not isinstance(id_node, ScalarNode) or id_node.broken:
        return None
    if ID_PATTERN.fullmatch(id_node.text) is None:
        return None
    return f"features.{feature}.rules[{id_node.text}]"


def _overrides(node: Node | None, where: str, reader: Reader) -> tuple[str, ...] | None:
    if node is None:
        return ()
    items = (node,) if isinstance(node, ScalarNode) else reader.sequence(node, f"{where}.overrides")
    if items is None:
        return None
    ids: list[str] = []
    for item in items:
        if not isinstance(item, ScalarNode) or not isinstance(item.value, str):
            reader.wrong_type(item, f"{where}.overrides", "a rule id or a list of rule ids")
            return None
        ids.append(item.text)
    return tuple(ids)


@attrs.frozen(kw_only=True)
class Feature:
    """
    A model or feature whose availability depends on where it is offered.

    Attributes:
        id: Unique across the policy set; the flag key in OpenFeature.
        description: What it is, for people.
        owner: Who answers for it.
        tags: Free-form labels.
        default: The effect when no rule applies.
        unknown: The effect when the location is unknown (an invalid one is
            always denied).
        partial: The effect for a request that names a place the rules
            decide differently inside (``US`` when only ``US-IL`` is denied),
            unless a ``hard_deny`` rule decides inside: then deny.
        basis: Which signal decides: location, domicile, or both.
        rules: The rules, in file order (order never changes a decision).
        position: Where the feature is defined.
    """

    id: str
    description: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    default: Effect
    unknown: Effect = Effect.DENY
    partial: Effect = Effect.DENY
    basis: Basis = Basis.LOCATION
    rules: tuple[Rule, ...] = ()
    position: Position = attrs.field(eq=False)

    @classmethod
    def from_node(
        cls, key: ScalarNode, node: Node, reader: Reader, jurisdictions: Collection[str]
    ) -> Feature | None:
        """Build a feature from its mapping, or report why it cannot be one."""
        feature_id = reader.identifier(key, "a feature")
        where = f"features.{key.text}"
        mapping = reader.mapping(
            node,
            where,
            required=("default",),
            optional=("description", "owner", "tags", "unknown", "partial", "basis", "rules"),
        )
        if mapping is None:
            return None
        get = mapping.fields().get
        effects = [effect.value for effect in Effect]
        default = reader.choice(get("default"), f"{where}.default", effects, Code.INVALID_DEFAULT)
        unknown = reader.choice(get("unknown"), f"{where}.unknown", effects, Code.INVALID_UNKNOWN)
        partial = reader.choice(get("partial"), f"{where}.partial", effects, Code.INVALID_PARTIAL)
        bases = [b.value for b in Basis]
        basis = reader.choice(get("basis"), f"{where}.basis", bases, Code.INVALID_BASIS)
        tags = _tags(get("tags"), f"{where}.tags", reader)
        rules: list[Rule] = []
        ok = default is not None and tags is not None
        ok = ok and (get("unknown") is None or unknown is not None)
        ok = ok and (get("partial") is None or partial is not None)
        ok = ok and (get("basis") is None or basis is not None)
        rules_node = get("rules")
        items = () if rules_node is None else reader.sequence(rules_node, f"{where}.rules")
        if items is None:
            ok = False
        for index, item in enumerate(items or ()):
            rule = Rule.from_node(item, f"{where}.rules[{index}]", key.text, reader, jurisdictions)
            if rule is None:
                ok = False
            else:
                rules.append(rule)
        description = reader.text(get("description"), f"{where}.description")
        owner = reader.text(get("owner"), f"{where}.owner")
        if not ok or feature_id is None or default is None or tags is None:
            return None
        return cls(
            id=feature_id,
            description=description,
            owner=owner,
            tags=tags,
            default=Effect(default),
            unknown=Effect(unknown) if unknown is not None else Effect.DENY,
            partial=Effect(partial) if partial is not None else Effect.DENY,
            basis=Basis(basis) if basis is not None else Basis.LOCATION,
            rules=tuple(rules),
            position=key.position,
        )


def _tags(node: Node | None, where: str, reader: Reader) -> tuple[str, ...] | None:
    if node is None:
        return ()
    items = reader.sequence(node, where)
    if items is None:
        return None
    tags = [reader.text(item, f"{where}[{i}]", required=True) for i, item in enumerate(items)]
    return None if None in tags else tuple(t for t in tags if t is not None)


@attrs.frozen
class Member:
    """
    One entry of a custom jurisdiction: a place or a jurisdiction, for a window.

    Attributes:
        target: The country, subdivision or jurisdiction.
        start: First day it belongs (inclusive), or None.
        end: Last day it belongs (inclusive), or None.
    """

    target: Target
    start: dt.date | None = None
    end: dt.date | None = None


@attrs.frozen(kw_only=True)
class CustomJurisdiction:
    """
    A named set defined in a policy file: countries, subdivisions and other jurisdictions.

    Each member is written as a code (``UA-43``), or as a mapping with a
    window (``{code: UA-14, from: 2022-02-21}``).

    Attributes:
        name: Upper-case name, not a country code.
        members: What it contains, as written, each with its window.
        position: Where it is defined.
    """

    name: str
    members: tuple[Member, ...]
    position: Position = attrs.field(eq=False)

    @staticmethod
    def check_name(key: ScalarNode, reader: Reader, builtin: Collection[str]) -> str | None:
        """Return the name if it may name a custom jurisdiction, else report why not."""
        name = key.text
        where = f"jurisdictions.{name}"
        if name in builtin:
            reader.diagnose(
                key.position,
                Code.JURISDICTION_REDEFINED,
                f"{where} redefines the built-in jurisdiction {name!r}",
                hint="choose another name; built-in jurisdictions cannot change",
            )
            return None
        if _NAME_PATTERN.fullmatch(name) is None or len(name) < 3 or len(name) > 64:  # noqa: PLR2004
            reader.diagnose(
                key.position,
                Code.INVALID_JURISDICTION_NAME,
                f"{name!r} is not a valid jurisdiction name",
                hint="use 3 to 64 upper-case letters, digits and single hyphens, starting with a "
                "letter (for example EEA-CH-UK)",
            )
            return None
        if find_subdivision(name) is not None:
            reader.diagnose(
                key.position,
                Code.INVALID_JURISDICTION_NAME,
                f"{name!r} is an ISO 3166-2 subdivision code, so it cannot name a jurisdiction",
                hint="choose a name that is not a country or subdivision code",
            )
            return None
        return name

    @classmethod
    def from_node(
        cls, name: str, key: ScalarNode, node: Node, reader: Reader, jurisdictions: Collection[str]
    ) -> CustomJurisdiction | None:
        """Build a custom jurisdiction from its list of members."""
        # The same code with another window is another span of membership, not a duplicate.
        members = _listed(
            node,
            f"jurisdictions.{name}",
            reader,
            lambda item, at: _member(item, at, reader, jurisdictions),
            lambda member: member.target.code,
            " with the same window",
        )
        return None if members is None else cls(name=name, members=members, position=key.position)


def _member(
    node: Node, where: str, reader: Reader, jurisdictions: Collection[str]
) -> Member | None:
    """Build one member of a custom jurisdiction: a code, or a mapping with a window."""
    if not isinstance(node, MappingNode):
        target = Target.from_node(node, where, reader, jurisdictions)
        return None if target is None else Member(target)
    mapping = reader.mapping(node, where, required=("code",), optional=("from", "until"))
    if mapping is None:
        return None
    get = mapping.fields().get
    code = get("code")
    if code is None:  # the reader reported the missing key
        return None
    target = Target.from_node(code, f"{where}.code", reader, jurisdictions)
    in_order, start, end = _read_window(get, where, reader)
    if not in_order:
        return None
    if target is None or (get("from") is not None and start is None):
        return None
    if get("until") is not None and end is None:
        return None
    return Member(target, start, end)


@attrs.frozen(kw_only=True)
class PolicySet:
    """
    Every feature and custom jurisdiction of a loaded set of policy files.

    Attributes:
        features: Feature id -> feature, sorted by id.
        jurisdictions: Built-in and custom jurisdictions, answerable by date.
        revision: ``sha256:`` digest of the files' paths and bytes.
        files: The files loaded, as displayed in diagnostics.
        warnings: Diagnostics of severity ``warning`` (errors prevent loading).
        digests: Each file's name relative to its policy path -> the
            ``sha256:`` of its bytes (what ``geogate lock`` writes).
    """

    features: Mapping[str, Feature]
    jurisdictions: JurisdictionTable
    revision: str
    files: tuple[str, ...]
    warnings: tuple[Diagnostic, ...] = ()
    digests: Mapping[str, str] = attrs.field(factory=dict, kw_only=True)
