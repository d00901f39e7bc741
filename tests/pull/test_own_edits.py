"""Issue 10 point 4 over real HTTP: alice's meeting, pushed by calbridge, edited in OWA.

alice's client is the `caldav` library, Exchange is the embedded simulator; alice edits her
appointment in OWA the way OWA stores an edit (a PROPPATCH of the organizer's appointment,
reference §3.3, as alice). The pull pass is driven directly (`pull_mailbox` with `OwnItems`),
the push pass with `engine.sync()`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bridge.cli import main
from bridge.pull import mailbox_pass
from bridge.pull.into_caldav import PulledCalendar
from bridge.pull.own_items import OwnItems
from bridge.service import radicale_configuration
from tests.e2e import ics
from tests.e2e.conftest import CANCELED, REQUEST, Bridge, _start
from tests.sim.davclient import login_fba, proppatch
from tests.sim.test_transport import CAL

T14 = datetime(2026, 12, 10, 14, tzinfo=UTC)
T16 = datetime(2026, 12, 10, 16, tzinfo=UTC)
T09 = datetime(2026, 12, 11, 9, tzinfo=UTC)
ALARM = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Soon\r\nTRIGGER:-PT10M\r\nEND:VALARM"


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    yield from _start(tmp_path / "state", autosync=False)


class Pull:
    """alice's pull pass as the scheduler will run it, with its memory."""

    def __init__(self, bridge: Bridge) -> None:
        engine = bridge.service.engine
        assert engine is not None
        (self.user,) = [u for u in bridge.config.users if u.name == "alice"]
        self.state = engine.state
        self.mailbox = engine.mailbox_for(self.user)
        configuration = radicale_configuration(bridge.config, with_server=False)
        self.target = PulledCalendar(configuration, "alice")
        self.own = OwnItems(self.state, configuration, user="alice", mailbox=self.user.mailbox,
                            address=self.user.email, default_tz=bridge.config.timezone)
        self.memory = mailbox_pass.PullMemory()

    def __call__(self) -> mailbox_pass.PassResult:
        return mailbox_pass.pull_mailbox(self.mailbox, self.target, self.memory, self.own)


def owa_move(bridge: Bridge, url: str, start: datetime, end: datetime, **more: object) -> None:
    """alice moves her meeting in OWA: the organizer's appointment is PROPPATCHed (as alice)."""
    with requests.Session() as alice:
        login_fba(alice, bridge.service.sim_url or "", "alice", "demo")
        answer = proppatch(alice, url, {CAL + "dtstart": start, CAL + "dtend": end, **more})
        assert answer.status_code == 207


def alice_event(bridge: Bridge, uid: str = "planning-1") -> object:
    (event,) = [e for e in bridge.calendar("alice").events()
                if str(e.icalendar_component["UID"]) == uid]
    return event


def pushed(bridge: Bridge, pull: Pull, *lines: str) -> str:
    """alice's meeting with bob, carol and room-101, sent by calbridge; returns its URL."""
    bridge.calendar("alice").save_event(ics.calendar(ics.event(
        "planning-1", ics.BOB, ics.CAROL, ics.ROOM, *lines)))
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1
    before = pull.state.get_item(pull.user.mailbox, "planning-1")
    # The first pull reads our own write once and finds it in step (the one event written is
    # room-101's acceptance, as PARTSTAT).
    first = pull()
    assert (first.written, first.problems) == (1, [])
    row = pull.state.get_item(pull.user.mailbox, "planning-1")
    assert row is not None and before is not None and row.exchange_url and row.exchange_hash
    assert (row.sent_hash, row.snapshot) == (before.sent_hash, before.snapshot)
    return row.exchange_url


def test_an_owa_move_reaches_the_caldav_event_and_sends_nothing(bridge: Bridge) -> None:
    pull = Pull(bridge)
    url = pushed(bridge, pull, ALARM, "DESCRIPTION:Agenda from my client")
    inboxes = {who: len(bridge.exchange.inbox(who)) for who in ("bob", "carol")}

    owa_move(bridge, url, T16, T16.replace(hour=17), **{CAL + "location": "Room 7"})
    moved = pull()
    assert (moved.written, moved.problems) == (1, [])
    assert moved.requests == 3  # the tags, the Calendar listing, the item's MIME: no more

    component = alice_event(bridge).icalendar_component  # type: ignore[attr-defined]
    assert component.decoded("DTSTART") == T16
    assert component.decoded("DTEND") == T16.replace(hour=17)
    assert str(component["LOCATION"]) == "Room 7"
    # What Exchange does not hold stays as alice's client wrote it.
    assert [str(a["TRIGGER"].to_ical().decode()) for a in component.walk("VALARM")] == ["-PT10M"]
    assert str(component["DESCRIPTION"]) == "Agenda from my client"
    assert "X-CALBRIDGE-ORIGIN" not in component  # still alice's own event, pushed as before

    reports = bridge.sync()
    assert [line for r in reports for line in r.lines if line.action in ("update", "create")] \
        == []
    assert {who: len(bridge.exchange.inbox(who)) for who in ("bob", "carol")} == inboxes
    again = pull()
    assert (again.written, again.problems) == (0, [])
    assert pull.state.conflicts() == []

    # alice's next edit in her client goes out as usual, from the moved time.
    event = alice_event(bridge)
    event.icalendar_component["SUMMARY"] = "Planning (moved)"  # type: ignore[attr-defined]
    event.save()  # type: ignore[attr-defined]
    bridge.sync()
    requests_to_bob = bridge.exchange.inbox("bob", REQUEST)
    assert len(requests_to_bob) == 2
    latest = max(requests_to_bob, key=lambda i: str(i.get("urn:schemas:httpmail:subject")))
    assert latest["urn:schemas:calendar:dtstart"] == T16


