"""What every part of `bridge.ical` shares: the PRODID we write, the reason an event is refused
(`_Reject`), and text helpers (cleaning, quoting a value for an error message, decoding bytes, a
property's values).

Rule kept here: text is kept as written except that control characters other than TAB and LF are
removed (CR and CRLF become LF); a value quoted in an error message is cleaned, on one line and
short. Pure: no I/O, no logging.
"""

from __future__ import annotations

from typing import Any

from icalendar import Component

PRODID = "-//calbridge//calbridge//EN"

class _Reject(Exception):
    """The event cannot become a Meeting; the message is the reason shown to the user."""


# -- text ------------------------------------------------------------------------------------

_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])


def _clean(text: str) -> str:
    """Keep the text, turn CR/CRLF into LF and drop every other C0/C1 control except TAB and LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL)


def _show(text: object, limit: int = 60) -> str:
    """A value quoted for an error message: cleaned, on one line, and short."""
    value = " ".join(_clean(str(text)).split())
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def _decode(text: str | bytes) -> str:
    """Text from UTF-8 (or UTF-16 with its byte-order mark, as some Windows tools write it)."""
    if isinstance(text, bytes):
        utf16 = text.startswith((b"\xff\xfe", b"\xfe\xff"))
        # A byte that does not decode costs one character (U+FFFD), not the whole file.
        text = text.decode("utf-16" if utf16 else "utf-8", errors="replace")
    return text.removeprefix("\ufeff")


def _ical_text(value: Any) -> str:
    """A property value's iCalendar text (icalendar's ``to_ical`` is untyped)."""
    return str(value.to_ical().decode())


def _all(component: Component, name: str) -> list[Any]:
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
