"""The bridge's memory: one SQLite file (WAL) reached only through `State`.

Rules kept here:

- **This module is the only one that speaks SQL.** Everything else uses `State`'s methods and
  the frozen rows they return (`ItemRow`, `JournalEntry`, `ChangeRow`, `RunRow`, `HoldRow`).
- **The schema changes only through numbered migrations.** `MIGRATIONS[n - 1]` turns schema
  version ``n - 1`` into ``n``; `State.open` applies the missing ones in one write transaction and
  records each in ``schema_version``. A file written by a newer calbridge is refused
  (`SchemaTooNew`) instead of being misread.
- **Every write is one ``BEGIN IMMEDIATE`` transaction.** It takes SQLite's write lock before it
  reads, so two writers (threads with their own `State`, or two processes) queue on the busy
  timeout instead of failing with "database is locked" when a read lock cannot be upgraded.
  WAL lets readers run beside the one writer. `synchronous=FULL`: the outbox is written before
  a message goes out, and must survive a power loss, not only a crash.
- **Threads.** A `State` holds one connection and a re-entrant lock; every public method holds
  the lock for its whole transaction, so one `State` may be shared by any number of threads
  (calls are serialised; they are short). Independent `State` objects on the same file, in one
  process or several, coordinate through SQLite itself as described above. `":memory:"` works
  for tests (one private database per `State`, no WAL).
- **Timestamps** are ISO-8601 UTC strings with microseconds (``2025-01-31T12:00:00.123456+00:00``,
  the radicale_plugin's format), fixed width so they compare as text; the API takes and returns
  aware datetimes and refuses naive ones.
- **No secrets.** There is no column for a password. Error texts pass through `scrub()` before
  they are stored, even though callers are expected to have removed secrets already.

Item status (one row per mailbox and UID, Radicale side beside Exchange side, design §3/§4b):

- ``pending``  -- the engine started an action; its steps are in ``outbox``; outcome unknown.
- ``synced``   -- Exchange holds the content whose hash is ``sent_hash`` (``snapshot``).
- ``failed``   -- the last action failed; retried at ``next_attempt_at`` (exponential backoff).
- ``cancelled``-- removed from Exchange on purpose (cancelled meeting, deleted appointment).
- ``skipped``  -- never sent because the event cannot be expressed or cannot be read. An item
  that *was* sent keeps its status when a later version is skipped (Exchange still holds the
  last good version); only ``skip_reason`` records the problem.
"""

from __future__ import annotations

import enum
import json
import random
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlite_utils import Database

from bridge.meeting import Attendee, AttendeeKind, AttendeeRole, BusyStatus, Meeting, Sensitivity

__all__ = [
    "CHANGES_SCHEMA",
    "CHANGE_OPS",
    "ITEM_KINDS",
    "ITEM_STATUSES",
    "JOURNAL_OPS",
    "MIGRATIONS",
    "ChangeOp",
    "ChangeRow",
    "HoldRow",
    "ItemKind",
    "ItemRow",
    "ItemStatus",
    "JournalConflict",
    "JournalEntry",
    "JournalOp",
    "MailboxStatus",
    "Migration",
    "RunRow",
    "SchemaTooNew",
    "State",
    "StateError",
    "UnknownJournalEntry",
    "backoff_delay",
    "decode_meeting",
    "encode_meeting",
    "scrub",
]

# -- vocabulary ------------------------------------------------------------------------------

ItemKind = Literal["meeting", "appointment", "foreign"]
"""``meeting``: owned, with invitees; ``appointment``: no invitees; ``foreign``: organised by
someone else (kept as an appointment, never a message)."""
ItemStatus = Literal["synced", "pending", "failed", "cancelled", "skipped"]
JournalOp = Literal["create", "update", "cancel", "delete"]
JournalState = Literal["started", "done"]
ChangeOp = Literal["upload", "delete", "create_collection", "delete_collection", "move"]

ITEM_KINDS: tuple[str, ...] = get_args(ItemKind)
ITEM_STATUSES: tuple[str, ...] = get_args(ItemStatus)
JOURNAL_OPS: tuple[str, ...] = get_args(JournalOp)
CHANGE_OPS: tuple[str, ...] = get_args(ChangeOp)
BRIDGE_OP_PREFIX = "bridge-"  # radicale_plugin marks the bridge's own writes this way (§4b)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
DEFAULT_BUSY_TIMEOUT = 10.0  # seconds


# -- errors ----------------------------------------------------------------------------------


class StateError(RuntimeError):
    """The state database cannot do what was asked (the message says why)."""


class SchemaTooNew(StateError):
    """The file was written by a newer calbridge; this one does not know its schema."""

    def __init__(self, path: str, found: int, known: int) -> None:
        super().__init__(
            f"state database {path} has schema version {found}, but this calbridge knows "
            f"versions up to {known}: upgrade calbridge or point it at another state file"
        )
        self.path = path
        self.found = found
        self.known = known


class UnknownJournalEntry(StateError, LookupError):
    """`journal_done` was given an id that is not in the outbox."""


class JournalConflict(StateError):
    """A new operation was journaled while another one on the same item is unfinished."""


