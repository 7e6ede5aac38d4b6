"""
Node.js and npm, for the tests that run a JavaScript package beside them.

`tools` finds ``node`` and ``npm``: without them a test skips, except under CI
(``CI`` set), where it fails, because ``.ci/run`` installs them. `install` runs
``npm install`` in a folder whose ``package.json`` pins exact versions, into its
``node_modules/`` (which git ignores), and leaves a marker, so the next run
installs again only when ``package.json`` changes. `run` runs a script there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

__all__ = ["INSTALL_SECONDS", "install", "run", "tools"]

#: How long ``npm install`` may take (it downloads from the registry).
INSTALL_SECONDS = 300
#: The marker's name in ``node_modules/``: it holds the digest of the package.json installed.
_MARKER = ".geogate-installed"


def tools(needed_by):
    """
    Return the paths of node and npm; skip without them, or fail under CI.

    *needed_by* names the test in the reason: ``"the test of ..."``.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is not None and npm is not None:
        return node, npm
    missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if path is None)
    reason = (
        f"{missing} not found on PATH: {needed_by} needs "
        "Node.js and npm (Debian: apt-get install nodejs npm)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; under CI it must run, and .ci/run installs them")
    pytest.skip(reason)
    raise AssertionError  # pragma: no cover (skip raises)


def install(npm, folder):
    """Install *folder*'s package.json into its node_modules/, unless that is already done."""
    wanted = hashlib.sha256((folder / "package.json").read_bytes()).hexdigest()
    marker = folder / "node_modules" / _MARKER
    if marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return
    installed = subprocess.run(  # noqa: S603 (npm from PATH, fixed arguments)
        [npm, "install", "--no-audit", "--no-fund", "--no-package-lock"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=INSTALL_SECONDS,
        check=False,
    )
    assert 0 == installed.returncode, f"npm install failed:\n{installed.stderr}"
    marker.write_text(wanted, encoding="utf-8")


def run(node, folder, arguments, *, stdin="", timeout):
    """Run ``node ARGUMENTS`` in *folder*; fail with its stderr unless it exits 0; its stdout."""
    ran = subprocess.run(  # noqa: S603 (node from PATH, a script beside the test)
        [node, *arguments],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert 0 == ran.returncode, f"node {' '.join(map(str, arguments))} failed:\n{ran.stderr}"
    return ran.stdout
