"""One Exchange 2003 mailbox: discovery, meeting steps, and their read-back markers.

Rules kept here: nothing is hard-coded but `/exchange/<alias>/` itself — folder URLs and the
submission URI come from PROPFIND on the mailbox root, so German (`Kalender`) and other
localized servers work. Every side effect is a separate method with a deterministic target
(item names derive from the UID), so the engine can journal between steps and, after a crash,
read back what happened (`exists`, `sequence_of`, `find_cancel_drafts`) instead of repeating a
send. Recipes: create per KB 308373 (PROPPATCH appointment; the request message then goes
straight to the submission URI, reference §3.2: PROPPATCHed, or PUT as iCalendar when the series
has exceptions; older versions wrote it into Drafts and MOVEd it, kept for their journals);
update per the seed (PROPPATCH, then OWA `Cmd=sendappt`); cancel per the seed (`?Cmd=getcancel`,
MOVE the pre-created draft, DELETE the appointment); a message about one occurrence is
PROPPATCHed straight to the submission URI (reference §3.2), one request.

Size: over 400 lines because each step and its read-back marker sit side by side (one method
pair per side effect); the wire formats themselves live in webdav.py, owa.py, props.py, mime.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from urllib.parse import quote, unquote, urlsplit

from bridge.exchange import errors, mime, owa, props, webdav
from bridge.exchange.http import ExchangeSession
from bridge.ical import ParsedEvent
from bridge.meeting import Meeting

__all__ = ["Folders", "Mailbox", "own_mailbox_alias"]

logger = logging.getLogger(__name__)

_HTTPMAIL = webdav.NS_HTTPMAIL
FOLDER_PROPS = tuple(
    _HTTPMAIL + name
    for name in (
        "calendar",
        "inbox",
        "drafts",
        "sentitems",
        "deleteditems",
        "outbox",
        "tasks",
        "contacts",
        "sendmsg",
    )
)
_UID = webdav.NS_CALENDAR + "uid"
_SEQUENCE = webdav.NS_CALENDAR + "sequence"
_CLASS = webdav.NS_EXCHANGE + "outlookmessageclass"
_RECURRENCE_ID = webdav.NS_CALENDAR + "recurrenceid"
_XML = {"Content-Type": 'text/xml; charset="utf-8"'}


def own_mailbox_alias(session: ExchangeSession) -> str:
    """The logged-in user's own mailbox alias, from the OWA page's `<BASE href>` (the way
    Exchange 2003 clients find it when the alias differs from the login name)."""
    response = session.request("GET", session.url("/exchange/"))
    base = owa.parse_base_href(response.content)
    if base is None:
        raise errors.ProtocolError(
            "the OWA page has no <BASE href>: not an Exchange 2003 mailbox?",
            method="GET",
            url=session.url("/exchange/"),
            status=response.status_code,
        )
    segments = [s for s in urlsplit(base).path.split("/") if s]
    if len(segments) < 2 or segments[0].lower() != "exchange":
        raise errors.ProtocolError(f"unexpected mailbox URL in <BASE href>: {base!r}")
    return unquote(segments[1])


@dataclass(frozen=True)
class Folders:
    """Absolute, percent-encoded URLs of a mailbox's well-known folders (no trailing slash)."""

    root: str
    calendar: str
    inbox: str
    drafts: str
    sentitems: str
    deleteditems: str
    sendmsg: str

    @property
    def calendar_name(self) -> str:
        """The calendar folder's own (decoded, possibly localized) name, as OWA forms want it."""
        return unquote(self.calendar.rstrip("/").rsplit("/", 1)[-1])


