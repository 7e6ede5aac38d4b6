"""
geogate side by side with general flag and policy engines, in one process run.

One scenario: the shipped feature ``llama-3.2-vision``, denied in the EU and
its territories (the members of the shipped ``EU`` jurisdiction today, taken
from ``geogate.builtin_jurisdictions()``), allowed everywhere else; the
country is given. Each engine is set up the fastest documented way for local
evaluation, with no server and no network:

- geogate: ``gate.is_allowed(feature, country=c)`` on the shipped policies;
- GrowthBook, local evaluation: one ``GrowthBook`` object holding a force rule
  under ``{"country": {"$in": EU}}``; ``set_attributes({"country": c})`` then
  ``is_on(feature)``;
- flagd's in-process engine through the OpenFeature SDK: ``FlagdProvider`` in
  ``FILE`` mode reading a flagd flag definition written to a temporary
  directory (targeting ``{"if": [{"in": [{"var": "country"}, EU]}, "off", "on"]}``);
  ``client.get_boolean_value(feature, True, EvaluationContext(...))``;
- the same flagd engine on geogate's own policies: the document ``geogate export
  --format flagd --feature llama-3.2-vision`` writes from the shipped policies
  (every place and date, the rule's id in the variant, unreadable input denied),
  asked the same way;
- Unleash, local evaluation: an ``UnleashClient`` bootstrapped from a features
  document in a temporary cache directory, with registration, metrics and
  fetching turned off (``initialize_client(fetch_toggles=False)``); a default
  strategy with the constraint ``country NOT_IN EU``; ``is_enabled(feature,
  {"country": c})``;
- Cedar (cedarpy): ``permit`` for everyone, ``forbid`` when the EU set contains
  ``context.country``; policies and (empty) entities parsed once into handles;
  ``is_authorized(request, policies, entities).allowed``.

Before timing, every engine is asked about every ISO 3166-1 code plus ``XK``
(250 countries) and must give geogate's answer, which must itself be
"denied exactly in the EU": an engine that disagrees is reported and left out
of the table, never timed. A peer whose package is missing is reported as
skipped in ``--quick`` mode and stops a full run (``pip install 'geogate[peers]'``
installs them all).

Each timed statement is the list of calls unrolled (one per country, as
constants); the engines are measured in turn, round after round, with the
order rotated, and the best round of each is compared.

A second table does the same for the IP path: ``gate.is_allowed(feature,
ip=ip)`` against a bare ``geoip2`` ``Reader.country(ip)`` on a database built
by ``bench_ip.build_database``, on a cold mix (distinct addresses, geogate's
address caches emptied before every round) and a hot mix (2,000 addresses
asked again and again).

Usage::

    python benchmarks/bench_peers.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import logging
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import geoip2.database
from _machine import machine_info, markdown_machine
from bench_decisions import COUNTRIES, interleave, timer
from bench_ip import build_database

import geogate

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
FEATURE = "llama-3.2-vision"

#: Engine name -> (label in the table, distribution whose version is reported).
ENGINES = {
    "geogate": ("geogate `gate.is_allowed(feature, country=c)`", "geogate"),
    "growthbook": (
        "GrowthBook local evaluation: `set_attributes({'country': c}); is_on(feature)`",
        "growthbook",
    ),
    "flagd": (
        "flagd in-process (FILE resolver) through OpenFeature: `get_boolean_value(...)`",
        "openfeature-provider-flagd",
    ),
    "flagd-export": (
        "flagd in-process, on `geogate export --format flagd` of the shipped policies",
        "openfeature-provider-flagd",
    ),
    "unleash": (
        "Unleash local evaluation, bootstrapped: `is_enabled(feature, {'country': c})`",
        "UnleashClient",
    ),
    "cedar": ("Cedar (cedarpy): `is_authorized(request, policies, entities)`", "cedarpy"),
}

#: A candidate: (one call with ``{c}`` for the country, names it uses, a plain decide(c)).
Candidate = tuple[str, dict[str, object], Callable[[str], bool]]


def eu_today() -> tuple[str, ...]:
    """Return the members of geogate's shipped EU jurisdiction today."""
    today = dt.datetime.now(dt.UTC).date()
    eu = geogate.builtin_jurisdictions()["EU"]
    return tuple(sorted(c for c in eu.members if eu.is_member(c, today)))


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


