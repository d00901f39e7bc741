"""A series with its zone and exceptions over real HTTP: what the mailbox writes, it reads back
(`meeting_from_props` for the zone, `read_series` for the exceptions inside the master's ICS),
and what one series with 50 exceptions costs on the wire."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bridge.exchange.mailbox import Mailbox
from bridge.meeting import Attendee, Meeting, Override
from exchange_sim.server import RunningSimulator
from tests.exchange.test_mailbox import client

BERLIN = ZoneInfo("Europe/Berlin")
FIRST = datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN)


def series(exceptions: int = 2) -> Meeting:
    overrides = []
    for week in range(1, exceptions + 1):
        rid = FIRST + timedelta(weeks=week)
        if week % 2:
            moved = rid + timedelta(hours=5)
            overrides.append(Override(rid, moved, moved + timedelta(hours=1),
                                      summary=f"Planning (week {week})",
                                      attendees=(Attendee("bob@example.com"),)))
        else:
            overrides.append(Override(rid, rid, rid + timedelta(hours=1), status="CANCELLED"))
    return Meeting(
        uid="weekly-sync", start=FIRST, end=FIRST + timedelta(hours=1), summary="Planning",
        organizer="alice@example.com", attendees=(Attendee("bob@example.com"),),
        tzid="Europe/Berlin", rrule=(f"FREQ=WEEKLY;COUNT={exceptions + 4}",),
        overrides=tuple(overrides),
    )


def _requests(sim: RunningSimulator) -> list[str]:
    return [f"{e.method} {e.path}" for e in sim.app.log.entries()]


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_a_series_reads_back_with_its_zone_and_exceptions(sim: RunningSimulator) -> None:
    mailbox: Mailbox = client(sim)
    sent = series()
    url = mailbox.write_appointment(sent, create=True)
    read = mailbox.read_meeting(url)
    assert read is not None and read.tzid == "Europe/Berlin" and read.start == FIRST
    parsed = mailbox.read_series(url)
    assert parsed is not None and parsed.meeting is not None, parsed
    assert parsed.meeting.tzid == "Europe/Berlin"
    got = {o.key: (o.start, o.end, o.cancelled) for o in parsed.meeting.overrides}
    want = {o.key: (o.start, o.end, o.cancelled) for o in sent.overrides}
    assert got == want
    # an update that moves one more occurrence replaces the exceptions whole
    extra = FIRST + timedelta(weeks=5)
    more = replace(sent, overrides=(*sent.overrides, Override(
        extra, extra + timedelta(days=1), extra + timedelta(days=1, hours=1))))
    mailbox.write_appointment(more, create=False)
    again = mailbox.read_series(url)
    assert again is not None and again.meeting is not None
    assert len(again.meeting.overrides) == 3


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_fifty_exceptions_cost_one_put_and_one_proppatch(sim: RunningSimulator) -> None:
    mailbox = client(sim)
    mailbox.appointment_url("weekly-sync")  # folders discovered before counting
    before = len(sim.app.log.entries())
    mailbox.write_appointment(series(50), create=True)
    methods = [line.split()[0] for line in _requests(sim)[before:]]
    assert methods == ["PUT", "PROPPATCH"], _requests(sim)[before:]
    read = mailbox.read_series(mailbox.appointment_url("weekly-sync"))
    assert read is not None and read.meeting is not None and len(read.meeting.overrides) == 50
