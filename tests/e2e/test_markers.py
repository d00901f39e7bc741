"""Read-back markers (design §4): OWA 2003 reports many command failures as a 200 HTML page,
and a draft gone from Drafts may have been deleted by the user rather than sent."""

from __future__ import annotations

from tests.e2e import ics
from tests.e2e.conftest import CANCELED, REQUEST, Bridge
from tests.e2e.test_exactly_once import MOVED
from tests.e2e.test_recurring import CANCEL_LATER, CASES


def test_sendappt_answered_200_without_effect_is_not_counted_as_sent(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    event.data = ics.meeting(**MOVED)
    event.save()
    bridge.sim.faults.add(r"^POST /exchange/alice/Calendar/", status=200, count=1)
    bridge.sync()  # refused by OWA: failed, and its outcome is read back later
    bridge.sync_later()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 2  # the invitation and the update


def test_draft_deleted_while_waiting_for_retry_is_not_counted_as_sent(bridge: Bridge) -> None:
    """Carol taken off the meeting: her cancellation waits in Drafts for a retry of its MOVE,
    and alice deletes the odd draft meanwhile; Carol still gets exactly one cancellation."""
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    event.data = ics.calendar(ics.event("planning-1", ics.BOB, dtstamp="20261125T140000Z"))
    event.save()
    bridge.sim.faults.add(r"^MOVE /exchange/alice/Drafts/", status=503, count=1)
    bridge.sync()  # update sent, cancellation draft written; the MOVE failed: retry later
    (draft,) = bridge.exchange.items("alice", "Drafts")
    assert bridge.exchange.session.request("DELETE", str(draft["href"])).status_code < 300
    bridge.sync_later()
    assert len(bridge.exchange.inbox("carol", CANCELED)) == 1


def test_request_refused_by_the_submission_uri_is_sent_once_later(bridge: Bridge) -> None:
    """The request PROPPATCHed to the submission URI answered 503 (nothing sent): it is sent
    on a later pass, once."""
    bridge.calendar("alice").save_event(ics.meeting())
    bridge.sim.faults.add(r"^PROPPATCH /exchange/alice/(%23%23|##)DavMailSubmissionURI",
                          status=503, count=1)
    bridge.sync()
    assert bridge.exchange.inbox("bob", REQUEST) == []
    bridge.sync_later()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1


def test_an_earlier_occurrence_cancellation_is_no_proof_that_the_series_cancellation_went(
        bridge: Bridge) -> None:
    """One occurrence of the series was cancelled earlier (its Canceled copy, with a
    recurrenceid, is in Sent Items). The whole series is then deleted, its cancellation's MOVE
    fails and alice deletes the waiting draft: that copy must not count as the series'
    cancellation; bob still gets it, once."""
    case = CASES[0]
    event = bridge.calendar().save_event(case.text())
    bridge.sync()
    event.data = case.text(CANCEL_LATER)
    event.save()
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", CANCELED)) == 1  # the occurrence's
    event.delete()
    bridge.sim.faults.add(r"^MOVE /exchange/alice/Drafts/", status=503, count=1)
    bridge.sync()
    for draft in bridge.exchange.items("alice", "Drafts"):
        assert bridge.exchange.session.request("DELETE", str(draft["href"])).status_code < 300
    bridge.sync_later()
    assert len(bridge.exchange.inbox("bob", CANCELED)) == 2  # the occurrence's and the series'