# -- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRow:
    """One event of one mailbox: what Radicale had, what Exchange got, and how it went."""

    mailbox: str
    uid: str
    # Radicale side
    collection: str | None = None
    href: str | None = None
    radicale_etag: str | None = None
    content_hash: str | None = None  # Meeting.content_hash() of the version last seen
    # Exchange side (exchange_hash/etag feed the future pull direction, design §4b)
    exchange_url: str | None = None
    exchange_etag: str | None = None
    exchange_uid: str | None = None
    exchange_hash: str | None = None
    # what the attendees / the appointment last received
    sent_sequence: int | None = None
    sent_hash: str | None = None
    snapshot: Meeting | None = None  # the Meeting behind sent_hash (a Cancel needs its attendees)
    kind: ItemKind = "appointment"
    status: ItemStatus = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    skip_reason: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.mailbox or not self.uid:
            raise ValueError("an item needs a mailbox and a UID")
        if self.kind not in ITEM_KINDS:
            raise ValueError(f"unknown item kind {self.kind!r}")
        if self.status not in ITEM_STATUSES:
            raise ValueError(f"unknown item status {self.status!r}")
        if self.snapshot is not None and self.snapshot.uid != self.uid:
            raise ValueError("the snapshot belongs to another UID")


@dataclass(frozen=True)
class JournalEntry:
    """One intended Exchange side effect (design §4): written before the request, done after."""

    id: int
    mailbox: str
    uid: str
    op: JournalOp
    step: str
    target_url: str | None
    marker: str | None
    state: JournalState
    payload: Any = field(hash=False)  # decoded JSON, or None
    created_at: datetime
    completed_at: datetime | None

    @property
    def done(self) -> bool:
        return self.state == "done"


@dataclass(frozen=True)
class ChangeRow:
    """One write the Radicale plugin saw (a hint: the reconcile pass is the truth)."""

    id: int
    ts: datetime
    user: str | None
    collection: str
    href: str | None
    uid: str | None
    op: str  # a ChangeOp, or a ChangeOp prefixed with "bridge-" for the bridge's own writes


@dataclass(frozen=True)
class RunRow:
    id: int
    mailbox: str | None
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] = field(hash=False)
    errors: tuple[str, ...]


@dataclass(frozen=True)
class HoldRow:
    """Cancellations held by the mass-cancellation guard (lifted by `--allow-mass-cancel`)."""

    mailbox: str
    count: int
    reason: str
    uids: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MailboxStatus:
    """One line of `calbridge status`. The counts are exclusive: an item counts once."""

    mailbox: str
    synced: int = 0
    pending: int = 0
    failed: int = 0
    skipped: int = 0  # never sent, or sent but the current version cannot be (skip_reason set)
    cancelled: int = 0
    last_run: RunRow | None = None
    last_errors: tuple[str, ...] = ()  # "uid: error", most recent first
    hold: HoldRow | None = None


# -- helpers that need no database -----------------------------------------------------------

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # whole header lines: Authorization / Proxy-Authorization / Cookie / Set-Cookie
    (re.compile(r"(?im)\b((?:proxy-)?authorization|(?:set-)?cookie)(\s*:\s*)[^\r\n]*"), r"\1\2***"),
    # key=value and key: value pairs, quoted or not (form bodies, URLs, JSON, dict reprs)
    (
        re.compile(
            r"""(?i)(["']?\b(?:password|passwd|pwd|cadata|sessionid)\b["']?\s*[=:]\s*)"""
            r"""("[^"]*"|'[^']*'|[^\s&;,'"}]+)"""
        ),
        r"\1***",
    ),
    # credentials of an auth scheme outside a header line (e.g. quoted in an exception)
    (re.compile(r"(?i)\b(basic|bearer|ntlm|negotiate)\s+[A-Za-z0-9+/=._~-]{8,}"), r"\1 ***"),
    # user:password@ in URLs
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^@\s/]*@"), r"\1:***@"),
)


def scrub(text: str) -> str:
    """Remove anything that looks like a credential from `text` (idempotent).

    Covers ``password=…`` (and passwd/pwd), ``cadata=…`` and ``sessionid=…`` (Exchange forms
    login cookies), ``Authorization:``/``Cookie:``/``Set-Cookie:`` header lines, bare
    ``Basic``/``NTLM``/``Negotiate``/``Bearer`` tokens and ``user:password@`` in URLs.
    """
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def backoff_delay(attempts: int) -> timedelta:
    """Wait before retry number `attempts` (1 after the first failure): 30 s, 60 s, … ≤ 1 h.

    Equals ``min(2**k * 30 s, 1 h)`` with ``k = attempts - 1`` failures before this one.
    """
    if attempts < 1:
        raise ValueError("attempts counts failures and starts at 1")
    if attempts > 12:  # 2**12 * 30 s is far beyond the cap; avoid huge integers
        return BACKOFF_CAP
    return min(BACKOFF_BASE * (1 << (attempts - 1)), BACKOFF_CAP)


