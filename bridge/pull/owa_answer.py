"""The Exchange side of answering an invitation: the three requests of `answers.ANSWER_STEPS`.

Rules kept here (reference §6.2): the answer is a plain ``GET <request item>?Cmd=accept|
tentative|decline`` on the meeting request, as the logged-in attendee; OWA answers 302. The
request is found by UID (Inbox first, then Deleted Items, where OWA moves an answered request;
highest SEQUENCE wins). The read-back marker is the number of ``IPM.Schedule.Meeting.Resp.*``
messages with that UID in Sent Items. Each function is one request, so the journal can record
a step between any two.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bridge.exchange import owa, webdav
from bridge.exchange.mailbox import Mailbox

__all__ = ["RequestGone", "count_replies", "locate_request", "send_answer"]

_CAL = webdav.NS_CALENDAR
_CLASS = webdav.NS_EXCHANGE + "outlookmessageclass"
_XML = {"Content-Type": 'text/xml; charset="utf-8"'}


class RequestGone(LookupError):
    """The meeting request no longer exists (deleted in OWA, or the meeting was cancelled)."""


def _search(mailbox: Mailbox, folder_url: str, where: str) -> list[webdav.Response]:
    sql = webdav.build_sql(["DAV:getetag", _CAL + "sequence", _CAL + "uid"],
                           urlsplit(folder_url).path, where)
    response = mailbox.session.request("SEARCH", folder_url + "/", headers=_XML,
                                       body=webdav.build_search(sql))
    return webdav.parse_multistatus(response.content)


def _absolute(mailbox: Mailbox, href: str) -> str:
    return href if "://" in href else mailbox.session.url(href)


def locate_request(mailbox: Mailbox, uid: str) -> str | None:
    """URL of the newest meeting request with `uid` (Inbox, then Deleted Items), or None."""
    where = (f"{webdav.sql_identifier(_CAL + 'uid')} = {webdav.sql_string(uid)} AND "
             f"{webdav.sql_identifier(_CLASS)} = 'IPM.Schedule.Meeting.Request'")
    for folder in (mailbox.folders.inbox, mailbox.folders.deleteditems):
        hits = _search(mailbox, folder, where)
        if hits:
            newest = max(hits, key=lambda h: int(str(h.props.get(_CAL + "sequence") or 0)))
            return _absolute(mailbox, newest.href)
    return None


def count_replies(mailbox: Mailbox, uid: str) -> int:
    """How many responses with `uid` the user's Sent Items holds (the step's marker)."""
    where = (f"{webdav.sql_identifier(_CAL + 'uid')} = {webdav.sql_string(uid)} AND "
             f"{webdav.sql_identifier(_CLASS)} LIKE 'IPM.Schedule.Meeting.Resp.%'")
    return len(_search(mailbox, mailbox.folders.sentitems, where))


def send_answer(mailbox: Mailbox, request_url: str, command: str) -> None:
    """``GET <request>?Cmd=<command>``; a 404 raises `RequestGone`."""
    if command not in ("accept", "tentative", "decline"):
        raise ValueError(f"not an answer: {command!r}")
    # Not retried by the session although it is a GET: it sends mail. After a lost answer the
    # journal's recovery decides, from the Sent Items count (answers.recover).
    response = mailbox.session.request("GET", owa.command_url(request_url, command),
                                       accept=(404,), idempotent=False)
    if response.status_code == 404:
        raise RequestGone("the meeting request no longer exists")
