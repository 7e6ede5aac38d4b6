"""``geogate logs summary``'s counts, on logs whose every line is known."""

from __future__ import annotations

import collections
import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geogate import Gate
from geogate._logs.read import find_logs
from geogate._logs.summary import period_of, summarise
from helpers.decisionlogs import Request, log_lines, write_jsonl, write_parquet
from helpers.paths import POLICIES
from helpers.properties import examples

VISION = "llama-3.2-vision"
LICENCE = "llama-3.2-vision-license"
#: Llama 3.2 came out on 2024-09-25: the EU rule and the UK rule start then.
BEFORE, LAUNCH = dt.date(2024, 9, 24), dt.date(2024, 9, 25)


@pytest.fixture(scope="module")
def gate():
    return Gate.from_path(POLICIES)


def requests():
    """Ten calls over a launch: known answers, all of them."""
    return [
        Request(VISION, {"country": "FR"}, BEFORE, "81.2.69.160"),
        Request(VISION, {"country": "FR"}, LAUNCH, "81.2.69.161"),
        Request(VISION, {"country": "RE"}, LAUNCH),
        Request(VISION, {"country": "GB"}, BEFORE),
        Request(VISION, {"country": "GB"}, LAUNCH),
        Request(VISION, {"country": "GB", "subdivision": "GB-SCT"}, LAUNCH),
        Request(VISION, {"country": "XX"}, LAUNCH),
        Request(VISION, {"country": "GER"}, LAUNCH),
        Request(LICENCE, {"domicile": "DE"}, LAUNCH),
        Request(LICENCE, {"domicile": "US"}, LAUNCH),
    ]


@pytest.fixture
def log(gate, tmp_path):
    return write_jsonl(
        tmp_path / "decisions.jsonl", [line for line, _ in log_lines(gate, requests())]
    )


def test_known_answers(log):
    """Each figure is what the ten calls were."""
    summary = summarise(find_logs([str(log)]))
    vision, licence = summary.features

    assert (10, 0) == (summary.lines, summary.damaged)
    assert [VISION, LICENCE] == [vision.feature, licence.feature]
    assert (8, 4, 1, 1) == (
        vision.total.decisions,
        vision.total.allowed,
        vision.total.unknown,
        vision.total.invalid,
    )
    assert {BEFORE.isoformat(): (2, 2), LAUNCH.isoformat(): (6, 2)} == {
        period: (count.decisions, count.allowed) for period, count in vision.periods.items()
    }
    # FR allowed the day before the launch only; the UK from the launch on.
    assert ("2024-09-24", "2024-09-24") == (
        vision.places[("FR", None)].first_allowed,
        vision.places[("FR", None)].last_allowed,
    )
    assert (3, 3, "2024-09-24", "2024-09-25") == (
        vision.jurisdictions["UK"].decisions,
        vision.jurisdictions["UK"].allowed,
        vision.jurisdictions["UK"].first_allowed,
        vision.jurisdictions["UK"].last_allowed,
    )
    assert (3, 1) == (vision.jurisdictions["EU"].decisions, vision.jurisdictions["EU"].allowed)
    assert {
        ("deny", "TARGETING_MATCH", "eu-multimodal-withheld"): 2,
        ("allow", "TARGETING_MATCH", "uk-multimodal-offered"): 2,
        ("allow", "DEFAULT", None): 2,
        ("deny", "DEFAULT", None): 1,
        ("deny", "ERROR", None): 1,
    } == vision.outcomes
    assert (2, 1) == (licence.total.decisions, licence.total.allowed)


@pytest.mark.parametrize(
    ("by", "expected"),
    [("day", "2024-09-25"), ("week", "2024-W39"), ("month", "2024-09")],
)
def test_periods(by, expected):
    """Days are UTC days; weeks are ISO weeks (2024-12-30 is in 2025's first)."""
    assert expected == period_of("2024-09-25", by)
    assert "2025-W01" == period_of("2024-12-30", "week")


