"""
Declarative policy tests: cases that pin decisions, run against a gate, with coverage.

Test files are YAML in a ``tests/`` folder of a policy directory (the policy
loader skips those folders). They are read with the policy loader's own
machinery (`geogate._source`, `geogate._fields`), so a bad test file gets the
same ``path:line:col`` diagnostics with stable codes as a bad policy file, and
they are checked against the policy set: an unknown feature, country,
subdivision, jurisdiction or rule is an error, never a case that passes by
accident. A file looks like this::

    cases:
      - feature: llama-3.2-vision
        at: 2026-01-01
        deny: {rule: eu-multimodal-withheld, locations: [EU]}
        allow: [GB, US, JE]
      - feature: llama-3.2-vision-license
        domicile: DE
        expect: deny
        rule: aup-eu-domicile

Coverage is by decision, not by line: which rules decided at least one case,
and which jurisdictions and countries of the rules' targets were exercised.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import attrs

from ._countries import UNKNOWN_CODES, LocationStatus, subdivision_chain
from ._decision import Decision
from ._diagnostics import Diagnostic, Position
from ._explain import explain
from ._fields import Reader
from ._loader import _display, _read
from ._policy import Basis, Effect, PolicySet, Target, TargetKind
from ._source import Mapping, Node, Scalar, parse_text

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Sequence

    from ._gate import Gate
    from ._policy import Feature

__all__ = [
    "Case",
    "CaseResult",
    "Coverage",
    "FeatureCoverage",
    "coverage",
    "find_test_files",
    "load_cases",
    "run_case",
    "run_cases",
]

SUFFIXES = (".yaml", ".yml")
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
#: The codes `Reader.choice` derives from the field names read here (listed so
#: that the documentation test sees them): ``cases[0].expect`` -> invalid-expect.
CHOICE_CODES = ("invalid-expect", "invalid-signal")

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


@attrs.frozen(kw_only=True)
class CaseResult:
    """
    What a case gave.

    Attributes:
        case: The case run.
        passed: Whether the effect (and the pinned rule, if any) matched.
        decision: The gate's decision.
        message: Empty when passed; else what differs, then the explanation chain.
    """

    case: Case
    passed: bool
    decision: Decision
    message: str

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data: the case, the outcome and the decision."""
        return {
            **self.case.to_dict(),
            "passed": self.passed,
            "got": str(self.decision.effect),
            "got_rule": self.decision.rule,
            "message": self.message,
            "decision": self.decision.to_dict(),
        }


# Finding and reading test files.