class Mailbox:
    """Meeting operations on `/exchange/<alias>/`, through `session`'s identity."""

    def __init__(
        self,
        session: ExchangeSession,
        alias: str,
        address: str,
        *,
        zone: tzinfo = UTC,
    ) -> None:
        self.session = session
        self.alias = alias
        self.address = address.lower()
        self.zone = zone
        self._folders: Folders | None = None

    def __repr__(self) -> str:
        return f"<Mailbox {self.alias} via {self.session}>"

    # -- discovery ---------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        return self.session.url(f"/exchange/{quote(self.alias, safe='')}/")

    @property
    def folders(self) -> Folders:
        if self._folders is None:
            self._folders = self.discover()
        return self._folders

    def discover(self) -> Folders:
        """Find the folder URLs and the submission URI (one PROPFIND, Depth 0)."""
        response = self.session.request(
            "PROPFIND",
            self.root_url,
            headers={**_XML, "Depth": "0", "Brief": "t"},
            body=webdav.build_propfind(FOLDER_PROPS),
        )
        answers = webdav.parse_multistatus(response.content)
        if not answers:
            raise errors.ProtocolError(
                "mailbox root answered an empty multistatus", method="PROPFIND", url=self.root_url
            )
        found = answers[0].props

        def folder(name: str) -> str:
            value = found.get(_HTTPMAIL + name)
            if not isinstance(value, str) or not value:
                raise errors.ProtocolError(
                    f"mailbox root did not report urn:schemas:httpmail:{name}",
                    method="PROPFIND",
                    url=self.root_url,
                )
            return self._absolute(value).rstrip("/")

        folders = Folders(
            root=self.root_url.rstrip("/"),
            calendar=folder("calendar"),
            inbox=folder("inbox"),
            drafts=folder("drafts"),
            sentitems=folder("sentitems"),
            deleteditems=folder("deleteditems"),
            sendmsg=folder("sendmsg"),
        )
        logger.debug("discovered %s: calendar %s", self.alias, folders.calendar)
        self._folders = folders
        return folders

    # -- addressing --------------------------------------------------------------------------

    def appointment_url(self, uid: str) -> str:
        return f"{self.folders.calendar}/{quote(props.item_name_for_uid(uid))}"

    def draft_url(self, uid: str, kind: str, sequence: int) -> str:
        return f"{self.folders.drafts}/{quote(props.draft_name_for_uid(uid, kind, sequence))}"

    # -- reading -----------------------------------------------------------------------------

    def read(
        self, url: str, names: Sequence[str] = props.APPOINTMENT_PROPS
    ) -> webdav.Response | None:
        """PROPFIND one item; None when it does not exist."""
        response = self.session.request(
            "PROPFIND",
            url,
            headers={**_XML, "Depth": "0"},
            body=webdav.build_propfind(names),
            accept=(404,),
        )
        if response.status_code == 404:
            return None
        answers = webdav.parse_multistatus(response.content)
        return answers[0] if answers else None

    def probe(self) -> None:
        """One cheap request (PROPFIND, depth 0, of the mailbox root): raises the client's error
        when Exchange does not answer (the engine's outage test)."""
        self.session.request(
            "PROPFIND",
            self.root_url,
            headers={**_XML, "Depth": "0"},
            body=webdav.build_propfind(("DAV:displayname",)),
            accept=(404,),
        )

    def exists(self, url: str) -> bool:
        return self.read(url, ("DAV:getetag",)) is not None

    def sequence_of(self, url: str) -> int | None:
        found = self.read(url, (_SEQUENCE, _UID))
        if found is None:
            return None
        value = found.props.get(_SEQUENCE)
        return int(value) if isinstance(value, int | str) and str(value).isdigit() else 0

    def read_meeting(self, url: str) -> Meeting | None:
        found = self.read(url)
        if found is None:
            return None
        return props.meeting_from_props(found.props, href=found.href, zone=self.zone)

    def read_series(self, url: str) -> ParsedEvent | None:
        """GET (``Translate: f``) an appointment as iCalendar: a series with its exceptions and
        zone, as DavMail reads them (None when the item is gone)."""
        response = self.session.request("GET", url, headers={"Translate": "f"}, accept=(404,))
        if response.status_code == 404:
            return None
        return mime.read_body(response.content)

    def search(
        self,
        folder_url: str,
        where: str,
        select: Iterable[str] = ("DAV:getetag", _UID, _CLASS),
        order_by: Sequence[str | tuple[str, str]] | None = None,
    ) -> list[webdav.Response]:
        sql = webdav.build_sql(list(select), urlsplit(folder_url).path, where, order_by)
        response = self.session.request(
            "SEARCH", folder_url + "/", headers=_XML, body=webdav.build_search(sql)
        )
        return webdav.parse_multistatus(response.content)

    def find(self, uid: str) -> webdav.Response | None:
        """The appointment with this UID in the calendar, wherever it is named."""
        hits = self.search(
            self.folders.calendar,
            f"{webdav.sql_identifier(_UID)} = {webdav.sql_string(uid)}",
            props.APPOINTMENT_PROPS,
        )
        return hits[0] if hits else None

    def find_cancel_drafts(self, uid: str) -> list[str]:
        """URLs of cancellation drafts for `uid` still sitting in Drafts, oldest first."""
        where = (
            f"{webdav.sql_identifier(_UID)} = {webdav.sql_string(uid)} AND "
            f"{webdav.sql_identifier(_CLASS)} = 'IPM.Schedule.Meeting.Canceled'"
        )
        hits = self.search(self.folders.drafts, where, order_by=["DAV:creationdate"])
        return [self._absolute(hit.href) for hit in hits]

    def was_sent(self, uid: str, message_class: str, min_sequence: int, *,
                 whole_series: bool = False) -> bool:
        """Whether Sent Items holds a `message_class` message for `uid` at `min_sequence` or
        later: the positive proof that a MOVE to the submission URI went out (a draft that is
        merely gone from Drafts may have been deleted by the user). With `whole_series`, a
        message about one occurrence (it carries a recurrenceid) is no proof: a series'
        earlier occurrence cancellations share its UID and class."""
        where = (
            f"{webdav.sql_identifier(_UID)} = {webdav.sql_string(uid)} AND "
            f"{webdav.sql_identifier(_CLASS)} = {webdav.sql_string(message_class)} AND "
            f"{webdav.sql_identifier(_SEQUENCE)} >= {int(min_sequence)}"
        )
        hits = self.search(self.folders.sentitems, where,
                           select=("DAV:getetag", _UID, _CLASS, _RECURRENCE_ID))
        if whole_series:
            hits = [h for h in hits if not h.props.get(_RECURRENCE_ID)]
        return bool(hits)

    # -- steps (each one side effect) --------------------------------------------------------

    def write_appointment(
        self, meeting: Meeting, *, create: bool, had_exceptions: bool = False
    ) -> str:
        """PROPPATCH the organizer's appointment so that it holds `meeting`.

        `had_exceptions`: the appointment may hold exceptions `meeting` no longer has (an
        override taken back); only a PUT of the whole series removes them (reference §2.3), so
        the series is PUT even without overrides.

        `create` sends `If-None-Match: *`; a 412 means an earlier attempt made it, and the same
        properties are then written over it. An update sends `If-Match: *` (a missing
        appointment is a 412, not a silent re-creation) and removes what the meeting no longer
        has (a reminder, an attendee list, a recurrence).
        """
        url = self.appointment_url(meeting.uid)
        values = props.appointment_props(meeting, mailbox_address=self.address, zone=self.zone)
        if create:
            put = self._put_series(url, meeting, {"If-None-Match": "*"})
            if put:  # our PUT made it: the PROPPATCH completes it
                self._proppatch(url, values, {"If-Match": "*"})
                return url
            if put is None and self._proppatch(
                url, values, {"If-None-Match": "*"}, accept=(412,)
            ):
                return url
            logger.info("appointment for %s already exists (earlier attempt)", meeting.uid)
            self._put_series(url, meeting, {"If-Match": "*"})
        else:
            # The server owns the sequence once sendappt has bumped it.
            values.pop(_SEQUENCE, None)
            self._put_series(url, meeting, {"If-Match": "*"}, always=had_exceptions)
        self._proppatch(url, values, {"If-Match": "*"}, remove=props.props_to_remove(values))
        return url

    def _put_series(
        self, url: str, meeting: Meeting, condition: dict[str, str], *,
        method: str | None = None, always: bool = False,
    ) -> bool | None:
        """PUT a series with overrides as iCalendar (reference §2.3): its exceptions exist on
        Exchange only this way. None when the meeting has no overrides (nothing to PUT) unless
        `always`; False when the condition failed (412). The PROPPATCH that follows sets what
        iCalendar cannot carry (the invitation flags, sensitivity, categories, the create
        attempt)."""
        if not meeting.overrides and not always:
            return None
        if method is None:
            body = mime.calendar_body(meeting, zone=self.zone)
        else:
            body = mime.calendar_body(meeting, content_class=mime.CALENDAR_MESSAGE,
                                      method=method, zone=self.zone)
        response = self.session.request(
            "PUT", url, headers={"Content-Type": "message/rfc822", "Translate": "f", **condition},
            body=body, accept=(412,))
        return response.status_code != 412

    def create_appointment(self, meeting: Meeting, *, attempt: str | None = None) -> bool:
        """PROPPATCH a new appointment with `If-None-Match: *`; False (nothing written) when
        one already exists at the UID's URL.

        `attempt` is written with it (`props.CREATE_ATTEMPT`): when the answer is lost and the
        HTTP layer's retry of this conditional write gets 412, `created_by()` tells whether the
        appointment there is this attempt's own.
        """
        url = self.appointment_url(meeting.uid)
        values = props.appointment_props(meeting, mailbox_address=self.address, zone=self.zone)
        if attempt is not None:
            values[props.CREATE_ATTEMPT] = attempt
        if self._put_series(url, meeting, {"If-None-Match": "*"}) is False:
            return False
        # After our own PUT the conditional PROPPATCH would fail: it completes the item instead.
        condition = {"If-Match": "*"} if meeting.overrides else {"If-None-Match": "*"}
        return self._proppatch(url, values, condition, accept=(412,))

    def created_by(self, url: str) -> str | None:
        """The create attempt recorded on an appointment (None: missing or not ours)."""
        found = self.read(url, (props.CREATE_ATTEMPT,))
        value = found.props.get(props.CREATE_ATTEMPT) if found is not None else None
        return value if isinstance(value, str) else None

    def write_draft(
        self,
        meeting: Meeting,
        url: str,
        *,
        kind: str = "request",
        recurrence_id: datetime | date | None = None,
    ) -> bool:
        """PROPPATCH a meeting message into Drafts; False when it already existed.

        With `recurrence_id` the message is about that one occurrence (`meeting` is then the
        occurrence alone, without a rule)."""
        values = self._message_props(meeting, kind, recurrence_id)
        method = "CANCEL" if kind == "cancel" else "REQUEST"
        if self._put_series(url, meeting, {"If-None-Match": "*"}, method=method) is False:
            return False
        condition = {"If-Match": "*"} if meeting.overrides else {"If-None-Match": "*"}
        return self._proppatch(url, values, condition, accept=(412,))

    def _message_props(
        self, meeting: Meeting, kind: str, recurrence_id: datetime | date | None
    ) -> dict[str, object]:
        make = props.cancel_message_props if kind == "cancel" else props.request_message_props
        return make(meeting, mailbox_address=self.address, zone=self.zone,
                    recurrence_id=recurrence_id)

    def submit_message(
        self,
        meeting: Meeting,
        *,
        kind: str,
        attempt: str,
        recurrence_id: datetime | date | None = None,
    ) -> None:
        """PROPPATCH a meeting message straight to the submission URI, which sends it (reference
        §3.2: "PROPPATCH the URI directly"): one request instead of a draft and its MOVE.

        Only for a message PROPPATCH can carry whole (no exceptions: `meeting` without
        overrides). `attempt` is written on it (`props.SEND_ATTEMPT`) so that `sent_attempts`
        finds its Sent Items copy when the answer is lost. Never retried blindly."""
        if meeting.overrides:
            raise ValueError("a message with exceptions needs its iCalendar (PUT), not PROPPATCH")
        values = self._message_props(meeting, kind, recurrence_id)
        values[props.SEND_ATTEMPT] = attempt
        self._proppatch(self.folders.sendmsg + "/", values, {}, idempotent=False)

    def sent_attempts(self, uid: str) -> set[str]:
        """The send attempts (`submit_message`) whose messages about `uid` Sent Items holds:
        the proof that those went out."""
        where = f"{webdav.sql_identifier(_UID)} = {webdav.sql_string(uid)}"
        hits = self.search(self.folders.sentitems, where, (props.SEND_ATTEMPT,))
        found = (hit.props.get(props.SEND_ATTEMPT) for hit in hits)
        return {value for value in found if isinstance(value, str)}

    def submit_series(self, meeting: Meeting, *, attempt: str) -> None:
        """PUT a meeting request with its exceptions straight to the submission URI, which sends
        it (reference §3.2 "PUT/POST message/rfc822"; §2.3: exceptions travel only as
        iCalendar): one request instead of a draft PUT, its PROPPATCH and its MOVE. `attempt`
        travels in the MIME (`mime.ATTEMPT_HEADER`), read back by `sent_series_attempts`.
        Never retried blindly."""
        content_type, body = mime.submission(meeting, self.address, method="REQUEST",
                                             zone=self.zone, attempt=attempt)
        self.session.request(
            "PUT", self.folders.sendmsg + "/",
            headers={"Content-Type": content_type, "Translate": "f"},
            body=body, idempotent=False)

    def sent_series_attempts(self, uid: str, min_sequence: int) -> set[str]:
        """The attempts (`submit_series`) whose requests about `uid` Sent Items holds: one
        SEARCH, then a GET (``Translate: f``) of each request copy at `min_sequence` or later
        (a PUT-sent message keeps its MIME, reference §2.3). Only a resumed send asks."""
        where = (
            f"{webdav.sql_identifier(_UID)} = {webdav.sql_string(uid)} AND "
            f"{webdav.sql_identifier(_CLASS)} = 'IPM.Schedule.Meeting.Request' AND "
            f"{webdav.sql_identifier(_SEQUENCE)} >= {int(min_sequence)}"
        )
        found: set[str] = set()
        for hit in self.search(self.folders.sentitems, where, ("DAV:getetag",)):
            response = self.session.request("GET", self._absolute(hit.href),
                                            headers={"Translate": "f"}, accept=(404,))
            attempt = mime.attempt_of(response.content) if response.status_code != 404 else None
            if attempt:
                found.add(attempt)
        return found

    def send_draft(self, url: str, *, save_in_sent: bool = True) -> None:
        """MOVE a draft to the submission URI. Never retried blindly (idempotent=False)."""
        headers = {"Destination": self.folders.sendmsg + "/", "Overwrite": "F"}
        if not save_in_sent:
            headers["Saveinsent"] = "f"
        self.session.request("MOVE", url, headers=headers, idempotent=False)

    def post_sendappt(self, meeting: Meeting, url: str) -> None:
        """OWA `Cmd=sendappt` on the appointment: the server sends the update (seed recipe)."""
        item_name = unquote(url.rstrip("/").rsplit("/", 1)[-1])
        fields = owa.sendappt_fields(
            meeting, item_path=item_name, calendar_folder_name=self.folders.calendar_name
        )
        response = self.session.request(
            "POST",
            url,
            headers={"Content-Type": "application/x-www-UTF8-encoded"},
            body=owa.build_utf8_form(fields),
            idempotent=False,
        )
        if response.status_code not in (301, 302, 303):
            # OWA answers a command it carried out with a redirect to the item (reference
            # §6.2); a 200 is its error page, and nothing was sent.
            raise errors.ProtocolError(
                "sendappt was not carried out (OWA answered a page, not a redirect)",
                method="POST",
                url=url,
                status=response.status_code,
                body=response.content,
            )

    def get_cancel_draft(self, url: str) -> str:
        """OWA `?Cmd=getcancel`: the server pre-creates the cancellation draft; its URL."""
        # Not idempotent although a GET: every call pre-creates a draft on the server.
        response = self.session.request("GET", url + "?Cmd=getcancel", idempotent=False)
        location = response.headers.get("Location")
        if response.status_code not in (301, 302, 303) or not location:
            raise errors.ProtocolError(
                "getcancel did not redirect to a cancellation draft",
                method="GET",
                url=url,
                status=response.status_code,
            )
        return owa.parse_redirect_location(location, url)

    def delete(self, url: str) -> bool:
        """DELETE an item; False when it was already gone."""
        response = self.session.request("DELETE", url, accept=(404,), idempotent=True)
        return response.status_code != 404

    # -- free/busy ---------------------------------------------------------------------------

    def freebusy(
        self, addresses: Sequence[str], start: datetime, end: datetime, interval: int = 30
    ) -> dict[str, str]:
        """Free/busy digits per address (one per interval: 0 free, 1 tentative, 2 busy, 3 OOF,
        4 unknown) from OWA's `/public/?cmd=freebusy` — one request for all addresses.
        `owa.busy_slots` turns a digit string into periods."""
        query = owa.build_freebusy_query(addresses, start, end, interval)
        response = self.session.request("GET", self.session.url("/public/?" + query))
        digits = owa.parse_freebusy(response.content)
        return {address: digits.get(address.lower(), "") for address in addresses}

    # -- internals ---------------------------------------------------------------------------

    def _absolute(self, href: str) -> str:
        return href if "://" in href else self.session.url(href)

    def _proppatch(
        self,
        url: str,
        values: dict[str, object],
        condition: dict[str, str],
        *,
        remove: Iterable[str] = (),
        accept: tuple[int, ...] = (),
        idempotent: bool | None = None,
    ) -> bool:
        """PROPPATCH under a condition; False when the answer was one of `accept` (e.g. 412).

        Raises `errors.Conflict` when the server refused any property (a 207 with a failed
        propstat): a half-written meeting must not count as written.
        """
        response = self.session.request(
            "PROPPATCH",
            url,
            headers={**_XML, **condition},
            body=webdav.build_proppatch(values, remove),
            accept=accept,
            idempotent=idempotent,
        )
        if response.status_code in accept:
            return False
        body = response.content
        if response.status_code != 207 or not body:
            return True  # 200/201 (Brief) = every property stored
        for answer in webdav.parse_multistatus(body):
            failed = answer.failed_props()
            if failed:
                raise errors.Conflict(
                    f"Exchange refused properties: {sorted(failed.items())[:5]}",
                    method="PROPPATCH",
                    url=url,
                    status=max(failed.values()),
                )
        return True
