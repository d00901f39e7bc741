"""The GAL as a read-only CardDAV address book: galfind sweeps over HTTP against the simulator,
the cards written into the real Radicale, read (and refused writes) over CardDAV."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests
import vobject

from bridge.directory import Directory
from bridge.service import radicale_configuration
from exchange_sim.mailboxes import Mailbox, demo_mailboxes
from exchange_sim.server import running_simulator
from exchange_sim.store import Store
from tests.e2e.conftest import Bridge

BOOK = "gal/addressbook/"


def _cards(bridge: Bridge, user: str = "alice") -> dict[str, vobject.base.Component]:
    """Every card of the directory, by e-mail, as the user's CardDAV client reads them."""
    response = requests.get(
        f"{bridge.service.caldav_url}{BOOK}", auth=(user, "demo"), timeout=30
    )
    assert response.status_code == 200, response.text
    return {card.email.value: card for card in vobject.readComponents(response.text)}


def _directory_for(bridge: Bridge, sim_url: str, **changes: object) -> Directory:
    config = replace(bridge.config, exchange_url=sim_url, **changes)  # type: ignore[arg-type]
    return Directory(config, radicale_configuration(config, with_server=False))


@pytest.fixture
def odd_sim() -> Iterator[object]:
    """A simulator whose GAL has a hostile display name, a phone and an office."""
    mailboxes = [
        *demo_mailboxes(),
        Mailbox("eve", "eve@example.com", "Eve\r\nEMAIL:attacker@evil.example\r\nX-A:1\x07",
                "demo", phone="+1 555 0100\r\nTEL:999", office="B2; 3rd floor"),
        Mailbox("frank", "frank@example.com", "Frank, Jr.", "demo", phone="+1 555 0101",
                office="Building 7"),
    ]
    with running_simulator(Store(":memory:", mailboxes)) as sim:
        yield sim


def test_the_directory_lists_people_and_rooms_and_rooms_are_locations(bridge: Bridge) -> None:
    assert bridge.service.directory is not None
    report = bridge.service.directory.refresh()
    assert report is not None and report.written == 7

    cards = _cards(bridge)
    assert set(cards) == {
        "alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com",
        "room-101@example.com", "room-102@example.com", "svc-calbridge@example.com",
    }
    assert cards["bob@example.com"].fn.value == "Bob Example"
    room = cards["room-101@example.com"]
    assert room.fn.value == "Room 101"
    assert room.x_addressbookserver_kind.value == "location"
    assert room.kind.value == "location"
    assert not hasattr(cards["bob@example.com"], "x_addressbookserver_kind")
    # Bob reads the very same shared book.
    assert set(_cards(bridge, "bob")) == set(cards)


def test_a_refresh_rewrites_only_what_changed_and_marks_its_writes(bridge: Bridge) -> None:
    directory = bridge.service.directory
    assert directory is not None
    directory.refresh()
    etags = requests.request(
        "PROPFIND", f"{bridge.service.caldav_url}{BOOK}", auth=("alice", "demo"),
        headers={"Depth": "1"}, timeout=30,
    ).text
    again = directory.refresh()
    assert again is not None and (again.written, again.deleted, again.unchanged) == (0, 0, 7)
    assert requests.request(
        "PROPFIND", f"{bridge.service.caldav_url}{BOOK}", auth=("alice", "demo"),
        headers={"Depth": "1"}, timeout=30,
    ).text == etags
    # The journal holds them as the bridge's own writes: never taken for user changes.
    with sqlite3.connect(bridge.config.state_dir / "bridge.sqlite") as db:
        ops = {op for (op,) in db.execute("SELECT op FROM changes WHERE user = 'gal'")}
    assert ops and all(op.startswith("bridge-") for op in ops)


def test_users_read_the_directory_and_cannot_write_it(bridge: Bridge) -> None:
    directory = bridge.service.directory
    assert directory is not None
    directory.refresh()
    base = bridge.service.caldav_url + BOOK
    card = next(iter(_cards(bridge).values()))
    href = base + card.uid.value + ".vcf"
    assert requests.get(href, auth=("alice", "demo"), timeout=30).status_code == 200

    new = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:Mallory\r\nN:;;;;\r\nEND:VCARD\r\n"
    put = requests.put(base + "mallory.vcf", data=new, auth=("alice", "demo"),
                       headers={"Content-Type": "text/vcard"}, timeout=30)
    assert put.status_code == 403
    overwrite = requests.put(href, data=new.replace("UID:x", f"UID:{card.uid.value}"),
                             auth=("alice", "demo"), headers={"Content-Type": "text/vcard"},
                             timeout=30)
    assert overwrite.status_code == 403
    assert requests.delete(href, auth=("bob", "demo"), timeout=30).status_code == 403
    assert requests.delete(base, auth=("bob", "demo"), timeout=30).status_code == 403
    proppatch = requests.request(
        "PROPPATCH", base, auth=("alice", "demo"), timeout=30,
        data='<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
             "<D:displayname>mine</D:displayname></D:prop></D:set></D:propertyupdate>",
    )
    assert proppatch.status_code == 403
    assert requests.get(base, timeout=30).status_code == 401
    assert len(_cards(bridge)) == 7  # nothing changed
    # Owner-only still holds elsewhere: alice cannot read bob's calendars.
    assert requests.request("PROPFIND", bridge.service.caldav_url + "bob/", auth=("alice", "demo"),
                            headers={"Depth": "0"}, timeout=30).status_code == 403