def _ts(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: calbridge stores aware UTC instants")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _dt_req(text: str) -> datetime:
    value = _dt(text)
    assert value is not None
    return value


# -- Meeting <-> JSON (the item snapshot) ----------------------------------------------------


def encode_meeting(meeting: Meeting) -> str:
    """The `Meeting` as JSON: instants keep their zone name (or offset), dates stay dates."""
    data = {f.name: _encode_value(getattr(meeting, f.name)) for f in fields(Meeting)}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode_meeting(text: str) -> Meeting:
    """Inverse of `encode_meeting`; keys a newer calbridge wrote and this one lacks are ignored."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a meeting snapshot must be a JSON object")
    kwargs: dict[str, Any] = {}
    for f in fields(Meeting):
        if f.name not in data:
            continue
        raw = data[f.name]
        if f.name == "attendees":
            value: Any = tuple(_decode_attendee(a) for a in raw)
        elif f.name == "busy_status":
            value = BusyStatus(raw)
        elif f.name == "sensitivity":
            value = Sensitivity(raw)
        else:
            value = _decode_value(raw)
            if isinstance(value, list):
                value = tuple(value)
        kwargs[f.name] = value
    return Meeting(**kwargs)


def _encode_value(value: object) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat(), "$tz": _zone_name(value)}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Attendee):
        return {f.name: _encode_value(getattr(value, f.name)) for f in fields(Attendee)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_encode_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode_value(v) for k, v in value.items()}
    return value


def _zone_name(value: datetime) -> str | None:
    tz = value.tzinfo
    if isinstance(tz, ZoneInfo):
        return tz.key
    if tz is UTC:
        return "UTC"
    return None  # another tzinfo: the offset in the ISO text keeps the instant


def _decode_value(raw: Any) -> Any:
    if isinstance(raw, dict):
        if "$datetime" in raw:
            value = datetime.fromisoformat(raw["$datetime"])
            zone = raw.get("$tz")
            if zone == "UTC":
                return value.astimezone(UTC)
            if zone:
                try:
                    return value.astimezone(ZoneInfo(zone))
                except (ZoneInfoNotFoundError, ValueError):
                    return value
            return value
        if "$date" in raw:
            return date.fromisoformat(raw["$date"])
        return {k: _decode_value(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_decode_value(v) for v in raw]
    return raw


def _decode_attendee(raw: Mapping[str, Any]) -> Attendee:
    known = {f.name for f in fields(Attendee)}
    kwargs = {k: v for k, v in raw.items() if k in known}
    if "role" in kwargs:
        kwargs["role"] = AttendeeRole(kwargs["role"])
    if "kind" in kwargs:
        kwargs["kind"] = AttendeeKind(kwargs["kind"])
    return Attendee(**kwargs)


# -- migrations ------------------------------------------------------------------------------

Migration = Callable[[Database], None]

CHANGES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS changes (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "ts TEXT NOT NULL, user TEXT, collection TEXT NOT NULL, href TEXT, uid TEXT, "
    "op TEXT NOT NULL)"
)
"""Verbatim `radicale_plugin.recorder.SCHEMA`: the plugin may create the table first (it writes
with its own connection), so both sides use the same text with ``IF NOT EXISTS``.
AUTOINCREMENT keeps ids growing after acknowledged rows are deleted."""


def _in(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _m001_core(db: Database) -> None:
    """Design §3: items (two-sided), outbox (send journal), changes (plugin), runs."""
    db.execute(
        f"""CREATE TABLE items (
            mailbox TEXT NOT NULL,
            uid TEXT NOT NULL,
            collection TEXT,
            href TEXT,
            radicale_etag TEXT,
            content_hash TEXT,
            exchange_url TEXT,
            exchange_etag TEXT,
            exchange_uid TEXT,
            exchange_hash TEXT,
            sent_sequence INTEGER,
            sent_hash TEXT,
            kind TEXT NOT NULL DEFAULT 'appointment' CHECK (kind IN ({_in(ITEM_KINDS)})),
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ({_in(ITEM_STATUSES)})),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT,
            skip_reason TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (mailbox, uid)
        )"""
    )
    db.execute("CREATE INDEX items_retry ON items (status, next_attempt_at)")
    db.execute(
        f"""CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            mailbox TEXT NOT NULL,
            uid TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ({_in(JOURNAL_OPS)})),
            step TEXT NOT NULL,
            target_url TEXT,
            marker TEXT,
            state TEXT NOT NULL DEFAULT 'started' CHECK (state IN ('started', 'done')),
            payload TEXT,
            created_at TEXT NOT NULL,
            completed_at TEXT,
            FOREIGN KEY (mailbox, uid) REFERENCES items (mailbox, uid) ON DELETE CASCADE
        )"""
    )
    db.execute("CREATE INDEX outbox_item ON outbox (mailbox, uid, id)")
    db.execute(CHANGES_SCHEMA)
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            mailbox TEXT,
            counts TEXT,
            errors TEXT
        )"""
    )
    db.execute("CREATE INDEX runs_mailbox ON runs (mailbox, id)")


