"""The schema, and how a file of any older calbridge is brought up to it.

Rule kept here: **the schema changes only through numbered migrations.** ``MIGRATIONS[n - 1]``
turns schema version ``n - 1`` into ``n``; `StatePartSchema._migrate` (run by `State.open`)
applies the missing ones in one write transaction and records each in ``schema_version``. A file
written by a newer calbridge is refused (`SchemaTooNew`) instead of being misread. Append only;
never edit a migration that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlite_utils import Database

from bridge.state.base import StateBase
from bridge.state.errors import SchemaTooNew
from bridge.state.rows import ITEM_KINDS, ITEM_STATUSES, JOURNAL_OPS

__all__ = ["CHANGES_SCHEMA", "MIGRATIONS", "Migration", "StatePartSchema"]

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
    db["items"].add_column("snapshot", str)  # type: ignore[union-attr]  # a table, never a view
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


def _m003_provisioned_users(db: Database) -> None:
    """People let in by ``caldav.allow`` without a ``[[user]]`` (bridge/state/users.py)."""
    db.execute(
        """CREATE TABLE provisioned_users (
            name TEXT PRIMARY KEY,
            mailbox TEXT NOT NULL,
            email TEXT NOT NULL,
            display_name TEXT,
            created_at TEXT NOT NULL
        )"""
    )


def _m004_pull(db: Database) -> None:
    """The pull direction (design §4b, bridge/state/pull.py): what each mailbox's pull remembers
    between passes, the events it wrote with the user's answer as Exchange knows it, the send
    journal of answers to invitations, the items it could not take, and the losing side of a
    conflict between a CalDAV edit and an OWA edit."""
    db.execute(
        """CREATE TABLE pull_folders (
            mailbox TEXT PRIMARY KEY,
            calendar_tag TEXT,
            inbox_tag TEXT,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE pull_seen (
            mailbox TEXT NOT NULL,
            folder TEXT NOT NULL CHECK (folder IN ('calendar', 'inbox')),
            url TEXT NOT NULL,
            etag TEXT NOT NULL,
            uid TEXT,
            PRIMARY KEY (mailbox, folder, url)
        )"""
    )
    db.execute(
        """CREATE TABLE pulled (
            mailbox TEXT NOT NULL,
            uid TEXT NOT NULL,
            exchange_url TEXT,
            sequence INTEGER NOT NULL DEFAULT 0,
            partstat TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (mailbox, uid)
        )"""
    )
    db.execute(
        """CREATE TABLE answer_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            mailbox TEXT NOT NULL,
            uid TEXT NOT NULL,
            step TEXT NOT NULL,
            target_url TEXT,
            marker TEXT,
            state TEXT NOT NULL DEFAULT 'started' CHECK (state IN ('started', 'done')),
            payload TEXT,
            created_at TEXT NOT NULL,
            completed_at TEXT,
            FOREIGN KEY (mailbox, uid) REFERENCES pulled (mailbox, uid) ON DELETE CASCADE
        )"""
    )
    db.execute("CREATE INDEX answer_outbox_item ON answer_outbox (mailbox, uid, id)")
    db.execute(
        """CREATE TABLE pull_problems (
            mailbox TEXT NOT NULL,
            uid TEXT NOT NULL,
            reason TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (mailbox, uid)
        )"""
    )
    db.execute(
        """CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            mailbox TEXT NOT NULL,
            uid TEXT NOT NULL,
            kept TEXT NOT NULL CHECK (kept IN ('caldav', 'exchange')),
            losing_text TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX conflicts_mailbox ON conflicts (mailbox, id)")


def _m005_pull_status(db: Database) -> None:
    """What `calbridge status` shows of the pull (bridge/state/pull.py): each mailbox's last
    pull pass (when, and why it failed if it did), and the rooms that declined a booking of
    the user's meeting (taken from the replies the pull records)."""
    db.execute("ALTER TABLE pull_folders ADD COLUMN pulled_at TEXT")
    db.execute("ALTER TABLE pull_folders ADD COLUMN pull_error TEXT")
    db.execute(
        """CREATE TABLE room_declines (
            mailbox TEXT NOT NULL,
            uid TEXT NOT NULL,
            room TEXT NOT NULL,
            summary TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (mailbox, uid, room)
        )"""
    )


MIGRATIONS: list[Migration] = [
    _m001_core, _m002_holds_and_snapshots, _m003_provisioned_users, _m004_pull,
    _m005_pull_status,
]
"""``MIGRATIONS[n - 1]`` upgrades schema version ``n - 1`` to ``n``. Append only; never edit a
migration that has shipped."""


class StatePartSchema(StateBase):
    """Reads the schema version and applies the missing migrations."""

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._read_version()

    def _read_version(self) -> int:
        if not self._select(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ):
            return 0
        (row,) = self._select("SELECT MAX(version) AS version FROM schema_version")
        return int(row["version"] or 0)

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
            self._execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            for number in range(found + 1, known + 1):
                migrations[number - 1](self._db)
                self._execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (number, self._now_ts(None)),
                )
