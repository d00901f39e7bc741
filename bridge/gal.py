"""The company directory (Exchange's GAL) as vCards, pure: GAL entries in, address book out.

Rules kept here:
- Nothing a GAL entry holds can add a vCard property or parameter: every field loses its line
  breaks and other control characters (each becomes a space, as `owa.build_utf8_form` does for
  OWA forms: the text is the directory's and must still show), is cut to `MAX_FIELD` characters,
  and is written by vobject, which escapes ``,`` ``;`` and ``\\``.
- A room is an entry whose address is listed in ``gal.rooms``: galfind's answer has no field
  that tells a room from a person (reference: davmail-client §1.4 lists AN DN FN LN TL CP
  OF/OFFICE DP PH EM; Exchange 2003 resource mailboxes are ordinary mailboxes). Rooms carry
  ``X-ADDRESSBOOKSERVER-KIND:location`` (Apple's vCard 3 extension, read by Apple Contacts and
  Calendar when adding a location) and ``KIND:location`` (RFC 6350/6473's registered name, read
  by vCard 4 aware clients), so clients offer them as resources.
- The whole GAL is read by prefix sweeps (`next_prefixes`): galfind answers at
  most a server-defined number of entries per query (the reference gives no figure), so a query
  answering `page_limit` entries or more is split one character further.
- Each entry's href and UID derive from its address only (`uid_for`), so a refresh rewrites
  only the cards whose text changed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import vobject

from bridge.exchange.owa import GalEntry

__all__ = [
    "ALPHABET",
    "GAL_COLLECTION",
    "GAL_OWNER",
    "MAX_FIELD",
    "Contact",
    "build_vcard",
    "clean",
    "contact_from_entry",
    "href_for",
    "next_prefixes",
    "uid_for",
]

# What aliases (mailNickname) start and continue with: letters, digits and . - _ (chosen;
# another first character is not found by the sweep).
GAL_OWNER: Final = "gal"  # the directory's principal in Radicale (no user may have this name)
GAL_COLLECTION: Final = "gal/addressbook"  # the one shared, read-only address book
ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz0123456789-._"
MAX_FIELD: Final = 256  # characters per field (display names in fit.py: 256 bytes)
_CONTROLS = re.compile("\r\n|[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMESPACE = uuid.UUID("6f1c1f0e-5d8b-4c36-9b37-3c0a3a5b6a11")  # calbridge's GAL UIDs


@dataclass(frozen=True)
class Contact:
    email: str
    name: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    office: str = ""
    title: str = ""
    company: str = ""
    department: str = ""
    alias: str = ""
    room: bool = False


def clean(value: str) -> str:
    """One line of printable text: control characters become spaces, cut to `MAX_FIELD`."""
    return " ".join(_CONTROLS.sub(" ", value).split())[:MAX_FIELD]


def contact_from_entry(entry: GalEntry, rooms: Iterable[str] = ()) -> Contact | None:
    """The contact of one galfind item; None without a usable address (nothing to invite)."""
    email = clean(entry.email).lower()
    if "@" not in email or " " in email:
        return None
    room_set = {r.lower() for r in rooms}
    name = clean(entry.display_name) or clean(entry.alias) or email
    return Contact(
        email=email,
        name=name,
        first_name=clean(entry.first_name),
        last_name=clean(entry.last_name),
        phone=clean(entry.phone),
        office=clean(entry.office),
        title=clean(entry.title),
        company=clean(entry.company),
        department=clean(entry.department),
        alias=clean(entry.alias),
        room=email in room_set,
    )


def uid_for(email: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "mailto:" + email.lower()))


def href_for(email: str) -> str:
    return uid_for(email) + ".vcf"


def build_vcard(contact: Contact) -> str:
    """A vCard 3.0 for `contact` (every value already one clean line)."""
    card = vobject.vCard()
    card.add("version").value = "3.0"
    card.add("uid").value = uid_for(contact.email)
    card.add("fn").value = contact.name
    card.add("n").value = vobject.vcard.Name(
        family=contact.last_name, given=contact.first_name
    )
    email = card.add("email")
    email.value = contact.email
    email.type_param = "INTERNET"
    if contact.phone:
        tel = card.add("tel")
        tel.value = contact.phone
        tel.type_param = "WORK"
    if contact.title:
        card.add("title").value = contact.title
    if contact.company or contact.department:
        card.add("org").value = [contact.company, contact.department]
    if contact.office:
        # OFFICE is the physical office (room or building): ADR's extended-address part.
        card.add("adr").value = vobject.vcard.Address(extended=contact.office)
    if contact.room:
        card.add("x-addressbookserver-kind").value = "location"
        card.add("kind").value = "location"
    card.add("prodid").value = "-//calbridge//GAL//EN"
    text: str = card.serialize()
    return text


def next_prefixes(prefix: str, found: int, page_limit: int, max_length: int) -> list[str]:
    """The prefixes to ask after `prefix` answered `found` entries (empty: it was complete).

    A query answering `page_limit` or more entries may have been cut by the server, so it is
    split one character further, until prefixes are `max_length` long (then what came is kept
    and the caller reports the prefix as possibly incomplete).
    """
    if found < page_limit or len(prefix) >= max_length:
        return []
    return [prefix + c for c in ALPHABET]