# -- the engines -------------------------------------------------------------------------


def make_geogate(_eu: tuple[str, ...], _tmp: Path, _stack: contextlib.ExitStack) -> Candidate:
    gate = geogate.Gate.from_path(POLICIES)
    return (
        "is_allowed(feature, country={c!r})",
        {"feature": FEATURE, "is_allowed": gate.is_allowed},
        lambda c: gate.is_allowed(FEATURE, country=c),
    )


def make_growthbook(eu: tuple[str, ...], _tmp: Path, _stack: contextlib.ExitStack) -> Candidate:
    import growthbook  # noqa: PLC0415 (a peer may be missing)

    features = {
        FEATURE: {
            "defaultValue": True,
            "rules": [{"condition": {"country": {"$in": list(eu)}}, "force": False}],
        }
    }
    book = growthbook.GrowthBook(features=features)
    _stack.callback(book.destroy)

    def decide(c: str) -> bool:
        book.set_attributes({"country": c})
        return book.is_on(FEATURE)

    return (
        "set_attributes({{'country': {c!r}}}); is_on(feature)",
        {"feature": FEATURE, "set_attributes": book.set_attributes, "is_on": book.is_on},
        decide,
    )


def make_flagd(eu: tuple[str, ...], tmp: Path, stack: contextlib.ExitStack) -> Candidate:
    definition = {
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            FEATURE: {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "on",
                "targeting": {"if": [{"in": [{"var": "country"}, list(eu)]}, "off", "on"]},
            }
        },
    }
    path = tmp / "flagd-flags.json"
    path.write_text(json.dumps(definition), encoding="utf-8")
    return _flagd_candidate(path, "geogate-bench-peers", stack)


def make_flagd_export(_eu: tuple[str, ...], tmp: Path, stack: contextlib.ExitStack) -> Candidate:
    """flagd on the document geogate's CLI exports from the shipped policies, as CI would."""
    path = tmp / "geogate.flagd.json"
    exported = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-c", "from geogate.cli import main; main()", "export", "--format",
         "flagd", "--policies", str(POLICIES), "--feature", FEATURE, "--output", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if exported.returncode != 0:
        msg = f"geogate export failed ({exported.returncode}): {exported.stderr}"
        raise RuntimeError(msg)
    return _flagd_candidate(path, "geogate-bench-peers-export", stack)


def _flagd_candidate(path: Path, domain: str, stack: contextlib.ExitStack) -> Candidate:
    """A client of flagd's in-process (FILE) resolver on *path*, checked to answer."""
    from openfeature import api  # noqa: PLC0415 (a peer may be missing)
    from openfeature.contrib.provider.flagd import FlagdProvider  # noqa: PLC0415
    from openfeature.contrib.provider.flagd.config import ResolverType  # noqa: PLC0415
    from openfeature.evaluation_context import EvaluationContext  # noqa: PLC0415
    from openfeature.flag_evaluation import Reason  # noqa: PLC0415

    provider = FlagdProvider(
        resolver_type=ResolverType.FILE,
        offline_flag_source_path=str(path),
        # In FILE mode this is the interval at which the file is polled for changes:
        # an hour keeps the watcher thread asleep while the benchmark runs.
        deadline_ms=3_600_000,
    )
    api.set_provider_and_wait(provider, domain)
    stack.callback(api.shutdown)
    client = api.get_client(domain)
    details = client.get_boolean_details(
        FEATURE,
        default_value=True,
        evaluation_context=EvaluationContext(attributes={"country": "DE"}),
    )
    if details.reason != Reason.TARGETING_MATCH or details.value is not False:
        msg = f"flagd did not evaluate the flag file {path.name}: {details!r}"
        raise RuntimeError(msg)
    get = client.get_boolean_value
    return (
        "get_boolean_value(feature, True, EvaluationContext(attributes={{'country': {c!r}}}))",
        {"feature": FEATURE, "get_boolean_value": get, "EvaluationContext": EvaluationContext},
        lambda c: get(FEATURE, True, EvaluationContext(attributes={"country": c})),
    )


