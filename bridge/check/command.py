"""The `calbridge check` subcommand: run the probes, print the table, exit 0 or 1.

Rule kept here: a thin shell. Unlike the other subcommands it does not stop at a configuration
error: that is the first failed row of the table. Exit status: 0 when nothing failed (warnings
and skipped rows allowed), 1 otherwise.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import click
from rich.console import Console

from bridge.check.findings import Status, exit_code, render
from bridge.check.probes import run_checks
from bridge.cli_options import location_options

__all__ = ["check"]


@click.command()
@location_options
@click.option("-v", "--verbose", count=True, help="Log the requests too (-vv for debug).")
def check(config_path: Path | None, state_dir: Path | None, verbose: int) -> None:
    """Check the configuration against Exchange and this machine; changes nothing."""
    level = logging.ERROR if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with warnings.catch_warnings():
        # insecure = true: the TLS row already says so; urllib3 would repeat it per request.
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
        findings = run_checks(config_path, state_dir=state_dir)
    console = Console()
    console.print(render(findings))
    failed = sum(f.status is Status.FAIL for f in findings)
    warned = sum(f.status is Status.WARN for f in findings)
    if failed:
        console.print(f"[bold red]{failed} check(s) failed[/bold red], {warned} warning(s).")
    else:
        console.print(f"[green]All checks passed[/green], {warned} warning(s).")
    sys.exit(exit_code(findings))