def test_both_sides_changed_the_caldav_version_wins_and_exchange_is_kept(
        bridge: Bridge, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pull = Pull(bridge)
    url = pushed(bridge, pull)

    owa_move(bridge, url, T16, T16.replace(hour=17))  # in OWA: 16:00
    event = alice_event(bridge)  # in alice's client: tomorrow 09:00
    component = event.icalendar_component  # type: ignore[attr-defined]
    component.pop("DTSTART")
    component.pop("DTEND")
    component.add("DTSTART", T09)
    component.add("DTEND", T09.replace(hour=10))
    event.save()  # type: ignore[attr-defined]

    with caplog.at_level(logging.INFO, logger="bridge.pull.own_items"):
        result = pull()
    assert (result.written, result.problems) == (0, [])
    (conflict,) = pull.state.conflicts()
    assert [r.getMessage() for r in caplog.records if r.name == "bridge.pull.own_items"] == [
        f"conflict {conflict.id}: alice 'planning-1': edited in Exchange and in CalDAV since the "
        "last sync: the CalDAV version wins; Exchange's version is kept in the state "
        "(calbridge status)"]
    assert (conflict.uid, conflict.kept) == ("planning-1", "caldav")
    assert "DTSTART:20261210T160000Z" in conflict.losing_text  # Exchange's version, whole
    assert alice_event(bridge).icalendar_component.decoded("DTSTART") == T09  # type: ignore[attr-defined]

    config = tmp_path / "calbridge.toml"
    config.write_text(f'state_dir = "{bridge.config.state_dir}"\n[exchange]\nurl = "embedded"\n',
                      encoding="utf-8")
    status = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert f"conflict #{conflict.id} planning-1: the CalDAV version kept" in status.output
    shown = CliRunner().invoke(main, ["status", "--config", str(config),
                                      "--conflict", str(conflict.id)])
    assert shown.exit_code == 0
    document = json.loads(CliRunner().invoke(main, ["status", "--json", "--config",
                                                    str(config)]).output)
    assert [(c["id"], c["uid"], c["kept"]) for c in document["conflicts"]] == [
        (conflict.id, "planning-1", "caldav")]
    assert shown.output.splitlines() == conflict.losing_text.splitlines()

    # The rule: the push sends the CalDAV version, exactly once, and Exchange agrees after.
    bridge.sync()
    requests_to_bob = bridge.exchange.inbox("bob", REQUEST)
    assert len(requests_to_bob) == 2
    assert sorted(r["urn:schemas:calendar:dtstart"] for r in requests_to_bob) == [T14, T09]  # type: ignore[type-var]
    (appointment,) = bridge.exchange.calendar("alice")
    assert appointment["urn:schemas:calendar:dtstart"] == T09
    settled = pull()
    assert (settled.written, settled.problems) == (0, [])
    assert len(pull.state.conflicts()) == 1
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 2


def test_edited_in_owa_deleted_in_caldav_the_deletion_wins(bridge: Bridge) -> None:
    pull = Pull(bridge)
    url = pushed(bridge, pull)
    owa_move(bridge, url, T16, T16.replace(hour=17))
    alice_event(bridge).delete()  # type: ignore[attr-defined]

    result = pull()
    assert (result.written, result.problems) == (0, [])
    (conflict,) = pull.state.conflicts()
    assert conflict.kept == "caldav" and "deleted in CalDAV" in conflict.reason
    assert "DTSTART:20261210T160000Z" in conflict.losing_text
    assert [e for e in bridge.calendar("alice").events()] == []  # the pull put nothing back

    bridge.sync()
    assert len(bridge.exchange.inbox("bob", CANCELED)) == 1
    assert bridge.exchange.calendar("alice") == []


def test_a_push_that_comes_before_the_pull_still_keeps_the_owa_edit_it_overrides(
        bridge: Bridge) -> None:
    """Both sides changed and the push pass runs first (alice's save wakes it at once, the
    scheduled pull is up to a minute away): the pass pulls first, so the OWA version is kept
    in `conflicts`, not overwritten unseen; the CalDAV version is sent once."""
    pull = Pull(bridge)
    url = pushed(bridge, pull)
    owa_move(bridge, url, T16, T16.replace(hour=17))
    event = alice_event(bridge)
    component = event.icalendar_component  # type: ignore[attr-defined]
    component.pop("DTSTART")
    component.pop("DTEND")
    component.add("DTSTART", T09)
    component.add("DTEND", T09.replace(hour=10))
    event.save()  # type: ignore[attr-defined]

    bridge.sync()  # no pull in between
    (conflict,) = pull.state.conflicts()
    assert (conflict.uid, conflict.kept) == ("planning-1", "caldav")
    assert "DTSTART:20261210T160000Z" in conflict.losing_text
    requests_to_bob = bridge.exchange.inbox("bob", REQUEST)
    assert sorted(r["urn:schemas:calendar:dtstart"] for r in requests_to_bob) == [T14, T09]  # type: ignore[type-var]
    (appointment,) = bridge.exchange.calendar("alice")
    assert appointment["urn:schemas:calendar:dtstart"] == T09
