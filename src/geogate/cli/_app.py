"""The ``geogate`` command group."""

from __future__ import annotations

import click

from geogate import __version__

from .audit import audit_command
from .check import check
from .diff import diff
from .evaluate import evaluate
from .explain import explain_command
from .jurisdictions import jurisdictions
from .resolve import resolve
from .serve import serve
from .test import test_command

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="geogate")
def main() -> None:
    """
    Decide whether a model or feature may be offered, by jurisdiction.

    Exit codes: 0 ok, 1 findings (policy errors), 2 usage error, 3 environment
    (a missing path or unreadable file).
    """


main.add_command(audit_command)
main.add_command(check)
main.add_command(diff)
main.add_command(evaluate)
main.add_command(explain_command)
main.add_command(jurisdictions)
main.add_command(resolve)
main.add_command(serve)
main.add_command(test_command)
