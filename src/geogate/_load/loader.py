"""
Policy files on disk -> a validated `geogate._policy.model.PolicySet`, or every reason why not.

A directory is one policy set: every ``*.yaml``, ``*.yml`` and ``*.json``
below it, recursively, except in folders named ``tests`` (policy tests) and
hidden folders. Loading is all-or-nothing: the diagnostics of all files are
collected, and any error means no policy set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from geogate._policy.codes import CODES, Code
from geogate._policy.diagnostics import Diagnostic, Position
from geogate._policy.fields import Reader
from geogate._policy.gc import collector_paused
from geogate._policy.lock import digest, find_lock, mismatch, read_lock
from geogate._policy.model import CustomJurisdiction, Feature, Member, PolicySet, TargetKind
from geogate._policy.nodes import MappingNode, Node, ScalarNode
from geogate._policy.source import parse_text
from geogate._world.jurisdictions import (
    Jurisdiction,
    JurisdictionTable,
    Span,
    builtin_jurisdictions,
    describe_window,
)
from geogate.exceptions import PolicyError

from .analysis import analyse_features

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "ENVIRONMENT_CODES",
    "check_paths",
    "display_path",
    "is_policy_file",
    "load_policies",
    "read_file",
]

SUFFIXES = (".yaml", ".yml", ".json")


def is_policy_file(name: str) -> bool:
    """
    Tell whether a file found in a policy directory is a policy file, by its name.

    The suffix is compared in any case (``eu.YAML`` and ``a.Json`` are policy
    files: an editor or an operating system that capitalises a suffix must not
    make a file silently drop out of the set); hidden files are not.
    """
    return name.lower().endswith(SUFFIXES) and not name.startswith(".")


#: Upper bound on one policy file; larger files are refused unread.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Diagnostic codes that mean the files could not be read at all (CLI exit 3).
ENVIRONMENT_CODES = frozenset(entry.code for entry in CODES.values() if entry.environment)


def display_path(path: Path) -> str:
    """Show *path* relative to the working directory when it is below it, else as given."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # pragma: no cover (another drive on Windows)
        return str(path)
    outside = relative == os.pardir or relative.startswith(os.pardir + os.sep)
    return str(path) if outside else relative


def discover(paths: Iterable[str | os.PathLike[str]], reader: Reader) -> list[Path]:
    """Return the policy files under *paths*, sorted, each once."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            reader.diagnose(
                Position(str(path), 1, 1),
                Code.PATH_NOT_FOUND,
                f"no such file or directory: {str(path)!r}",
                hint="pass the policy directory with --policies, or set $GEOGATE_POLICIES",
            )
            continue
        if path.is_file():
            found[path] = None
            continue
        files = sorted(
            p
            for p in path.rglob("*")
            if is_policy_file(p.name)
            and p.is_file()
            and not any(
                part == "tests" or part.startswith(".") for part in p.relative_to(path).parts[:-1]
            )
        )
        if not files:
            reader.diagnose(
                Position(str(path), 1, 1),
                Code.NO_POLICY_FILES,
                f"{str(path)!r} holds no policy files (*.yaml, *.yml, *.json)",
                hint="a policy set needs at least one file with 'features:'",
            )
        found.update(dict.fromkeys(files))
    return list(found)


def read_file(path: Path, reader: Reader) -> bytes | None:
    """Return the bytes of a policy (or test) file, or None after saying why through *reader*."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            reader.diagnose(
                Position(display_path(path)),
                Code.FILE_TOO_LARGE,
                f"the file is {size:,} bytes; policy files may be at most {MAX_FILE_BYTES:,}",
                hint="split the policies into several files",
            )
            return None
        return path.read_bytes()
    except OSError as exc:
        reader.diagnose(
            Position(display_path(path)),
            Code.FILE_UNREADABLE,
            f"cannot read the file: {exc.strerror or exc}",
            hint="check that the file exists and that you may read it",
        )
        return None


def revision_of(contents: Sequence[tuple[str, bytes]]) -> str:
    """Return ``sha256:`` of the files' relative paths and bytes, in path order."""
    digest = hashlib.sha256()
    for name, data in sorted(contents):
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return "sha256:" + digest.hexdigest()


def check_paths(
    paths: Iterable[str | os.PathLike[str]], *, lock: bool = True
) -> tuple[PolicySet | None, tuple[Diagnostic, ...]]:
    """
    Load a policy set and return it with every diagnostic.

    The policy set is None when any diagnostic is an error. Never raises for
    problems in the files. When the first path is a directory holding a
    lock (`geogate._policy.lock`), files that do not match it are a
    ``lock-mismatch`` error, unless *lock* is False (``geogate lock`` itself).
    """
    with collector_paused():
        return _check_paths(list(paths), lock=lock)