def find_test_files(policy_paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """
    Return the test files of the policy directories in *policy_paths*, sorted.

    Every ``*.yaml`` and ``*.yml`` file below a folder named ``tests`` inside a
    policy directory (the folders the policy loader skips), hidden files and
    folders excepted. A policy file given on its own has no tests.
    """
    found: dict[Path, None] = {}
    for raw in policy_paths:
        root = Path(raw)
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            parts = path.relative_to(root).parts
            if (
                path.suffix in SUFFIXES
                and "tests" in parts[:-1]
                and not any(part.startswith(".") for part in parts)
                and path.is_file()
            ):
                found[path] = None
    return list(found)


def _expand(paths: Iterable[str | os.PathLike[str]], reader: Reader) -> list[Path]:
    """Files stay files; a directory gives its ``*.yaml`` and ``*.yml`` files, recursively."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            reader.diagnose(
                Position(str(path), 1, 1),
                "path-not-found",
                f"no such file or directory: {str(path)!r}",
                hint="pass test files or folders, or none to run the policy directory's tests/",
            )
        elif path.is_dir():
            found.update(
                dict.fromkeys(
                    sorted(
                        p
                        for p in path.rglob("*")
                        if p.suffix in SUFFIXES
                        and p.is_file()
                        and not any(part.startswith(".") for part in p.relative_to(path).parts)
                    )
                )
            )
        else:
            found[path] = None
    return list(found)


def load_cases(
    files: Sequence[str | os.PathLike[str]],
    policy: PolicySet,
    *,
    at: dt.date | None = None,
) -> tuple[list[Case], tuple[Diagnostic, ...]]:
    """
    Read test files (or folders of them) into cases, checked against *policy*.

    *at* is the date for cases that give none (their ``at`` stays None when
    *at* is None: they run on the day they run); a jurisdiction named in a case
    without a date expands to its members on *at*, else today (UTC).

    Returns the cases and every diagnostic, sorted by position. A caller must
    run no case when any diagnostic is an error: a case with an error is left
    out (or read without its bad key), and a run without it would pass where
    it should not. Never raises for problems in the files.
    """
    diagnostics: list[Diagnostic] = []
    reader = Reader(diagnostics.append)
    cases: list[Case] = []
    seen: dict[str, tuple[Case, bool]] = {}
    for path in _expand(files, reader):
        data = _read(path, reader)
        if data is None:
            continue
        display = _display(path)
        reported = len(diagnostics)
        root = parse_text(data, display, is_json=False, report=reader.report)
        if root is None:
            if len(diagnostics) == reported:
                reader.diagnose(
                    Position(display),
                    "empty-file",
                    "the file is empty (it holds no document, only white space or comments)",
                    hint="delete it, or add 'cases:'",
                    severity="warning",
                )
            continue
        parser = _FileParser(display, policy, reader, at)
        for case, written in parser.parse(root):
            known = seen.get(case.id)
            if known is None:
                seen[case.id] = (case, written is not None)
                cases.append(case)
                continue
            first, first_written = known
            if written is not None and first_written:
                # A member of a jurisdiction listed again on its own is no mistake.
                reader.diagnose(
                    Position(case.path, case.line, written.column),
                    "duplicate-case",
                    f"the case {case.id!r} is written twice "
                    f"(first at {first.path}:{first.line}); the second is skipped",
                    hint="remove one of them",
                    severity="warning",
                )
    diagnostics.sort(key=lambda d: (d.position, d.code))
    return cases, tuple(diagnostics)


#: One value a location field takes: the code and where it is written.
_Option = tuple[str, Position]


@attrs.define
class _FileParser:
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
                "no-cases",
                "the list 'cases' is empty",
                hint="add a case, or delete the file",
                severity="warning",
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
                address = self._ip(value, f"{where}.ip")
                options = None if address is None else [(address, value.position, True)]
            else:
                options = self._places(value, f"{where}.{name}", name, day)
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
                for country, subdivision, domicile, ip in itertools.product(
                    fields["country"], fields["subdivision"], fields["domicile"], fields["ip"]
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

    def _shape(self, mapping: Mapping, where: str, feature: Feature | None) -> str | None:
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
                    "missing-key",
                    f"{where} has no 'expect' (nor an 'allow' or 'deny' table)",
                    hint="add 'expect: allow' or 'expect: deny' with a place, "
                    "or list places under 'allow:' and 'deny:'",
                )
            return None
        signal_node = mapping.get("signal")
        if signal_node is not None and not tables:
            self._conflict(mapping, where, "signal", ["expect"])
            return None
        signal = reader.choice(signal_node, f"{where}.signal", _SIGNALS)
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
        self, mapping: Mapping, where: str, feature: Feature | None, signal: str, day: dt.date
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
                "ambiguous-rule-pin",
                f"{where}.rule pins one rule for both its 'allow' and its 'deny' table; "
                "a rule either allows or denies",
                hint="pin the rule of one table: 'deny: {rule: ID, locations: [...]}'",
            )
            ok, case_rule = False, None
        rows: list[tuple[Expectation, str | None, list[tuple[str, Position, bool]]]] = []
        expect_node = mapping.get("expect")
        if expect_node is not None:
            expect = reader.choice(expect_node, f"{where}.expect", _EXPECTATIONS)
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

    def _conflict(self, mapping: Mapping, where: str, key: str, others: Sequence[str]) -> None:
        position = next((k.position for k, _ in mapping.entries if k.text == key), None)
        self.reader.diagnose(
            position or mapping.position,
            "conflicting-keys",
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
                "unknown-feature",
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
                "unknown-rule",
                f"{where} names the rule {rule_id!r}, which the policies do not define",
                hint=f"did you mean {close[0]!r}?"
                if close
                else f"the rules of {feature.id!r} are: {', '.join(own) or '(none)'}",
            )
            return False
        if found.feature != feature.id:
            self.reader.diagnose(
                node.position,
                "rule-of-other-feature",
                f"{where} names the rule {rule_id!r}, which belongs to the feature "
                f"{found.feature!r}, not {feature.id!r}",
                hint=f"the rules of {feature.id!r} are: "
                f"{', '.join(rule.id for rule in feature.rules) or '(none)'}",
            )
            return False
        if found.effect != Effect(expect):
            self.reader.diagnose(
                node.position,
                "rule-effect-mismatch",
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
        if isinstance(node, Mapping):
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
                "empty-table",
                f"{places_where} is empty",
                hint="list at least one country, subdivision or jurisdiction, or remove it",
            )
            return None
        places: list[tuple[str, Position, bool]] = []
        ok = True
        for index, item in enumerate(items):
            found = self._places(item, f"{places_where}[{index}]", signal, day)
            if found is None:
                ok = False
            else:
                places.extend(found)
        return (places, rule, rule_node) if ok else None

    def _places(
        self, node: Node, where: str, field: str, day: dt.date
    ) -> list[tuple[str, Position, bool]] | None:
        """
        Read one place for *field*: the codes it stands for, with positions and a written flag.

        *field* is ``country``, ``subdivision``, ``domicile`` or ``location``
        (a table row: a country, a subdivision or a jurisdiction). A
        jurisdiction name stands for its members on *day* (written False); a
        pseudo-code such as ``XX`` stands for an unknown place.
        """
        kinds = _FIELD_KINDS[field]
        what = " or ".join(_KIND_WORDS[kind] for kind in sorted(kinds, reverse=True))
        if not isinstance(node, Scalar) or not isinstance(node.value, str | bool):
            self.reader.wrong_type(node, where, what)
            return None
        if node.broken:
            return None
        table = self.policy.jurisdictions
        upper = node.text.upper()
        if upper in UNKNOWN_CODES and upper not in table and TargetKind.COUNTRY in kinds:
            return [(upper, node.position, True)]
        target = Target.from_node(node, where, self.reader, table.jurisdictions)
        if target is None:
            return None
        if target.kind not in kinds:
            domicile = field == "domicile" and target.kind is TargetKind.SUBDIVISION
            self.reader.diagnose(
                node.position,
                "subdivision-domicile" if domicile else "wrong-type",
                f"{where} must be {what}, not {_KIND_WORDS[target.kind]} ({node.text!r})",
                hint=_KIND_HINTS[target.kind],
            )
            return None
        if target.kind is not TargetKind.JURISDICTION:
            return [(target.code, node.position, True)]
        members = sorted(table.members_at(target.code, day))
        if not members:
            self.reader.diagnose(
                node.position,
                "empty-jurisdiction",
                f"the jurisdiction {target.code!r} in {where} has no members on {day}, "
                "so it tests nothing",
                hint="name a date on which it has members, or list countries",
            )
            return None
        return [(code, node.position, False) for code in members]

    def _ip(self, node: Node | None, where: str) -> str | None:
        text = self.reader.text(node, where, required=True)
        if text is None or node is None:
            return None
        try:
            ipaddress.ip_address(text)
        except ValueError:
            self.reader.diagnose(
                node.position,
                "invalid-ip",
                f"{where} is not an IPv4 or IPv6 address: {text!r}",
                hint="write an address such as 81.2.69.160 or 2a02:c7c::1 (no port, no network)",
            )
            return None
        return text


_KIND_WORDS = {
    TargetKind.SUBDIVISION: "a subdivision code",
    TargetKind.COUNTRY: "a country code",
    TargetKind.JURISDICTION: "a jurisdiction name",
}
_KIND_HINTS = {
    TargetKind.SUBDIVISION: "a subdivision goes under 'subdivision:' (a domicile is a country)",
    TargetKind.COUNTRY: "a country goes under 'country:'",
    TargetKind.JURISDICTION: "a jurisdiction goes under 'country:' or in an 'allow'/'deny' table",
}
_PLACES = frozenset({TargetKind.COUNTRY, TargetKind.JURISDICTION})
_FIELD_KINDS = {
    "country": _PLACES,
    "domicile": _PLACES,
    "subdivision": frozenset({TargetKind.SUBDIVISION}),
    "location": _PLACES | {TargetKind.SUBDIVISION},
}
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


# Running.


def run_case(gate: Gate, case: Case) -> CaseResult:
    """Evaluate *case* with *gate*; on failure, say what differs and show the chain."""
    decision = gate.evaluate(
        case.feature,
        country=case.country,
        subdivision=case.subdivision,
        domicile=case.domicile,
        ip=case.ip,
        at=case.at,
    )
    got = str(decision.effect)
    effect_ok = got == case.expect
    rule_ok = case.rule is None or decision.rule == case.rule
    if effect_ok and rule_ok:
        return CaseResult(case=case, passed=True, decision=decision, message="")
    expected = case.expect + (f" by rule {case.rule}" if case.rule else "")
    by = f"rule {decision.rule}" if decision.rule else _fallback(decision)
    lines = [f"expected {expected}, got {got} by {by}"]
    if effect_ok:
        lines = [f"expected {expected}, got {got} by {by}: the right effect from the wrong rule"]
    lines.extend(_chain(gate, case, decision))
    return CaseResult(case=case, passed=False, decision=decision, message="\n".join(lines))


def run_cases(gate: Gate, cases: Sequence[Case]) -> list[CaseResult]:
    """Run every case, in order."""
    return [run_case(gate, case) for case in cases]


def _fallback(decision: Decision) -> str:
    if decision.error_code is not None:
        return "an error"
    if decision.location is LocationStatus.KNOWN:
        return "the feature's default"
    return "the feature's setting for unknown locations"


def _chain(gate: Gate, case: Case, decision: Decision) -> list[str]:
    """The explanation chain, numbered; for an IP, the chain of the place it was located in."""
    country, subdivision = case.country, case.subdivision
    if case.ip is not None:
        if decision.location_source != "geoip":
            return [f"  {decision.explanation}"]
        country, subdivision = decision.country, decision.subdivision
    steps = explain(
        gate.policy,
        case.feature,
        country=country,
        subdivision=subdivision,
        domicile=case.domicile,
        at=decision.as_of,
    ).steps
    return [f"  {number}. {step}" for number, step in enumerate(steps, 1)]


# Coverage by decision.


@attrs.frozen(kw_only=True)
class FeatureCoverage:
    """
    How well one feature's rules are pinned by the cases run.

    Attributes:
        feature: The feature id.
        cases: How many cases ran for it.
        rules: Its rule ids, in file order.
        decided: The rules that decided at least one case, in file order.
        fallbacks: ``default`` and ``unknown`` when the feature's fallback
            settings decided a case.
        jurisdictions: The jurisdictions named in its rules' targets.
        jurisdictions_exercised: Those that contained a case's place on its date.
        places: The countries and subdivisions of its rules' targets
            (jurisdictions expanded to every country ever a member).
        places_exercised: Those that a case's place was, or was within.
    """

    feature: str
    cases: int
    rules: tuple[str, ...]
    decided: tuple[str, ...]
    fallbacks: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    jurisdictions_exercised: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    places_exercised: tuple[str, ...] = ()

    @property
    def undecided(self) -> tuple[str, ...]:
        """The rules no case was decided by."""
        return tuple(rule for rule in self.rules if rule not in self.decided)

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "feature": self.feature,
            "cases": self.cases,
            "rules": list(self.rules),
            "decided": list(self.decided),
            "undecided": list(self.undecided),
            "fallbacks": list(self.fallbacks),
            "jurisdictions": list(self.jurisdictions),
            "jurisdictions_exercised": list(self.jurisdictions_exercised),
            "places": list(self.places),
            "places_exercised": list(self.places_exercised),
        }


@attrs.frozen(kw_only=True)
class Coverage:
    """
    Rule coverage of a run, by decision: a rule is covered when it decided a case.

    Attributes:
        features: One entry per feature of the policy set, sorted by id.
    """

    features: tuple[FeatureCoverage, ...]

    @property
    def rules(self) -> int:
        """How many rules the policy set has."""
        return sum(len(f.rules) for f in self.features)

    @property
    def decided(self) -> int:
        """How many rules decided at least one case."""
        return sum(len(f.decided) for f in self.features)

    @property
    def percent(self) -> float:
        """Percent of rules covered (100 when there are none)."""
        return 100.0 if not self.rules else 100.0 * self.decided / self.rules

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "rules": self.rules,
            "decided": self.decided,
            "percent": round(self.percent, 2),
            "features": [f.to_dict() for f in self.features],
        }


def coverage(policy: PolicySet, results: Sequence[CaseResult]) -> Coverage:
    """Say, per feature, which rules, jurisdictions and places the *results* exercised."""
    by_feature: dict[str, list[CaseResult]] = {}
    for result in results:
        by_feature.setdefault(result.case.feature, []).append(result)
    table = policy.jurisdictions
    features = []
    for feature in policy.features.values():
        mine = by_feature.get(feature.id, [])
        decided = {r.decision.rule for r in mine if r.decision.rule is not None}
        fallbacks = {
            "default" if r.decision.location is LocationStatus.KNOWN else "unknown"
            for r in mine
            if r.decision.rule is None and r.decision.error_code is None
        }
        named = {t.code for rule in feature.rules for t in rule.targets}
        jurisdictions = sorted(code for code in named if code in table)
        places = {code for code in named if code not in table}
        for name in jurisdictions:
            places.update(table.jurisdictions[name].members)
        touched_places: set[str] = set()
        touched_jurisdictions: set[str] = set()
        for result in mine:
            for country, subdivision in _signals(feature, result.decision):
                touched_places.add(country)
                touched_places.update(subdivision_chain(subdivision) if subdivision else ())
                touched_jurisdictions.update(table.containing(country, result.decision.as_of))
        features.append(
            FeatureCoverage(
                feature=feature.id,
                cases=len(mine),
                rules=tuple(rule.id for rule in feature.rules),
                decided=tuple(rule.id for rule in feature.rules if rule.id in decided),
                fallbacks=tuple(name for name in ("default", "unknown") if name in fallbacks),
                jurisdictions=tuple(jurisdictions),
                jurisdictions_exercised=tuple(
                    j for j in jurisdictions if j in touched_jurisdictions
                ),
                places=tuple(sorted(places)),
                places_exercised=tuple(sorted(places & touched_places)),
            )
        )
    return Coverage(features=tuple(features))


def _signals(feature: Feature, decision: Decision) -> list[tuple[str, str | None]]:
    """The known places a decision was made on: the location, the domicile or both."""
    found: list[tuple[str, str | None]] = []
    if feature.basis is not Basis.DOMICILE and decision.country is not None:
        found.append((decision.country, decision.subdivision))
    if feature.basis is not Basis.LOCATION and decision.domicile is not None:
        found.append((decision.domicile, None))
    return found
