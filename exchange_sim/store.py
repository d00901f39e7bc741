"""The simulator's mailbox store: folders, items and typed properties in one SQLite file.

Rule kept here: no HTTP. Paths are decoded URL paths (`/exchange/alice/Calendar/x.EML`), compared
case-insensitively as Exchange does (inferred: the reference shows both `calendar` and `Calendar`
for the same folder). Every write goes through `transaction()`, bumps the item's change number and
its folder's `repl:contenttag`, and raises typed errors (`NotFound`, `Conflict`, `AlreadyExists`,
`PreconditionFailed`) that the HTTP layer turns into status codes. Properties that Exchange
computes (etag, displayname, permanenturl, folder URLs on the mailbox root, ...) come from
`computed()`; values that are URLs come back as `PathRef` so the HTTP layer can make them absolute.

The store also keeps work that must survive a crash (the `queue` table: the transport's pending
deliveries and arrivals), written in the same transactions as the items it concerns, and runs
`after_commit` callbacks once the outermost transaction has committed, outside the lock.
Longer than ~400 lines for a reason: everything that must share the one connection and the one
lock (items, counters, the queue) lives here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import sqlite3
import threading
import uuid as uuid_mod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exchange_sim.mailboxes import Mailbox, demo_mailboxes, load_mailboxes

__all__ = [
    "FOLDER_CLASSES",
    "FOLDER_NAMES",
    "PRIVATE_NAMESPACE",
    "ROLES",
    "SUBMISSION_NAME",
    "AlreadyExists",
    "Conflict",
    "Item",
    "Mailbox",
    "NotFound",
    "PathRef",
    "PreconditionFailed",
    "Queued",
    "Store",
    "StoreError",
    "demo_mailboxes",
    "load_mailboxes",
]

SUBMISSION_NAME = "##DavMailSubmissionURI##"
PRIVATE_NAMESPACE = "urn:x-exchange-sim:"  # the simulator's own properties, never served
FLAT_URL_SPACE = "-FlatUrlSpace-"

# Roles of the well-known folders, as the `urn:schemas:httpmail:` property names that point to them.
ROLES = (
    "inbox",
    "calendar",
    "drafts",
    "sentitems",
    "deleteditems",
    "outbox",
    "tasks",
    "contacts",
)

FOLDER_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "inbox": "Inbox",
        "calendar": "Calendar",
        "drafts": "Drafts",
        "sentitems": "Sent Items",
        "deleteditems": "Deleted Items",
        "outbox": "Outbox",
        "tasks": "Tasks",
        "contacts": "Contacts",
    },
    # A German Exchange 2003 creates its default folders in the language of the first logon.
    "de": {
        "inbox": "Posteingang",
        "calendar": "Kalender",
        "drafts": "Entwürfe",
        "sentitems": "Gesendete Objekte",
        "deleteditems": "Gelöschte Objekte",
        "outbox": "Postausgang",
        "tasks": "Aufgaben",
        "contacts": "Kontakte",
    },
}

FOLDER_CLASSES = {
    "inbox": "IPF.Note",
    "calendar": "IPF.Appointment",
    "drafts": "IPF.Note",
    "sentitems": "IPF.Note",
    "deleteditems": "IPF.Note",
    "outbox": "IPF.Note",
    "tasks": "IPF.Task",
    "contacts": "IPF.Contact",
}

_CAL = "urn:schemas:calendar:"
_ARTICLE = "http://schemas.microsoft.com/mapi/proptag/x0e230003"


class StoreError(Exception):
    """Base of the store's errors; each maps to one HTTP status in the handlers."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    """The parent collection is missing (409)."""


class AlreadyExists(StoreError):
    """MKCOL on an existing resource (405)."""


class PreconditionFailed(StoreError):
    """If-Match / If-None-Match / Overwrite: f did not hold (412)."""


class PathRef(str):
    """A property value that is a path inside this server; rendered as an absolute URL."""

    __slots__ = ()


@dataclass(frozen=True)
class Queued:
    """Work the store keeps until it is done (the transport's deliveries and arrivals)."""

    id: int
    kind: str
    meta: dict[str, Any]  # plain JSON
    props: dict[str, object]  # typed, like an item's properties
    body: bytes | None


@dataclass(frozen=True)
class Item:
    path: str
    is_folder: bool
    props: dict[str, object]
    body: bytes | None
    etag: str
    pid: str
    created: datetime
    modified: datetime
    change_number: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> str:
        return self.path.rsplit("/", 1)[0]


