"""exchange_sim.freebusy: expansion, fbdata digits, WM XML / HTML rendering, query parsing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.freebusy import (
    MAX_OCCURRENCES,
    FreeBusyEntry,
    all_attendees,
    fbdata,
    occurrences,
    parse_freebusy_query,
    render_html,
    render_xml,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


DAY = (utc(2026, 12, 10), utc(2026, 12, 11))
# observed traffic step 4, verbatim
OBSERVED_FBDATA = (
    "000000000000000000000000000000000000222200000000"
    "000000000000000000000000000000000000000000000000"
)


class TestOccurrences:
    def test_single_inside_and_outside(self) -> None:
        start, end = utc(2026, 12, 10, 14), utc(2026, 12, 10, 15)
        assert occurrences(start, end, [], [], [], *DAY) == [(start, end)]
        assert occurrences(start, end, [], [], [], utc(2026, 12, 11), utc(2026, 12, 12)) == []

    def test_touching_the_window_edge_is_outside(self) -> None:
        start, end = utc(2026, 12, 9, 23), utc(2026, 12, 10)
        assert occurrences(start, end, [], [], [], *DAY) == []
        assert occurrences(utc(2026, 12, 11), utc(2026, 12, 11, 1), [], [], [], *DAY) == []

    def test_weekly_with_exdate(self) -> None:
        start, end = utc(2026, 11, 2, 9), utc(2026, 11, 2, 10)  # a Monday
        rule = ["FREQ=WEEKLY;COUNT=6"]
        got = occurrences(
            start, end, rule, [utc(2026, 11, 16, 9)], [], utc(2026, 11, 1), utc(2027, 1, 1)
        )
        assert [s.day for s, _ in got] == [2, 9, 23, 30, 7]
        assert all(e - s == timedelta(hours=1) for s, e in got)
        assert got[-1][0] == utc(2026, 12, 7, 9)

    def test_window_cuts_the_series(self) -> None:
        start, end = utc(2026, 1, 1, 9), utc(2026, 1, 1, 10)
        got = occurrences(
            start, end, ["RRULE:FREQ=DAILY"], [], [], utc(2026, 3, 1), utc(2026, 3, 4)
        )
        assert [s for s, _ in got] == [utc(2026, 3, d, 9) for d in (1, 2, 3)]

    def test_overlap_from_before_the_window(self) -> None:
        # a 3-hour meeting starting before the window still counts
        got = occurrences(
            utc(2026, 12, 9, 23), utc(2026, 12, 10, 2), ["FREQ=DAILY;COUNT=2"], [], [], *DAY
        )
        assert got == [
            (utc(2026, 12, 9, 23), utc(2026, 12, 10, 2)),
            (utc(2026, 12, 10, 23), utc(2026, 12, 11, 2)),
        ]

    def test_until_and_rdate(self) -> None:
        start, end = utc(2026, 12, 1, 9), utc(2026, 12, 1, 9, 30)
        got = occurrences(
            start,
            end,
            ["FREQ=DAILY;UNTIL=20261203T090000Z"],
            [],
            [utc(2026, 12, 20, 12)],
            utc(2026, 12, 1),
            utc(2027, 1, 1),
        )
        assert [s for s, _ in got] == [
            utc(2026, 12, 1, 9),
            utc(2026, 12, 2, 9),
            utc(2026, 12, 3, 9),
            utc(2026, 12, 20, 12),
        ]

    def test_rdate_only_and_exdate_on_dtstart(self) -> None:
        start, end = utc(2026, 12, 1, 9), utc(2026, 12, 1, 10)
        got = occurrences(
            start, end, [], [start], [utc(2026, 12, 5, 9)], utc(2026, 12, 1), utc(2027, 1, 1)
        )
        assert got == [(utc(2026, 12, 5, 9), utc(2026, 12, 5, 10))]

    def test_occurrence_cap(self) -> None:
        start = utc(2026, 1, 1)
        got = occurrences(
            start,
            start + timedelta(minutes=1),
            ["FREQ=MINUTELY"],
            [],
            [],
            start,
            start + timedelta(days=30),
        )
        assert len(got) == MAX_OCCURRENCES

    @pytest.mark.timeout(30)  # a hang guard, not a speed figure
    def test_hostile_rule_stays_fast(self) -> None:
        got = occurrences(
            utc(2000, 1, 1), utc(2000, 1, 1, 0, 0, 1), ["FREQ=SECONDLY"], [], [], *DAY
        )
        assert got == []  # abandoned after MAX_SCANNED instances, long before 2026

    @pytest.mark.parametrize(
        "rule", ["FREQ=SOMETIMES", "", "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY", "COUNT=3"]
    )
    def test_bad_rule(self, rule: str) -> None:
        with pytest.raises(ValueError, match="rrule"):
            occurrences(utc(2026, 1, 1), utc(2026, 1, 1, 1), [rule], [], [], *DAY)

    def test_naive_and_inverted(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            occurrences(datetime(2026, 1, 1), utc(2026, 1, 1, 1), [], [], [], *DAY)
        with pytest.raises(ValueError, match="before"):
            occurrences(utc(2026, 1, 2), utc(2026, 1, 1), [], [], [], *DAY)


class TestFbdata:
    def test_one_hour_busy_at_15_minutes(self) -> None:
        # observed traffic step 4: one day at interval 15, busy 09:00-10:00Z (the fbdata the
        # fake answered and DavMail turned into FREEBUSY 20261210T090000Z/20261210T100000Z)
        digits = fbdata([(utc(2026, 12, 10, 9), utc(2026, 12, 10, 10), "BUSY")], *DAY, 15)
        assert digits == OBSERVED_FBDATA

    def test_half_open_edges(self) -> None:
        start = utc(2026, 12, 10, 9)
        # ends exactly where slot 2 begins, starts inside slot 0
        digits = fbdata(
            [(start + timedelta(minutes=10), start + timedelta(minutes=60), "BUSY")],
            start,
            start + timedelta(hours=2),
            30,
        )
        assert digits == "2200"

    def test_precedence(self) -> None:
        start = utc(2026, 12, 10, 8)
        h = timedelta(hours=1)
        busy = [
            (start, start + 4 * h, "tentative"),
            (start + h, start + 3 * h, "BUSY"),
            (start + 2 * h, start + 2.5 * h, "OOF"),
            (start + 2 * h, start + 3 * h, "TENTATIVE"),
            (start, start + 5 * h, "FREE"),
        ]
        assert fbdata(busy, start, start + 6 * h, 30) == "112232110000"

    def test_partial_last_slot_and_periods_outside(self) -> None:
        start = utc(2026, 12, 10, 8)
        busy = [
            (start - timedelta(hours=3), start - timedelta(hours=1), "OOF"),
            (start + timedelta(minutes=40), start + timedelta(hours=9), "BUSY"),
            (start + timedelta(minutes=5), start + timedelta(minutes=5), "OOF"),  # zero length
        ]
        assert fbdata(busy, start, start + timedelta(minutes=45), 30) == "02"

    def test_weekly_recurrence_with_exdate(self) -> None:
        window = (utc(2026, 11, 30), utc(2026, 12, 28))  # four weeks, Mondays 00:00Z
        occ = occurrences(
            utc(2026, 11, 2, 9),
            utc(2026, 11, 2, 10),
            ["FREQ=WEEKLY;BYDAY=MO"],
            [utc(2026, 12, 14, 9)],
            [],
            *window,
        )
        digits = fbdata(((s, e, "BUSY") for s, e in occ), *window, 60)
        busy_hours = [i for i, d in enumerate(digits) if d == "2"]
        assert busy_hours == [9, 7 * 24 + 9, 21 * 24 + 9]  # Dec 14 excluded

    @pytest.mark.parametrize(
        ("start", "end", "interval", "message"),
        [
            (utc(2026, 1, 1), utc(2026, 1, 2), 0, "at least 1"),
            (utc(2026, 1, 2), utc(2026, 1, 1), 30, "after start"),
            (utc(2026, 1, 1), utc(2026, 1, 1), 30, "after start"),
            (utc(2026, 1, 1), utc(2030, 1, 1), 1, "at most"),
        ],
    )
    def test_invalid_window(
        self, start: datetime, end: datetime, interval: int, message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            fbdata([], start, end, interval)

    def test_unknown_status(self) -> None:
        with pytest.raises(ValueError, match="status"):
            fbdata([(utc(2026, 12, 10, 9), utc(2026, 12, 10, 10), "WORKINGELSEWHERE")], *DAY, 30)

    @given(
        st.lists(
            st.tuples(
                st.integers(-100, 1500),
                st.integers(0, 600),
                st.sampled_from(["FREE", "TENTATIVE", "BUSY", "OOF"]),
            ),
            max_size=12,
        ),
        st.sampled_from([1, 7, 15, 30, 60]),
    )
    def test_matches_a_minute_by_minute_model(
        self, periods: list[tuple[int, int, str]], interval: int
    ) -> None:
        start = utc(2026, 12, 10)
        minutes = 24 * 60
        busy = [
            (start + timedelta(minutes=a), start + timedelta(minutes=a + d), s)
            for a, d, s in periods
        ]
        digits = fbdata(busy, start, start + timedelta(minutes=minutes), interval)
        rank = {"FREE": 0, "TENTATIVE": 1, "BUSY": 2, "OOF": 3}
        expected = []
        for slot in range(-(-minutes // interval)):
            lo, hi = slot * interval, (slot + 1) * interval
            hits = [rank[s] for a, d, s in periods if d > 0 and a < hi and a + d > lo]
            expected.append(str(max(hits, default=0)))
        assert digits == "".join(expected)


ALICE = FreeBusyEntry("Alice", "alice@example.com", "0022110")
BOB = FreeBusyEntry("Bob", "bob@example.com", "0300014")


class TestRenderXml:
    def test_single_user_shape_matches_observed_answer(self) -> None:
        entry = FreeBusyEntry("alice@example.com", "alice@example.com", "0000222200")
        assert render_xml([entry]) == (
            b'<?xml version="1.0"?><a:response xmlns:a="WM"><a:recipients><a:item>'
            b"<a:displayname>alice@example.com</a:displayname>"
            b'<a:email type="SMTP">alice@example.com</a:email><a:type>1</a:type>'
            b"<a:fbdata>0000222200</a:fbdata></a:item></a:recipients></a:response>"
        )

    def test_all_attendees_first_for_two_users(self) -> None:
        body = render_xml([ALICE, BOB])
        root = ET.fromstring(body)
        items = root.findall("{WM}recipients/{WM}item")
        names = [i.findtext("{WM}displayname") for i in items]
        assert names == ["All Attendees", "Alice", "Bob"]
        assert items[0].find("{WM}email") is None
        assert items[0].findtext("{WM}fbdata") == "0322110"  # Bob's "4" loses to Alice's "0"
        assert b"<a:fbdata>0322110</a:fbdata>" in body  # DavMail's literal string search

    def test_hostile_names_are_escaped(self) -> None:
        evil = FreeBusyEntry('<script>alert("x")</script>&\x00\x1b', "a&b<c>@example.com", "0")
        body = render_xml([evil])
        assert b"<script>" not in body
        root = ET.fromstring(body)  # well-formed
        item = root.find("{WM}recipients/{WM}item")
        assert item is not None
        assert item.findtext("{WM}displayname") == '<script>alert("x")</script>&'
        assert item.findtext("{WM}email") == "a&b<c>@example.com"

    def test_all_attendees_rules(self) -> None:
        merged = all_attendees(
            [FreeBusyEntry("a", "a@x", "0441"), FreeBusyEntry("b", "b@x", "4042")]
        )
        assert merged == FreeBusyEntry("All Attendees", None, "0042")
        with pytest.raises(ValueError, match="length"):
            all_attendees([FreeBusyEntry("a", "a@x", "00"), FreeBusyEntry("b", "b@x", "000")])
        with pytest.raises(ValueError):
            all_attendees([])


class TestRenderHtml:
    def test_colours_and_escaping(self) -> None:
        evil = FreeBusyEntry("<script>alert(1)</script>", "x@example.com", "01234")
        page = render_html([evil], utc(2026, 12, 10, 9), 30).decode()
        assert "<script>" not in page
        assert "&lt;script&gt;" in page
        cells = page.count("<td bgcolor=")
        assert cells == 5
        for colour in ("#99CCFF", "#0000FF", "#660066", "#FFFFFF"):
            assert f'bgcolor="{colour}"' in page
        assert "2026-12-10 09:30" in page

    def test_aggregate_row_for_two_users(self) -> None:
        page = render_html([ALICE, BOB], utc(2026, 12, 10), 60).decode()
        assert page.index("All Attendees") < page.index("Alice") < page.index("Bob")


class TestParseQuery:
    def test_documented_example(self) -> None:
        query = (
            "cmd=freebusy&start=2002-10-23T04:00:00Z&end=2002-11-27T05:00:00Z&interval=30"
            "&u=SMTP:danw@example.com&u=SMTP:eleanor@example.com"
        )
        assert parse_freebusy_query(query) == (
            utc(2002, 10, 23, 4),
            utc(2002, 11, 27, 5),
            30,
            ["danw@example.com", "eleanor@example.com"],
        )

    def test_davmail_query_and_leading_question_mark(self) -> None:
        query = (
            "?cmd=freebusy&start=2026-12-10T00:00:00Z&end=2026-12-11T00:00:00Z&interval=15"
            "&u=SMTP:alice@example.com"
        )
        assert parse_freebusy_query(query) == (*DAY, 15, ["alice@example.com"])

    def test_case_offsets_defaults_and_bare_addresses(self) -> None:
        query = (
            "Cmd=freebusy&Start=2026-12-10T01:00:00%2B01:00&END=2026-12-10T20:00:00-05:00"
            "&U=smtp:Alice@Example.com&u=bob@example.com"
        )
        start, end, interval, users = parse_freebusy_query(query)
        assert (start, end, interval) == (utc(2026, 12, 10), utc(2026, 12, 11, 1), 30)
        assert users == ["Alice@Example.com", "bob@example.com"]

    def test_unencoded_plus_offset(self) -> None:
        start, *_ = parse_freebusy_query(
            "start=2026-12-10T01:00:00+01:00&end=2026-12-11T00:00:00Z&u=a@example.com"
        )
        assert start == utc(2026, 12, 10)

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("end=2026-12-11T00:00:00Z&u=a@x", "missing start"),
            ("start=2026-12-10T00:00:00Z&u=a@x", "missing end"),
            ("start=2026-12-10T00:00:00Z&end=2026-12-11T00:00:00Z", "missing u"),
            ("start=2026-12-10T00:00:00Z&end=2026-12-11T00:00:00Z&u=SMTP:", "empty u"),
            ("start=2026-12-10T00:00:00&end=2026-12-11T00:00:00Z&u=a@x", "zone"),
            ("start=yesterday&end=2026-12-11T00:00:00Z&u=a@x", "ISO-8601"),
            ("start=2026-12-11T00:00:00Z&end=2026-12-10T00:00:00Z&u=a@x", "after start"),
            ("start=2026-12-10T00:00:00Z&end=2026-12-11T00:00:00Z&interval=0&u=a@x", "at least"),
            ("start=2026-12-10T00:00:00Z&end=2026-12-11T00:00:00Z&interval=-5&u=a@x", "whole"),
            ("start=2026-12-10T00:00:00Z&end=2026-12-11T00:00:00Z&interval=ab&u=a@x", "whole"),
            ("start=2020-01-01T00:00:00Z&end=2026-12-11T00:00:00Z&interval=1&u=a@x", "at most"),
            (
                "start=2026-12-10T00:00:00Z&START=2026-12-10T00:00:00Z&end=2026-12-11T00:00:00Z"
                "&u=a@x",
                "more than once",
            ),
            (
                "start=2026-12-10T00:00:00Z&end=2026-12-11T00:00:00Z&interval="
                + "9" * 30
                + "&u=a@x",
                "too large",
            ),
        ],
    )
    def test_errors(self, query: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            parse_freebusy_query(query)
