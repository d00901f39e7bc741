"""The pass's decision per Inbox message, including every bad input of issue 10."""

from __future__ import annotations

from datetime import timedelta

from bridge.pull import decide, guards, listing, mapping
from tests.pull.test_mapping import CAL, START, URL, organizer_event, sim_mime

ALICE = "alice@example.com"


def row(message_class: str, *, uid: str = "{ABC-1}", sequence: int = 0,
        **props: object) -> listing.Row:
    return listing.Row(URL, "etag-1", uid, sequence, message_class,
                       {CAL + "dtstart": START, CAL + "dtend": START + timedelta(hours=1),
                        CAL + "organizer": "bob@example.com",
                        "urn:schemas:httpmail:subject": "Roadmap", **props})


def request_mime(**changes: object) -> bytes:
    return sim_mime("IPM.Schedule.Meeting.Request", **changes)


def test_new_request_is_written() -> None:
    outcome = decide.for_message(row("IPM.Schedule.Meeting.Request"), request_mime(),
                                 user=ALICE, existing=None)
    assert isinstance(outcome, decide.Write) and outcome.pulled.uid == "{ABC-1}"


def test_request_colliding_with_the_users_own_uid_is_skipped() -> None:
    own = organizer_event().replace("bob@example.com", ALICE).replace(
        mapping.ORIGIN, "X-NOT-OURS")
    outcome = decide.for_message(row("IPM.Schedule.Meeting.Request"), request_mime(),
                                 user=ALICE, existing=own)
    assert isinstance(outcome, decide.Skip) and "collides" in outcome.reason


def test_five_megabyte_invitation_is_built_from_its_properties() -> None:
    too_big = guards.TooLarge("MIME body of 5242880 bytes is over the 1048576-byte limit")
    outcome = decide.for_message(row("IPM.Schedule.Meeting.Request"), too_big, user=ALICE,
                                 existing=None)
    assert isinstance(outcome, decide.Write)
    assert "built from the item's properties" in outcome.pulled.notes[-1]
    assert "Roadmap" in outcome.pulled.text and "NEEDS-ACTION" in outcome.pulled.text


def test_malformed_mime_without_usable_properties_is_skipped() -> None:
    broken = row("IPM.Schedule.Meeting.Request")
    bare = listing.Row(broken.url, broken.etag, broken.uid, 0, broken.message_class, {})
    outcome = decide.for_message(bare, b"Content-Type: text/calendar\r\n\r\ngarbage",
                                 user=ALICE, existing=None)
    assert isinstance(outcome, decide.Skip) and "no start time" in outcome.reason


def test_reply_to_someone_elses_meeting_is_skipped() -> None:
    reply = sim_mime("IPM.Schedule.Meeting.Resp.Pos",
                     **{"urn:schemas:mailheader:from": "room-101@example.com",
                        "urn:schemas:mailheader:to": "bob@example.com"})
    outcome = decide.for_message(row("IPM.Schedule.Meeting.Resp.Pos"), reply,
                                 user="carol@example.com", existing=organizer_event())
    assert isinstance(outcome, decide.Skip) and "does not organize" in outcome.reason


def test_reply_from_someone_never_invited_is_skipped() -> None:
    reply = sim_mime("IPM.Schedule.Meeting.Resp.Pos",
                     **{"urn:schemas:mailheader:from": "mallory@example.com",
                        "urn:schemas:mailheader:to": "bob@example.com"})
    outcome = decide.for_message(row("IPM.Schedule.Meeting.Resp.Pos"), reply,
                                 user="bob@example.com", existing=organizer_event())
    assert isinstance(outcome, decide.Skip) and "not an attendee" in outcome.reason


def test_response_for_a_deleted_meeting_is_skipped() -> None:
    reply = sim_mime("IPM.Schedule.Meeting.Resp.Neg",
                     **{"urn:schemas:mailheader:from": "room-101@example.com",
                        "urn:schemas:mailheader:to": "bob@example.com"})
    outcome = decide.for_message(row("IPM.Schedule.Meeting.Resp.Neg"), reply,
                                 user="bob@example.com", existing=None)
    assert isinstance(outcome, decide.Skip) and "already been deleted" in outcome.reason


def test_room_decline_is_a_reply_on_the_organizers_event() -> None:
    reply = sim_mime("IPM.Schedule.Meeting.Resp.Neg",
                     **{"urn:schemas:mailheader:from": "Room 101 <room-101@example.com>",
                        "urn:schemas:mailheader:to": "bob@example.com"})
    outcome = decide.for_message(row("IPM.Schedule.Meeting.Resp.Neg"), reply,
                                 user="bob@example.com", existing=organizer_event())
    assert isinstance(outcome, decide.Reply)
    assert (outcome.attendee, outcome.partstat) == ("room-101@example.com", "DECLINED")


def test_cancellation_without_the_meeting_changes_nothing() -> None:
    outcome = decide.for_message(row("IPM.Schedule.Meeting.Canceled"),
                                 sim_mime("IPM.Schedule.Meeting.Canceled"), user=ALICE,
                                 existing=None)
    assert isinstance(outcome, decide.Skip)


def test_messages_of_one_meeting_apply_in_sequence_order_cancel_last() -> None:
    rows = [row("IPM.Schedule.Meeting.Canceled", sequence=1),
            row("IPM.Schedule.Meeting.Request", sequence=1),
            row("IPM.Schedule.Meeting.Request", sequence=0)]
    ordered = sorted(rows, key=decide.order_key)
    assert [(r.sequence, r.message_class[21:]) for r in ordered] == [
        (0, "Request"), (1, "Request"), (1, "Canceled")]
