"""
Policy test cases: the `Case` model, and how a test file's document becomes cases.

A test file is YAML, read with the policy loader's own machinery
(`geogate._policy.source`, `geogate._policy.fields`), so a bad test file gets the same
``path:line:col`` diagnostics with stable codes as a bad policy file. Its cases
are checked against the policy set: an unknown feature, country, subdivision,
jurisdiction or rule is an error, never a case that passes by accident. A file
looks like this::

    cases:
      - feature: llama-3.2-vision
        at: 2026-01-01
        deny: {rule: eu-multimodal-withheld, locations: [EU]}
        allow: [GB, US, JE]
      - feature: llama-3.2-vision-license
        domicile: DE
        expect: deny
        rule: aup-eu-domicile

A case is single (``expect:`` with a place) or a table (``allow:`` and
``deny:`` lists of places, one case per place). The places themselves are read
by `geogate._policytests.places`; finding and reading the files is `geogate._policytests.files`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import itertools
from typing import TYPE_CHECKING, Literal

import attrs

from geogate._policy.codes import Code
from geogate._policy.diagnostics import Position
from geogate._policy.fields import Reader
from geogate._policy.model import Basis, Effect, PolicySet
from geogate._policy.nodes import MappingNode, Node

from .places import read_ip, read_places

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from geogate._policy.model import Feature

__all__ = ["Case", "FileParser"]


_CASE_KEYS = (
    "feature",
    "at",
    "country",
    "subdivision",
    "ip",
    "domicile",
    "expect",
    "rule",
    "allow",
    "deny",
    "signal",
    "note",
)
_EXPECTATIONS = ("allow", "deny")
_SIGNALS = ("location", "domicile")

Expectation = Literal["allow", "deny"]


@attrs.frozen(kw_only=True)
class Case:
    """
    One pinned decision: a feature, a place, a date and the expected effect.

    Attributes:
        id: Readable and unique across a run:
            ``policies/tests/meta.yaml::llama-3.2-vision deny FR @2026-01-01``.
        path: The test file, as displayed in diagnostics.
        line: The line of the case, or of its row in a table.
        feature: The feature id.
        country: ISO 3166-1 code (or a pseudo-code such as ``XX`` for an
            unknown location), or None.
        subdivision: ISO 3166-2 code, or None.
        ip: An IP address, located with the gate's GeoIP database, or None.
        domicile: ISO 3166-1 code of the domicile, or None.
        at: The date to decide for; None means the day the case runs (UTC).
        expect: ``allow`` or ``deny``.
        rule: The rule expected to decide, when the case pins one.
    """

    id: str
    path: str
    line: int
    feature: str
    country: str | None = None
    subdivision: str | None = None
    ip: str | None = None
    domicile: str | None = None
    at: dt.date | None = None
    expect: Expectation
    rule: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "id": self.id,
            "path": self.path,
            "line": self.line,
            "feature": self.feature,
            "country": self.country,
            "subdivision": self.subdivision,
            "ip": self.ip,
            "domicile": self.domicile,
            "at": None if self.at is None else self.at.isoformat(),
            "expect": self.expect,
            "rule": self.rule,
        }


#: One value a location field takes: the code and where it is written.
_Option = tuple[str, Position]


@attrs.define
class FileParser:
    """
    Reads the cases of one test file, checked against the policy set.

    Attributes:
        path: The test file, as displayed in diagnostics and case ids.
        policy: The policy set the cases are checked against.
        reader: Reports every problem found (as diagnostics) and reads values.
        default_at: The date for cases that give none (None: the day they run).
    """

    path: str
    policy: PolicySet
    reader: Reader
    default_at: dt.date | None

    def parse(self, root: Node) -> Iterable[tuple[Case, Position | None]]:
        """Yield each case with the position of its written place (None: from a jurisdiction)."""
        top = self.reader.mapping(root, "the top level", required=("cases",))
        if top is None:
            return
        node = top.get("cases")
        items = None if node is None else self.reader.sequence(node, "cases")
        if node is None or items is None:
            return
        if not items:
            self.reader.diagnose(
                node.position,
                Code.NO_CASES,
                "the list 'cases' is empty",
                hint="add a case, or delete the file",
            )
        for index, item in enumerate(items):
            yield from self._case(item, f"cases[{index}]")

    def _case(self, node: Node, where: str) -> Iterable[tuple[Case, Position | None]]:
        reader = self.reader
        mapping = reader.mapping(node, where, required=("feature",), optional=_CASE_KEYS[1:])
        if mapping is None:
            return
        feature = self._feature(mapping.get("feature"), f"{where}.feature")
        at_node = mapping.get("at")
        at = reader.date(at_node, f"{where}.at")
        ok = at_node is None or at is not None
        at = at or self.default_at
        day = at or dt.datetime.now(dt.UTC).date()
        reader.text(mapping.get("note"), f"{where}.note")
        signal = self._shape(mapping, where, feature)
        if signal is None:
            return
        fixed: dict[str, list[_Option | None]] = {}
        for name in ("country", "subdivision", "domicile", "ip"):
            value = mapping.get(name)
            if value is None:
                fixed[name] = [None]
                continue
            if name == "ip":
                address = read_ip(self.reader, value, f"{where}.ip")
                options = None if address is None else [(address, value.position, True)]
            else:
                options = read_places(
                    self.reader, self.policy.jurisdictions, value, f"{where}.{name}", name, day
                )
            ok = ok and options is not None
            fixed[name] = [(code, position) for code, position, _ in options or ()]
        rows = self._rows(mapping, where, feature, signal, day)
        if rows is None or not ok or feature is None:
            return
        for expect, rule, places in rows:
            written_places: list[tuple[str, Position, bool] | None] = list(places) or [None]
            for place in written_places:
                fields = dict(fixed)
                line = mapping.position.line
                written: Position | None = mapping.position
                if place is not None:
                    code, position, was_written = place
                    varied = "subdivision" if "-" in code else "country"
                    fields["domicile" if signal == "domicile" else varied] = [(code, position)]
                    line, written = position.line, position if was_written else None
                locations = _locations(fields["country"], fields["subdivision"])
                for (country, subdivision), domicile, ip in itertools.product(
                    locations, fields["domicile"], fields["ip"]
                ):
                    case = self._make(
                        feature.id,
                        expect,
                        rule,
                        at,
                        line,
                        country=country,
                        subdivision=subdivision,
                        domicile=domicile,
                        ip=ip,
                    )
                    yield case, written

    def _shape(self, mapping: MappingNode, where: str, feature: Feature | None) -> str | None:
        """
        Check that the case is single or a table, without clashing keys; return its signal.

        The signal is what a table's rows give: the ``location`` or the
        ``domicile`` (by default the domicile for a feature decided on it).
        """
        reader = self.reader
        tables = [key.text for key, _ in mapping.entries if key.text in _EXPECTATIONS]
        if mapping.get("expect") is not None and tables:
            self._conflict(mapping, where, "expect", tables)
            return None
        if mapping.get("expect") is None and not tables:
            if mapping.complete:
                reader.diagnose(
                    mapping.position,
                    Code.MISSING_KEY,
                    f"{where} has no 'expect' (nor an 'allow' or 'deny' table)",
                    hint="add 'expect: allow' or 'expect: deny' with a place, "
                    "or list places under 'allow:' and 'deny:'",
                )
            return None
        signal_node = mapping.get("signal")
        if signal_node is not None and not tables:
            self._conflict(mapping, where, "signal", ["expect"])
            return None
        signal = reader.choice(signal_node, f"{where}.signal", _SIGNALS, Code.INVALID_SIGNAL)
        if signal_node is not None and signal is None:
            return None
        if signal is None:
            basis = None if feature is None else feature.basis
            signal = "domicile" if basis is Basis.DOMICILE else "location"
        varied = ("domicile",) if signal == "domicile" else ("country", "subdivision", "ip")
        clash = [name for name in varied if tables and mapping.get(name) is not None]
        if clash:
            self._conflict(mapping, where, clash[0], tables)
            return None
        clash = [name for name in ("country", "subdivision") if mapping.get(name) is not None]
        if mapping.get("ip") is not None and clash:
            self._conflict(mapping, where, "ip", clash)
            return None
        return signal

    def _rows(
        self, mapping: MappingNode, where: str, feature: Feature | None, signal: str, day: dt.date
    ) -> list[tuple[Expectation, str | None, list[tuple[str, Position, bool]]]] | None:
        """Read the expectations: ``expect`` (no places of its own) or the tables."""
        reader = self.reader
        rule_node = mapping.get("rule")
        case_rule = reader.text(rule_node, f"{where}.rule", required=True)
        ok = rule_node is None or case_rule is not None
        present = [(key.text, node) for key, node in mapping.entries if key.text in _EXPECTATIONS]
        if rule_node is not None and len(present) > 1:
            reader.diagnose(
                rule_node.position,
                Code.AMBIGUOUS_RULE_PIN,
                f"{where}.rule pins one rule for both its 'allow' and its 'deny' table; "
                "a rule either allows or denies",
                hint="pin the rule of one table: 'deny: {rule: ID, locations: [...]}'",
            )
            ok, case_rule = False, None
        rows: list[tuple[Expectation, str | None, list[tuple[str, Position, bool]]]] = []
        expect_node = mapping.get("expect")
        if expect_node is not None:
            expect = reader.choice(
                expect_node, f"{where}.expect", _EXPECTATIONS, Code.INVALID_EXPECT
            )
            if expect is None:
                return None
            pinned = self._check_rule(
                feature, case_rule, rule_node, _expectation(expect), f"{where}.rule"
            )
            ok = ok and pinned
            rows.append((_expectation(expect), case_rule, []))
        for name, table in present:
            parsed = self._table(table, f"{where}.{name}", signal, day)
            if parsed is None:
                ok = False
                continue
            places, rule, pin = parsed
            if rule is not None and rule_node is not None:
                self._conflict(mapping, where, "rule", [f"{name}.rule"])
                return None
            if rule is None:
                rule, pin, pin_where = case_rule, rule_node, f"{where}.rule"
            else:
                pin_where = f"{where}.{name}.rule"
            pinned = self._check_rule(feature, rule, pin, _expectation(name), pin_where)
            ok = ok and pinned
            rows.append((_expectation(name), rule, places))
        return rows if ok else None

    def _make(
        self,
        feature: str,
        expect: Expectation,
        rule: str | None,
        at: dt.date | None,
        line: int,
        *,
        country: _Option | None,
        subdivision: _Option | None,
        domicile: _Option | None,
        ip: _Option | None,
    ) -> Case:
        values = {
            "country": None if country is None else country[0],
            "subdivision": None if subdivision is None else subdivision[0],
            "domicile": None if domicile is None else domicile[0],
            "ip": None if ip is None else ip[0],
        }
        return Case(
            id=_case_id(self.path, feature, expect, at, **values),
            path=self.path,
            line=line,
            feature=feature,
            at=at,
            expect=expect,
            rule=rule,
            **values,
        )

    def _conflict(self, mapping: MappingNode, where: str, key: str, others: Sequence[str]) -> None:
        position = next((k.position for k, _ in mapping.entries if k.text == key), None)
        self.reader.diagnose(
            position or mapping.position,
            Code.CONFLICTING_KEYS,
            f"{where} has both {key!r} and {' and '.join(repr(o) for o in others)}",
            hint=_CONFLICT_HINTS.get(key, "keep one of them"),
        )

    def _feature(self, node: Node | None, where: str) -> Feature | None:
        name = self.reader.text(node, where, required=True)
        if name is None or node is None:
            return None
        found = self.policy.features.get(name)
        if found is None:
            close = difflib.get_close_matches(name, list(self.policy.features), n=1)
            known = ", ".join(self.policy.features) or "(none)"
            self.reader.diagnose(
                node.position,
                Code.UNKNOWN_FEATURE,
                f"{where} names the feature {name!r}, which the policies do not define",
                hint=f"did you mean {close[0]!r}?" if close else f"the features are: {known}",
            )
        return found

    def _check_rule(
        self,
        feature: Feature | None,
        rule_id: str | None,
        node: Node | None,
        expect: Expectation,
        where: str,
    ) -> bool:
        """Check that a pinned rule exists, belongs to the feature and has the expected effect."""
        if rule_id is None or node is None or feature is None:
            return True
        rules = {rule.id: rule for f in self.policy.features.values() for rule in f.rules}
        found = rules.get(rule_id)
        if found is None:
            own = [rule.id for rule in feature.rules]
            close = difflib.get_close_matches(rule_id, own, n=1)
            self.reader.diagnose(
                node.position,
                Code.UNKNOWN_RULE,
                f"{where} names the rule {rule_id!r}, which the policies do not define",
                hint=f"did you mean {close[0]!r}?"
                if close
                else f"the rules of {feature.id!r} are: {', '.join(own) or '(none)'}",
            )
            return False
        if found.feature != feature.id:
            self.reader.diagnose(
                node.position,
                Code.RULE_OF_OTHER_FEATURE,
                f"{where} names the rule {rule_id!r}, which belongs to the feature "
                f"{found.feature!r}, not {feature.id!r}",
                hint=f"the rules of {feature.id!r} are: "
                f"{', '.join(rule.id for rule in feature.rules) or '(none)'}",
            )
            return False
        if found.effect != Effect(expect):
            self.reader.diagnose(
                node.position,
                Code.RULE_EFFECT_MISMATCH,
                f"{where} expects {expect} by the rule {rule_id!r}, which is a "
                f"{found.kind.value} rule: the case could never pass",
                hint="pin a rule with the expected effect, or fix the expectation",
            )
            return False
        return True

    def _table(
        self, node: Node, where: str, signal: str, day: dt.date
    ) -> tuple[list[tuple[str, Position, bool]], str | None, Node | None] | None:
        """Read a table: a list of places, or ``{rule: ID, locations: [...]}``."""
        rule: str | None = None
        rule_node: Node | None = None
        places_node = node
        places_where = where
        if isinstance(node, MappingNode):
            mapping = self.reader.mapping(node, where, required=("locations",), optional=("rule",))
            assert mapping is not None  # noqa: S101 (a mapping was checked above)
            rule_node = mapping.get("rule")
            rule = self.reader.text(rule_node, f"{where}.rule", required=True)
            locations = mapping.get("locations")
            if locations is None or (rule_node is not None and rule is None):
                return None
            places_node, places_where = locations, f"{where}.locations"
        items = self.reader.sequence(places_node, places_where)
        if items is None:
            return None
        if not items:
            self.reader.diagnose(
                places_node.position,
                Code.EMPTY_TABLE,
                f"{places_where} is empty",
                hint="list at least one country, subdivision or jurisdiction, or remove it",
            )
            return None
        places: list[tuple[str, Position, bool]] = []
        ok = True
        for index, item in enumerate(items):
            found = read_places(
                self.reader,
                self.policy.jurisdictions,
                item,
                f"{places_where}[{index}]",
                signal,
                day,
            )
            if found is None:
                ok = False
            else:
                places.extend(found)
        return (places, rule, rule_node) if ok else None


_CONFLICT_HINTS = {
    "expect": "a case is either single ('expect:' with a place) or a table "
    "('allow:' and 'deny:' lists of places); split it in two",
    "ip": "an IP address is located only when no country or subdivision is given; keep one",
    "rule": "pin the rule once: in the table's mapping or on the case",
    "signal": "'signal:' says what the rows of an 'allow'/'deny' table vary; "
    "a single case does not need it",
}
for _name in ("country", "subdivision", "domicile"):
    _CONFLICT_HINTS[_name] = (
        f"the rows of the table give the {'domicile' if _name == 'domicile' else 'location'}; "
        f"remove {_name!r}, or set 'signal:' to vary the other one"
    )


def _locations(
    countries: Sequence[_Option | None], subdivisions: Sequence[_Option | None]
) -> list[tuple[_Option | None, _Option | None]]:
    """
    Pair the values of ``country`` and ``subdivision``.

    A jurisdiction under ``country:`` stands for its members, and the
    subdivisions among them (``UA-43`` of ``OCCUPIED-UA``) are subdivisions
    of the case, not countries.
    """
    pairs: list[tuple[_Option | None, _Option | None]] = []
    for country in countries:
        if country is not None and "-" in country[0]:
            pairs.append((None, country))
        else:
            pairs.extend((country, subdivision) for subdivision in subdivisions)
    return pairs


def _expectation(text: str) -> Expectation:
    return "allow" if text == "allow" else "deny"


def _case_id(
    path: str,
    feature: str,
    expect: str,
    at: dt.date | None,
    *,
    country: str | None,
    subdivision: str | None,
    domicile: str | None,
    ip: str | None,
) -> str:
    parts = [p for p in (subdivision or country,) if p]
    if subdivision and country:
        parts = [f"{country}/{subdivision}"]
    if ip:
        parts.append(f"ip {ip}")
    if domicile:
        parts.append(f"domicile {domicile}")
    place = " ".join(parts) or "unknown location"
    when = f" @{at.isoformat()}" if at is not None else ""
    return f"{path}::{feature} {expect} {place}{when}"
