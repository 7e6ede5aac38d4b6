"""The OFREP server's Prometheus metrics (``create_app(metrics=...)``), read back from /metrics."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from geogate import Gate
from geogate._web.metrics import Metrics, endpoint_of
from geogate.cli import ExitCode, main
from geogate.ofrep import create_app
from helpers.paths import POLICIES

VISION = "llama-3.2-vision"
SINGLE = "/ofrep/v1/evaluate/flags/"
PROXY = ("10.0.0.2", 40000)


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics, parsed: (sample name, sorted labels) -> value."""
    response = client.get("/metrics")
    assert 200 == response.status_code
    assert "text/plain; version=0.0.4; charset=utf-8" == response.headers["content-type"]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def labels(**given: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(given.items()))


@pytest.fixture
def served(country_db):
    """An OFREP app with metrics, over a gate that reports its decisions to them."""
    metrics = Metrics()
    gate = Gate.from_path(POLICIES, geoip_db=country_db, on_decision=metrics.decided)
    app = create_app(
        gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"], metrics=metrics
    )
    with TestClient(app, client=PROXY) as client:
        yield client, gate
    gate.close()


def test_decisions_are_counted_by_feature_effect_reason_and_source(served):
    """Real requests, then /metrics: each decision under bounded labels, GeoIP look-ups apart."""
    client, gate = served
    for _ in range(2):
        client.post(SINGLE + VISION, json={"context": {"country": "FR"}})
    client.post(SINGLE + VISION, json={"context": {"ip": "216.160.83.56"}})  # US
    client.post(SINGLE + VISION, json={"context": {"ip": "192.0.2.1"}})  # not in the database
    client.post(SINGLE + VISION, headers={"CF-IPCountry": "US"})
    metrics = scrape(client)
    decided = {
        key[1]: value for key, value in metrics.items() if key[0] == "geogate_decisions_total"
    }
    rule_deny = {"feature": VISION, "effect": "deny", "reason": "TARGETING_MATCH"}
    assert {
        labels(**rule_deny, location_source="explicit"): 2.0,
        labels(feature=VISION, effect="allow", reason="DEFAULT", location_source="geoip"): 1.0,
        labels(feature=VISION, effect="deny", reason="DEFAULT", location_source="geoip"): 1.0,
        labels(
            feature=VISION,
            effect="allow",
            reason="DEFAULT",
            location_source="header:cloudflare",
        ): 1.0,
    } == decided
    assert (2.0, 1.0) == (
        metrics["geogate_geoip_lookups_total", ()],
        metrics["geogate_geoip_misses_total", ()],
    )
    assert (1.0, float(len(gate.features))) == (
        metrics["geogate_policy_revision_info", labels(revision=gate.revision)],
        metrics["geogate_policy_features", ()],
    )


def test_no_request_value_becomes_a_label(served):
    """An unknown flag is counted as (unknown); its key never reaches the exposition."""
    client, _ = served
    key = "made-up-<script>-flag"
    assert 404 == client.post(SINGLE + key, json={"context": {"country": "FR"}}).status_code
    assert 404 == client.get("/no/such/" + key).status_code
    text = client.get("/metrics").text
    metrics = scrape(client)
    unknown = labels(feature="(unknown)", effect="deny", reason="ERROR", location_source="explicit")
    assert (1.0, False) == (metrics["geogate_decisions_total", unknown], "made-up" in text)
    other = labels(endpoint="other", code="404")
    assert 1.0 == metrics["geogate_request_duration_seconds_count", other]


def test_request_durations_are_a_histogram_by_endpoint_and_code(served):
    """Each request is timed under its route's template, not its path."""
    client, _ = served
    client.post(SINGLE + VISION, json={"context": {"country": "FR"}})
    client.post(SINGLE + "llama-3.2-vision-license", json={"context": {"country": "FR"}})
    client.post("/ofrep/v1/evaluate/flags", json={"context": {"country": "FR"}})
    client.get("/readyz")
    metrics = scrape(client)
    single = labels(endpoint="/ofrep/v1/evaluate/flags/{key}", code="200")
    assert (2.0, 1.0, 1.0) == (
        metrics["geogate_request_duration_seconds_count", single],
        metrics[
            "geogate_request_duration_seconds_count",
            labels(endpoint="/ofrep/v1/evaluate/flags", code="200"),
        ],
        metrics["geogate_request_duration_seconds_count", labels(endpoint="/readyz", code="200")],
    )
    assert 2.0 == metrics["geogate_request_duration_seconds_bucket", (*single, ("le", "+Inf"))]
    assert 0 < metrics["geogate_request_duration_seconds_sum", single] < 5


