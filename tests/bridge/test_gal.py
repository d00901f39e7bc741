"""The company directory's pure core: GAL entries to vCards, room marking, prefix splitting."""

from __future__ import annotations

import vobject
from hypothesis import given
from hypothesis import strategies as st

from bridge import gal
from bridge.exchange.owa import GalEntry, parse_galfind
from bridge.gal_refresh import xml_legal

_BASE = {"VERSION", "PRODID", "UID", "FN", "N", "EMAIL"}


@given(name=st.text(), phone=st.text(), office=st.text(), title=st.text())
def test_no_field_value_can_add_a_property(name: str, phone: str, office: str, title: str) -> None:
    entry = GalEntry(alias="x", display_name=name, email="x@example.com", phone=phone,
                     office=office, title=title)
    contact = gal.contact_from_entry(entry)
    assert contact is not None
    card = vobject.readOne(gal.build_vcard(contact))
    names = {child.name for child in card.getChildren()}
    expected = set(_BASE)
    if gal.clean(phone):
        expected.add("TEL")
    if gal.clean(office):
        expected.add("ADR")
    if gal.clean(title):
        expected.add("TITLE")
    assert names == expected
    assert card.fn.value == (gal.clean(name) or "x")
    assert [e.value for e in card.contents["email"]] == ["x@example.com"]


def test_clean_turns_line_breaks_and_controls_into_spaces_and_caps_the_length() -> None:
    assert gal.clean("Eve\r\nEMAIL:a@b\x07\u2028end") == "Eve EMAIL:a@b end"
    assert len(gal.clean("x" * 1000)) == gal.MAX_FIELD


def test_rooms_are_the_configured_addresses_and_carry_both_kind_properties() -> None:
    room = gal.contact_from_entry(
        GalEntry(alias="room-101", display_name="Room 101", email="Room-101@Example.com"),
        ["room-101@example.com"],
    )
    person = gal.contact_from_entry(
        GalEntry(alias="bob", display_name="Bob", email="bob@example.com"),
        ["room-101@example.com"],
    )
    assert room is not None and room.room and person is not None and not person.room
    text = gal.build_vcard(room)
    assert "X-ADDRESSBOOKSERVER-KIND:location" in text and "KIND:location" in text
    assert "KIND" not in gal.build_vcard(person)


def test_an_entry_without_a_usable_address_is_left_out() -> None:
    assert gal.contact_from_entry(GalEntry(alias="dl", display_name="All staff")) is None
    assert gal.contact_from_entry(GalEntry(alias="x", email="a b@c")) is None


def test_uid_and_href_depend_on_the_address_only() -> None:
    assert gal.uid_for("Bob@Example.com") == gal.uid_for("bob@example.com")
    assert gal.href_for("bob@example.com").endswith(".vcf")
    assert gal.href_for("bob@example.com") != gal.href_for("carol@example.com")


def test_a_query_at_the_limit_is_split_one_character_further() -> None:
    assert gal.next_prefixes("ab", 99, 100, 8) == []
    deeper = gal.next_prefixes("ab", 100, 100, 8)
    assert len(deeper) == len(gal.ALPHABET) and deeper[0] == "aba" and "ab-" in deeper
    assert gal.next_prefixes("abcdefgh", 500, 100, 8) == []  # at the length limit


def test_xml_illegal_control_characters_do_not_spoil_a_galfind_answer() -> None:
    body = (b'<?xml version="1.0"?><a:response xmlns:a="WM"><a:item><a:DN>Eve\x07&#x1b;X</a:DN>'
            b"<a:EM>eve@example.com</a:EM></a:item><a:item><a:DN>Bob</a:DN>"
            b"<a:EM>bob@example.com</a:EM></a:item></a:response>")
    entries = parse_galfind(xml_legal(body))
    assert [e.email for e in entries] == ["eve@example.com", "bob@example.com"]
    assert gal.clean(entries[0].display_name) == "Eve X"
