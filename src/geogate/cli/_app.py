"""
The ``geogate`` command group.

Commands are imported when they run (or when ``--help`` lists them), not at
start-up: ``geogate eval`` then imports the evaluation code and nothing of
``audit``, ``diff``, ``test`` or ``serve``.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["main"]

#: Command name -> ``module:attribute`` under `geogate.cli`, in the order ``--help`` lists them.
#: Each command is the click command ``<name>_command`` in the module of its name
#: (``eval`` lives in ``evaluate.py``: ``eval`` is a builtin's name).
_COMMANDS = {
    "audit": "audit:audit_command",
    "check": "check:check_command",
    "diff": "diff:diff_command",
    "eval": "evaluate:eval_command",
    "explain": "explain:explain_command",
    "export": "export:export_command",
    "jurisdictions": "jurisdictions:jurisdictions_command",
    "lock": "lock:lock_command",
    "logs": "logs:logs_command",
    "resolve": "resolve:resolve_command",
    "serve": "serve:serve_command",
    "test": "test:test_command",
}


class _LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in _COMMANDS:
            return found
        module, _, attribute = _COMMANDS[cmd_name].partition(":")
        command: click.Command = getattr(
            importlib.import_module(f"{__package__}.{module}"), attribute
        )
        self.add_command(command, cmd_name)
        return command


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="geogate", prog_name="geogate")
def main() -> None:
    """
    Decide whether a model or feature may be offered, by jurisdiction.

    Exit codes: 0 ok, 1 findings (policy errors), 2 usage error, 3 environment
    (a missing path or unreadable file).
    """
