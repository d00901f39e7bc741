"""Pure OWA (Outlook Web Access 2003): command form bodies out, OWA answers in.

Rule kept here: no I/O, no logging. Every function turns values into the exact bytes/strings OWA
expects, or an OWA answer into values, and raises `ProtocolError` for answers it cannot read.

The one rule that matters most: a value in an ``application/x-www-UTF8-encoded`` body can never
add a field. That body is one ``name=value`` per line, values raw (not %-encoded) — so a line
break inside a meeting subject would otherwise let the organizer's text (or anyone who can put
text into a calendar) inject ``Required=`` or ``MsgID=`` lines. Names with control characters are
refused (`ValueError`); in values every line break and other control character becomes a space.
A space was chosen over refusing or dropping: the subject is the organizer's text and must still
go out, and silently dropping a whole field would lose data.

Sources: seed-owa-meeting-recipes.md (``Cmd=sendappt``, ``?Cmd=getcancel``), reference §6 (OWA
commands, form bodies, 302 answers), §7.1 (free/busy), §8.2 (forms-based logon), observed
traffic §3 (``<BASE href>``, ``Cmd=galfind``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final
from urllib.parse import parse_qsl, quote, urljoin, urlsplit, urlunsplit

from bridge.exchange.errors import ProtocolError
from bridge.exchange.props import description_html
from bridge.exchange.webdav import XmlNode, format_datetime, parse_xml
from bridge.meeting import Meeting

__all__ = [
    "FORM_CONTENT_TYPE",
    "FREEBUSY_KINDS",
    "GalEntry",
    "build_fba_login_form",
    "build_freebusy_query",
    "build_utf8_form",
    "busy_slots",
    "command_url",
    "is_logon_redirect",
    "logon_reason",
    "parse_base_href",
    "parse_freebusy",
    "parse_galfind",
    "parse_redirect_location",
    "sendappt_fields",
]

FORM_CONTENT_TYPE: Final = "application/x-www-UTF8-encoded"

# -- x-www-UTF8-encoded bodies (reference §6.2) --------------------------------------------------

# Printable ASCII except "=" (the separator): field names are OWA names or WebDAV property names.
_FORM_NAME = re.compile(r"[!-<>-~]+\Z")
# Everything a line-oriented reader could take as a line end, plus every other control character.
_FORM_CONTROLS = re.compile("\r\n|[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _form_value(value: str) -> str:
    return _FORM_CONTROLS.sub(" ", value)


def build_utf8_form(fields: Sequence[tuple[str, str]]) -> bytes:
    """The body of an OWA command POST: ``name=value`` lines joined by ``\\n``, UTF-8.

    The first field must be ``Cmd``. Values have CR, LF and every other control character
    replaced by a space (so no value can start a new field); the last line has no terminating
    newline (the seed's body ends without one).

    Raises:
        ValueError: no fields, a first field other than ``Cmd``, or an invalid name (empty,
            containing ``=``, a blank or a control character).
    """
    if not fields or fields[0][0] != "Cmd":
        raise ValueError("an OWA command body starts with the Cmd field")
    lines: list[str] = []
    for name, value in fields:
        if not _FORM_NAME.match(name):
            raise ValueError(f"invalid OWA form field name {name!r}")
        lines.append(f"{name}={_form_value(value)}")
    return "\n".join(lines).encode("utf-8")


def _folder_item_path(calendar_folder_name: str, item_path: str) -> str:
    folder = calendar_folder_name.strip("/")
    item = item_path.strip("/")
    if not folder or not item:
        raise ValueError("calendar folder name and item path must not be empty")
    for part in (folder, item):
        if _FORM_CONTROLS.search(part):
            raise ValueError(f"control character in {part!r}")
    return f"/{folder}/{item}"


def sendappt_fields(
    meeting: Meeting,
    *,
    item_path: str,
    calendar_folder_name: str,
    zone: tzinfo | None = None,
) -> list[tuple[str, str]]:
    """The fields of the seed's ``Cmd=sendappt`` POST, in the seed's order.

    POST them (with `build_utf8_form`, ``Content-Type:`` `FORM_CONTENT_TYPE`) to the
    appointment's URL after PROPPATCHing the changed properties onto it; OWA then sends an update
    to every recipient of the item.

    Args:
        meeting: the updated meeting.
        item_path: the appointment's item name in the calendar folder (e.g. ``x-1f3a.EML``),
            not percent-encoded.
        calendar_folder_name: the calendar folder's (possibly localized) name, e.g.
            ``Calendar``, not percent-encoded.
        zone: where an all-day meeting's dates begin (local midnight); UTC when None.

    Field decisions (seed-owa-meeting-recipes.md):
    - ``Required=``, ``Optional=``, ``Resource=`` stay empty, as in the seed: OWA then keeps the
      item's to/cc/bcc (set by the PROPPATCH before) and sends the update to all of them.
    - The subject is the meeting's summary. The seed's ``"Changed: " +`` prefix is the author's
      choice, not protocol: sendappt saves the form onto the appointment, so a prefix would
      pile up ("Changed: Changed: ...") in the organizer's calendar.
    - ``htmldescription`` is the HTML-escaped description, line breaks as ``<BR>``.
    - dtstart/dtend use the WebDAV form ``2026-12-10T14:00:00.000Z`` (UTC). The seed's
      ``ConvertDateToOwaFormat`` is not shown, so the OWA date format is an assumption.
    - ``MsgID`` and ``CALENDAR:UID`` are both ``/<calendar folder>/<item>``, as in the seed.
    - The seed's last line, ``http://schemas.microsoft.com/exchange/subject-utf8=%7B0%7D/n``, is
      left out: ``%7B0%7D`` is a URL-encoded ``{0}`` so ``string.Format`` never inserts the
      subject, and ``/n`` is a typo for ``\\n``; it would only send the literal text
      ``%7B0%7D/n``. The subject already travels in ``urn:schemas:httpmail:subject``.
    """
    path = _folder_item_path(calendar_folder_name, item_path)
    return [
        ("Cmd", "sendappt"),
        ("Required", ""),
        ("Optional", ""),
        ("Resource", ""),
        ("FormType", "appointment"),
        ("MsgID", path),
        ("urn:schemas:httpmail:subject", meeting.summary),
        ("urn:schemas:httpmail:htmldescription", description_html(meeting.description)),
        ("urn:schemas:calendar:dtstart", format_datetime(meeting.start_utc(zone))),
        ("urn:schemas:calendar:dtend", format_datetime(meeting.end_utc(zone))),
        ("urn:schemas:calendar:location", meeting.location),
        ("CALENDAR:UID", path),
        ("urn:schemas:calendar:responserequested", "1"),
    ]


def command_url(url: str, cmd: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """``url?Cmd=<cmd>&k=v...`` (values percent-encoded), e.g. ``command_url(item, "getcancel")``.

    Raises:
        ValueError: ``url`` already has a query, or ``cmd`` is not a plain word.
    """
    if "?" in url or "#" in url:
        raise ValueError(f"URL already has a query or fragment: {url!r}")
    if not re.fullmatch(r"[A-Za-z]+", cmd):
        raise ValueError(f"not an OWA command: {cmd!r}")
    query = "".join(f"&{quote(k, safe='')}={quote(v, safe=':@')}" for k, v in params)
    return f"{url}?Cmd={cmd}{query}"


# -- redirects (reference §6.2, §8.2) ------------------------------------------------------------

_LOGON_PAGES = ("/owalogon.asp", "/cookieauth.dll")
_SAFE_IN_PATH = "/%:@!$&'()*+,;=-._~"


def _origin(parts: tuple[str, str, int | None]) -> tuple[str, str, int]:
    scheme, host, port = parts
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80)


def parse_redirect_location(location: str, base_url: str, *, same_origin: bool = True) -> str:
    """The absolute item URL a 302 points to (``?Cmd=getcancel`` / sendappt answers).

    The Location is resolved against ``base_url`` (the request URL); its query (``?Cmd=Edit``,
    ``?Cmd=open`` ...) and fragment are dropped; characters that are not URL-safe are
    percent-encoded. With ``same_origin`` (the default) a Location on another scheme, host or
    port is refused, so credentials never follow a redirect elsewhere.

    Raises:
        ProtocolError: empty, not http(s), control characters, or another origin.
    """
    text = location.strip()
    if not text or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ProtocolError(f"unusable redirect Location {location[:80]!r}")
    try:
        target = urlsplit(urljoin(base_url, text))
        base = urlsplit(base_url)
        target_port, base_port = target.port, base.port
    except ValueError as e:
        raise ProtocolError(f"unusable redirect Location {location[:80]!r}") from e
    if target.scheme not in ("http", "https") or not target.hostname:
        raise ProtocolError(f"redirect to a non-HTTP URL {location[:80]!r}")
    if same_origin and _origin((target.scheme, target.hostname, target_port)) != _origin(
        (base.scheme, base.hostname or "", base_port)
    ):
        raise ProtocolError(f"redirect to another server {location[:80]!r}")
    path = quote(target.path, safe=_SAFE_IN_PATH) or "/"
    return urlunsplit((target.scheme, target.netloc, path, "", ""))


def is_logon_redirect(location: str) -> bool:
    """True when a Location points to the forms logon page (Exchange 2003 ``owalogon.asp``, or
    ISA Server's ``CookieAuth.dll``, reference §8.2): the session is missing or expired."""
    try:
        path = urlsplit(location.strip()).path.lower()
    except ValueError:
        return False
    return path.endswith(_LOGON_PAGES)


def logon_reason(location: str) -> int | None:
    """The ``reason=N`` of a logon-page Location (0 = please log on; DavMail reads 2 and 4 as bad
    credentials — exact meanings are NOT FOUND in the reference), or None."""
    try:
        query = urlsplit(location.strip()).query
    except ValueError:
        return None
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() == "reason":
            return int(value) if value.strip().isdigit() else None
    return None


# -- forms-based logon (reference §8.2) ----------------------------------------------------------


def build_fba_login_form(destination: str, username: str, password: str) -> dict[str, str]:
    """The fields to POST (``application/x-www-form-urlencoded``) to ``owaauth.dll``.

    ``flags=4``, ``trusted=4``, ``forcedownlevel=0``: premium OWA on a private computer (the
    longer cookie life). The caller form-encodes the dict; never log it (it holds the password).
    """
    return {
        "destination": destination,
        "flags": "4",
        "trusted": "4",
        "username": username,
        "password": password,
        "SubmitCreds": "Log On",
        "forcedownlevel": "0",
    }


_BASE_HREF = re.compile(
    r"""<base\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE
)


def parse_base_href(page: bytes | str) -> str | None:
    """The ``<BASE href="...">`` of an OWA page (the user's real mailbox URL), or None."""
    text = page.decode("utf-8", errors="replace") if isinstance(page, bytes) else page
    m = _BASE_HREF.search(text)
    if not m:
        return None
    href = html.unescape(next(g for g in m.groups() if g is not None)).strip()
    return href or None


# -- GAL (observed traffic §3 #8; DavMail client notes §1.4) -------------------------------------


@dataclass(frozen=True)
class GalEntry:
    """One ``<a:item>`` of a ``?Cmd=galfind`` answer; ``fields`` keeps every child by name."""

    alias: str = ""
    display_name: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    title: str = ""
    company: str = ""
    office: str = ""
    department: str = ""
    phone: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)


_GAL_KEYS: Final = {
    "AN": "alias",
    "DN": "display_name",
    "EM": "email",
    "FN": "first_name",
    "LN": "last_name",
    "TL": "title",
    "CP": "company",
    "OF": "office",
    "OFFICE": "office",
    "DP": "department",
    "PH": "phone",
}


def _wm_root(body: bytes, what: str) -> XmlNode:
    root = parse_xml(body)
    if root.local != "response":
        raise ProtocolError(f"{what} answer is not a <response> document: {root.name!r}", body=body)
    return root


def parse_galfind(body: bytes) -> list[GalEntry]:
    """Parse a ``?Cmd=galfind`` answer (``<a:response xmlns:a="WM"><a:item><a:AN>...``).

    Elements are matched by local name (any prefix or namespace), as DavMail does.

    Raises:
        ProtocolError: not XML, or not a ``response`` document (e.g. a logon page).
    """
    entries: list[GalEntry] = []
    for item in _wm_root(body, "galfind").iter("item"):
        fields = {c.local: c.text.strip() for c in item.children if not c.children}
        known = {attr: fields[key] for key, attr in _GAL_KEYS.items() if fields.get(key)}
        entries.append(GalEntry(**known, fields=fields))
    return entries


# -- free/busy (reference §7.1) ------------------------------------------------------------------

FREEBUSY_KINDS: Final[Mapping[str, str]] = {
    "0": "FREE",
    "1": "TENTATIVE",
    "2": "BUSY",
    "3": "OOF",
    "4": "UNKNOWN",
}


def build_freebusy_query(
    addresses: Iterable[str], start: datetime, end: datetime, interval_minutes: int
) -> str:
    """The query string (without ``?``) for ``GET /public/?cmd=freebusy...``.

    ``cmd=freebusy&start=2026-12-10T00:00:00Z&end=...Z&interval=15&u=SMTP:a@x&u=SMTP:b@y``:
    times in UTC, one ``u`` per address with an ``SMTP:`` prefix, values percent-encoded except
    ``:`` and ``@`` (legal in a query and what clients send; ``+``, ``&``, ``=``, ``#``, ``%`` and
    blanks are encoded).

    Raises:
        ValueError: no address, a naive or inverted time range, an interval below 1 minute.
    """
    if interval_minutes < 1:
        raise ValueError("the free/busy interval is at least one minute")
    if end <= start:
        raise ValueError("free/busy end must be after start")
    users: list[str] = []
    for address in addresses:
        value = address.strip()
        if not value or any(ord(c) < 0x20 for c in value):
            raise ValueError(f"unusable address {address!r}")
        if not value.lower().startswith("smtp:"):
            value = "SMTP:" + value
        users.append(value)
    if not users:
        raise ValueError("free/busy needs at least one address")
    params = [
        ("cmd", "freebusy"),
        ("start", format_datetime(start, millis=False)),
        ("end", format_datetime(end, millis=False)),
        ("interval", str(interval_minutes)),
        *(("u", u) for u in users),
    ]
    return "&".join(f"{k}={quote(v, safe=':@')}" for k, v in params)


def parse_freebusy(body: bytes) -> dict[str, str]:
    """Map each recipient's e-mail (lower-cased) to its ``fbdata`` digits.

    Items without an e-mail (the "All Attendees" aggregate) are skipped; a missing ``fbdata``
    gives ``""``.

    Raises:
        ProtocolError: not XML, not a ``response`` document, or fbdata that is not digits.
    """
    result: dict[str, str] = {}
    for item in _wm_root(body, "free/busy").iter("item"):
        email = item.find(None, "email")
        address = email.text.strip().lower() if email is not None else ""
        if not address:
            continue
        fb = item.find(None, "fbdata")
        digits = fb.text.strip() if fb is not None else ""
        if digits and not (digits.isascii() and digits.isdigit()):
            raise ProtocolError(f"fbdata for {address} is not digits", body=body)
        result.setdefault(address, digits)
    return result


def busy_slots(
    fbdata: str, start: datetime, interval: int | timedelta
) -> list[tuple[datetime, datetime, str]]:
    """Merge runs of equal ``fbdata`` digits into ``(start, end, kind)`` periods.

    Kinds: ``TENTATIVE`` (1), ``BUSY`` (2), ``OOF`` (3), ``UNKNOWN`` (4 — no data — and any other
    character); free slots (0) are omitted. ``interval`` is in minutes or a timedelta; times are
    UTC.

    Raises:
        ValueError: a naive ``start`` or a non-positive interval.
    """
    step = interval if isinstance(interval, timedelta) else timedelta(minutes=interval)
    if step <= timedelta(0):
        raise ValueError("the free/busy interval must be positive")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("free/busy start must be an aware datetime")
    origin = start.astimezone(UTC)
    slots: list[tuple[datetime, datetime, str]] = []
    run_kind: str | None = None
    run_start = 0
    for index, digit in enumerate([*fbdata, "0"]):  # a trailing FREE closes the last run
        kind = FREEBUSY_KINDS.get(digit, "UNKNOWN")
        if kind == run_kind:
            continue
        if run_kind is not None and run_kind != "FREE":
            slots.append((origin + run_start * step, origin + index * step, run_kind))
        run_kind, run_start = kind, index
    return slots
