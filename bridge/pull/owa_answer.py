"""The Exchange side of answering an invitation: the two requests of `operations.ANSWER`.

Rules kept here (reference §5.1, §6.2):

- **One read before the send.** `survey` is one ``SEARCH`` of the mailbox root, ``DEEP
  TRAVERSAL`` (a scope the reference lists, [DM-DAV]), for the meeting messages with the UID:
  it gives both the request to answer (Inbox first, then Deleted Items, where OWA moves an
  answered request; highest SEQUENCE wins; given an organizer, only that organizer's requests
  count, so a stranger's request with the same UID is never the one answered) and the
  read-back marker, the number of
  ``IPM.Schedule.Meeting.Resp.*`` with that UID in Sent Items. The marker must be read before
  the GET (a count taken after cannot tell whose reply it is), so one read plus one send is the
  least an answer that is provably sent once can cost.
- **The send** is a plain ``GET <request item>?Cmd=accept|tentative|decline`` as the logged-in
  attendee; OWA answers 302. It is never retried by the session (it sends mail): after a lost
  answer the journal's recovery decides from a fresh `survey`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from bridge.exchange import owa, webdav
from bridge.exchange.mailbox import Mailbox
from bridge.pull import listing

__all__ = ["RequestGone", "Survey", "send_answer", "survey"]

_CAL = webdav.NS_CALENDAR
_CLASS = webdav.NS_EXCHANGE + "outlookmessageclass"
_XML = {"Content-Type": 'text/xml; charset="utf-8"'}
_REQUEST = "IPM.Schedule.Meeting.Request"
_RESPONSE = "IPM.Schedule.Meeting.Resp."


class RequestGone(LookupError):
    """The meeting request no longer exists (deleted in OWA, or the meeting was cancelled)."""


@dataclass(frozen=True)
class Survey:
    request_url: str | None  # the request to answer, None when there is none
    replies: int  # Resp.* with this UID in Sent Items (the marker)


def survey(mailbox: Mailbox, uid: str, organizer: str | None = None) -> Survey:
    """The request with `uid` and the count of the user's replies to it, in one SEARCH.
    With `organizer`, only requests whose ``urn:schemas:calendar:organizer`` is that address
    (compared lower-cased, read as the pull reads rows) are candidates."""
    folders = mailbox.folders
    where = (f"{webdav.sql_identifier(_CAL + 'uid')} = {webdav.sql_string(uid)} AND "
             f"({webdav.sql_identifier(_CLASS)} = {webdav.sql_string(_REQUEST)} OR "
             f"{webdav.sql_identifier(_CLASS)} LIKE {webdav.sql_string(_RESPONSE + '%')})")
    sql = webdav.build_sql([_CAL + "sequence", _CAL + "uid", _CAL + "organizer", _CLASS],
                           urlsplit(folders.root).path + "/", where, traversal="DEEP")
    response = mailbox.session.request("SEARCH", folders.root + "/", headers=_XML,
                                       body=webdav.build_search(sql))
    requests: dict[str, list[webdav.Response]] = {"inbox": [], "deleteditems": []}
    replies = 0
    wanted = None if organizer is None else listing.organizer_address(organizer)
    for hit in webdav.parse_multistatus(response.content):
        klass = str(hit.props.get(_CLASS) or "")
        folder = _folder_of(hit.href, folders.inbox, folders.deleteditems, folders.sentitems)
        if klass == _REQUEST and folder in requests:
            if wanted is None or listing.organizer_address(
                    hit.props.get(_CAL + "organizer")) == wanted:
                requests[folder].append(hit)
        elif klass.startswith(_RESPONSE) and folder == "sentitems":
            replies += 1
    found = requests["inbox"] or requests["deleteditems"]
    if not found:
        return Survey(None, replies)
    newest = max(found, key=lambda h: _int(h.props.get(_CAL + "sequence")))
    href = newest.href
    return Survey(href if "://" in href else mailbox.session.url(href), replies)


def send_answer(mailbox: Mailbox, request_url: str, command: str) -> None:
    """``GET <request>?Cmd=<command>``; a 404 raises `RequestGone`."""
    if command not in ("accept", "tentative", "decline"):
        raise ValueError(f"not an answer: {command!r}")
    response = mailbox.session.request("GET", owa.command_url(request_url, command),
                                       accept=(404,), idempotent=False)
    if response.status_code == 404:
        raise RequestGone("the meeting request no longer exists")


def _folder_of(href: str, inbox: str, deleteditems: str, sentitems: str) -> str | None:
    """Which of the three folders holds the item at `href` (directly, not in a sub-folder)."""
    parent = _path(href).rstrip("/").rsplit("/", 1)[0]
    for name, url in (("inbox", inbox), ("deleteditems", deleteditems),
                      ("sentitems", sentitems)):
        if parent == _path(url).rstrip("/"):
            return name
    return None


def _path(url: str) -> str:
    return unquote(urlsplit(url).path).lower()


def _int(value: object) -> int:
    try:
        return int(str(value or 0))
    except ValueError:
        return 0
