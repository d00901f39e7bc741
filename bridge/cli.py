"""The `calbridge` command: run, sync, status, retry, import, freebusy, sim.

Rules kept here: a thin shell. Each subcommand gets its configuration from `cli_options` (which
also turns known failures into one message and an exit code), calls one function of the
service/engine, and prints with rich. Every subcommand takes `--config`, `--state-dir` and
`--sim-port`, so a second instance never touches the first one's data, and reaches the Exchange
of the `calbridge run` running on its state folder. Text that is not ours (UIDs, reasons, file
names) is printed as text, never read as rich markup. Every command creates files owner-only
(`bridge.statedir`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from bridge import instance, statedir
from bridge.cli_options import common, fail, options, stderr
from bridge.config import Config
from bridge.conflict_report import conflict_lines

if TYPE_CHECKING:
    from bridge.state.report import PullStatus
    from bridge.state.users import ProvisionedUser

__all__ = ["main"]

console = Console()


def _text(value: object) -> Text:
    """A table cell shown exactly as it is (a UID like `[/b]` is not markup)."""
    return Text(str(value))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """calbridge: CalDAV calendars in, Exchange Server 2003 meetings out."""
    # Meeting contents and password hashes: whatever a command creates is owner-only.
    ctx.with_resource(statedir.owner_only_files())


@main.command()
@click.option("--caldav-port", type=int, default=None, help="CalDAV port (default 5232).")
@options(secrets=True, starts_instance=True)
def run(config: Config) -> None:
    """Start the CalDAV server, the sync loop and (embedded) the Exchange simulator."""
    from bridge.service import Service, StartError

    root = logging.getLogger()
    if root.level > logging.INFO:
        # `run` is a service: one line per action by default, but not Radicale's chatter.
        root.setLevel(logging.INFO)
        for noisy in ("radicale", "apscheduler", "exchange_sim"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    service = Service(config)

    def _announce() -> None:
        console.print(f"[bold]calbridge[/bold] CalDAV server: {escape(service.caldav_url)}")
        what = "calendar" if config.default_calendar else "account"
        for user in config.users:
            note = " (password: demo)" if config.source == "defaults" else ""
            console.print(
                f"  user [cyan]{escape(user.name)}[/cyan]{note}, {what}: "
                f"{escape(service.calendar_url(user.name))}",
                soft_wrap=True,
            )
        if service.sim_url:
            console.print(f"Exchange 2003 simulator: {escape(service.sim_url)}/exchange/")
        console.print("Press Ctrl-C to stop.")

    service.install_signal_handlers()
    try:
        service.start()
    except StartError as error:
        fail("calbridge could not start:", str(error))
    try:
        _announce()
        service.wait()
    finally:
        if not service.stop():
            # A pass is still waiting for Exchange: end the process without it (the journal
            # makes that as safe as a crash, and the next start finishes the pass).
            console.print("calbridge stopped (an interrupted sync pass resumes at the next start)")
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)


@main.command()
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--user", "users", multiple=True, help="Only this user (repeatable).")
@click.option("--allow-mass-cancel", is_flag=True, help="Release held mass cancellations.")
@options(secrets=True)
def sync(config: Config, dry_run: bool, users: tuple[str, ...], allow_mass_cancel: bool) -> None:
    """Run one sync pass now, then exit (`calbridge run` is the loop).

    Needs Exchange reachable: with the embedded simulator, `calbridge run` must be running."""
    for name in users:
        config.user(name)  # a clear error for an unknown user
    with _engine(config) as engine:
        reports = engine.sync(
            users=list(users) or None, dry_run=dry_run, allow_mass_cancel=allow_mass_cancel
        )
    table = Table("user", "action", "uid", "result")
    for report in reports:
        for line in report.lines:
            table.add_row(*map(_text, (report.user, line.action, line.uid, line.result)))
    console.print(table)
    if any(r.failed for r in reports):
        if config.embedded and instance.read(config.state_dir) is None:
            stderr.print(
                "The embedded Exchange simulator runs inside `calbridge run`: start it with "
                f"the same --state-dir ({escape(str(config.state_dir))}).",
                soft_wrap=True,
            )
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True,
              help="One JSON document (stable keys, see README) instead of tables.")
@click.option("--conflict", "conflict_id", type=int, default=None,
              help="Print the losing version of conflict ID (iCalendar) and nothing else.")
@common
def status(config: Config, as_json: bool, conflict_id: int | None) -> None:
    """Per-mailbox health: synced / pending / failed / skipped, last run, errors, holds; the
    pull's last pass, what it could not take, and rooms that declined a booking."""
    from bridge.state import MailboxStatus, State

    running = instance.read(config.state_dir)
    if conflict_id is not None:
        _print_conflict(config, conflict_id)
        return
    if as_json:
        _status_json(config, running)
        return
    if running is not None:
        sim = f", Exchange simulator {running.sim_url}" if running.sim_url else ""
        console.print(
            Text(f"calbridge run is running (pid {running.pid}): CalDAV {running.caldav_url}{sim}"),
            soft_wrap=True,
        )
    path = config.state_dir / "bridge.sqlite"
    if not path.exists():
        console.print(Text(f"No state yet in {config.state_dir} (has `calbridge run` started?)"))
        return
    state = State.open(path)
    try:
        summaries = state.status_summary()
        skipped = {s.mailbox: state.skip_reasons(s.mailbox) for s in summaries}
        provisioned = state.provisioned_users()
        conflicts = state.conflicts(limit=20)
        pulls = state.pull_status()
    finally:
        state.close()
    table = Table("mailbox", "synced", "pending", "failed", "skipped", "cancelled", "last run",
                  "last pull")
    known = {s.mailbox for s in summaries}
    summaries += [MailboxStatus(name) for name in pulls if name not in known]
    for s in summaries:
        last = s.last_run
        when = (last.finished_at or last.started_at).strftime("%Y-%m-%d %H:%M:%S") if last else ""
        pulled = pulls[s.mailbox].last if s.mailbox in pulls else None
        pulled_at = pulled.pulled_at if pulled is not None else None
        table.add_row(
            *map(
                _text,
                (
                    s.mailbox,
                    s.synced,
                    s.pending,
                    s.failed,
                    s.skipped,
                    s.cancelled,
                    f"{when} UTC" if when else "never",
                    f"{pulled_at:%Y-%m-%d %H:%M:%S} UTC" if pulled_at else "never",
                ),
            )
        )
    console.print(table)
    for s in summaries:
        mailbox = escape(s.mailbox)
        if s.hold is not None:
            console.print(f"[bold red]{mailbox}: {s.hold.count} cancellation(s) held[/bold red]"
                          f" — {escape(s.hold.reason)}")
        if s.last_run is not None and s.last_run.counts.get("paused"):
            for line in s.last_run.errors:
                console.print(f"[bold red]{mailbox} paused[/bold red] {escape(line)}")
        for line in s.last_errors:
            console.print(f"[red]{mailbox} error[/red] {escape(line)}")
        for uid, reason in skipped.get(s.mailbox, []):
            console.print(f"[yellow]{mailbox} skipped[/yellow] {escape(uid)}: {escape(reason)}")
        _print_pull(mailbox, pulls.get(s.mailbox))
    for line in conflict_lines(conflicts):  # issue 10 point 4: both sides edited one event
        console.print(Text(line), soft_wrap=True)
    syncing = _syncing(config, provisioned)
    for p in provisioned:
        how = "synced" if p.name in syncing else "not synced (no longer in caldav.allow)"
        console.print(
            Text(f"provisioned at Exchange login: {p.name} (mailbox {p.mailbox}, {p.email}), "
                 f"since {p.created_at:%Y-%m-%d %H:%M} UTC, {how}"),
            soft_wrap=True,
        )