def _counts(summary):
    return {
        f.feature: (
            f.total.decisions,
            f.total.allowed,
            f.total.unknown,
            {p: (c.decisions, c.allowed) for p, c in f.periods.items()},
            {k: (c.decisions, c.allowed, c.first_allowed) for k, c in f.places.items()},
            dict(f.outcomes),
        )
        for f in summary.features
    }


def test_gzipped_rotated_folders_globs_and_parquet_read_alike(gate, tmp_path):
    """One log split into rotated files (some gzipped) or moved to Parquet reads the same."""
    lines = [line for line, _ in log_lines(gate, requests() * 3)]
    (tmp_path / "whole").mkdir()
    whole = write_jsonl(tmp_path / "whole" / "decisions.jsonl", lines)
    rotated = tmp_path / "rotated"
    rotated.mkdir()
    write_jsonl(rotated / "decisions.jsonl.2.gz", lines[:10])
    write_jsonl(rotated / "decisions.jsonl.1", lines[10:20])
    write_jsonl(rotated / "decisions.jsonl", lines[20:])
    (rotated / "decisions.jsonl.lock").write_text("123\n", encoding="utf-8")
    parquet = write_parquet(whole, tmp_path / "decisions.parquet")

    expected = _counts(summarise(find_logs([str(whole)])))

    assert expected == _counts(summarise(find_logs([str(rotated)])))
    assert expected == _counts(summarise(find_logs([str(rotated / "decisions.jsonl*")])))
    assert expected == _counts(summarise(find_logs([str(parquet)])))
    assert 30 == summarise(find_logs([str(rotated)])).lines


def test_filters(log):
    """--from and --to are the days decisions were made on; --feature keeps those features."""
    summary = summarise(find_logs([str(log)]), start=LAUNCH, features=[VISION])

    assert [VISION] == [f.feature for f in summary.features]
    assert 6 == summary.features[0].total.decisions
    assert 0 == summarise(find_logs([str(log)]), end=dt.date(2024, 1, 1)).decisions


_REQUEST = st.builds(
    Request,
    feature=st.sampled_from([VISION, LICENCE, "llama-3.1-405b", "no-such-feature"]),
    attributes=st.one_of(
        st.fixed_dictionaries({"country": st.sampled_from(["FR", "GB", "US", "XX", "GER", "RE"])}),
        st.fixed_dictionaries({"domicile": st.sampled_from(["DE", "US", "XX"])}),
        st.just({}),
    ),
    day=st.dates(dt.date(2024, 9, 20), dt.date(2024, 10, 10)),
    ip=st.sampled_from([None, "81.2.69.160", "2001:db8::1"]),
    second=st.integers(0, 86_399),
)


@examples(20)
@given(calls=st.lists(_REQUEST, max_size=40), by=st.sampled_from(["day", "week", "month"]))
def test_counts_are_the_decisions(gate, tmp_path_factory, calls, by):
    """Whatever was asked, the summary counts exactly the decisions made."""
    logged = log_lines(gate, calls)
    path = write_jsonl(tmp_path_factory.mktemp("log") / "d.jsonl", [line for line, _ in logged])
    expected = collections.defaultdict(lambda: [0, 0])
    for (_, decision), call in zip(logged, calls, strict=True):
        key = (decision.feature, period_of(call.day.isoformat(), by))
        expected[key][0] += 1
        expected[key][1] += decision.allowed

    summary = summarise(find_logs([str(path)]), by=by)

    assert dict(expected) == {
        (f.feature, period): [count.decisions, count.allowed]
        for f in summary.features
        for period, count in f.periods.items()
    }
    assert len(calls) == summary.lines == summary.decisions


def test_ip_addresses_are_left_out_unless_asked(log):
    """No network appears in a summary unless show_ip; then the truncated ones, as logged."""
    plain = summarise(find_logs([str(log)]))
    shown = summarise(find_logs([str(log)]), show_ip=True)

    assert all(not f.networks for f in plain.features)
    vision = next(f for f in shown.features if f.feature == VISION)
    assert ("81.2.69.0/24", 2, 1) in vision.networks
    assert all("81.2.69.16" not in json.dumps(n) for n in vision.networks)
