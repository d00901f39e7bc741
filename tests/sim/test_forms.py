"""exchange_sim.forms: OWA form bodies (x-www-UTF8-encoded, urlencoded) and OWA dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.forms import (
    FormError,
    parse_owa_datetime,
    parse_urlencoded,
    parse_utf8_form,
)

# The seed recipe's Cmd=sendappt body, as its sample writes it (LF lines, raw values, and the
# literal "%7B0%7D/n" of its format-string slip on the last line).
SEED_SENDAPPT = (
    b"Cmd=sendappt\n"
    b"Required=\n"
    b"Optional=\n"
    b"Resource=\n"
    b"FormType=appointment\n"
    b"MsgID=/Calendar/meeting.EML\n"
    b"urn:schemas:httpmail:subject=Changed: Board meeting\n"
    b"urn:schemas:httpmail:htmldescription=This is an updated meeting request\n"
    b"urn:schemas:calendar:dtstart=2026-12-10T14:00:00.000Z\n"
    b"urn:schemas:calendar:dtend=2026-12-10T15:00:00.000Z\n"
    b"urn:schemas:calendar:location=Room 1\n"
    b"CALENDAR:UID=/Calendar/meeting.EML\n"
    b"urn:schemas:calendar:responserequested=1\n"
    b"http://schemas.microsoft.com/exchange/subject-utf8=%7B0%7D/n"
)


class TestUtf8Form:
    def test_seed_sendappt_body(self) -> None:
        fields = parse_utf8_form(SEED_SENDAPPT)
        assert fields[0] == ("Cmd", "sendappt")
        assert ("Required", "") in fields
        assert ("urn:schemas:httpmail:subject", "Changed: Board meeting") in fields
        assert ("urn:schemas:calendar:dtstart", "2026-12-10T14:00:00.000Z") in fields
        # values are raw: no percent-decoding
        assert fields[-1] == ("http://schemas.microsoft.com/exchange/subject-utf8", "%7B0%7D/n")
        assert len(fields) == 14

    def test_crlf_and_empty_lines(self) -> None:
        body = b"Cmd=send\r\n\r\nMsgTo=a@example.com\r\n\nMsgCc=\r\n"
        assert parse_utf8_form(body) == [("Cmd", "send"), ("MsgTo", "a@example.com"), ("MsgCc", "")]

    def test_value_keeps_everything_after_the_first_equals(self) -> None:
        assert parse_utf8_form(b"a=b=c==\nurl=http://x/?q=1&r=2") == [
            ("a", "b=c=="),
            ("url", "http://x/?q=1&r=2"),
        ]

    def test_unicode_and_bom(self) -> None:
        body = "\ufeffurn:schemas:httpmail:subject=Grüße – 会議 ☕\n".encode()
        assert parse_utf8_form(body) == [("urn:schemas:httpmail:subject", "Grüße – 会議 ☕")]

    def test_order_and_duplicates_kept(self) -> None:
        assert parse_utf8_form(b"member=a\nx=1\nmember=b") == [
            ("member", "a"),
            ("x", "1"),
            ("member", "b"),
        ]

    def test_whitespace_is_not_trimmed(self) -> None:
        assert parse_utf8_form(b" name = value \n") == [(" name ", " value ")]

    @pytest.mark.parametrize(
        "body",
        [b"Cmd=send\nno equals sign here\n", b"=value\n", b"\xff\xfe=bad", b"Cmd=\xc3("],
        ids=["no-equals", "empty-name", "not-utf8", "truncated-utf8"],
    )
    def test_refused(self, body: bytes) -> None:
        with pytest.raises(FormError):
            parse_utf8_form(body)

    def test_line_without_equals_names_the_line(self) -> None:
        with pytest.raises(FormError, match="line 2"):
            parse_utf8_form(b"Cmd=send\r\nbroken\r\n")

    def test_size_cap(self) -> None:
        body = b"a=" + b"x" * 100
        assert parse_utf8_form(body, max_bytes=len(body)) == [("a", "x" * 100)]
        with pytest.raises(FormError, match="limit"):
            parse_utf8_form(body, max_bytes=len(body) - 1)
        with pytest.raises(FormError):
            parse_utf8_form(b"a=" + b"x" * (1024 * 1024))

    def test_empty_body(self) -> None:
        assert parse_utf8_form(b"") == []

    @given(
        st.lists(
            st.tuples(
                st.text(min_size=1).filter(
                    lambda s: (
                        "=" not in s
                        and "\n" not in s
                        and "\r" not in s
                        and not s.startswith("\ufeff")
                    )
                ),
                st.text().filter(lambda s: "\n" not in s and not s.endswith("\r")),
            ),
            max_size=8,
        )
    )
    def test_round_trip(self, fields: list[tuple[str, str]]) -> None:
        body = "\r\n".join(f"{n}={v}" for n, v in fields).encode("utf-8", "surrogatepass")
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return  # lone surrogates are not UTF-8; covered by test_refused
        assert parse_utf8_form(body) == fields


class TestUrlencoded:
    def test_owaauth_login(self) -> None:
        body = (
            b"destination=http%3A%2F%2F127.0.0.1%3A18080%2Fexchange%2F&username=testuser"
            b"&password=secret&trusted=4&flags=4"
        )
        assert parse_urlencoded(body) == [
            ("destination", "http://127.0.0.1:18080/exchange/"),
            ("username", "testuser"),
            ("password", "secret"),
            ("trusted", "4"),
            ("flags", "4"),
        ]

    def test_saveappt(self) -> None:
        assert parse_urlencoded(b"Cmd=saveappt&FORMTYPE=appointment") == [
            ("Cmd", "saveappt"),
            ("FORMTYPE", "appointment"),
        ]

    def test_blank_values_plus_and_unicode(self) -> None:
        assert parse_urlencoded(b"flags=&SubmitCreds=Log+On&n=J%C3%B6rg\r\n") == [
            ("flags", ""),
            ("SubmitCreds", "Log On"),
            ("n", "Jörg"),
        ]

    def test_empty(self) -> None:
        assert parse_urlencoded(b"") == []

    @pytest.mark.parametrize(
        "body", [b"n=%FF", b"n=\xff", b"a=1&junk&b=2"], ids=["pct-latin1", "raw-latin1", "no-eq"]
    )
    def test_refused(self, body: bytes) -> None:
        with pytest.raises(FormError):
            parse_urlencoded(body)

    def test_size_cap(self) -> None:
        with pytest.raises(FormError, match="limit"):
            parse_urlencoded(b"a=" + b"b" * 64, max_bytes=10)


class TestOwaDatetime:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-12-10T14:00:00Z", datetime(2026, 12, 10, 14, tzinfo=UTC)),
            ("2026-12-10T14:00:00.000Z", datetime(2026, 12, 10, 14, tzinfo=UTC)),
            ("2026-12-10T15:30:00+01:00", datetime(2026, 12, 10, 14, 30, tzinfo=UTC)),
            ("2026-12-10T09:00:00.123-05:00", datetime(2026, 12, 10, 14, 0, 0, 123000, UTC)),
            ("2026/12/10 14:00:00", datetime(2026, 12, 10, 14, tzinfo=UTC)),
            (" 2026-12-10T14:00:00Z ", datetime(2026, 12, 10, 14, tzinfo=UTC)),
        ],
    )
    def test_accepted(self, text: str, expected: datetime) -> None:
        value = parse_owa_datetime(text)
        assert value == expected
        assert value.tzinfo is UTC

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "tomorrow",
            "2026-12-10T14:00:00",  # no zone
            "2026-12-10",  # no time
            "2026/13/10 14:00:00",
            "2026/12/10 14:00",
            "2026-02-30T10:00:00Z",
            "{0}",
        ],
    )
    def test_refused(self, text: str) -> None:
        with pytest.raises(FormError):
            parse_owa_datetime(text)
