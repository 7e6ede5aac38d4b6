"""The pytest plugin: inert without configuration; policy cases as items; fixtures."""

from __future__ import annotations

import contextlib
import shutil
import textwrap
import warnings

import pytest

from geogate import load_policies
from geogate._policytests.files import find_test_files, load_cases
from helpers.paths import POLICIES

pytestmark = pytest.mark.slow  # each test runs a whole pytest session (pytester)

pytest_plugins = ["pytester"]

INI = "[pytest]\ngeogate_policies = policies\n"


@pytest.fixture
def project(pytester):
    """A project with a copy of the shipped policies and their tests."""
    shutil.copytree(POLICIES, pytester.path / "policies")
    return pytester


def shipped_cases():
    """The shipped cases, with paths as in a run from the project root."""
    with contextlib.chdir(POLICIES.parent):
        policy = load_policies("policies")
        cases, diagnostics = load_cases(find_test_files(["policies"]), policy)
    assert [] == [d for d in diagnostics if d.severity == "error"]
    return cases


def test_inert_without_the_ini_option(project):
    """Without geogate_policies nothing is collected from the policy directory."""
    project.makepyfile(test_app="def test_app():\n    pass\n")

    result = project.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)


def test_collects_one_item_per_case(project):
    """With the option, every shipped case is an item named after it."""
    project.makeini(INI)

    result = project.runpytest("--collect-only", "-q")

    expected = [case.id for case in shipped_cases()]
    assert len(expected) > 100
    collected = [line for line in result.outlines if "::" in line]
    assert expected == collected
    assert "policies/tests/meta-llama.yaml::llama-3.2-vision deny FR @2026-01-01" in collected


def test_shipped_cases_pass_beside_the_project_tests(project):
    """testpaths that do not reach the policies still run their cases with the suite."""
    project.makeini(INI + "testpaths = tests\n")
    project.mkdir("tests")
    project.path.joinpath("tests", "test_app.py").write_text(
        "def test_app():\n    pass\n", encoding="utf-8"
    )

    result = project.runpytest()

    result.assert_outcomes(passed=len(shipped_cases()) + 1)


def test_paths_on_the_command_line_narrow_the_run(project):
    """Naming a path runs only what it holds; naming a test file runs its cases."""
    project.makeini(INI)
    project.makepyfile(test_app="def test_app():\n    pass\n")

    only_app = project.runpytest("test_app.py")
    only_meta = project.runpytest("policies/tests/meta-llama.yaml")

    only_app.assert_outcomes(passed=1)
    meta = [c for c in shipped_cases() if c.path.endswith("meta-llama.yaml")]
    only_meta.assert_outcomes(passed=len(meta))


def test_a_failing_case_shows_the_chain(project):
    """A case that does not hold fails with what differs and the explanation chain."""
    project.makeini(INI)
    project.path.joinpath("policies", "tests", "wrong.yaml").write_text(
        textwrap.dedent(
            """\
            cases:
              - feature: llama-3.2-vision
                country: FR
                at: 2026-01-01
                expect: allow
            """
        ),
        encoding="utf-8",
    )

    result = project.runpytest("policies/tests/wrong.yaml")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ policy case policies/tests/wrong.yaml::llama-3.2-vision allow FR @2026-01-01 _*",
            "expected allow, got deny by rule eu-multimodal-withheld",
            "  1. Location: FR (France), from country 'FR'.",
            "  2. Jurisdictions: on 2026-01-01, FR is in EUROZONE, SCHENGEN, EU, EEA, WORLD.",
            "  3. Rule eu-multimodal-withheld (deny EU, from 2024-09-25) won: *",
            "  4. Rule uk-multimodal-offered (allow UK, from 2024-09-25) is not a candidate: *",
            "  5. Result: DENIED. llama-3.2-vision is denied in FR *",
            "(the case is at policies/tests/wrong.yaml:2)",
            "FAILED policies/tests/wrong.yaml::llama-3.2-vision allow FR @2026-01-01 - exp*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_broken_test_file_is_a_clean_collection_error(project):
    """Diagnostics in a test file fail the collection with their text, not a traceback."""
    project.makeini(INI)
    project.path.joinpath("policies", "tests", "broken.yaml").write_text(
        "cases:\n  - feature: llama-3.2-vison\n    country: GER\n    expect: deny\n",
        encoding="utf-8",
    )

    result = project.runpytest()

    assert pytest.ExitCode.INTERRUPTED == result.ret
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR collecting policies/tests/broken.yaml _*",
            "2 error(s) in the policy tests; no case was run:",
            (
                "policies/tests/broken.yaml:2:14: error: cases[0].feature names the feature "
                "'llama-3.2-vison', which the policies do not define [unknown-feature]"
            ),
            "  hint: did you mean 'llama-3.2-vision'?",
            (
                "policies/tests/broken.yaml:3:14: error: unknown country code 'GER' in "
                "cases[0].country [unknown-country]"
            ),
            "  hint: did you mean 'DE'? *",
            "*short test summary info*",
            "ERROR policies/tests/broken.yaml",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_broken_policy_is_a_clean_collection_error(project):
    """A policy that does not load fails the collection of each test file with its diagnostics."""
    project.makeini(INI)
    project.path.joinpath("policies", "broken.yaml").write_text(
        "features: {x: 1}\n", encoding="utf-8"
    )

    result = project.runpytest()

    result.assert_outcomes(errors=len(find_test_files([POLICIES])))
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR collecting policies/tests/meta-llama.yaml _*",
            "geogate_policies = policies: the policies do not load.",
            "1 error(s) in the policy set; nothing was loaded:",
            (
                "policies/broken.yaml:1:15: error: features.x must be a mapping, not the number "
                "'1' [wrong-type]"
            ),
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_missing_policy_directory_is_a_usage_error(pytester):
    """A misspelt directory is reported before anything runs."""
    pytester.makeini("[pytest]\ngeogate_policies = policy\n")

    result = pytester.runpytest()

    assert pytest.ExitCode.USAGE_ERROR == result.ret
    result.stderr.fnmatch_lines(
        [
            (
                "ERROR: geogate_policies: no such policy directory 'policy'; give the folder that "
                "holds the policy files (and their tests/ folder), relative to the configuration "
                "file"
            )
        ]
    )


