"""
How long geogate takes to load and validate a large policy set.

Generates, in a temporary directory, 1,000 features with 5 rules each (a
realistic mix: EU withholding with dated pilots and subdivision exceptions,
allow-list launches through custom jurisdictions, domicile-based licences,
location+domicile export control, and a ``hard_deny`` in every feature),
checks that the set loads with no error and no warning, then times
``geogate.load_policies(dir)`` and ``Gate.from_path(dir)``.

Target: loading and validating 1,000 features with 5
rules each in under 1 s.

Usage::

    python benchmarks/bench_load.py [--quick] [--json] [--features N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine_info, markdown_machine

import geogate

TARGET_SECONDS = 1.0
FEATURES_PER_FILE = 100

JURISDICTIONS = """\
jurisdictions:
  EEA-CH-UK: [EEA, CH, UK]
  DACH: [DE, AT, CH]
  SANCTIONED: [CU, IR, KP, SY, BY, RU]
"""

EU_COUNTRIES = ("FR", "DE", "IT", "ES", "NL", "IE", "PL", "SE", "AT", "BE", "FI", "PT", "DK")
EU_SUBDIVISIONS = (
    "DE-BY",
    "ES-CN",
    "PT-20",
    "IT-25",
    "NL-NH",
    "BE-BRU",
    "IE-D",
    "FR-IDF",
    "AT-9",
    "FI-18",
    "SE-AB",
    "DK-84",
    "PL-14",
)
SOURCE = "https://example.com/policy/{p}"


def _eu_withheld(p: str, i: int) -> str:
    """Denied in the EU, with a dated pilot in one country and a regional exception."""
    country = EU_COUNTRIES[i % len(EU_COUNTRIES)]
    region = EU_SUBDIVISIONS[(i // 3) % len(EU_SUBDIVISIONS)]
    return f"""\
  {p}:
    description: Multimodal model {i}, withheld in the EU.
    owner: ml-platform
    tags: [multimodal, generated]
    default: allow
    unknown: deny
    basis: location
    rules:
      - id: {p}-eu
        deny: [EU]
        from: 2024-09-25
        reason: Multimodal models are not offered in the EU.
        source: {SOURCE.format(p=p)}
      - id: {p}-pilot
        allow: [{country}]
        overrides: {p}-eu
        from: 2026-01-01
        until: 2026-06-30
        reason: A pilot with a national regulator.
        source: {SOURCE.format(p=p)}
      - id: {p}-region
        allow: [{region}]
        overrides: {p}-eu
        from: 2025-01-01
        reason: A regional sandbox agreement.
        source: {SOURCE.format(p=p)}
      - id: {p}-sanctions
        hard_deny: [SANCTIONED]
        reason: Export control and sanctions.
        source: {SOURCE.format(p=p)}
      - id: {p}-nir
        deny: [GB-NIR]
        reason: Not yet reviewed for Northern Ireland.
        source: {SOURCE.format(p=p)}
"""


def _allow_list(p: str, i: int) -> str:
    """Denied by default; launched in Europe and North America, with exceptions."""
    return f"""\
  {p}:
    description: Assistant feature {i}, launched region by region.
    owner: product
    tags: [assistant, generated]
    default: deny
    unknown: deny
    rules:
      - id: {p}-launch
        allow: [EEA-CH-UK]
        from: 2025-03-01
        reason: Launched in the EEA, Switzerland and the United Kingdom.
        source: {SOURCE.format(p=p)}
      - id: {p}-na
        allow: [US, CA]
        from: 2025-03-01
        reason: Launched in North America.
        source: {SOURCE.format(p=p)}
      - id: {p}-quebec
        deny: [CA-QC]
        overrides: {p}-na
        reason: French-language review pending in Quebec.
        source: {SOURCE.format(p=p)}
      - id: {p}-dach-delay
        deny: [DACH]
        overrides: {p}-launch
        from: 2025-03-01
        until: 2025-12-31
        reason: Delayed in Germany, Austria and Switzerland for a works-council review.
        source: {SOURCE.format(p=p)}
      - id: {p}-sanctions
        hard_deny: [SANCTIONED]
        reason: Export control and sanctions.
        source: {SOURCE.format(p=p)}
"""


def _licence(p: str, i: int) -> str:
    """A licence grant decided on domicile."""
    country = EU_COUNTRIES[(i + 5) % len(EU_COUNTRIES)]
    return f"""\
  {p}:
    description: Licence grant {i}, decided on the licensee's domicile.
    owner: legal
    tags: [licence, generated]
    default: allow
    unknown: deny
    basis: domicile
    rules:
      - id: {p}-eu
        deny: [EU]
        from: 2024-09-25
        reason: The licence does not grant these rights to EU-domiciled licensees.
        source: {SOURCE.format(p=p)}
      - id: {p}-exception
        allow: [{country}]
        overrides: {p}-eu
        from: 2026-01-01
        reason: A national agreement restores the grant.
        source: {SOURCE.format(p=p)}
      - id: {p}-lu
        allow: [LU]
        overrides: {p}-eu
        until: 2027-12-31
        reason: Grandfathered licensees in Luxembourg.
        source: {SOURCE.format(p=p)}
      - id: {p}-sanctions
        hard_deny: [SANCTIONED]
        reason: Export control and sanctions.
        source: {SOURCE.format(p=p)}
      - id: {p}-cn
        deny: [CN]
        reason: Not licensed in mainland China.
        source: {SOURCE.format(p=p)}
