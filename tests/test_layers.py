"""
The layer contract: each private sub-package imports only the layers it may.

Read from the source with ``ast``, so imports under ``TYPE_CHECKING`` and inside
functions count too. Locating a request knows no policy and no engine; the
world knows no policy; the engine knows no gate, review, web or CLI code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "geogate"

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