def test_a_policy_directory_without_tests_is_a_usage_error(project):
    """A configuration that would run no case fails instead of passing quietly."""
    project.makeini(INI)
    shutil.rmtree(project.path / "policies" / "tests")

    result = project.runpytest()

    assert pytest.ExitCode.USAGE_ERROR == result.ret
    result.stderr.fnmatch_lines(
        [
            (
                "ERROR: geogate_policies: no policy test files (*.yaml, *.yml) in policies/tests/; "
                "add cases there (`geogate test` runs the same files), or remove geogate_policies"
            )
        ]
    )


def test_fixtures(project):
    """geogate_gate is a strict gate on the policies; geogate_today pins its date per test."""
    project.makeini(INI + "testpaths = tests\n")
    project.mkdir("tests")
    project.path.joinpath("tests", "test_app.py").write_text(
        textwrap.dedent(
            """\
            import datetime as dt

            import pytest

            from geogate import UnknownFeatureError
            from geogate.testing import assert_allowed, assert_denied


            def test_gate(geogate_gate):
                assert geogate_gate.strict
                assert_denied(geogate_gate, "llama-3.2-vision", country="FR")
                with pytest.raises(UnknownFeatureError):
                    geogate_gate.evaluate("llama-3.2-vison", country="FR")


            def test_pinned(geogate_gate, geogate_today):
                assert dt.date(2024, 9, 24) == geogate_today("2024-09-24")
                assert_allowed(geogate_gate, "llama-3.2-vision", country="FR")


            def test_pin_ended(geogate_gate):
                assert_denied(geogate_gate, "llama-3.2-vision", country="FR")
                assert geogate_gate._today.expires == geogate_gate._expires


            def test_override(geogate_gate):
                with geogate_gate.override("llama-3.2-vision", allow=True):
                    assert_allowed(geogate_gate, "llama-3.2-vision", country="FR")
            """
        ),
        encoding="utf-8",
    )

    result = project.runpytest("tests")

    result.assert_outcomes(passed=4)


def test_the_gate_fixture_needs_the_option(pytester):
    """Without geogate_policies the fixture fails with what to set, not a traceback."""
    pytester.makepyfile(test_app="def test_app(geogate_gate):\n    pass\n")

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            (
                "the geogate_gate fixture needs the ini option geogate_policies; set it in the "
                'pytest configuration, e.g. geogate_policies = ["policies"] in pyproject.toml'
            )
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_the_plugin_can_be_turned_off(project):
    """``-p no:geogate`` removes the plugin: no cases, no fixtures."""
    project.makeini("[pytest]\n")
    project.makepyfile(test_app="def test_app(geogate_gate):\n    pass\n")

    result = project.runpytest("-p", "no:geogate")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'geogate_gate' not found*"])


def test_warnings_stay_errors(project):
    """With ``filterwarnings = error`` (as in this project) a clean run stays clean."""
    project.makeini(INI + "filterwarnings = error\n")

    result = project.runpytest("-W", "error")

    result.assert_outcomes(passed=len(shipped_cases()))


def test_a_warning_in_a_test_file(project):
    """A warning diagnostic is a pytest warning; under ``-W error`` a clean collection error."""
    project.makeini(INI)
    project.path.joinpath("policies", "tests", "empty.yaml").write_text(
        "# nothing yet\n", encoding="utf-8"
    )
    text = (
        "policies/tests/empty.yaml:1:1: warning: the file is empty (it holds no document, "
        "only white space or comments) [empty-file]"
    )

    with warnings.catch_warnings():
        warnings.resetwarnings()  # this project's own filterwarnings = error
        warned = project.runpytest()
    failed = project.runpytest("-W", "error")

    warned.assert_outcomes(passed=len(shipped_cases()), warnings=1)
    assert f": PolicyTestWarning: {text}\n" in warned.stdout.str()
    assert pytest.ExitCode.INTERRUPTED == failed.ret
    failed.stdout.fnmatch_lines(
        [
            "*_ ERROR collecting policies/tests/empty.yaml _*",
            f"PolicyTestWarning: {text.replace('[', '[[]')}",
            "  hint: delete it, or add 'cases:'",
        ]
    )
    assert "Traceback" not in failed.stdout.str()