"""


def _export_control(p: str, i: int) -> str:
    """Decided on both the location and the domicile."""
    return f"""\
  {p}:
    description: Frontier model {i}, under export control.
    owner: trust-and-safety
    tags: [frontier, generated]
    default: allow
    unknown: deny
    basis: location+domicile
    rules:
      - id: {p}-export
        hard_deny: [SANCTIONED]
        reason: Export control and sanctions.
        source: {SOURCE.format(p=p)}
      - id: {p}-cn
        deny: [CN, HK, MO]
        reason: Export-controlled model.
        source: {SOURCE.format(p=p)}
      - id: {p}-eu
        deny: [EU]
        from: 2025-08-02
        reason: Withheld pending the AI Act obligations for general-purpose models.
        source: {SOURCE.format(p=p)}
      - id: {p}-es-sandbox
        allow: [ES]
        overrides: {p}-eu
        from: 2025-08-02
        until: 2026-08-01
        reason: Offered in the Spanish AI regulatory sandbox.
        source: {SOURCE.format(p=p)}
      - id: {p}-uk
        allow: [UK]
        reason: Offered in the United Kingdom.
        source: {SOURCE.format(p=p)}
"""


TEMPLATES = (_eu_withheld, _allow_list, _licence, _export_control)


def generate(directory: Path, features: int) -> None:
    """Write *features* features, 5 rules each, as files of 100 plus one jurisdictions file."""
    (directory / "jurisdictions.yaml").write_text(JURISDICTIONS, encoding="utf-8")
    for start in range(0, features, FEATURES_PER_FILE):
        parts = ["features:\n"]
        parts.extend(
            TEMPLATES[i % len(TEMPLATES)](f"model-{i:04d}", i)
            for i in range(start, min(start + FEATURES_PER_FILE, features))
        )
        name = f"features-{start // FEATURES_PER_FILE:03d}.yaml"
        (directory / name).write_text("".join(parts), encoding="utf-8")


def _time(function: object, directory: Path, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        function(directory)  # type: ignore[operator]
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--quick", action="store_true", help="one timed run each (for CI)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--features", type=int, default=1000, help="features to generate")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else 5

    with tempfile.TemporaryDirectory(prefix="geogate-bench-") as tmp:
        directory = Path(tmp)
        generate(directory, args.features)
        files = sorted(directory.glob("*.yaml"))
        size = sum(f.stat().st_size for f in files)
        # Check first: the set must load, with every rule, and with no warning.
        policy, diagnostics = geogate.check_paths([directory])
        if policy is None or diagnostics:
            for diagnostic in diagnostics[:20]:
                print(diagnostic, file=sys.stderr)
            print("error: the generated policy set does not load cleanly", file=sys.stderr)
            return 1
        rules = sum(len(f.rules) for f in policy.features.values())
        assert len(policy.features) == args.features
        assert rules == 5 * args.features

        load = _time(geogate.load_policies, directory, runs)
        gate = _time(geogate.Gate.from_path, directory, runs)

    load_median = statistics.median(load)
    gate_median = statistics.median(gate)
    result = {
        "machine": machine_info(),
        "features": args.features,
        "rules": rules,
        "files": len(files),
        "bytes": size,
        "runs": runs,
        "load_policies_s": {"median": load_median, "all": load},
        "gate_from_path_s": {"median": gate_median, "all": gate},
        "targets": {
            "load_policies_under_1s": {
                "value": load_median,
                "limit": TARGET_SECONDS,
                "pass": load_median < TARGET_SECONDS,
            },
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0

    print(markdown_machine(result["machine"]))
    print()
    print(
        f"Policy set: {args.features:,} features, {rules:,} rules, {len(files)} files, "
        f"{size / 1024:,.0f} KiB of YAML; median of {runs} run(s).\n"
    )
    print("| operation | median | runs |")
    print("|---|---:|---|")
    for name, values in (("geogate.load_policies(dir)", load), ("Gate.from_path(dir)", gate)):
        shown = ", ".join(f"{v:.3f}" for v in values)
        print(f"| `{name}` | {statistics.median(values):.3f} s | {shown} |")
    print()
    verdict = "PASS" if load_median < TARGET_SECONDS else "FAIL"
    print(f"{verdict}: load_policies {load_median:.3f} s (target < {TARGET_SECONDS:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
