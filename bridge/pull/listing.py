"""Listing a mailbox's Calendar and Inbox meeting messages, and fetching one item's MIME.

Rules kept here:

- **Paged, streamed.** A SEARCH asks for `PAGE_ROWS` rows at a time (``Range: rows=a-b``,
  reference §5.2; a 416 or a short page ends the listing); rows are yielded page by page, so a
  10,000-item mailbox never holds more than one page of XML. Progress is logged every page.
- **Rows carry what decides a fetch**: etag, uid, sequence, class, instancetype, times,
  last modification; `diff` compares them with the etags remembered, and only new or changed
  items are fetched, one ``GET`` with ``Translate: f`` each (the item's MIME, whose
  text/calendar holds the exceptions and the attendees, as DavMail reads it, davmail-client
  §4.4). A MIME over the size limit is refused before parsing; `row_calendar` builds the event
  from the row's properties instead (DavMail's last fallback does the same).
- Calendar: occurrences (instancetype 2) and exceptions (3) are left out; a series' MIME holds
  its exceptions. Inbox: only ``IPM.Schedule.Meeting.*`` messages.
"""

from __future__ import annotations

import email.utils
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import icalendar

from bridge.exchange import webdav
from bridge.exchange.mailbox import Mailbox
from bridge.pull import guards

__all__ = [
    "CALENDAR_COLUMNS",
    "INBOX_COLUMNS",
    "PAGE_ROWS",
    "Row",
    "calendar_rows",
    "diff",
    "fetch_mime",
    "inbox_rows",
    "organizer_address",
    "row_calendar",
    "rows_of",
]

logger = logging.getLogger(__name__)

PAGE_ROWS = 200
_CAL = webdav.NS_CALENDAR
_CLASS = webdav.NS_EXCHANGE + "outlookmessageclass"
_SUBJECT = "urn:schemas:httpmail:subject"
_FROM = "urn:schemas:httpmail:from"
_RESPONSE = "http://schemas.microsoft.com/mapi/responsestatus"
_COMMON = ("DAV:getetag", _CLASS, _CAL + "uid", _CAL + "sequence", _CAL + "dtstart",
           _CAL + "dtend", _CAL + "organizer", _CAL + "location", _SUBJECT,
           "DAV:getlastmodified")
CALENDAR_COLUMNS = (*_COMMON, _CAL + "instancetype", _RESPONSE)
INBOX_COLUMNS = (*_COMMON, _FROM, _CAL + "recurrenceid")
_XML = {"Content-Type": 'text/xml; charset="utf-8"'}


@dataclass(frozen=True)
class Row:
    url: str  # absolute
    etag: str
    uid: str
    sequence: int
    message_class: str
    props: Mapping[str, object]


def calendar_rows(mailbox: Mailbox, *, page: int = PAGE_ROWS) -> Iterator[Row]:
    where = (f"{webdav.sql_identifier('DAV:contentclass')} = "
             f"{webdav.sql_string('urn:content-classes:appointment')} AND NOT "
             f"{webdav.sql_identifier(_CAL + 'instancetype')} = 2 AND NOT "
             f"{webdav.sql_identifier(_CAL + 'instancetype')} = 3")
    return rows_of(mailbox, mailbox.folders.calendar, CALENDAR_COLUMNS, where, page=page)


def inbox_rows(mailbox: Mailbox, *, page: int = PAGE_ROWS) -> Iterator[Row]:
    where = f"{webdav.sql_identifier(_CLASS)} LIKE {webdav.sql_string('IPM.Schedule.Meeting.%')}"
    return rows_of(mailbox, mailbox.folders.inbox, INBOX_COLUMNS, where, page=page)


