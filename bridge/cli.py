"""The `calbridge` command: run, sync, status, retry, import, freebusy, sim.

Rule kept here: a thin shell. Each subcommand loads the configuration (one clear error naming the
key if it is wrong, before anything starts), calls one function of the service/engine, and
prints with rich. Every subcommand takes `--config` and `--state-dir`, so a second instance never
touches the first one's data.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from bridge.config import Config, ConfigError, load_config
from bridge.state.errors import StateDamaged

__all__ = ["main"]

console = Console()
F = TypeVar("F", bound=Callable[..., Any])


def _common(func: F) -> F:
    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="TOML configuration file (default: the embedded demo).",
    )
    @click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Folder for the SQLite state and the calendars (default: state/).",
    )
    @click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
    @functools.wraps(func)
    def wrapper(
        *args: Any, config_path: Path | None, state_dir: Path | None, verbose: int, **kwargs: Any
    ) -> Any:
        _setup_logging(verbose)
        try:
            config = load_config(
                config_path,
                state_dir=state_dir,
                caldav_port=kwargs.pop("caldav_port", None),
                sim_port=kwargs.pop("sim_port", None),
            )
        except ConfigError as error:
            console.print(f"[red]configuration error[/red] {error}")
            sys.exit(2)
        try:
            return func(config, *args, **kwargs)
        except StateDamaged as damage:
            _print_damage(damage)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _print_damage(damage: StateDamaged) -> None:
    """What is damaged and the steps out, instead of a traceback."""
    lines = [
        f"[bold red]The state database is damaged:[/bold red] {escape(damage.path)}",
        *(f"  SQLite reports: {escape(problem)}" for problem in damage.problems),
        "`calbridge run` keeps serving CalDAV, but does not sync until the file is replaced.",
        "To recover:",
        *(f"  {escape(step)}" for step in damage.recovery),
    ]
    for line in lines:
        console.print(line, soft_wrap=True)  # unwrapped: the commands can be copied


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """calbridge: CalDAV calendars in, Exchange Server 2003 meetings out."""


@main.command()
@click.option("--caldav-port", type=int, default=None, help="CalDAV port (default 5232).")
@click.option("--sim-port", type=int, default=None, help="Embedded simulator port (default 8800).")
@_common
def run(config: Config) -> None:
    """Start the CalDAV server, the sync loop and (embedded) the Exchange simulator."""
    from bridge.service import Service

    root = logging.getLogger()
    if root.level > logging.INFO:
        # `run` is a service: one line per action by default, but not Radicale's chatter.
        root.setLevel(logging.INFO)
        for noisy in ("radicale", "apscheduler", "exchange_sim"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    service = Service(config)

    def _announce() -> None:
        console.print(f"[bold]calbridge[/bold] CalDAV server: {service.caldav_url}")
        for user in config.users:
            note = " (password: demo)" if config.source == "defaults" else ""
            console.print(
                f"  user [cyan]{user.name}[/cyan]{note}: {service.caldav_url}{user.name}/"
            )
        if service.sim_url:
            console.print(f"Exchange 2003 simulator: {service.sim_url}/exchange/")
        console.print("Press Ctrl-C to stop.")

    service.install_signal_handlers()
    service.start()
    try:
        _announce()
        service.wait()
    finally:
        service.stop()


@main.command()
@click.option("--once", is_flag=True, help="One pass, then exit (the default for this command).")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--user", "users", multiple=True, help="Only this user (repeatable).")
@click.option("--allow-mass-cancel", is_flag=True, help="Release held mass cancellations.")
@_common
def sync(
    config: Config, once: bool, dry_run: bool, users: tuple[str, ...], allow_mass_cancel: bool
) -> None:
    """Run one sync pass now (needs Exchange reachable; embedded: `calbridge run` running)."""
    del once  # a pass is always one pass here; `calbridge run` is the loop
    with _engine(config) as engine:
        reports = engine.sync(
            users=list(users) or None, dry_run=dry_run, allow_mass_cancel=allow_mass_cancel
        )
    table = Table("user", "action", "uid", "result")
    for report in reports:
        for line in report.lines:
            table.add_row(report.user, line.action, line.uid, line.result)
    console.print(table)
    if any(r.failed for r in reports):
        sys.exit(1)


@main.command()
@_common
def status(config: Config) -> None:
    """Per-mailbox health: synced / pending / failed / skipped, last run, errors, holds."""
    from bridge.state import State

    path = config.state_dir / "bridge.sqlite"
    if not path.exists():
        console.print(f"No state yet in {config.state_dir} (has `calbridge run` started?)")
        return
    state = State.open(path)
    try:
        summaries = state.status_summary()
        skipped = {s.mailbox: state.skip_reasons(s.mailbox) for s in summaries}
    finally:
        state.close()
    table = Table("mailbox", "synced", "pending", "failed", "skipped", "cancelled", "last run")
    for s in summaries:
        last = s.last_run
        when = (last.finished_at or last.started_at).strftime("%Y-%m-%d %H:%M:%S") if last else ""
        table.add_row(
            s.mailbox,
            str(s.synced),
            str(s.pending),
            str(s.failed),
            str(s.skipped),
            str(s.cancelled),
            f"{when} UTC" if when else "never",
        )
    console.print(table)
    for s in summaries:
        if s.hold is not None:
            console.print(f"[bold red]{s.mailbox}: {s.hold.count} cancellation(s) held[/bold red]"
                          f" — {s.hold.reason}")
        for line in s.last_errors:
            console.print(f"[red]{s.mailbox} error[/red] {line}")
        for uid, reason in skipped.get(s.mailbox, []):
            console.print(f"[yellow]{s.mailbox} skipped[/yellow] {uid}: {reason}")


@main.command()
@click.argument("uid", required=False)
@click.option("--user", default=None, help="Only this user's items.")
@_common
def retry(config: Config, uid: str | None, user: str | None) -> None:
    """Retry failed items now instead of waiting for their back-off."""
    from bridge.state import State

    state = State.open(config.state_dir / "bridge.sqlite")
    try:
        mailboxes = [config.user(user).mailbox] if user else [u.mailbox for u in config.users]
        count = sum(state.reset_retry(mailbox, uid) for mailbox in mailboxes)
    finally:
        state.close()
    console.print(f"{count} item(s) will be retried on the next pass.")


@main.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", required=True, help="CalDAV user whose calendar receives the events.")
@click.option("--calendar", default="calendar", show_default=True, help="Calendar name.")
@_common
def import_(config: Config, file: Path, user: str, calendar: str) -> None:
    """Import an .ics file into a user's calendar (through Radicale's storage)."""
    from bridge.importer import import_file

    config.user(user)  # a clear error for an unknown user
    config.state_dir.mkdir(parents=True, exist_ok=True)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"importing {file.name}", total=None)

        def _advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = import_file(config, file, user, calendar, progress=_advance)
    table = Table("uid", "result", "reason")
    for line in report:
        table.add_row(line.uid, line.outcome, line.reason)
    console.print(table)
    counts: dict[str, int] = {}
    for line in report:
        counts[line.outcome] = counts.get(line.outcome, 0) + 1
    console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to import")
    if counts.get("rejected"):
        sys.exit(1)


@main.command()
@click.argument("addresses", nargs=-1, required=True)
@click.option("--start", type=click.DateTime(), default=None, help="Start (UTC); default now.")
@click.option("--end", type=click.DateTime(), default=None, help="End (UTC); default +8 h.")
@click.option("--interval", type=int, default=30, show_default=True, help="Minutes per slot.")
@click.option("--user", default=None, help="Ask as this user (default: the first one).")
@_common
def freebusy(
    config: Config,
    addresses: tuple[str, ...],
    start: datetime | None,
    end: datetime | None,
    interval: int,
    user: str | None,
) -> None:
    """Show a free/busy grid for people and rooms (OWA free/busy)."""
    begin = (start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)).replace(
        tzinfo=UTC
    )
    finish = (end.replace(tzinfo=UTC) if end else begin + timedelta(hours=8))
    with _engine(config) as engine:
        grid = engine.freebusy(list(addresses), begin, finish, interval, user=user)
    symbols = {"0": "[green]·[/green]", "1": "[yellow]t[/yellow]", "2": "[red]█[/red]",
               "3": "[magenta]o[/magenta]", "4": "?"}
    console.print(f"{begin:%Y-%m-%d %H:%M}Z + {interval} min per column")
    for address, digits in grid.items():
        console.print(f"{address:32} " + "".join(symbols.get(d, "?") for d in digits))


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,  # `calbridge sim --help` shows the simulator's own flags
)
@click.pass_context
def sim(ctx: click.Context) -> None:
    """Run the Exchange 2003 simulator alone (same flags as `python -m exchange_sim`)."""
    from exchange_sim.__main__ import main as sim_main

    sys.exit(sim_main(list(ctx.args)))


class _EngineContext:
    def __init__(self, config: Config) -> None:
        self.config = config

    def __enter__(self) -> Any:
        from bridge.calendars import CalendarStore
        from bridge.engine import Engine
        from bridge.service import radicale_configuration
        from bridge.state import State

        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.state = State.open(self.config.state_dir / "bridge.sqlite")
        calendars = CalendarStore(radicale_configuration(self.config, with_server=False))
        # One explicit pass: a deletion made before it is meant, no grace period to wait out.
        config = replace(self.config, cancel_grace=0.0)
        self.engine = Engine(config, self.state, calendars)
        return self.engine

    def __exit__(self, *exc: object) -> None:
        self.engine.close()
        self.state.close()


def _engine(config: Config) -> _EngineContext:
    return _EngineContext(config)


# `calbridge check` lives in its own package (bridge/check/); registered here.
from bridge.check.command import check as _check  # noqa: E402

main.add_command(_check)


if __name__ == "__main__":  # pragma: no cover
    main()