# -- typed values <-> JSON -------------------------------------------------------------------


def _encode(value: object) -> dict[str, object]:
    if isinstance(value, bool):
        return {"t": "b", "v": value}
    if isinstance(value, int):
        return {"t": "i", "v": value}
    if isinstance(value, float):
        return {"t": "f", "v": value}
    if isinstance(value, datetime):
        return {"t": "d", "v": value.astimezone(UTC).isoformat()}
    if isinstance(value, bytes):
        return {"t": "x", "v": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list | tuple):
        return {"t": "l", "v": [_encode(v) for v in value]}
    return {"t": "s", "v": str(value)}


def _decode(data: Mapping[str, object]) -> object:
    kind, value = data["t"], data["v"]
    if kind == "d":
        return datetime.fromisoformat(str(value))
    if kind == "x":
        return base64.b64decode(str(value))
    if kind == "l":
        return [_decode(v) for v in value] if isinstance(value, list) else []
    if kind == "s":
        return str(value)
    return value


def _dump_props(props: Mapping[str, object]) -> str:
    return json.dumps({k: _encode(v) for k, v in props.items()}, ensure_ascii=False)


def _load_props(text: str) -> dict[str, object]:
    return {k: _decode(v) for k, v in json.loads(text).items()}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _key(path: str) -> str:
    return path.lower()