def test_reloads_and_the_revision_follow_the_gate(tmp_path):
    """A swap counts ok and moves the revision label; a failed reload counts failed and keeps it."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    metrics = Metrics()
    gate = Gate.from_path(folder, on_decision=metrics.decided)
    first = gate.revision
    with TestClient(create_app(gate, metrics=metrics)) as client:
        before = scrape(client)
        (folder / "extra.yaml").write_text("features:\n  extra:\n    default: allow\n")
        assert gate.reload().ok
        second = gate.revision
        (folder / "broken.yaml").write_text("features: [\n")
        assert not gate.reload().ok
        after = scrape(client)
    assert (0.0, 0.0) == (
        before["geogate_reloads_total", labels(result="ok")],
        before["geogate_reloads_total", labels(result="failed")],
    )
    revisions = {k[1] for k in after if k[0] == "geogate_policy_revision_info"}
    assert (1.0, 1.0, {labels(revision=second)}) == (
        after["geogate_reloads_total", labels(result="ok")],
        after["geogate_reloads_total", labels(result="failed")],
        revisions,
    )
    assert first != second
    assert after["geogate_policy_features", ()] == before["geogate_policy_features", ()] + 1
    assert after["geogate_last_reload_timestamp_seconds", labels(result="failed")] > 0
    gate.close()


def test_metrics_of_a_loaded_gate_start_once_it_is_loaded():
    """A gate loaded by the application (a function) is attached when it has loaded."""
    metrics = Metrics()
    app = create_app(
        lambda: Gate.from_path(POLICIES, on_decision=metrics.decided),
        metrics=metrics,
        load_at_startup=True,
    )
    with TestClient(app) as client:
        client.post(SINGLE + VISION, json={"context": {"country": "US"}})
        metrics_seen = scrape(client)
    allow = labels(feature=VISION, effect="allow", reason="DEFAULT", location_source="explicit")
    assert 1.0 == metrics_seen["geogate_decisions_total", allow]
    assert 1 == sum(1 for k in metrics_seen if k[0] == "geogate_policy_revision_info")


def test_a_gate_without_the_hook_is_reported(caplog):
    """Metrics over a gate that does not hand them its decisions says so in the log."""
    gate = Gate.from_path(POLICIES)
    create_app(gate, metrics=Metrics())
    assert "/metrics counts no decisions of this gate" in caplog.text


def test_openmetrics_when_the_scraper_asks_for_it(served):
    """A scraper that accepts OpenMetrics gets it (prometheus_client's negotiation)."""
    client, _ = served
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_without_metrics_there_is_no_endpoint(gate):
    """Off by default: /metrics is a 404 like any unknown path."""
    with TestClient(create_app(gate)) as client:
        assert 404 == client.get("/metrics").status_code


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ofrep/v1/evaluate/flags/x/y", "/ofrep/v1/evaluate/flags/{key}"),
        ("/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags"),
        ("/metrics", "/metrics"),
        ("/healthz", "/healthz"),
        ("/readyz/", "other"),
        ("/anything", "other"),
    ],
)
def test_endpoint_labels_are_the_routes(path, expected):
    """The endpoint label is one of the server's routes or ``other``."""
    assert expected == endpoint_of(path)


def test_serve_refuses_metrics_with_several_workers():
    """Per-worker registries would answer a scrape with one worker's counts: refused, saying why."""
    result = CliRunner().invoke(
        main, ["serve", "--policies", str(POLICIES), "--metrics", "--workers", "2"]
    )
    assert ExitCode.USAGE == result.exit_code
    expected = (
        "Error: --metrics works with one worker: each of --workers N would count its own "
        "requests and a scrape would reach one of them at random. Run one worker per process "
        "(a container or a systemd unit each, scraped one by one), or drop --metrics."
    )
    assert expected == " ".join(result.output.split("\n\n")[-1].split())