def _print_conflict(config: Config, conflict_id: int) -> None:
    """`status --conflict ID`: the version a conflict did not keep, whole, on stdout."""
    from bridge.state import State

    path = config.state_dir / "bridge.sqlite"
    if not path.exists():
        fail("No state yet:", str(config.state_dir))
    state = State.open(path)
    try:
        found = [c for c in state.conflicts(limit=1_000_000) if c.id == conflict_id]
    finally:
        state.close()
    if not found:
        fail(f"No conflict #{conflict_id} in", str(config.state_dir))
    click.echo(found[0].losing_text, nl=False)


def _print_pull(mailbox: str, pull: PullStatus | None) -> None:
    """The pull's lines of one mailbox (`mailbox` already escaped for rich markup)."""
    if pull is None:
        return
    if pull.last is not None and pull.last.error:
        console.print(f"[bold red]{mailbox} pull failed[/bold red] {escape(pull.last.error)}")
    for decline in pull.room_declines:
        console.print(f"[bold red]{mailbox}: {escape(decline.room)} declined "
                      f"{escape(repr(decline.summary))}[/bold red] ({escape(decline.uid)})")
    for uid, reason in pull.problems:
        console.print(f"[yellow]{mailbox} pull problem[/yellow] {escape(uid)}: {escape(reason)}")