def _check_paths(
    paths: Sequence[str | os.PathLike[str]], *, lock: bool
) -> tuple[PolicySet | None, tuple[Diagnostic, ...]]:
    diagnostics: list[Diagnostic] = []
    reader = Reader(diagnostics.append)
    roots_given = [Path(p) for p in paths]
    files = discover(roots_given, reader)
    roots: list[tuple[Path, MappingNode]] = []
    contents: list[tuple[str, bytes]] = []
    for path in files:
        data = read_file(path, reader)
        if data is None:
            continue
        contents.append((_relative_name(path, roots_given), data))
        reported = len(diagnostics)
        root = parse_text(data, display_path(path), is_json=path.suffix.lower() == ".json",
                          report=reader.report)  # fmt: skip
        if root is None:
            if len(diagnostics) == reported:  # no document, and nothing wrong with it
                reader.diagnose(
                    Position(display_path(path)),
                    Code.EMPTY_FILE,
                    "the file is empty (it holds no document, only white space or comments)",
                    hint="delete it, or add 'features:'",
                )
            continue
        mapping = reader.mapping(
            root, "the top level", optional=("features", "jurisdictions", "$schema")
        )
        if mapping is not None:
            reader.text(mapping.get("$schema"), "$schema")  # for editors; only its type matters
            roots.append((path, mapping))
    table, declared = _jurisdictions(roots, reader)
    features = _features(roots, reader, table, declared)
    if table is not None:
        analyse_features(features.values(), table, reader)
    revision = revision_of(contents)
    digests = {name: digest(data) for name, data in sorted(contents)}
    where = find_lock(paths) if lock else None
    if where is not None:
        found = read_lock(where, display_path(where))
        if isinstance(found, Diagnostic):
            diagnostics.append(found)
        elif found is not None and (wrong := mismatch(found, revision, digests)) is not None:
            diagnostics.append(wrong)
    diagnostics.sort(key=lambda d: (d.position, d.code))
    if table is None or any(d.severity == "error" for d in diagnostics):
        return None, tuple(diagnostics)
    policy = PolicySet(
        features=dict(sorted(features.items())),
        jurisdictions=table,
        revision=revision,
        files=tuple(display_path(p) for p in files),
        warnings=tuple(diagnostics),
        digests=digests,
    )
    return policy, tuple(diagnostics)


def _relative_name(path: Path, roots: Sequence[Path]) -> str:
    for root in roots:
        if path == root:
            return path.name
        if root.is_dir() and path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.as_posix()  # pragma: no cover (every file comes from a root)


def load_policies(*paths: str | os.PathLike[str]) -> PolicySet:
    """
    Load one policy set from files and directories.

    Raises:
        PolicyError: with every diagnostic, if any of them is an error.
    """
    policy, diagnostics = check_paths(paths)
    if policy is None:
        raise PolicyError(diagnostics)
    return policy


def _sections(roots: Iterable[tuple[Path, MappingNode]], name: str,
              reader: Reader) -> Iterable[tuple[ScalarNode, Node]]:  # fmt: skip
    for _, root in roots:
        section = root.get(name)
        if section is None:
            continue
        mapping = reader.mapping(section, name, optional=[k.text for k, _ in _entries(section)])
        if mapping is not None:
            yield from mapping.entries


def _entries(node: Node) -> tuple[tuple[ScalarNode, Node], ...]:
    return node.entries if isinstance(node, MappingNode) else ()


def _jurisdictions(
    roots: Sequence[tuple[Path, MappingNode]], reader: Reader
) -> tuple[JurisdictionTable | None, frozenset[str]]:
    """
    Return the built-in and custom jurisdictions, and every name declared.

    The table is None when a custom jurisdiction is wrong; the declared names
    still let rules refer to it without a second, misleading diagnostic.
    """
    builtin = builtin_jurisdictions()
    definitions: dict[str, tuple[ScalarNode, Node]] = {}
    for key, node in _sections(roots, "jurisdictions", reader):
        name = CustomJurisdiction.check_name(key, reader, builtin)
        if name is None:
            continue
        if name in definitions:
            first = definitions[name][0].position
            reader.diagnose(
                key.position,
                Code.DUPLICATE_JURISDICTION,
                f"the jurisdiction {name!r} is defined twice (first at {first})",
                hint="keep one definition",
            )
            continue
        definitions[name] = (key, node)
    names = {*builtin, *definitions}
    custom: dict[str, CustomJurisdiction] = {}
    for name, (key, node) in definitions.items():
        parsed = CustomJurisdiction.from_node(name, key, node, reader, names)
        if parsed is not None:
            custom[name] = parsed
    declared = frozenset(names)
    if len(custom) != len(definitions):
        return None, declared
    resolved: dict[str, Jurisdiction] = {}
    for name in custom:
        if _resolve(name, custom, builtin, resolved, (), reader) is None:
            return None, declared
    return JurisdictionTable.with_custom(resolved.values()), declared