def _m002_holds_and_snapshots(db: Database) -> None:
    """Design §4: held mass cancellations, and the last sent Meeting (a Cancel needs it)."""
    db["items"].add_column("snapshot", str)  # type: ignore[union-attr]
    # Plain DDL: sqlite-utils 3.x table helpers commit on their own (`with conn:`), which would
    # end the migration transaction half-way; `Database.execute` does not, in 3.x or 4.x.
    db.execute(
        """CREATE TABLE holds (
            mailbox TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            reason TEXT NOT NULL,
            uids TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )


MIGRATIONS: list[Migration] = [_m001_core, _m002_holds_and_snapshots]
"""``MIGRATIONS[n - 1]`` upgrades schema version ``n - 1`` to ``n``. Append only; never edit a
migration that has shipped."""

_ITEM_COLUMNS = (
    "collection",
    "href",
    "radicale_etag",
    "content_hash",
    "exchange_url",
    "exchange_etag",
    "exchange_uid",
    "exchange_hash",
    "sent_sequence",
    "sent_hash",
    "snapshot",
    "kind",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "skip_reason",
)


def _system_clock() -> datetime:
    return datetime.now(UTC)


# -- the store -------------------------------------------------------------------------------


class State:
    """The bridge's SQLite state. Open with `State.open(path)`; close with `close()`."""

    def __init__(
        self, db: Database, path: str, clock: Callable[[], datetime] = _system_clock
    ) -> None:
        """Use `State.open`; this only wraps an already configured connection."""
        self._db = db
        self._path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._savepoints = 0

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> State:
        """Open (creating the folder and file if needed) and migrate to the newest schema.

        Args:
            path: the SQLite file, or ``":memory:"`` for a private in-memory database.
            busy_timeout: seconds a write waits for another connection's write to finish.
            clock: returns the current aware UTC time (tests pass a fake one).
            migrations: the migration list (tests pass a prefix to build older files).

        Raises:
            SchemaTooNew: the file has a schema version beyond ``len(migrations)``.
        """
        name = str(path)
        memory = name == ":memory:"
        if not memory:
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            name, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            db = Database(conn, execute_plugins=False)
            if not memory:
                db.enable_wal()
            conn.execute("PRAGMA synchronous = FULL")
            state = cls(db, name, clock or _system_clock)
            state._migrate(migrations)
        except BaseException:
            conn.close()
            raise
        return state

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> str:
        return self._path

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._read_version()

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return str(self._db.journal_mode)

    def _read_version(self) -> int:
        if not self._db["schema_version"].exists():
            return 0
        row = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        known = len(migrations)
        found = self._read_version()
        if found > known:
            raise SchemaTooNew(self._path, found, known)
        if found == known:
            return
        with self.transaction():
            found = self._read_version()  # another process may have migrated meanwhile
            if found > known:
                raise SchemaTooNew(self._path, found, known)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            for number in range(found + 1, known + 1):
                migrations[number - 1](self._db)
                self._db.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (number, self._now_ts(None)),
                )

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[State]:
        """Group calls into one atomic write (``BEGIN IMMEDIATE``); nested use is a savepoint.

        Example: the engine records the outcome and clears the journal together::

            with state.transaction():
                state.mark_synced(...)
                state.clear_journal(mailbox, uid)
        """
        with self._lock:
            conn = self._db.conn
            if conn.in_transaction:
                self._savepoints += 1
                name = f"calbridge_{self._savepoints}"
                conn.execute(f"SAVEPOINT {name}")
                try:
                    yield self
                except BaseException:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                    raise
                conn.execute(f"RELEASE {name}")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _select(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._db.query(sql, params))

    def _now_ts(self, now: datetime | None) -> str:
        return _ts(now if now is not None else self._clock())

    # -- items -------------------------------------------------------------------------------

    def get_item(self, mailbox: str, uid: str) -> ItemRow | None:
        found = self._select("SELECT * FROM items WHERE mailbox = ? AND uid = ?", (mailbox, uid))
        return _item(found[0]) if found else None

    def items(self, mailbox: str) -> list[ItemRow]:
        """All rows of one mailbox, by UID (the planner's input beside the calendar)."""
        rows = self._select("SELECT * FROM items WHERE mailbox = ? ORDER BY uid", (mailbox,))
        return [_item(r) for r in rows]

    def upsert_item(self, row: ItemRow, *, now: datetime | None = None) -> ItemRow:
        """Write every field of `row` (insert or update); ``created_at`` of a stored row stays.

        An update keeps the row's outbox entries (it is an ``ON CONFLICT DO UPDATE``, never a
        delete and re-insert).
        """
        values = {name: getattr(row, name) for name in _ITEM_COLUMNS}
        values["snapshot"] = encode_meeting(row.snapshot) if row.snapshot is not None else None
        values["next_attempt_at"] = (
            _ts(row.next_attempt_at) if row.next_attempt_at is not None else None
        )
        if values["last_error"] is not None:
            values["last_error"] = scrub(values["last_error"])
        created = _ts(row.created_at) if row.created_at is not None else None
        with self.transaction():
            self._merge_item(row.mailbox, row.uid, values, now=now, created_at=created)
            stored = self.get_item(row.mailbox, row.uid)
        assert stored is not None
        return stored

    def mark_synced(
        self,
        mailbox: str,
        uid: str,
        *,
        meeting: Meeting,
        kind: ItemKind,
        sequence: int,
        collection: str | None = None,
        href: str | None = None,
        radicale_etag: str | None = None,
        exchange_url: str | None = None,
        exchange_etag: str | None = None,
        exchange_uid: str | None = None,
        exchange_hash: str | None = None,
        now: datetime | None = None,
    ) -> ItemRow:
        """Exchange now holds `meeting`: record it as sent and clear failure/skip bookkeeping.

        Optional location fields left as None keep their stored values.
        """
        if kind not in ITEM_KINDS:
            raise ValueError(f"unknown item kind {kind!r}")
        digest = meeting.content_hash()
        values: dict[str, Any] = {
            "collection": collection,
            "href": href,
            "radicale_etag": radicale_etag,
            "exchange_url": exchange_url,
            "exchange_etag": exchange_etag,
            "exchange_uid": exchange_uid,
            "exchange_hash": exchange_hash,
            "content_hash": digest,
            "sent_hash": digest,
            "sent_sequence": sequence,
            "snapshot": encode_meeting(meeting),
            "kind": kind,
            "status": "synced",
            "attempts": 0,
            "next_attempt_at": None,
            "last_error": None,
            "skip_reason": None,
        }
        keep = {"collection", "href", "radicale_etag", "exchange_url", "exchange_etag",
                "exchange_uid", "exchange_hash"}
        return self._write_item(mailbox, uid, values, keep_if_none=keep, now=now)

    def mark_cancelled(
        self,
        mailbox: str,
        uid: str,
        *,
        sequence: int | None = None,
        now: datetime | None = None,
    ) -> ItemRow:
        """The item is gone from Exchange on purpose (Cancel or Delete done). The row stays, so a
        re-created event gets a higher SEQUENCE and a held/finished cancel is never repeated."""
        values: dict[str, Any] = {
            "status": "cancelled",
            "sent_sequence": sequence,
            "attempts": 0,
            "next_attempt_at": None,
            "last_error": None,
            "skip_reason": None,
        }
        return self._write_item(mailbox, uid, values, keep_if_none={"sent_sequence"}, now=now)

    def mark_failed(
        self,
        mailbox: str,
        uid: str,
        error: str,
        now: datetime,
        *,
        jitter: float = 0.0,
        rng: random.Random | None = None,
    ) -> ItemRow:
        """Count a failure and schedule the retry: ``now + min(2**k * 30 s, 1 h)``.

        ``k`` is the number of failures before this one (see `backoff_delay`). With ``jitter``
        (e.g. 0.1) the delay grows by a random share in ``[0, jitter)``, never shrinks, so a
        retry never comes earlier than the plain schedule.
        """
        if jitter < 0:
            raise ValueError("jitter must not be negative")
        with self.transaction():
            found = self._select(
                "SELECT attempts FROM items WHERE mailbox = ? AND uid = ?", (mailbox, uid)
            )
            attempts = (int(found[0]["attempts"]) if found else 0) + 1
            delay = backoff_delay(attempts)
            if jitter:
                delay *= 1 + (rng or random).random() * jitter
            values: dict[str, Any] = {
                "status": "failed",
                "attempts": attempts,
                "next_attempt_at": _ts(now + delay),
                "last_error": scrub(error),
            }
            return self._write_item(mailbox, uid, values, now=now)

    def mark_skipped(
        self,
        mailbox: str,
        uid: str,
        reason: str,
        *,
        error: str | None = None,
        content_hash: str | None = None,
        radicale_etag: str | None = None,
        collection: str | None = None,
        href: str | None = None,
        kind: ItemKind | None = None,
        now: datetime | None = None,
    ) -> ItemRow:
        """Record that the calendar's version is not sent (a `Skip` or `Reject` from the plan).

        Stores ``skip_reason = reason`` and the Radicale side exactly as given (the planner
        compares them to skip the same content only once). The status becomes ``skipped`` only
        for an item never sent; one that Exchange holds keeps its status and snapshot.
        """
        with self.transaction():
            found = self._select(
                "SELECT sent_hash FROM items WHERE mailbox = ? AND uid = ?", (mailbox, uid)
            )
            values: dict[str, Any] = {
                "skip_reason": scrub(reason),
                "content_hash": content_hash,
                "radicale_etag": radicale_etag,
                "collection": collection,
                "href": href,
                "last_error": scrub(error) if error is not None else None,
            }
            keep = {"collection", "href", "last_error"}
            if not found or found[0]["sent_hash"] is None:
                values["status"] = "skipped"
                values["attempts"] = 0
                values["next_attempt_at"] = None
            if kind is not None:
                values["kind"] = kind
            return self._write_item(mailbox, uid, values, keep_if_none=keep, now=now)

    def note_seen(
        self,
        mailbox: str,
        uid: str,
        *,
        collection: str | None,
        href: str | None,
        radicale_etag: str | None,
        content_hash: str | None,
        now: datetime | None = None,
    ) -> bool:
        """Refresh the Radicale side of a stored item whose event reads fine and is expressible
        (e.g. after a DTSTAMP-only edit, for which the plan has no action) and drop a stale
        ``skip_reason``. Does nothing for an unknown item; returns whether a row was updated."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE items SET collection = ?, href = ?, radicale_etag = ?, content_hash = ?, "
                "skip_reason = NULL, updated_at = ? WHERE mailbox = ? AND uid = ?",
                (collection, href, radicale_etag, content_hash, self._now_ts(now), mailbox, uid),
            )
            return cursor.rowcount > 0

    def due_for_retry(self, now: datetime) -> list[ItemRow]:
        """Failed items (all mailboxes) whose retry time has come, the longest waiting first."""
        rows = self._select(
            "SELECT * FROM items WHERE status = 'failed' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "ORDER BY next_attempt_at, mailbox, uid",
            (_ts(now),),
        )
        return [_item(r) for r in rows]

    def reset_retry(self, mailbox: str, uid: str | None = None) -> int:
        """`calbridge retry`: make failed items due now, with a fresh backoff. Returns the count."""
        sql = (
            "UPDATE items SET attempts = 0, next_attempt_at = NULL "
            "WHERE status = 'failed' AND mailbox = ?"
        )
        params: tuple[str, ...] = (mailbox,)
        if uid is not None:
            sql += " AND uid = ?"
            params = (mailbox, uid)
        with self._lock:
            return self._db.execute(sql, params).rowcount

    def _write_item(
        self,
        mailbox: str,
        uid: str,
        values: dict[str, Any],
        *,
        keep_if_none: Iterable[str] = (),
        now: datetime | None,
    ) -> ItemRow:
        with self.transaction():
            self._merge_item(mailbox, uid, values, keep_if_none=keep_if_none, now=now)
            stored = self.get_item(mailbox, uid)
        assert stored is not None
        return stored

    def _merge_item(
        self,
        mailbox: str,
        uid: str,
        values: Mapping[str, Any],
        *,
        keep_if_none: Iterable[str] = (),
        now: datetime | None,
        created_at: str | None = None,
    ) -> None:
        """INSERT the row, or UPDATE just the columns in `values` (one statement, no REPLACE).

        Columns named in `keep_if_none` keep the stored value when the new one is None.
        """
        unknown = set(values) - set(_ITEM_COLUMNS)
        if unknown:
            raise ValueError(f"not an item column: {sorted(unknown)}")
        keep = set(keep_if_none)
        stamp = self._now_ts(now)
        columns = ["mailbox", "uid", *values, "created_at", "updated_at"]
        params = [mailbox, uid, *values.values(), created_at or stamp, stamp]
        updates = [
            f"{c} = COALESCE(excluded.{c}, items.{c})" if c in keep else f"{c} = excluded.{c}"
            for c in values
        ]
        updates.append("updated_at = excluded.updated_at")
        # Column names come from _ITEM_COLUMNS (checked above), values are bound parameters.
        sql = (
            f"INSERT INTO items ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT (mailbox, uid) DO UPDATE SET {', '.join(updates)}"
        )
        self._db.execute(sql, params)

    # -- outbox (the send journal) -----------------------------------------------------------

    def journal_start(
        self,
        mailbox: str,
        uid: str,
        op: JournalOp,
        step: str,
        *,
        target_url: str | None = None,
        marker: str | None = None,
        payload: Any = None,
        now: datetime | None = None,
    ) -> int:
        """Journal one Exchange side effect *before* making it; returns the entry id.

        The item row must exist (write it as ``pending`` first: foreign key). All entries of an
        item belong to one operation until `clear_journal`; starting another ``op`` while one is
        unfinished raises `JournalConflict` (finish or abandon the old one first).
        """
        if op not in JOURNAL_OPS:
            raise ValueError(f"unknown journal op {op!r}")
        if not step:
            raise ValueError("a journal entry needs a step")
        with self.transaction():
            ops = {
                r["op"]
                for r in self._select(
                    "SELECT DISTINCT op FROM outbox WHERE mailbox = ? AND uid = ?", (mailbox, uid)
                )
            }
            if ops - {op}:
                raise JournalConflict(
                    f"{mailbox}/{uid} has an unfinished {sorted(ops)[0]} journal; "
                    f"finish or clear it before journaling a {op}"
                )
            try:
                cursor = self._db.execute(
                    "INSERT INTO outbox (mailbox, uid, op, step, target_url, marker, state, "
                    "payload, created_at) VALUES (?, ?, ?, ?, ?, ?, 'started', ?, ?)",
                    (
                        mailbox,
                        uid,
                        op,
                        step,
                        target_url,
                        marker,
                        json.dumps(payload) if payload is not None else None,
                        self._now_ts(now),
                    ),
                )
            except sqlite3.IntegrityError as error:
                raise StateError(
                    f"cannot journal {op}/{step} for {mailbox}/{uid}: no item row "
                    "(upsert it as pending first)"
                ) from error
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def journal_done(
        self, entry_id: int, marker: str | None = None, *, now: datetime | None = None
    ) -> JournalEntry:
        """The side effect happened: mark the entry done (and store the marker read back)."""
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE outbox SET state = 'done', marker = COALESCE(?, marker), "
                "completed_at = COALESCE(completed_at, ?) WHERE id = ?",
                (marker, self._now_ts(now), entry_id),
            )
            if cursor.rowcount == 0:
                raise UnknownJournalEntry(f"no outbox entry {entry_id}")
            (row,) = self._select("SELECT * FROM outbox WHERE id = ?", (entry_id,))
        return _journal(row)

    def open_journal(self, mailbox: str, uid: str) -> list[JournalEntry]:
        """The unfinished operation on this item, its steps in the order they were journaled
        (done and started ones); empty when there is none."""
        rows = self._select(
            "SELECT * FROM outbox WHERE mailbox = ? AND uid = ? ORDER BY id", (mailbox, uid)
        )
        return [_journal(r) for r in rows]

    def open_journals(self, mailbox: str | None = None) -> list[tuple[str, str]]:
        """(mailbox, uid) of every item with an unfinished operation (to resume after a crash)."""
        sql = "SELECT DISTINCT mailbox, uid FROM outbox"
        params: tuple[str, ...] = ()
        if mailbox is not None:
            sql += " WHERE mailbox = ?"
            params = (mailbox,)
        return [(r["mailbox"], r["uid"]) for r in self._select(sql + " ORDER BY 1, 2", params)]

    def clear_journal(self, mailbox: str, uid: str) -> int:
        """The operation is finished (or abandoned): forget its steps. Returns how many."""
        with self._lock:
            return self._db.execute(
                "DELETE FROM outbox WHERE mailbox = ? AND uid = ?", (mailbox, uid)
            ).rowcount

    # -- changes (written by the Radicale plugin) --------------------------------------------

    def record_change(
        self,
        user: str | None,
        collection: str,
        op: str,
        *,
        href: str | None = None,
        uid: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Append one change: a single INSERT in its own transaction, no reads, no checks of the
        schema. `op` is a `ChangeOp`, optionally prefixed with ``bridge-`` (the bridge's own
        write, §4b). Returns the change id."""
        if op.removeprefix(BRIDGE_OP_PREFIX) not in CHANGE_OPS:
            raise ValueError(f"unknown change op {op!r}")
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO changes (ts, user, collection, href, uid, op) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (self._now_ts(now), user, collection, href, uid, op),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def pending_changes(
        self, since_id: int = 0, *, user: str | None = None, include_bridge: bool = False
    ) -> list[ChangeRow]:
        """Unacknowledged changes with ``id > since_id``, oldest first; the bridge's own writes
        only with `include_bridge`."""
        sql = "SELECT * FROM changes WHERE id > ?"
        params: list[Any] = [since_id]
        if user is not None:
            sql += " AND user = ?"
            params.append(user)
        if not include_bridge:
            sql += " AND op NOT LIKE 'bridge-%'"
        return [_change(r) for r in self._select(sql + " ORDER BY id", params)]

    def dirty_mailboxes(self) -> set[str]:
        """Users (collection owners) with unacknowledged user changes."""
        rows = self._select(
            "SELECT DISTINCT user FROM changes WHERE user IS NOT NULL AND op NOT LIKE 'bridge-%'"
        )
        return {r["user"] for r in rows}

    def ack_changes(self, upto_id: int, *, user: str | None = None) -> int:
        """Delete changes with ``id <= upto_id`` (of one user, or all): the journal is a queue of
        hints, not a history. Changes recorded after the caller read `upto_id` stay."""
        sql = "DELETE FROM changes WHERE id <= ?"
        params: tuple[Any, ...] = (upto_id,)
        if user is not None:
            sql += " AND user = ?"
            params = (upto_id, user)
        with self._lock:
            return self._db.execute(sql, params).rowcount

    # -- runs --------------------------------------------------------------------------------

    def start_run(self, mailbox: str | None, *, now: datetime | None = None) -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO runs (started_at, mailbox) VALUES (?, ?)",
                (self._now_ts(now), mailbox),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(
        self,
        run_id: int,
        *,
        counts: Mapping[str, int],
        errors: Sequence[str] = (),
        now: datetime | None = None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE runs SET finished_at = ?, counts = ?, errors = ? WHERE id = ?",
                (
                    self._now_ts(now),
                    json.dumps(dict(counts), sort_keys=True),
                    json.dumps([scrub(e) for e in errors]),
                    run_id,
                ),
            )

    def last_run(self, mailbox: str | None) -> RunRow | None:
        if mailbox is None:
            found = self._select(
                "SELECT * FROM runs WHERE mailbox IS NULL ORDER BY id DESC LIMIT 1"
            )
        else:
            found = self._select(
                "SELECT * FROM runs WHERE mailbox = ? ORDER BY id DESC LIMIT 1", (mailbox,)
            )
        return _run(found[0]) if found else None

    # -- holds (mass-cancellation guard) -----------------------------------------------------

    def set_hold(
        self, mailbox: str, uids: Iterable[str], reason: str, *, now: datetime | None = None
    ) -> HoldRow:
        """Record (or refresh) the held cancellations of a mailbox; ``created_at`` stays."""
        held = tuple(sorted(set(uids)))
        stamp = self._now_ts(now)
        with self.transaction():
            self._db.execute(
                "INSERT INTO holds (mailbox, count, reason, uids, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (mailbox) DO UPDATE SET "
                "count = excluded.count, reason = excluded.reason, uids = excluded.uids, "
                "updated_at = excluded.updated_at",
                (mailbox, len(held), reason, json.dumps(held), stamp, stamp),
            )
            hold = self.get_hold(mailbox)
        assert hold is not None
        return hold

    def get_hold(self, mailbox: str) -> HoldRow | None:
        found = self._select("SELECT * FROM holds WHERE mailbox = ?", (mailbox,))
        return _hold(found[0]) if found else None

    def holds(self) -> list[HoldRow]:
        return [_hold(r) for r in self._select("SELECT * FROM holds ORDER BY mailbox")]

    def clear_hold(self, mailbox: str) -> bool:
        """Confirmation (`--allow-mass-cancel`) or a calendar back to normal lifts the hold."""
        with self._lock:
            return self._db.execute("DELETE FROM holds WHERE mailbox = ?", (mailbox,)).rowcount > 0

    # -- status ------------------------------------------------------------------------------

    def skip_reasons(self, mailbox: str, *, limit: int = 20) -> list[tuple[str, str]]:
        """(uid, reason) of the items whose current version is not sent, newest first."""
        rows = self._select(
            "SELECT uid, skip_reason FROM items WHERE mailbox = ? AND skip_reason IS NOT NULL "
            "ORDER BY updated_at DESC LIMIT ?",
            (mailbox, limit),
        )
        return [(r["uid"], r["skip_reason"]) for r in rows]

    def status_summary(self, *, max_errors: int = 5) -> list[MailboxStatus]:
        """Per mailbox (any with items, runs or a hold): counts, last run, errors, hold."""
        with self._lock:
            counts = {
                r["mailbox"]: r
                for r in self._select(
                    """SELECT mailbox,
                        SUM(status = 'synced' AND skip_reason IS NULL) AS synced,
                        SUM(status = 'pending') AS pending,
                        SUM(status = 'failed') AS failed,
                        SUM(status = 'skipped'
                            OR (status = 'synced' AND skip_reason IS NOT NULL)) AS skipped,
                        SUM(status = 'cancelled') AS cancelled
                    FROM items GROUP BY mailbox"""
                )
            }
            names = set(counts)
            names |= {
                r["mailbox"]
                for r in self._select("SELECT DISTINCT mailbox FROM runs WHERE mailbox IS NOT NULL")
            }
            holds = {h.mailbox: h for h in self.holds()}
            names |= set(holds)
            result = []
            for name in sorted(names):
                c = counts.get(name, {})
                errors = self._select(
                    "SELECT uid, last_error FROM items WHERE mailbox = ? "
                    "AND last_error IS NOT NULL ORDER BY updated_at DESC, uid LIMIT ?",
                    (name, max_errors),
                )
                result.append(
                    MailboxStatus(
                        mailbox=name,
                        synced=int(c.get("synced") or 0),
                        pending=int(c.get("pending") or 0),
                        failed=int(c.get("failed") or 0),
                        skipped=int(c.get("skipped") or 0),
                        cancelled=int(c.get("cancelled") or 0),
                        last_run=self.last_run(name),
                        last_errors=tuple(f"{e['uid']}: {e['last_error']}" for e in errors),
                        hold=holds.get(name),
                    )
                )
            return result


