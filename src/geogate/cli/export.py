"""``geogate export``: the policies in another engine's format (flagd flag definitions)."""

from __future__ import annotations

import click

from geogate._export.flagd import export_flagd, render_flagd

from ._common import (
    expect_revision_option,
    features_option,
    load_or_exit,
    policies_option,
    require_features,
)
from ._output import output_option, write_output

__all__ = ["export_command"]


@click.command("export")
@policies_option
@expect_revision_option
@features_option
@click.option(
    "--format",
    "output",
    type=click.Choice(["flagd"]),
    required=True,
    help="The format: flagd, a flag-definition document (https://flagd.dev/schema/v0/flags.json).",
)
@output_option
def export_command(
    policies: str | None,
    expect_revision: str | None,
    features: tuple[str, ...],
    output: str,  # noqa: ARG001 (one format so far; the option names it)
    destination: str | None,
) -> None:
    """
    Write the policies as flagd flag definitions: one boolean flag per feature.

    Each flag's targeting reproduces geogate's decision for every place and
    date from the evaluation context's `country`, `subdivision` and
    `domicile`; its variants name the deciding rule (`deny:RULE`,
    `allow:default`, `deny:partial`, `deny:unknown`). Input the document
    cannot read (an IP to locate, a lower-case subdivision) is denied:
    docs/flagd.md lists what is kept and what is lost. Exit 1 when the
    policies have errors, 2 for a usage error, 3 when FILE cannot be written.
    """
    policy = load_or_exit(policies, expect_revision=expect_revision)
    require_features(features, list(policy.features), param_hint="'--feature'")
    text = render_flagd(export_flagd(policy, features or None))
    write_output(text, destination)
    if destination is None:
        return
    click.echo(
        f"wrote {len(set(features) or policy.features)} flag(s) "
        f"({len(text.encode())} bytes, revision {policy.revision}) to {destination}",
        err=True,
    )
