"""
Fixtures every folder shares, and the Hypothesis profiles.

Folders mirror the package's layers (``world/``, ``policy/``, ``engine/``,
``load/``, ``gate/``, ``locate/``, ``review/``, ``policytests/``, ``web/``,
``cli/``), with ``laws/`` for properties across layers and ``project/`` for the
repository (README, examples, layers, pre-commit). A fixture only one folder
uses lives in that folder's ``conftest.py``; plain constants and builders are in
``helpers/``, which a test imports.

Hypothesis runs under a profile, chosen by ``GEOGATE_HYPOTHESIS_PROFILE``:
``dev`` (quick: a fifth of each property's examples) unless ``CI`` is true,
then ``ci`` (thorough: twice each property's examples, a new seed each run,
and the blob that replays a failure). `helpers.properties.examples` scales
each property's own count by the profile.
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from geogate import Gate, load_policies
from geogate.cli import main
from helpers.paths import POLICIES

#: The environment variable that names the Hypothesis profile.
PROFILE_VARIABLE = "GEOGATE_HYPOTHESIS_PROFILE"

settings.register_profile("dev", max_examples=20, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=False,
    print_blob=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _profile() -> str:
    """The profile `PROFILE_VARIABLE` names, else ``ci`` where ``CI`` is true, else ``dev``."""
    in_ci = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
    name = os.environ.get(PROFILE_VARIABLE) or ("ci" if in_ci else "dev")
    if name not in {"dev", "ci"}:
        msg = (
            f"{PROFILE_VARIABLE}={name!r} names no Hypothesis profile: "
            "use 'dev' (quick) or 'ci' (thorough), or leave it unset"
        )
        raise pytest.UsageError(msg)
    return name


settings.load_profile(_profile())


@pytest.fixture(scope="module")
def shipped_policy():
    """The shipped policies (``policies/``), loaded once per test module."""
    return load_policies(POLICIES)


@pytest.fixture(scope="module")
def shipped_gate():
    """A gate on the shipped policies, without a GeoIP database, built once per test module."""
    return Gate.from_path(POLICIES)


@pytest.fixture
def cli():
    """Run ``geogate`` in process: ``cli("check", path)`` is click's result; errors propagate."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def shipped_cli(cli, monkeypatch):
    """`cli` with the shipped policies as the default ``--policies`` (``GEOGATE_POLICIES``)."""
    monkeypatch.setenv("GEOGATE_POLICIES", str(POLICIES))
    return cli