# -- row decoding ----------------------------------------------------------------------------


def _item(r: Mapping[str, Any]) -> ItemRow:
    snapshot = None
    if r.get("snapshot"):
        try:
            snapshot = decode_meeting(r["snapshot"])
        except (ValueError, KeyError, TypeError) as error:
            raise StateError(
                f"the stored snapshot of {r['mailbox']}/{r['uid']} cannot be read: {error}"
            ) from error
    return ItemRow(
        mailbox=r["mailbox"],
        uid=r["uid"],
        collection=r["collection"],
        href=r["href"],
        radicale_etag=r["radicale_etag"],
        content_hash=r["content_hash"],
        exchange_url=r["exchange_url"],
        exchange_etag=r["exchange_etag"],
        exchange_uid=r["exchange_uid"],
        exchange_hash=r["exchange_hash"],
        sent_sequence=r["sent_sequence"],
        sent_hash=r["sent_hash"],
        snapshot=snapshot,
        kind=r["kind"],
        status=r["status"],
        attempts=r["attempts"],
        next_attempt_at=_dt(r["next_attempt_at"]),
        last_error=r["last_error"],
        skip_reason=r["skip_reason"],
        created_at=_dt(r["created_at"]),
        updated_at=_dt(r["updated_at"]),
    )


def _journal(r: Mapping[str, Any]) -> JournalEntry:
    return JournalEntry(
        id=r["id"],
        mailbox=r["mailbox"],
        uid=r["uid"],
        op=r["op"],
        step=r["step"],
        target_url=r["target_url"],
        marker=r["marker"],
        state=r["state"],
        payload=json.loads(r["payload"]) if r["payload"] is not None else None,
        created_at=_dt_req(r["created_at"]),
        completed_at=_dt(r["completed_at"]),
    )


def _change(r: Mapping[str, Any]) -> ChangeRow:
    return ChangeRow(
        id=r["id"],
        ts=_dt_req(r["ts"]),
        user=r["user"],
        collection=r["collection"],
        href=r["href"],
        uid=r["uid"],
        op=r["op"],
    )


def _run(r: Mapping[str, Any]) -> RunRow:
    return RunRow(
        id=r["id"],
        mailbox=r["mailbox"],
        started_at=_dt_req(r["started_at"]),
        finished_at=_dt(r["finished_at"]),
        counts=json.loads(r["counts"]) if r["counts"] else {},
        errors=tuple(json.loads(r["errors"])) if r["errors"] else (),
    )


def _hold(r: Mapping[str, Any]) -> HoldRow:
    return HoldRow(
        mailbox=r["mailbox"],
        count=r["count"],
        reason=r["reason"],
        uids=tuple(json.loads(r["uids"])),
        created_at=_dt_req(r["created_at"]),
        updated_at=_dt_req(r["updated_at"]),
    )