def test_hostile_gal_fields_give_valid_cards_and_no_injected_property(
    bridge: Bridge, odd_sim: object
) -> None:
    directory = _directory_for(bridge, odd_sim.base_url)  # type: ignore[attr-defined]
    try:
        assert directory.refresh() is not None
    finally:
        directory.close()
    cards = _cards(bridge)
    assert "attacker@evil.example" not in cards
    eve = cards["eve@example.com"]
    assert [line.value for line in eve.contents["email"]] == ["eve@example.com"]
    assert eve.fn.value == "Eve EMAIL:attacker@evil.example X-A:1"
    assert "x-a" not in eve.contents
    assert [tel.value for tel in eve.contents["tel"]] == ["+1 555 0100 TEL:999"]
    assert eve.adr.value.extended == "B2; 3rd floor"
    frank = cards["frank@example.com"]
    assert frank.fn.value == "Frank, Jr."
    assert frank.tel.value == "+1 555 0101"
    assert frank.adr.value.extended == "Building 7"


def test_an_entry_gone_from_the_gal_is_deleted(bridge: Bridge, odd_sim: object) -> None:
    directory = _directory_for(bridge, odd_sim.base_url)  # type: ignore[attr-defined]
    try:
        directory.refresh()
    finally:
        directory.close()
    assert "frank@example.com" in _cards(bridge)
    assert bridge.service.directory is not None
    report = bridge.service.directory.refresh()  # the embedded demo GAL: no eve, no frank
    assert report is not None and report.deleted == 2
    assert "frank@example.com" not in _cards(bridge)


def test_a_capped_answer_is_split_and_nothing_is_lost(bridge: Bridge) -> None:
    directory = _directory_for(bridge, bridge.service.sim_url or "", gal_page_limit=2)
    before = len(bridge.sim.log)
    try:
        directory.refresh()
    finally:
        directory.close()
    sweep = directory.last
    assert sweep is not None and sweep.incomplete == []
    # 39 first-level prefixes; "r" "ro" "roo" "room" "room-" "room-1" "room-10" each answer
    # 2 entries (the limit) and are split into 39 more.
    assert sweep.requests == 39 * 8
    galfinds = [e for e in bridge.sim.log.entries()[before:] if "galfind" in e.query.lower()]
    assert len(galfinds) == sweep.requests
    assert {"room-101@example.com", "room-102@example.com"} <= set(sweep.contacts)
    assert len(_cards(bridge)) == 7


def test_exchange_failing_mid_sweep_keeps_the_last_good_book(bridge: Bridge) -> None:
    directory = bridge.service.directory
    assert directory is not None
    directory.refresh()
    bridge.sim.faults.add(r"AN=m", status=500, count=None)
    assert directory.refresh() is None
    assert len(_cards(bridge)) == 7


def test_clients_discover_the_directory_from_their_principal(bridge: Bridge) -> None:
    assert bridge.service.directory is not None
    bridge.service.directory.refresh()
    ask = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
           'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><CR:addressbook-home-set/>'
           "</D:prop></D:propfind>")
    principal = requests.request(
        "PROPFIND", f"{bridge.service.caldav_url}alice/", data=ask, auth=("alice", "demo"),
        headers={"Depth": "0"}, timeout=30,
    )
    assert principal.status_code == 207
    homes = [h.text for h in ET.fromstring(principal.content).iter("{DAV:}href")]
    assert homes[0] == "/alice/" and "/alice/" in homes[1:] and "/gal/" in homes
    listing = requests.request(
        "PROPFIND", f"{bridge.service.caldav_url}gal/", auth=("alice", "demo"),
        headers={"Depth": "1"}, timeout=30,
    )
    assert listing.status_code == 207
    hrefs = [h.text for h in ET.fromstring(listing.content).iter("{DAV:}href")]
    assert "/gal/addressbook/" in hrefs