def _syncing(config: Config, provisioned: Sequence[ProvisionedUser]) -> list[str]:
    """The provisioned users a `calbridge run` with this configuration syncs."""
    from bridge import provisioning
    from bridge.gal import GAL_OWNER

    if not provisioning.provisions(config):
        return []
    return [
        p.name for p in provisioned
        if provisioning.still_allowed(config, p.name, p.mailbox, (GAL_OWNER,))
    ]


def _status_json(config: Config, running: instance.Instance | None) -> None:
    """`status --json`: the document of `bridge.status_report` on stdout; exit 1 if damaged."""
    from bridge.state import State, StateDamaged
    from bridge.status_report import build_status_document

    path = config.state_dir / "bridge.sqlite"
    facts: dict[str, Any] = {"state_exists": path.exists()}
    if path.exists():
        try:
            state = State.open(path)
        except StateDamaged as damage:
            facts["damage"] = damage
        else:
            try:
                facts["summaries"] = summaries = state.status_summary()
                facts["skipped"] = {s.mailbox: state.skip_reasons(s.mailbox) for s in summaries}
                facts["provisioned"] = provisioned = state.provisioned_users()
                facts["syncing"] = _syncing(config, provisioned)
                facts["conflicts"] = state.conflicts(limit=100)
                facts["pull"] = state.pull_status()
            finally:
                state.close()
    document = build_status_document(
        state_dir=str(config.state_dir),
        configured=[u.mailbox for u in config.users],
        running=running,
        **facts,
    )
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    if "damage" in facts:
        sys.exit(1)


@main.command()
@click.argument("uid", required=False)
@click.option("--user", default=None, help="Only this user's items.")
@common
def retry(config: Config, uid: str | None, user: str | None) -> None:
    """Retry failed items now instead of waiting for their back-off."""
    from bridge.state import State

    path = config.state_dir / "bridge.sqlite"
    if not path.exists():
        console.print(Text(f"No state yet in {config.state_dir}: nothing to retry."))
        return
    state = State.open(path)
    try:
        mailboxes = [config.user(user).mailbox] if user else [u.mailbox for u in config.users]
        count = sum(state.reset_retry(mailbox, uid) for mailbox in mailboxes)
    finally:
        state.close()
    console.print(f"{count} item(s) will be retried on the next pass.")


@main.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", required=True, help="CalDAV user whose calendar receives the events.")
@click.option(
    "--calendar", default=None, help="Calendar name (default: caldav.default_calendar)."
)
@common
def import_(config: Config, file: Path, user: str, calendar: str | None) -> None:
    """Import an .ics file into a user's calendar (through Radicale's storage)."""
    from bridge.importer import import_file

    config.user(user)  # a clear error for an unknown user
    calendar = calendar or config.default_calendar or "calendar"
    statedir.prepare(config.state_dir)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"importing {escape(file.name)}", total=None)

        def _advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = import_file(config, file, user, calendar, progress=_advance)
    table = Table("uid", "result", "reason")
    for line in report:
        table.add_row(*map(_text, (line.uid, line.outcome, line.reason)))
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
@options(secrets=True)
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
        console.print(
            escape(f"{address:32} ") + "".join(symbols.get(d, "?") for d in digits),
            soft_wrap=True,
        )


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

        statedir.prepare(self.config.state_dir)
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