def rows_of(mailbox: Mailbox, folder_url: str, columns: Iterable[str], where: str, *,
            page: int = PAGE_ROWS) -> Iterator[Row]:
    """Every row of the SEARCH, `page` rows per request, in creation order."""
    sql = webdav.build_sql(list(columns), urlsplit(folder_url).path, where,
                           ["DAV:creationdate"])
    body = webdav.build_search(sql)
    first, seen = 0, 0
    while True:
        response = mailbox.session.request(
            "SEARCH", folder_url + "/",
            headers={**_XML, "Range": webdav.build_range(first, first + page - 1)},
            body=body, accept=(416,))
        if response.status_code == 416:
            return
        answers = webdav.parse_multistatus(response.content)
        total = None
        header = response.headers.get("Content-Range")
        if header:
            _, _, total = webdav.parse_content_range(header)
        for answer in answers:
            yield _row(mailbox, answer)
        seen += len(answers)
        logger.info("%s: listed %d of %s items in %s", mailbox.alias, seen,
                    total if total is not None else "?", urlsplit(folder_url).path)
        if len(answers) < page or (total is not None and seen >= total):
            return
        first += len(answers)


def _row(mailbox: Mailbox, answer: webdav.Response) -> Row:
    props = answer.props
    try:
        sequence = int(str(props.get(_CAL + "sequence") or 0))
    except ValueError:
        sequence = 0
    href = answer.href
    url = href if "://" in href else mailbox.session.url(href)
    return Row(url, str(props.get("DAV:getetag") or ""), str(props.get(_CAL + "uid") or ""),
               sequence, str(props.get(_CLASS) or ""), props)


def organizer_address(value: object) -> str | None:
    """The address in a row's ``urn:schemas:calendar:organizer`` (or ``httpmail:from``): a bare
    address or ``"Name" <address>``, lower-cased; None when there is none."""
    if not isinstance(value, str):
        return None
    address = email.utils.parseaddr(re.sub(r"[\x00-\x1f\x7f]", "", value))[1]
    address = address.strip().lower().removeprefix("mailto:")
    return address or None


def diff(known: Mapping[str, str], rows: Iterable[Row]) -> tuple[list[Row], list[str]]:
    """(rows new or changed since `known` = {url: etag}, urls no longer listed)."""
    changed: list[Row] = []
    listed: set[str] = set()
    for row in rows:
        listed.add(row.url)
        if known.get(row.url) != row.etag:
            changed.append(row)
    return changed, [url for url in known if url not in listed]


def fetch_mime(mailbox: Mailbox, url: str, *, max_bytes: int = guards.MAX_MIME_BYTES) -> bytes:
    """``GET <item>`` with ``Translate: f``: the item as a MIME message.

    Raises:
        guards.TooLarge: the body (announced or received) is over `max_bytes`.
    """
    response = mailbox.session.request("GET", url, headers={"Translate": "f"})
    announced = response.headers.get("Content-Length")
    if announced and announced.isdigit():
        guards.check_size(int(announced), max_bytes)
    guards.check_size(len(response.content), max_bytes)
    return response.content


def row_calendar(row: Row, *, method: str = "REQUEST") -> str:
    """A VCALENDAR built from the row's properties only (no description, no attendees but the
    organizer): the fallback when the MIME is too large or unreadable."""
    props = row.props
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//calbridge//pull//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", method)
    event = icalendar.Event()
    event.add("UID", row.uid)
    event.add("SEQUENCE", row.sequence)
    start, end = props.get(_CAL + "dtstart"), props.get(_CAL + "dtend")
    if isinstance(start, datetime):
        event.add("DTSTAMP", start)
        event.add("DTSTART", start)
        if isinstance(end, datetime) and end >= start:
            event.add("DTEND", end)
    for name, key in (("SUMMARY", _SUBJECT), ("LOCATION", _CAL + "location")):
        value = props.get(key)
        if isinstance(value, str) and value:
            event.add(name, value)
    organizer = props.get(_CAL + "organizer")
    if isinstance(organizer, str) and "@" in organizer:
        address = re.sub(r"[\x00-\x20\x7f]", "", organizer.split("<")[-1]).strip(">")
        address = address.removeprefix("mailto:")
        event.add("ORGANIZER", icalendar.vCalAddress("mailto:" + address))
    calendar.add_component(event)
    return str(calendar.to_ical().decode("utf-8"))