def normalize_path(path: str) -> str:
    """`/exchange/alice/Calendar/` → `/exchange/alice/Calendar`; rejects dot segments."""
    segments = [s for s in path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise NotFound(path)
    return "/" + "/".join(segments)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    parent TEXT NOT NULL,
    is_folder INTEGER NOT NULL,
    props TEXT NOT NULL,
    body BLOB,
    pid TEXT NOT NULL UNIQUE,
    change_number INTEGER NOT NULL,
    created TEXT NOT NULL,
    modified TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_parent ON items(parent);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    meta TEXT NOT NULL,
    props TEXT NOT NULL,
    body BLOB
);
CREATE INDEX IF NOT EXISTS queue_kind ON queue(kind, id);
"""


class Store:
    """Mailboxes and their items. Thread-safe: one lock serializes every operation."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        mailboxes: Iterable[Mailbox] | None = None,
        *,
        language: str = "en",
    ) -> None:
        if language not in FOLDER_NAMES:
            raise ValueError(f"unknown folder language {language!r}")
        self.language = language
        self.mailboxes: dict[str, Mailbox] = {
            m.alias.lower(): m for m in (mailboxes if mailboxes is not None else demo_mailboxes())
        }
        self.by_email: dict[str, Mailbox] = {m.email.lower(): m for m in self.mailboxes.values()}
        self._lock = threading.RLock()
        self._depth = 0
        self._after_commit: list[Callable[[], None]] = []
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        with self.transaction():
            for root in ("/exchange", "/public"):
                self._ensure_folder(root, {})
            for mailbox in self.mailboxes.values():
                self._provision(mailbox)

    # -- structure ---------------------------------------------------------------------------

    def folder_name(self, alias: str, role: str) -> str:
        mailbox = self.mailboxes[alias.lower()]
        names = FOLDER_NAMES.get(mailbox.language, FOLDER_NAMES[self.language])
        if mailbox.language == "en" and self.language != "en":
            names = FOLDER_NAMES[self.language]
        return names[role]

    def mailbox_path(self, alias: str) -> str:
        return f"/exchange/{self.mailboxes[alias.lower()].alias}"

    def folder_path(self, alias: str, role: str) -> str:
        return f"{self.mailbox_path(alias)}/{self.folder_name(alias, role)}"

    def submission_path(self, alias: str) -> str:
        return f"{self.mailbox_path(alias)}/{SUBMISSION_NAME}"

    def owner_of(self, path: str) -> Mailbox | None:
        """The mailbox a path lies in (`/exchange/<alias>/...`), or None (public, roots)."""
        segments = [s for s in path.split("/") if s]
        if len(segments) >= 2 and segments[0].lower() == "exchange":
            return self.mailboxes.get(segments[1].lower())
        return None

    def role_of(self, path: str) -> str | None:
        """Which well-known folder `path` is (or lies directly in), e.g. `calendar`."""
        owner = self.owner_of(path)
        if owner is None:
            return None
        folder = path if self.is_folder(path) else path.rsplit("/", 1)[0]
        for role in ROLES:
            if _key(self.folder_path(owner.alias, role)) == _key(folder):
                return role
        return None

    def is_submission(self, path: str) -> bool:
        owner = self.owner_of(path)
        return owner is not None and _key(normalize_path(path)) == _key(
            self.submission_path(owner.alias)
        )

    def _provision(self, mailbox: Mailbox) -> None:
        root = self.mailbox_path(mailbox.alias)
        self._ensure_folder(root, {"DAV:displayname": mailbox.display_name})
        for role in ROLES:
            self._ensure_folder(
                self.folder_path(mailbox.alias, role),
                {"http://schemas.microsoft.com/exchange/outlookfolderclass": FOLDER_CLASSES[role]},
            )

    def _ensure_folder(self, path: str, props: dict[str, object]) -> None:
        if self._row(path) is None:
            self._insert(path, True, props, None)

    # -- reading -----------------------------------------------------------------------------

    def get(self, path: str) -> Item | None:
        path = normalize_path(path)
        with self._lock:
            flat = self._resolve_flat(path)
            row = self._row(flat if flat is not None else path)
        return self._item(row) if row is not None else None

    def require(self, path: str) -> Item:
        item = self.get(path)
        if item is None:
            raise NotFound(path)
        return item

    def is_folder(self, path: str) -> bool:
        item = self.get(path)
        return item is not None and item.is_folder

    def children(self, path: str) -> list[Item]:
        path = normalize_path(path)
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM items WHERE parent = ? ORDER BY created, key", (_key(path),)
            ).fetchall()
        return [self._item(r) for r in rows]

    def descendants(self, path: str) -> list[Item]:
        path = normalize_path(path)
        prefix = _key(path).rstrip("/") + "/"
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM items WHERE substr(key, 1, ?) = ? ORDER BY key",
                (len(prefix), prefix),
            ).fetchall()
        return [self._item(r) for r in rows]

    def contenttag(self, folder: str) -> str:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM counters WHERE name = ?", ("tag:" + _key(folder),)
            ).fetchone()
        return str(row[0] if row else 1)

    def computed(self, item: Item) -> dict[str, object]:
        """The properties Exchange computes for an item (URLs as `PathRef`)."""
        owner = self.owner_of(item.path)
        props: dict[str, object] = {
            "DAV:displayname": item.props.get("DAV:displayname", item.name)
            if item.is_folder
            else item.name,
            "DAV:isfolder": item.is_folder,
            "DAV:iscollection": item.is_folder,
            "DAV:ishidden": False,
            "DAV:isreadonly": False,
            "DAV:getetag": item.etag,
            "DAV:creationdate": item.created,
            "DAV:getlastmodified": item.modified,
            "DAV:uid": item.pid,
            "http://schemas.microsoft.com/mapi/proptag/x10f3001f": item.name,
            _ARTICLE: item.props.get(_ARTICLE, item.change_number),
            "http://schemas.microsoft.com/repl/repl-uid": f"rid:{item.pid}",
        }
        if owner is not None:
            props["http://schemas.microsoft.com/exchange/permanenturl"] = PathRef(
                f"{self.mailbox_path(owner.alias)}/{FLAT_URL_SPACE}/{item.pid}"
            )
        if item.is_folder:
            children = self.children(item.path)
            subfolders = sum(1 for c in children if c.is_folder)
            props.update(
                {
                    "DAV:contentclass": item.props.get(
                        "DAV:contentclass", "urn:content-classes:folder"
                    ),
                    "DAV:hassubs": subfolders > 0,
                    "DAV:nosubs": False,
                    "DAV:objectcount": len(children) - subfolders,
                    "DAV:childcount": len(children),
                    "DAV:visiblecount": len(children) - subfolders,
                    "DAV:resourcetype": "collection",
                    "http://schemas.microsoft.com/repl/contenttag": self.contenttag(item.path),
                    "urn:schemas:httpmail:unreadcount": 0,
                }
            )
            if owner is not None and _key(item.path) == _key(self.mailbox_path(owner.alias)):
                for role in ROLES:
                    props["urn:schemas:httpmail:" + role] = PathRef(
                        self.folder_path(owner.alias, role)
                    )
                props["urn:schemas:httpmail:sendmsg"] = PathRef(
                    self.submission_path(owner.alias) + "/"
                )
                props["urn:schemas:httpmail:msgfolderroot"] = PathRef(item.path + "/")
        else:
            props["DAV:getcontentlength"] = len(item.body or b"")
            props["DAV:getcontenttype"] = "message/rfc822"
        return props

    def all_props(self, item: Item) -> dict[str, object]:
        """What PROPFIND and SEARCH may show: stored and computed properties, less the
        simulator's private bookkeeping (`PRIVATE_NAMESPACE`, e.g. a master's exceptions)."""
        shown = {k: v for k, v in item.props.items() if not k.startswith(PRIVATE_NAMESPACE)}
        return {**shown, **self.computed(item)}

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Serialize and make atomic everything inside (re-entrant).

        Callbacks registered with `after_commit` run once the outermost transaction has
        committed, outside the lock (dropped on rollback).
        """
        callbacks: list[Callable[[], None]] = []
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                    self._after_commit.clear()
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")
                callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` after the current outermost transaction commits (now if none)."""
        with self._lock:
            if self._depth > 0:
                if callback not in self._after_commit:
                    self._after_commit.append(callback)
                return
        callback()

    # -- the work queue --------------------------------------------------------------------------

    def enqueue(self, kind: str, meta: Mapping[str, Any], props: Mapping[str, object] | None = None,
                body: bytes | None = None) -> int:
        """Keep a piece of work (in the caller's transaction); returns its id."""
        with self.transaction():
            cursor = self._db.execute(
                "INSERT INTO queue (kind, meta, props, body) VALUES (?, ?, ?, ?)",
                (kind, json.dumps(dict(meta)), _dump_props(props or {}), body))
            return int(cursor.lastrowid or 0)

    def next_queued(self, kind: str) -> Queued | None:
        """The oldest work of `kind`, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM queue WHERE kind = ? ORDER BY id LIMIT 1", (kind,)).fetchone()
        if row is None:
            return None
        return Queued(int(row["id"]), str(row["kind"]), json.loads(row["meta"]),
                      _load_props(row["props"]), row["body"])

    def update_queued(self, work_id: int, meta: Mapping[str, Any]) -> None:
        with self.transaction():
            self._db.execute("UPDATE queue SET meta = ? WHERE id = ?",
                             (json.dumps(dict(meta)), work_id))

    def dequeue(self, work_id: int) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM queue WHERE id = ?", (work_id,))

    def write(
        self,
        path: str,
        set_props: Mapping[str, object] | None = None,
        remove: Iterable[str] = (),
        *,
        body: bytes | None = None,
        replace: bool = False,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> tuple[Item, bool]:
        """Create the item at `path` or update it; returns (item, created).

        `replace` drops the old properties and body first (PUT); otherwise properties merge
        (PROPPATCH). Conditions follow RFC 2616 as Exchange applies them (reference §2.2).
        """
        path = normalize_path(path)
        with self.transaction():
            path = self._resolve_flat(path) or path
            row = self._row(path)
            self._check_conditions(path, row, if_match, if_none_match)
            if row is None:
                parent = self._row(path.rsplit("/", 1)[0] or "/")
                if parent is None or not parent["is_folder"]:
                    raise Conflict(path)
                props = dict(set_props or {})
                for name in remove:
                    props.pop(name, None)
                self._insert(path, False, _commit_rules(props, created=True), body)
                return self.require(path), True
            if row["is_folder"]:
                props = _load_props(row["props"])
                props.update(set_props or {})
                for name in remove:
                    props.pop(name, None)
                self._update(row, props, None)
                return self.require(path), False
            old = _load_props(row["props"])
            # PUT replaces what the client wrote, not the item's identity in the store.
            props = {k: v for k, v in old.items() if k == _ARTICLE} if replace else old
            props.update(set_props or {})
            for name in remove:
                props.pop(name, None)
            new_body = body if (replace or body is not None) else row["body"]
            self._update(row, _commit_rules(props, created=False), new_body)
            return self.require(path), False

    def mkcol(self, path: str, props: Mapping[str, object] | None = None) -> Item:
        path = normalize_path(path)
        with self.transaction():
            if self._row(path) is not None:
                raise AlreadyExists(path)
            parent = self._row(path.rsplit("/", 1)[0] or "/")
            if parent is None or not parent["is_folder"]:
                raise Conflict(path)
            self._insert(path, True, dict(props or {}), None)
            return self.require(path)

    def delete(self, path: str, *, if_match: str | None = None) -> None:
        path = normalize_path(path)
        with self.transaction():
            path = self._resolve_flat(path) or path
            row = self._row(path)
            if row is None:
                raise NotFound(path)
            self._check_conditions(path, row, if_match, None)
            prefix = _key(path) + "/"
            self._db.execute(
                "DELETE FROM items WHERE key = ? OR substr(key, 1, ?) = ?",
                (_key(path), len(prefix), prefix),
            )
            self._bump(row["parent"])

    def copy(self, source: str, target: str, *, overwrite: bool = True) -> tuple[Item, bool]:
        return self._transfer(source, target, overwrite=overwrite, remove_source=False)

    def move(self, source: str, target: str, *, overwrite: bool = True) -> tuple[Item, bool]:
        return self._transfer(source, target, overwrite=overwrite, remove_source=True)

    def unique_name(self, folder: str, stem: str, extension: str = ".EML") -> str:
        """`stem.EML`, or `stem-2.EML`, `stem-3.EML`, ... when taken (reference §2.2).

        The last number handed out per (folder, name) is remembered, so the thousandth clash
        costs one look-up, not a thousand (a 5,000-recipient meeting logs 5,000 entries with
        one subject).
        """
        folder = normalize_path(folder)
        banned = '/\\?#%"<>*|:\r\n\t\0'
        clean = "".join(c for c in stem if c not in banned).strip(" .")[:80] or "Untitled"
        candidate = f"{clean}{extension}"
        with self.transaction():
            if self._row(f"{folder}/{candidate}") is None:
                return f"{folder}/{candidate}"
            hint = "name:" + _key(f"{folder}/{clean}{extension}")
            row = self._db.execute("SELECT value FROM counters WHERE name = ?",
                                   (hint,)).fetchone()
            number = max(int(row[0]) if row else 1, 1)
            while True:
                number += 1
                candidate = f"{clean}-{number}{extension}"
                if self._row(f"{folder}/{candidate}") is None:
                    break
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (hint, number))
        return f"{folder}/{candidate}"

    # -- internals ---------------------------------------------------------------------------

    def _transfer(
        self, source: str, target: str, *, overwrite: bool, remove_source: bool
    ) -> tuple[Item, bool]:
        source, target = normalize_path(source), normalize_path(target)
        with self.transaction():
            source = self._resolve_flat(source) or source
            row = self._row(source)
            if row is None:
                raise NotFound(source)
            parent = self._row(target.rsplit("/", 1)[0] or "/")
            if parent is None or not parent["is_folder"]:
                raise Conflict(target)
            existing = self._row(target)
            if existing is not None:
                if not overwrite or _key(source) == _key(target):
                    raise PreconditionFailed(target)
                self.delete(target)
            subtree = [row] + (self._subtree(source) if row["is_folder"] else [])
            for entry in subtree:
                new_path = target + entry["path"][len(source) :]
                self._insert(
                    new_path,
                    bool(entry["is_folder"]),
                    _load_props(entry["props"]),
                    entry["body"],
                    pid=entry["pid"] if remove_source else None,
                    keep_pid_check=remove_source,
                )
            if remove_source:
                # The moved item keeps its identity; _insert reused the pid, so drop the old rows
                # by key only.
                prefix = _key(source) + "/"
                self._db.execute(
                    "DELETE FROM items WHERE (key = ? OR substr(key, 1, ?) = ?) AND path != ?",
                    (_key(source), len(prefix), prefix, target),
                )
                self._bump(row["parent"])
            return self.require(target), existing is None

    def _subtree(self, path: str) -> list[sqlite3.Row]:
        prefix = _key(path) + "/"
        return self._db.execute(
            "SELECT * FROM items WHERE substr(key, 1, ?) = ? ORDER BY length(key)",
            (len(prefix), prefix),
        ).fetchall()

    def _check_conditions(
        self, path: str, row: sqlite3.Row | None, if_match: str | None, if_none_match: str | None
    ) -> None:
        etag = self._etag(row) if row is not None else None
        if if_none_match is not None:
            wanted = _entity_tags(if_none_match)
            if row is not None and ("*" in wanted or etag in wanted):
                raise PreconditionFailed(path)
        if if_match is not None:
            wanted = _entity_tags(if_match)
            if row is None or ("*" not in wanted and etag not in wanted):
                raise PreconditionFailed(path)

    def _resolve_flat(self, path: str) -> str | None:
        """`/exchange/alice/-FlatUrlSpace-/<pid>` → the item's current path."""
        segments = path.split("/")
        if len(segments) == 5 and segments[3] == FLAT_URL_SPACE:
            row = self._db.execute("SELECT path FROM items WHERE pid = ?", (segments[4],))
            found = row.fetchone()
            if found is not None and _key(found[0]).startswith(_key("/".join(segments[:3])) + "/"):
                return str(found[0])
        return None

    def _row(self, path: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM items WHERE key = ?", (_key(path),)
        ).fetchone()
        return row

    def _insert(
        self,
        path: str,
        is_folder: bool,
        props: dict[str, object],
        body: bytes | None,
        *,
        pid: str | None = None,
        keep_pid_check: bool = False,
    ) -> None:
        now = _now().isoformat()
        parent = path.rsplit("/", 1)[0] or "/"
        # PR_INTERNET_ARTICLE_NUMBER: store-wide and increasing, so that DavMail's
        # `ORDER BY x0e230003 DESC` lists the newest items first.
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('article', 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1"
        )
        (article,) = self._db.execute(
            "SELECT value FROM counters WHERE name = 'article'"
        ).fetchone()
        props = {**props, _ARTICLE: int(article)}
        if pid is not None and keep_pid_check:
            # A MOVE keeps the item's identity: free the pid from the source row first.
            self._db.execute("UPDATE items SET pid = ? WHERE pid = ?", (secrets.token_hex(16), pid))
        self._db.execute(
            "INSERT INTO items (key, path, parent, is_folder, props, body, pid, change_number,"
            " created, modified) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (
                _key(path),
                path,
                _key(parent),
                int(is_folder),
                _dump_props(props),
                body,
                pid or uuid_mod.uuid4().hex,
                now,
                now,
            ),
        )
        self._bump(_key(parent))

    def _update(self, row: sqlite3.Row, props: dict[str, object], body: bytes | None) -> None:
        self._db.execute(
            "UPDATE items SET props = ?, body = ?, change_number = change_number + 1,"
            " modified = ? WHERE key = ?",
            (_dump_props(props), body, _now().isoformat(), row["key"]),
        )
        self._bump(row["parent"])

    def _bump(self, folder_key: str) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, 2) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1",
            ("tag:" + folder_key,),
        )

    @staticmethod
    def _etag(row: sqlite3.Row) -> str:
        digest = hashlib.md5(row["pid"].encode(), usedforsecurity=False).hexdigest()
        return f'"{digest},{row["change_number"]}"'

    def _item(self, row: sqlite3.Row) -> Item:
        return Item(
            path=row["path"],
            is_folder=bool(row["is_folder"]),
            props=_load_props(row["props"]),
            body=row["body"],
            etag=self._etag(row),
            pid=row["pid"],
            created=datetime.fromisoformat(row["created"]),
            modified=datetime.fromisoformat(row["modified"]),
            change_number=row["change_number"],
        )


