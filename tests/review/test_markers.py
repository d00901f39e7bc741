"""Side effects are marked done on the HTTP status alone; the read-back marker (design §4) is
only consulted after a crash. OWA 2003 reports many command failures as a 200 HTML page."""

from __future__ import annotations

import pytest

from tests.e2e import ics
from tests.e2e.conftest import REQUEST, Bridge
from tests.e2e.test_exactly_once import MOVED


@pytest.mark.xfail(
    strict=True,
    reason="engine._update marks update_sent done on any 2xx/3xx; a sendappt answered with an "
    "OWA error page (200) sends nothing, yet the item becomes 'synced' and the update is lost "
    "(the marker sequence_of(url) >= expected is not checked after a normal send)",
)
def test_sendappt_answered_200_without_effect_is_not_counted_as_sent(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    event.data = ics.meeting(**MOVED)
    event.save()
    bridge.sim.faults.add(r"^POST /exchange/alice/Calendar/", status=200, count=1)
    bridge.sync()
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 2  # the invitation and the update


@pytest.mark.xfail(
    strict=True,
    reason="draft_sent's read-back marker is 'the draft is gone from Drafts'; a draft that "
    "waits there for a retry (MOVE failed) and is deleted by the user in Outlook/OWA counts "
    "as sent: the invitation is lost and the item is 'synced' (Sent Items would prove it)",
)
def test_draft_deleted_while_waiting_for_retry_is_not_counted_as_sent(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    calendar.save_event(ics.meeting())
    bridge.sim.faults.add(r"^MOVE /exchange/alice/Drafts/", status=503, count=1)
    bridge.sync()  # appointment + draft written; the MOVE failed: retry after the back-off
    (draft,) = bridge.exchange.items("alice", "Drafts")
    # alice sees an odd "Planning" draft in her Drafts folder and deletes it
    assert bridge.exchange.session.request("DELETE", str(draft["href"])).status_code < 300
    engine = bridge.service.engine
    assert engine is not None
    engine.state.reset_retry("alice")
    bridge.sync()
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1
