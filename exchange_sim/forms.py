"""OWA form bodies, as the simulator receives them: parsed, never executed.

Rule kept here: a form body becomes an ordered list of ``(name, value)`` pairs, duplicates and
order kept, or a `FormError`; nothing here knows what a field means, touches the store or logs.

Two encodings reach OWA 2003 (protocol reference §6.2, §8.2; seed recipe ``Cmd=sendappt``):

* ``application/x-www-UTF8-encoded`` -- UTF-8 text, one ``name=value`` per line (LF or CRLF),
  the value is everything after the first ``=``. Values are taken **raw**: they are not
  percent-decoded. The seed's own sample posts ``subject-utf8=%7B0%7D/n`` (a format-string slip),
  and that literal text is what the field holds.
* ``application/x-www-form-urlencoded`` -- the ``owaauth.dll`` login and ``Cmd=saveappt``;
  decoded with `urllib.parse`, strict UTF-8.

Every parser refuses bodies larger than ``max_bytes`` (1 MiB by default) before decoding them.
`parse_owa_datetime` turns the date strings these forms carry into aware UTC datetimes.
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime

__all__ = [
    "MAX_FORM_BYTES",
    "FormError",
    "parse_owa_datetime",
    "parse_urlencoded",
    "parse_utf8_form",
]

MAX_FORM_BYTES = 1024 * 1024
"""Default size cap of a form body, in bytes."""

_MAX_FIELDS = 10_000

# ``yyyy/MM/dd HH:mm:ss`` -- the SQL-literal style date (reference §4.7), read as UTC.
_SLASH_DATE = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})")


class FormError(ValueError):
    """A form body (or a value in it) that cannot be understood; the handler answers 400."""


def _check_size(body: bytes, max_bytes: int) -> None:
    if len(body) > max_bytes:
        raise FormError(f"form body of {len(body)} bytes exceeds the {max_bytes}-byte limit")


def _decode_utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormError(f"form body is not valid UTF-8 (byte {e.start})") from e


def parse_utf8_form(body: bytes, *, max_bytes: int = MAX_FORM_BYTES) -> list[tuple[str, str]]:
    """Parse an ``application/x-www-UTF8-encoded`` body.

    Lines are separated by LF or CRLF; empty lines are skipped; each other line is split at its
    first ``=``. Names and values are kept exactly as sent (no trimming, no percent-decoding). A
    leading UTF-8 byte-order mark is dropped.

    Raises:
        FormError: body too large, not UTF-8, a line without ``=``, or an empty field name.
    """
    _check_size(body, max_bytes)
    text = _decode_utf8(body).removeprefix("\ufeff")
    fields: list[tuple[str, str]] = []
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.removesuffix("\r")  # CRLF separator
        if not line:
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise FormError(f"line {number} has no '=': {line[:40]!r}")
        if not name:
            raise FormError(f"line {number} has an empty field name")
        fields.append((name, value))
    return fields


def parse_urlencoded(body: bytes, *, max_bytes: int = MAX_FORM_BYTES) -> list[tuple[str, str]]:
    """Parse an ``application/x-www-form-urlencoded`` body (``&``-separated, ``+`` is a space).

    Blank values are kept (``flags=``). A trailing CR/LF after the last field is ignored.

    Raises:
        FormError: body too large, not UTF-8 (raw or once percent-decoded), or a field
            without ``=`` (strict parsing).
    """
    _check_size(body, max_bytes)
    text = _decode_utf8(body).rstrip("\r\n")
    if not text:
        return []
    try:
        return urllib.parse.parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except ValueError as e:  # UnicodeDecodeError is a ValueError too
        raise FormError(f"invalid urlencoded form: {e}") from e


def parse_owa_datetime(value: str) -> datetime:
    """Read a date an OWA form posts, as an aware UTC datetime.

    Accepted: ISO 8601 with ``Z`` or a numeric offset, with or without fractional seconds
    (``2026-12-10T14:00:00.000Z``, ``2026-12-10T15:00:00+01:00``), and ``yyyy/MM/dd HH:mm:ss``,
    which is read as UTC. An ISO value without a zone is refused: its meaning would depend on
    a mailbox time zone this module does not know.

    Raises:
        FormError: any other shape, or an impossible date.
    """
    text = value.strip()
    match = _SLASH_DATE.fullmatch(text)
    try:
        if match:
            year, month, day, hour, minute, second = (int(g) for g in match.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError as e:
        raise FormError(f"invalid date {value[:40]!r}: {e}") from e
    if parsed.tzinfo is None:
        raise FormError(f"date {value[:40]!r} needs a time and a zone (Z or +hh:mm)")
    return parsed.astimezone(UTC)