def _entity_tags(header: str) -> list[str]:
    """The tags of an If-Match/If-None-Match list. Exchange etags hold a comma
    (`"<md5>,<n>"`), so a comma inside quotes belongs to the tag, not the list."""
    return re.findall(r'(?:W/)?"[^"]*"|\*', header) or [header.strip()]


def _commit_rules(props: dict[str, object], *, created: bool) -> dict[str, object]:
    """What the Exchange store does on commit of a calendar item (reference §2, §4.1)."""
    klass = str(props.get("DAV:contentclass", ""))
    if klass in ("urn:content-classes:appointment", "urn:content-classes:calendarmessage"):
        if not props.get(_CAL + "uid"):
            # Server-assigned when the client does not supply one (reference §2.1).
            props[_CAL + "uid"] = "{" + str(uuid_mod.uuid4()).upper() + "}"
        current = props.get(_CAL + "instancetype")
        if current not in (2, 3):
            # Clients must not write it; the server sets it on commit (SDK instancetype Field).
            recurring = bool(props.get(_CAL + "rrule") or props.get(_CAL + "rdate"))
            props[_CAL + "instancetype"] = 1 if recurring else 0
        props.setdefault(_CAL + "sequence", 0)
        props.setdefault(_CAL + "busystatus", "BUSY")
    if created:
        props.setdefault("DAV:contentclass", "urn:content-classes:message")
        props.setdefault(
            "http://schemas.microsoft.com/exchange/outlookmessageclass",
            _default_message_class(str(props["DAV:contentclass"])),
        )
    return props


def _default_message_class(content_class: str) -> str:
    return {
        "urn:content-classes:appointment": "IPM.Appointment",
        "urn:content-classes:calendarmessage": "IPM.Schedule.Meeting.Request",
        "urn:content-classes:person": "IPM.Contact",
        "urn:content-classes:task": "IPM.Task",
    }.get(content_class, "IPM.Note")
