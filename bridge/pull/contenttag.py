"""Has anything moved in a mailbox's Calendar or Inbox? One request per mailbox per pass.

Rule kept here (design §4b, issue 10 "cheap change detection"): an idle pull pass costs one
``PROPFIND`` with ``Depth: 1,noroot`` on the mailbox root, asking only for
``http://schemas.microsoft.com/repl/contenttag`` (the value DavMail uses as its CalDAV ctag,
davmail-client §4.5, observed traffic #13). Depth 1 on the root is one request whatever the
number of folders; two ``Depth: 0`` requests, one per folder, would cost two. The folders are
recognised by their URLs from discovery (so localized names work). Items are listed only for a
folder whose tag differs from the one remembered; a tag that cannot be read counts as moved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from bridge.exchange import webdav
from bridge.exchange.mailbox import Mailbox

__all__ = ["CONTENTTAG", "FolderTags", "build_body", "moved", "parse_tags", "read_tags"]

CONTENTTAG = "http://schemas.microsoft.com/repl/contenttag"
_XML = {"Content-Type": 'text/xml; charset="utf-8"'}


@dataclass(frozen=True)
class FolderTags:
    calendar: str | None
    inbox: str | None


def build_body() -> bytes:
    return webdav.build_propfind((CONTENTTAG,))


def _path(url: str) -> str:
    return unquote(urlsplit(url).path).rstrip("/").lower()


def parse_tags(answers: Iterable[webdav.Response], calendar_url: str,
               inbox_url: str) -> FolderTags:
    """The tags of the two folders from a multistatus (hrefs absolute or server-relative)."""
    found: dict[str, str] = {}
    for answer in answers:
        value = answer.props.get(CONTENTTAG)
        if value is not None:
            found[_path(answer.href)] = str(value)
    return FolderTags(found.get(_path(calendar_url)), found.get(_path(inbox_url)))


def moved(before: FolderTags | None, now: FolderTags) -> tuple[bool, bool]:
    """(calendar moved, inbox moved). No memory, or an unreadable tag, counts as moved."""
    if before is None:
        return True, True
    return (now.calendar is None or now.calendar != before.calendar,
            now.inbox is None or now.inbox != before.inbox)


def read_tags(mailbox: Mailbox) -> FolderTags:
    """One PROPFIND (``Depth: 1,noroot``) on the mailbox root (folders discovered once per
    `Mailbox` object, cached there)."""
    folders = mailbox.folders
    response = mailbox.session.request(
        "PROPFIND", folders.root + "/",
        headers={**_XML, "Depth": "1,noroot", "Brief": "t"}, body=build_body())
    return parse_tags(webdav.parse_multistatus(response.content), folders.calendar,
                      folders.inbox)
