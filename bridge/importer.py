"""`calbridge import FILE.ics`: split a calendar file into events and store them in Radicale.

Rules kept here: a broken event is reported and skipped, never a reason to drop the others; the
events go through Radicale's storage (`CalendarStore.import_events`), so the plugin records them
like any client write and the sync engine sends exactly what changed — re-importing the same
file changes nothing, a changed version updates only the events that changed. Each event passes
the front door's check (`screen.screen`, the limits a CalDAV PUT gets) before Radicale parses it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bridge import ical
from bridge.calendars import CalendarStore, ImportOutcome
from bridge.config import Config
from bridge.screen import screen

__all__ = ["import_file", "import_text"]

BATCH = 500  # events per storage lock: short enough to let CalDAV clients in between

Progress = Callable[[int, int], None]


def import_file(
    config: Config,
    path: Path,
    user: str,
    calendar: str = "calendar",
    *,
    progress: Progress | None = None,
) -> list[ImportOutcome]:
    from bridge.service import radicale_configuration

    text = path.read_bytes()
    store = CalendarStore(radicale_configuration(config, with_server=False))
    return import_text(
        store, text, user, calendar, default_tz=config.timezone, progress=progress
    )


def import_text(
    store: CalendarStore,
    text: str | bytes,
    user: str,
    calendar: str = "calendar",
    *,
    default_tz: str = "UTC",
    progress: Progress | None = None,
) -> list[ImportOutcome]:
    parsed = ical.parse_calendar(text, default_tz=default_tz)
    outcomes: list[ImportOutcome] = []
    accepted: list[tuple[str, str]] = []
    for event in parsed:
        if event.error is not None or event.uid is None:
            outcomes.append(
                ImportOutcome(event.uid or "(no UID)", "rejected", event.error or "no UID")
            )
        elif (refusal := screen(event.raw)) is not None:
            # The same check as a CalDAV PUT gets at the front door (bridge/gate.py), per event,
            # before Radicale's vobject parses the text in `import_events`.
            outcomes.append(ImportOutcome(event.uid, "rejected", refusal.reason))
        else:
            # Skipped events (e.g. overridden occurrences) are still stored: the calendar keeps
            # them, and `calbridge status` explains why Exchange does not get them.
            accepted.append((event.uid, event.raw))
    total = len(accepted)
    for start in range(0, total, BATCH):
        outcomes.extend(store.import_events(user, calendar, accepted[start : start + BATCH]))
        if progress is not None:
            progress(min(start + BATCH, total), total)
    return outcomes