def make_unleash(eu: tuple[str, ...], tmp: Path, stack: contextlib.ExitStack) -> Candidate:
    from UnleashClient import UnleashClient  # noqa: PLC0415 (a peer may be missing)
    from UnleashClient.cache import FileCache  # noqa: PLC0415
    from UnleashClient.utils import InstanceAllowType  # noqa: PLC0415

    features = {
        "version": 2,
        "features": [
            {
                "name": FEATURE,
                "type": "release",
                "enabled": True,
                "strategies": [
                    {
                        "name": "default",
                        "parameters": {},
                        "constraints": [
                            {"contextName": "country", "operator": "NOT_IN", "values": list(eu)}
                        ],
                    }
                ],
            }
        ],
    }
    cache = FileCache("geogate-bench-peers", directory=str(tmp / "unleash-cache"))
    cache.bootstrap_from_dict(features)
    client = UnleashClient(
        # Never contacted: registration, metrics and fetching are all off.
        url="http://127.0.0.1:9/api",
        app_name="geogate-bench-peers",
        disable_metrics=True,
        disable_registration=True,
        refresh_interval=3600,  # the offline connector re-reads the cache this often
        cache=cache,
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    client.initialize_client(fetch_toggles=False)
    stack.callback(client.destroy)
    is_enabled = client.is_enabled
    return (
        "is_enabled(feature, {{'country': {c!r}}})",
        {"feature": FEATURE, "is_enabled": is_enabled},
        lambda c: is_enabled(FEATURE, {"country": c}),
    )


def make_cedar(eu: tuple[str, ...], _tmp: Path, _stack: contextlib.ExitStack) -> Candidate:
    import cedarpy  # noqa: PLC0415 (a peer may be missing)

    codes = ", ".join(f'"{c}"' for c in eu)
    policies = cedarpy.PolicySet.from_str(
        "permit(principal, action, resource);\n"
        f"forbid(principal, action, resource) when {{ [{codes}].contains(context.country) }};\n"
    )
    entities = cedarpy.Entities.from_json_str("[]")
    is_authorized = cedarpy.is_authorized
    principal, action, resource = 'User::"anyone"', 'Action::"use"', f'Model::"{FEATURE}"'

    def decide(c: str) -> bool:
        request = {
            "principal": principal,
            "action": action,
            "resource": resource,
            "context": {"country": c},
        }
        return is_authorized(request, policies, entities).allowed

    return (
        (
            "is_authorized({{'principal': principal, 'action': action, 'resource': resource, "
            "'context': {{'country': {c!r}}}}}, policies, entities).allowed"
        ),
        {
            "is_authorized": is_authorized,
            "policies": policies,
            "entities": entities,
            "principal": principal,
            "action": action,
            "resource": resource,
        },
        decide,
    )


MAKERS = {
    "geogate": make_geogate,
    "growthbook": make_growthbook,
    "flagd": make_flagd,
    "flagd-export": make_flagd_export,
    "unleash": make_unleash,
    "cedar": make_cedar,
}


# -- agreement and timing ----------------------------------------------------------------


def build(
    eu: tuple[str, ...], tmp: Path, stack: contextlib.ExitStack, notes: dict[str, str]
) -> dict[str, Candidate]:
    """Set up every engine that is installed and agrees with geogate; note the others."""
    expected = {c: c not in eu for c in COUNTRIES}
    candidates: dict[str, Candidate] = {}
    for name, make in MAKERS.items():
        try:
            candidate = make(eu, tmp, stack)
        except ImportError as error:
            notes[name] = (
                f"skipped: {error.name or error} is not installed "
                "(pip install 'geogate[peers]' installs every peer)"
            )
            continue
        answers = {c: candidate[2](c) for c in COUNTRIES}
        wrong = sorted(c for c in COUNTRIES if answers[c] is not expected[c])
        if wrong:
            shown = ", ".join(f"{c}={answers[c]!r}" for c in wrong[:10])
            notes[name] = f"excluded: disagrees on {len(wrong)} countries ({shown})"
            if name == "geogate":
                msg = f"geogate itself is not 'denied exactly in the EU': {notes[name]}"
                raise SystemExit(msg)
            continue
        candidates[name] = candidate
    return candidates


def measure_country(candidates: dict[str, Candidate], quick: bool) -> dict[str, dict[str, object]]:
    """Time every candidate, interleaved; return ns per decision (best, median, rounds)."""
    return interleave(
        {name: timer(call, names) for name, (call, names, _) in candidates.items()}, quick
    )


def measure_ip(tmp: Path, quick: bool) -> dict[str, object]:
    """Time ``gate.is_allowed(feature, ip=ip)`` against ``Reader.country(ip)``, cold and hot."""
    rng = random.Random(20261127)
    networks = 5_000 if quick else 20_000
    rounds = 3 if quick else 9
    db = tmp / "country.mmdb"
    addresses = build_database(db, networks, rng)
    reader = geoip2.database.Reader(str(db))
    gate = geogate.Gate.from_path(POLICIES, geoip_db=db)
    geoip = gate.geoip
    assert geoip is not None
    eu = set(eu_today())
    for ip in addresses:
        code = reader.country(ip).country.iso_code
        if gate.is_allowed(FEATURE, ip=ip) is not (code not in eu):
            msg = f"geogate's answer for {ip} ({code}) is not 'denied exactly in the EU'"
            raise SystemExit(msg)
    hot = rng.sample(addresses, 2_000)
    hot_mix = [rng.choice(hot) for _ in range(len(addresses))]
    country, is_allowed = reader.country, gate.is_allowed

    def raw(mix: list[str]) -> None:
        for ip in mix:
            country(ip)

    def gated(mix: list[str]) -> None:
        for ip in mix:
            is_allowed(FEATURE, ip=ip)

    def cold_gate() -> None:
        geoip.cache_clear()
        gate._by_ip.clear()  # noqa: SLF001 (a benchmark of the cold path)

    steps: dict[str, tuple[Callable[[list[str]], None], list[str], Callable[[], None]]] = {
        "raw_cold": (raw, addresses, lambda: None),
        "gate_cold": (gated, addresses, cold_gate),
        "raw_hot": (raw, hot_mix, lambda: None),
        "gate_hot": (gated, hot_mix, lambda: None),
    }
    samples: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    for index in range(rounds):
        shift = index % len(order)
        for name in order[shift:] + order[:shift]:
            run, mix, prepare = steps[name]
            prepare()
            start = time.perf_counter_ns()
            run(mix)
            samples[name].append((time.perf_counter_ns() - start) / len(mix))
    reader.close()
    geoip.close()
    best = {name: min(values) for name, values in samples.items()}
    return {
        "networks": networks,
        "rounds": rounds,
        "best_ns": best,
        "median_ns": {name: statistics.median(values) for name, values in samples.items()},
        "cold_ratio": best["gate_cold"] / best["raw_cold"],
        "hot_speedup": best["raw_hot"] / best["gate_hot"],
    }


@contextlib.contextmanager
def quiet_peers() -> Iterator[None]:
    """Keep the peers' informational logging (Unleash, flagd) off the benchmark's output."""
    loggers = [logging.getLogger(name) for name in ("UnleashClient", "openfeature")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def forbid_connections() -> list[object]:
    """
    Record every outgoing connection Python code attempts; the benchmark must make none.

    (A connection made by C code, such as gRPC's core, bypasses audit hooks: the flagd
    provider here is in FILE mode, which creates no channel at all.)
    """
    attempts: list[object] = []

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event in {"socket.connect", "socket.sendto", "socket.getaddrinfo"}:
            attempts.append((event, args[1:]))

    sys.addaudithook(hook)
    return attempts


def run(quick: bool) -> dict[str, object]:
    attempts = forbid_connections()
    eu = eu_today()
    notes: dict[str, str] = {}
    with (
        tempfile.TemporaryDirectory(prefix="geogate-bench-peers-") as tmp,
        contextlib.ExitStack() as stack,
        quiet_peers(),
    ):
        candidates = build(eu, Path(tmp), stack, notes)
        skipped = [note for note in notes.values() if note.startswith("skipped")]
        if skipped and not quick:
            msg = "a full run needs every peer:\n" + "\n".join(skipped)
            raise SystemExit(msg)
        country = measure_country(candidates, quick)
        ip = measure_ip(Path(tmp), quick)
    if attempts:
        msg = f"the benchmark must run offline, but these connections were attempted: {attempts}"
        raise SystemExit(msg)
    reference = country["geogate"]
    for row in country.values():
        row["x_geogate_best"] = row["best_ns"] / reference["best_ns"]
        row["x_geogate_paired_median"] = statistics.median(
            a / b for a, b in zip(row["rounds_ns"], reference["rounds_ns"], strict=True)
        )
    machine = {**machine_info(), "versions": {n: version(d) for n, (_, d) in ENGINES.items()}}
    return {
        "machine": machine,
        "feature": FEATURE,
        "countries": len(COUNTRIES),
        "eu": list(eu),
        "quick": quick,
        "notes": notes,
        "country": country,
        "ip": ip,
    }


def markdown(result: dict[str, object]) -> str:
    machine, country, ip, notes = (
        result["machine"],
        result["country"],
        result["ip"],
        result["notes"],
    )
    versions = machine["versions"]
    lines = [
        markdown_machine(machine)
        + "; "
        + ", ".join(
            dict.fromkeys(f"{ENGINES[n][1]} {v}" for n, v in versions.items() if n != "geogate")
        ),
        "",
        (
            f"Feature `{FEATURE}`: denied in the {len(result['eu'])} countries of the EU "
            f"today, allowed elsewhere; {result['countries']} countries (every ISO 3166-1 code "
            "and XK); every engine listed gave geogate's answer for every country. "
            f"Best of {len(country['geogate']['rounds_ns'])} interleaved rounds."
        ),
        "",
        "| engine | ns per decision (best) | median | x geogate |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, row in country.items():
        lines.append(
            f"| {ENGINES[name][0]} | {row['best_ns']:,.0f} | {row['median_ns']:,.0f} | "
            f"{row['x_geogate_best']:,.1f} |"
        )
    lines.extend(f"\n{ENGINES[name][1]}: {note}" for name, note in notes.items())
    best = ip["best_ns"]
    lines += [
        "",
        (
            f"By IP: {ip['networks']:,} networks (`bench_ip.build_database`); best of "
            f"{ip['rounds']} interleaved rounds; geogate's answer matches geoip2's country "
            "for every address."
        ),
        "",
        "| mix | `geoip2` `Reader.country(ip)` | `gate.is_allowed(feature, ip=ip)` | ratio |",
        "| --- | ---: | ---: | ---: |",
        (
            f"| cold: {ip['networks']:,} distinct addresses, each once | "
            f"{best['raw_cold']:,.0f} ns | {best['gate_cold']:,.0f} ns | "
            f"{ip['cold_ratio']:.2f} x the raw lookup |"
        ),
        (
            f"| hot: 2,000 addresses asked again and again | {best['raw_hot']:,.0f} ns | "
            f"{best['gate_hot']:,.0f} ns | {ip['hot_speedup']:.1f} x faster |"
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (for CI)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    result = run(args.quick)
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
