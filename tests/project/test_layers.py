"""
The layer contract: each private sub-package imports only the layers it may.

Read from the source with ``ast``, so imports under ``TYPE_CHECKING`` and inside
functions count too. Locating a request knows no policy and no engine; the
world knows no policy; the engine knows no gate, review, web or CLI code.
"""

from __future__ import annotations

import ast
import sys
from typing import TYPE_CHECKING

import pytest

from helpers.paths import ROOT

if TYPE_CHECKING:
    from pathlib import Path

PACKAGE = ROOT / "src" / "geogate"

#: Layer -> the layers it may import (besides itself, ``exceptions`` and ``_version``).
ALLOWED: dict[str, frozenset[str]] = {
    "_world": frozenset(),
    "_policy": frozenset({"_world"}),
    "_engine": frozenset({"_world", "_policy"}),
    "_load": frozenset({"_world", "_policy", "_engine"}),
    "_locate": frozenset({"_world"}),
    "_gate": frozenset({"_world", "_policy", "_engine", "_load", "_locate"}),
    "_review": frozenset({"_world", "_policy", "_engine", "_load", "_gate"}),
    "_policytests": frozenset({"_world", "_policy", "_engine", "_load", "_gate", "_review"}),
    "_web": frozenset({"_world", "_engine", "_locate", "_gate"}),
    "_logs": frozenset({"_world", "_policy", "_engine", "_load", "_gate", "_review"}),
    "_export": frozenset({"_world", "_policy", "_engine", "_load"}),
}
ALWAYS = frozenset({"exceptions", "_version"})


def imported_components(path: Path, layer: str) -> set[str]:
    """The top-level components of ``geogate`` that *path* imports (``_policy``, ``cli``)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            elif node.level == 1:  # within the layer
                continue
            else:  # from .. import x / from ..x import y: the package's top level
                names = [f"geogate.{node.module}" if node.module else "geogate"]
                if not node.module:
                    names = [f"geogate.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "geogate":
                continue
            found.add(parts[1] if len(parts) > 1 else "geogate (the public surface)")
    found.discard(layer)
    return found


def test_every_private_module_is_in_a_layer():
    """No private module sits loose in the package: the folder tree shows the layers."""
    loose = sorted(p.name for p in PACKAGE.glob("_*.py") if p.name != "__init__.py")
    assert ["_version.py"] == loose
    layers = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name.startswith("_"))
    assert sorted(ALLOWED) == [name for name in layers if name != "__pycache__"]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer):
    wrong = {
        f"{path.relative_to(PACKAGE)} imports {component}"
        for path in sorted((PACKAGE / layer).glob("*.py"))
        for component in imported_components(path, layer)
        if component not in ALLOWED[layer] | ALWAYS
    }
    assert set() == wrong


def test_the_contract_can_fail(tmp_path):
    """The check sees a runtime, a type-checking and a function-level import upward."""
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from geogate._gate.gate import Gate\n"
        "if TYPE_CHECKING:\n    from geogate._review import audit\n"
        "def f():\n    from ..cli import main\n",
        encoding="utf-8",
    )
    assert {"_gate", "_review", "cli"} == imported_components(module, "_locate")


def module_name(path: Path) -> str:
    """The dotted name of the module at *path* (``geogate._gate.gate``)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The ``geogate`` modules *path* imports: at run time, for type checking, in functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (
                node.module or ""
                if node.level == 0
                else ".".join(p for p in (base, node.module) if p)
            )
            submodules = {f"{target}.{alias.name}" for alias in node.names} & modules
            found |= submodules or {target}
    return {m for m in found if m in modules and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of *graph* with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    paths = sorted(root.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def test_no_import_cycle_not_even_through_type_checking_imports():
    """
    Every module of the package, every import (under TYPE_CHECKING and in functions too).

    The package's ``__init__`` imports the public surface, so a private module
    that imported ``geogate`` itself would show here as a cycle.
    """
    assert [] == cycles(import_graph(PACKAGE))


def test_the_cycle_check_can_fail(tmp_path, monkeypatch):
    """Two modules that import each other, one of them only for type checking, are a cycle."""
    package = tmp_path / "geogate"
    (package / "_a").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "_a" / "__init__.py").write_text("", encoding="utf-8")
    (package / "_a" / "one.py").write_text("from .two import X\n", encoding="utf-8")
    (package / "_a" / "two.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from geogate._a import one\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    assert [["geogate._a.one", "geogate._a.two"]] == cycles(import_graph(package))


def private_names_imported(source: str, path: Path) -> set[str]:
    """
    The underscore names that the module *source*, at *path*, imports from another geogate module.

    Importing a private module is fine (the layers are private packages); importing
    a private name out of one (``from geogate._load.loader import _read``) is not: a
    name another module needs is public in its own module. Dunders (``__version__``)
    are public.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level == 0:
            if module.split(".")[0] != "geogate":
                continue
            base = PACKAGE.parent.joinpath(*module.split("."))
        else:
            base = path.parents[node.level - 1].joinpath(*module.split(".") if module else ())
        for alias in node.names:
            name = alias.name
            if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
                continue
            if (base / f"{name}.py").is_file() or (base / name / "__init__.py").is_file():
                continue  # a private module, imported as a module
            found.add(f"{'.' * node.level}{module}:{name}")
    return found


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: str(path.relative_to(PACKAGE))
)
def test_no_module_imports_a_private_name_from_another(path):
    """A name used across modules has no underscore: it is public where it is defined."""
    assert set() == private_names_imported(path.read_text(encoding="utf-8"), path)


def test_the_private_name_check_can_fail():
    """The check sees absolute and relative imports of private names, not private modules."""
    source = (
        "from geogate._load.loader import _read, check_paths\n"
        "from .audit import _Rules, audit\n"
        "from .. import _version, __version__\n"
        "from geogate._policy import compose, _nothing_here\n"
        "def f():\n    from ..cli._common import _Date\n"
    )
    found = private_names_imported(source, PACKAGE / "_review" / "lints.py")
    assert {
        "geogate._load.loader:_read",
        ".audit:_Rules",
        "geogate._policy:_nothing_here",
        "..cli._common:_Date",
    } == found