def _resolve(
    name: str,
    custom: dict[str, CustomJurisdiction],
    builtin: object,
    resolved: dict[str, Jurisdiction],
    stack: tuple[str, ...],
    reader: Reader,
) -> Jurisdiction | None:
    if name in resolved:
        return resolved[name]
    if name in stack:
        cycle = " -> ".join((*stack[stack.index(name) :], name))
        reader.diagnose(
            custom[name].position,
            Code.JURISDICTION_CYCLE,
            f"the jurisdiction {name!r} contains itself: {cycle}",
            hint="a jurisdiction may list others, but not in a circle",
        )
        return None
    members: dict[str, list[Span]] = {}
    for member in custom[name].members:
        target = member.target
        window = Span(member.start, member.end)
        if target.kind is not TargetKind.JURISDICTION:
            members.setdefault(target.code, []).append(window)
            continue
        if target.code in custom:
            inner = _resolve(target.code, custom, builtin, resolved, (*stack, name), reader)
            if inner is None:
                return None
        else:
            inner = builtin_jurisdictions()[target.code]
        for code, spans in inner.members.items():
            kept = [s for s in (_intersect(span, window) for span in spans) if s is not None]
            members.setdefault(code, []).extend(kept)
    jurisdiction = Jurisdiction(
        name=name,
        description="Custom jurisdiction: "
        + ", ".join(_describe(member) for member in custom[name].members)
        + ".",
        members={code: _merge(spans) for code, spans in sorted(members.items()) if spans},
        builtin=False,
    )
    resolved[name] = jurisdiction
    return jurisdiction


def _describe(member: Member) -> str:
    text = member.target.code
    if member.start is None and member.end is None:
        return text
    return f"{text} ({describe_window(member.start, member.end)})"


def _intersect(a: Span, b: Span) -> Span | None:
    """Return the days both spans hold, or None."""
    start = max(a.start or dt.date.min, b.start or dt.date.min)
    end = min(a.end or dt.date.max, b.end or dt.date.max)
    if end < start:
        return None
    return Span(None if start == dt.date.min else start, None if end == dt.date.max else end)


def _merge(spans: list[Span]) -> tuple[Span, ...]:
    """Merge overlapping or touching spans."""
    bounds = sorted((s.start or dt.date.min, s.end or dt.date.max) for s in spans)
    merged: list[list[dt.date]] = []
    for start, end in bounds:
        if merged and (
            merged[-1][1] == dt.date.max or start <= merged[-1][1] + dt.timedelta(days=1)
        ):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple(
        Span(None if a == dt.date.min else a, None if b == dt.date.max else b) for a, b in merged
    )


def _features(
    roots: Sequence[tuple[Path, MappingNode]],
    reader: Reader,
    table: JurisdictionTable | None,
    declared: frozenset[str],
) -> dict[str, Feature]:
    names = set(table.jurisdictions) if table is not None else set(declared)
    features: dict[str, Feature] = {}
    first_seen: dict[str, Position] = {}
    rule_seen: dict[str, Position] = {}
    for key, node in _sections(roots, "features", reader):
        if key.text in first_seen:
            reader.diagnose(
                key.position,
                Code.DUPLICATE_FEATURE,
                f"the feature {key.text!r} is defined twice (first at {first_seen[key.text]})",
                hint="feature ids are unique across all policy files; rename or merge one",
            )
            continue
        first_seen[key.text] = key.position
        feature = Feature.from_node(key, node, reader, names)
        if feature is None:
            continue
        unique = []
        for rule in feature.rules:
            if rule.id in rule_seen:
                reader.diagnose(
                    rule.position,
                    Code.DUPLICATE_RULE,
                    f"the rule id {rule.id!r} is used twice (first at {rule_seen[rule.id]})",
                    hint="rule ids are unique across all policy files, so a decision names "
                    "exactly one rule",
                )
            else:
                rule_seen[rule.id] = rule.position
                unique.append(rule)
        # The analysis sees each id once, so a duplicate gives no second diagnostic.
        features[feature.id] = attrs.evolve(feature, rules=tuple(unique))
    return features
