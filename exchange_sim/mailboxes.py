"""Who exists on the simulated server: mailboxes of people, rooms and service accounts.

Rule kept here: configuration only (the demo set and the `--mailboxes` TOML file), no storage.
Passwords live here and nowhere else; they never appear in a repr.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Mailbox", "demo_mailboxes", "load_mailboxes"]


@dataclass(frozen=True)
class Mailbox:
    alias: str
    email: str
    display_name: str
    password: str = field(repr=False)
    kind: str = "person"  # person | room | service
    auto_tentative: bool = False  # Outlook places a tentative copy of each request on arrival
    access: tuple[str, ...] = ()  # aliases this account may open besides its own; "*" = all
    language: str = "en"
    phone: str = ""  # galfind PH (davmail-client §1.4), shown only when set
    office: str = ""  # galfind OFFICE (davmail-client §1.4: criteria OF, attribute OFFICE)

    def may_open(self, alias: str) -> bool:
        return alias.lower() == self.alias.lower() or "*" in self.access or (
            alias.lower() in (a.lower() for a in self.access)
        )



def demo_mailboxes() -> list[Mailbox]:
    """The embedded default: four people, two rooms and the bridge's service account."""
    people = [
        Mailbox(alias, f"{alias}@example.com", f"{alias.title()} Example", "demo")
        for alias in ("alice", "bob", "carol", "dave")
    ]
    rooms = [
        Mailbox(alias, f"{alias}@example.com", f"Room {alias[5:]}", "demo", kind="room")
        for alias in ("room-101", "room-102")
    ]
    service = Mailbox(
        "svc-calbridge",
        "svc-calbridge@example.com",
        "calbridge service",
        "demo",
        kind="service",
        access=("*",),
    )
    return [*people, *rooms, service]


def load_mailboxes(path: str | Path) -> list[Mailbox]:
    """Read a TOML file with `[[mailbox]]` tables (alias, email, name, password, kind, ...)."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    entries = data.get("mailbox")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected at least one [[mailbox]] table")
    result = []
    for index, entry in enumerate(entries):
        try:
            alias = str(entry["alias"]).strip().lower()
            email = str(entry.get("email") or f"{alias}@example.com").lower()
            kind = str(entry.get("kind", "person"))
            if kind not in ("person", "room", "service"):
                raise ValueError(f"kind must be person, room or service, not {kind!r}")
            if not alias or "/" in alias or alias in (".", ".."):
                raise ValueError(f"invalid alias {alias!r}")
            result.append(
                Mailbox(
                    alias=alias,
                    email=email,
                    display_name=str(entry.get("name", alias)),
                    password=str(entry["password"]),
                    kind=kind,
                    auto_tentative=bool(entry.get("auto_tentative", False)),
                    access=tuple(str(a).lower() for a in entry.get("access", ())),
                    language=str(entry.get("language", "en")),
                    phone=str(entry.get("phone", "")),
                    office=str(entry.get("office", "")),
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: mailbox #{index + 1}: {error}") from error
    return result
