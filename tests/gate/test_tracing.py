"""``tracing=True`` and ``on_decision=``: decisions on the current OpenTelemetry span, and hooks."""

from __future__ import annotations

import logging
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import geogate._gate.tracing as tracing_module
from geogate import Gate
from geogate._gate.gate import _LoggedGate, _ObservedGate, _ObservedLoggedGate
from helpers.paths import POLICIES

VISION = "llama-3.2-vision"


@pytest.fixture
def spans():
    """A tracer that records into memory (the global provider is left alone) and its exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("tests"), exporter
    provider.shutdown()


def events(exporter):
    """The (name, attributes) of every event of every finished span."""
    return [(e.name, dict(e.attributes)) for s in exporter.get_finished_spans() for e in s.events]


def test_a_plain_gate_is_a_plain_gate():
    """Without tracing, hook or log, the gate is `Gate` itself, whose fast path observes nothing."""
    assert Gate is type(Gate.from_path(POLICIES))
    for method in (Gate.is_allowed, Gate.evaluate, Gate._slow):
        assert "_observe" not in method.__code__.co_names
    for method in (_ObservedGate.is_allowed, _ObservedLoggedGate.evaluate):
        assert "_observe" in method.__code__.co_names


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"tracing": True}, _ObservedGate),
        ({"on_decision": print}, _ObservedGate),
        ({"decision_log": [].append}, _LoggedGate),
        ({"decision_log": [].append, "tracing": True}, _ObservedLoggedGate),
    ],
)
def test_the_options_choose_the_variant(options, expected):
    """`Gate.__new__` picks the variant the options need."""
    with Gate.from_path(POLICIES, **options) as gate:
        assert expected is type(gate)


def test_each_decision_is_an_event_on_the_current_span(spans):
    """A rule's decision: OpenTelemetry's feature_flag.evaluation attributes and geogate's own."""
    tracer, exporter = spans
    gate = Gate.from_path(POLICIES, tracing=True)
    with tracer.start_as_current_span("request"):
        decision = gate.evaluate(VISION, country="FR", at="2026-01-01")
    assert [
        (
            "feature_flag.evaluation",
            {
                "feature_flag.key": VISION,
                "feature_flag.provider.name": "geogate",
                "feature_flag.result.value": False,
                "feature_flag.result.variant": "deny",
                "feature_flag.result.reason": "targeting_match",
                "feature_flag.version": gate.revision,
                "geogate.revision": gate.revision,
                "geogate.rule": decision.rule,
                "geogate.location.source": "explicit",
                "geogate.location.status": "known",
            },
        )
    ] == events(exporter)
    assert decision.rule is not None


def test_memoised_decisions_and_is_allowed_are_recorded_too(spans):
    """The fast path's memo answers are recorded as well as the slow path's, by both methods."""
    tracer, exporter = spans
    gate = Gate.from_path(POLICIES, tracing=True)
    with tracer.start_as_current_span("request"):
        for _ in range(3):
            gate.evaluate(VISION, country="US")
        allowed = gate.is_allowed(VISION, country="US")
    recorded = events(exporter)
    assert (4, {True}) == (
        len(recorded),
        {attributes["feature_flag.result.value"] for _, attributes in recorded},
    )
    assert allowed


def test_an_error_carries_error_type_and_message(spans):
    """An unknown feature: reason error, error.type flag_not_found, the explanation as message."""
    tracer, exporter = spans
    gate = Gate.from_path(POLICIES, tracing=True)
    with tracer.start_as_current_span("request"):
        decision = gate.evaluate("no-such-feature", country="FR")
    [(_, attributes)] = events(exporter)
    assert ("error", "flag_not_found", decision.explanation, False) == (
        attributes["feature_flag.result.reason"],
        attributes["error.type"],
        attributes["feature_flag.error.message"],
        "geogate.rule" in attributes,
    )


def test_nothing_is_recorded_without_a_recording_span(spans):
    """Outside any span (or in a sampled-out one) the decision is made and nothing recorded."""
    _, exporter = spans
    gate = Gate.from_path(POLICIES, tracing=True)
    assert gate.is_allowed(VISION, country="US")
    assert [] == events(exporter)


def test_tracing_and_a_decision_log_both_happen(spans):
    """With a log as well, each decision is logged and traced."""
    tracer, exporter = spans
    lines: list[str] = []
    with Gate.from_path(POLICIES, tracing=True, decision_log=lines.append) as gate:
        with tracer.start_as_current_span("request"):
            gate.evaluate(VISION, country="FR")
            gate.is_allowed(VISION, country="FR")
        gate.flush(5)
    assert (2, 2) == (len(lines), len(events(exporter)))


def test_on_decision_gets_every_decision():
    """The hook gets each decision the caller gets, memoised or not."""
    seen = []
    gate = Gate.from_path(POLICIES, on_decision=seen.append)
    first = gate.evaluate(VISION, country="FR")
    second = gate.evaluate(VISION, country="FR")
    assert [first, second] == seen


def test_a_failing_hook_is_logged_and_the_decision_stands(caplog):
    """A hook that raises (even KeyError, which the fast path catches) never changes the answer."""
    calls = []

    def broken(decision):
        calls.append(decision)
        raise KeyError(decision.feature)

    gate = Gate.from_path(POLICIES, on_decision=broken)
    with caplog.at_level(logging.ERROR, logger="geogate"):
        answers = [gate.is_allowed(VISION, country="US") for _ in range(2)]
    assert ([True, True], 2) == (answers, len(calls))
    assert "geogate: a decision observer failed" in caplog.text


def test_on_decision_must_be_callable():
    """A hook that is not a function is refused when the gate is built."""
    with pytest.raises(TypeError) as raised:
        Gate.from_path(POLICIES, on_decision="print")
    assert "on_decision must be a function taking a Decision, not 'print'" == str(raised.value)


def test_a_subclass_cannot_trace():
    """As with decision_log=, the variants are Gate's own."""

    class Mine(Gate):
        __slots__ = ()

    with pytest.raises(TypeError) as raised:
        Mine.from_path(POLICIES, tracing=True)
    assert "tracing= and on_decision= works with Gate itself, not with the subclass Mine" == str(
        raised.value
    )


def test_tracing_without_opentelemetry_names_the_install_line(monkeypatch):
    """Without the OpenTelemetry API, tracing=True fails at once, saying what to install."""
    monkeypatch.setattr(tracing_module, "_current_span", None)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError) as raised:
        Gate.from_path(POLICIES, tracing=True)
    assert (
        "tracing=True needs the OpenTelemetry API; install the extra: "
        "pip install 'geogate[otel]' (from a checkout: pip install -e '.[otel]')"
    ) == str(raised.value)
