"""The Radicale storage plugin, against a real Radicale server, real sockets and real clients.

Rule checked: every write path a CalDAV client can reach (PUT, DELETE, MKCALENDAR, whole-calendar
PUT, MOVE) leaves exactly the documented rows in ``changes`` and one wake-up per write, and no
failure in the journal or the wake-up ever fails the client's request.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import caldav
import pytest
import requests
import vobject
from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import storage as radicale_storage

import radicale_plugin
from radicale_plugin import bridge_write, changes_db_path, set_wakeup
from radicale_plugin.recorder import SCHEMA, Change, ChangeRecorder
from tests.radicale_server import start_radicale

USERS = {"alice": "demo"}
AUTH = ("alice", "demo")

Row = tuple[str | None, str, str | None, str | None, str]


def vcalendar(*events: tuple[str, str]) -> str:
    """A VCALENDAR with one VEVENT per ``(uid, summary)``."""
    body = "".join(
        "BEGIN:VEVENT\r\n"
        f"UID:{uid}\r\n"
        "DTSTAMP:20250101T000000Z\r\n"
        f"DTSTART:2025010{index + 1}T100000Z\r\n"
        f"DTEND:2025010{index + 1}T110000Z\r\n"
        f"SUMMARY:{summary}\r\n"
        "END:VEVENT\r\n"
        for index, (uid, summary) in enumerate(events)
    )
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calbridge//test//EN\r\n"
    return f"{head}{body}END:VCALENDAR\r\n"


class Journal:
    """Reads the plugin's ``changes`` table; ``new()`` returns rows since the last call."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen = 0

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        if not Path(self.path).exists():
            return []
        connection = sqlite3.connect(self.path)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()

    def count(self) -> int:
        return len(self._query("SELECT id FROM changes"))

    def new(self) -> list[Row]:
        rows = self._query("SELECT id, user, collection, href, uid, op FROM changes ORDER BY id")
        fresh = [row for row in rows if row[0] > self._seen]
        if rows:
            self._seen = rows[-1][0]
        return [(user, collection, href, uid, op)
                for _, user, collection, href, uid, op in fresh]


@dataclass
class Server:
    """A running Radicale with the plugin, its journal, and one CalDAV client as alice."""

    base_url: str
    configuration: radicale_config.Configuration
    journal: Journal
    client: caldav.DAVClient

    def make_calendar(self, cal_id: str) -> caldav.Calendar:
        return self.client.principal().make_calendar(name=cal_id, cal_id=cal_id)


@contextmanager
def running(tmp_path: Path,
            extra_config: dict[str, dict[str, str]] | None = None) -> Iterator[Server]:
    with start_radicale(tmp_path, USERS, extra_config) as (base_url, configuration), \
            caldav.DAVClient(url=base_url + "/", username="alice", password="demo") as client:
        yield Server(base_url, configuration, Journal(changes_db_path(configuration)), client)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running(tmp_path) as started:
        yield started


def put_ics(url: str, body: str) -> requests.Response:
    return requests.put(url, data=body, auth=AUTH, timeout=10,
                        headers={"Content-Type": "text/calendar"})


# --- the recorder on its own ----------------------------------------------------------------


def test_recorder_creates_the_agreed_schema_in_wal_mode(tmp_path: Path) -> None:
    path = str(tmp_path / "bridge.sqlite")
    recorder = ChangeRecorder(path)
    recorder.record("alice", "alice/office", "a.ics", "a@x", "upload")

    connection = sqlite3.connect(path)
    (sql,) = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'changes'").fetchone()
    assert SCHEMA.replace("IF NOT EXISTS ", "") == sql
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    ((ts, *rest),) = connection.execute(
        "SELECT ts, user, collection, href, uid, op FROM changes").fetchall()
    connection.close()
    assert rest == ["alice", "alice/office", "a.ics", "a@x", "upload"]
    stamp = datetime.fromisoformat(ts)
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert recorder._connect().execute("PRAGMA busy_timeout").fetchone() == (5000,)
    recorder.close()


def test_recorder_batches_share_one_transaction_and_timestamp(tmp_path: Path) -> None:
    path = str(tmp_path / "bridge.sqlite")
    recorder = ChangeRecorder(path)
    assert recorder.record_many([]) == 0
    assert not Path(path).exists()  # nothing to write, nothing opened
    changes = [Change("alice", "alice/office", f"{n}.ics", f"{n}@x", "upload") for n in range(3)]
    assert recorder.record_many(changes) == 3
    connection = sqlite3.connect(path)
    stamps = {ts for (ts,) in connection.execute("SELECT ts FROM changes")}
    connection.close()
    assert len(stamps) == 1
    recorder.close()


def test_recorder_shares_one_connection_across_threads(tmp_path: Path) -> None:
    """Radicale serves each client connection on a new thread: a connection per thread would
    be opened (and its PRAGMAs run) again and again."""
    recorder = ChangeRecorder(str(tmp_path / "bridge.sqlite"))
    shared = recorder._connect()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for n in range(25):
                recorder.record("bob", "bob/cal", f"{n}.ics", None, "upload")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert recorder._connect() is shared
    recorder.close()
    assert Journal(recorder.path).count() == 150
    recorder.record("bob", "bob/cal", "after-close.ics", None, "upload")  # reconnects
    assert recorder._connect() is not shared
    recorder.close()
    assert Journal(recorder.path).count() == 151


# --- configuration --------------------------------------------------------------------------


def _configuration(tmp_path: Path, **storage: str) -> radicale_config.Configuration:
    configuration = radicale_config.load()
    configuration.update({"storage": {"type": "radicale_plugin",
                                      "filesystem_folder": str(tmp_path / "collections"),
                                      "_filesystem_fsync": "False", **storage}},
                         "test", privileged=True)
    return configuration


def test_options_are_declared_through_the_plugin_schema(tmp_path: Path) -> None:
    default = _configuration(tmp_path)
    assert changes_db_path(default) == str(tmp_path / "bridge.sqlite")
    storage = radicale_storage.load(default)
    assert isinstance(storage, radicale_plugin.Storage)
    # The out-of-process wake-up socket is gone (the service wakes in process): Radicale
    # refuses the old option by name instead of ignoring it.
    old = _configuration(tmp_path, calbridge_wake=str(tmp_path / "wake.sock"))
    with pytest.raises(RuntimeError, match="Invalid option 'calbridge_wake'"):
        radicale_storage.load(old)

    explicit = _configuration(tmp_path, calbridge_db=str(tmp_path / "x" / "j.sqlite"))
    assert changes_db_path(explicit) == str(tmp_path / "x" / "j.sqlite")

    # Once the schema is in place, a misspelt option fails at start-up, not at request time.
    with pytest.raises(RuntimeError, match="calbridge_dbb"):
        radicale_storage.load(_configuration(tmp_path, calbridge_dbb="x"))


# --- the write paths, through a real server -------------------------------------------------


def test_caldav_client_writes_are_journaled(server: Server) -> None:
    journal = server.journal
    calendar = server.make_calendar("office")
    assert journal.new()[-1] == ("alice", "alice/office", None, None, "create_collection")

    event = calendar.add_event(vcalendar(("ev1@example.org", "Planning")))
    href = "ev1@example.org.ics"
    assert journal.new() == [("alice", "alice/office", href, "ev1@example.org", "upload")]

    event.icalendar_component["summary"] = "Planning, moved"
    event.save()
    assert journal.new() == [("alice", "alice/office", href, "ev1@example.org", "upload")]

    event.delete()
    assert journal.new() == [("alice", "alice/office", href, "ev1@example.org", "delete")]

    calendar.delete()
    assert journal.new() == [("alice", "alice/office", None, None, "delete_collection")]


def test_whole_calendar_put_journals_every_item(server: Server) -> None:
    journal = server.journal
    server.client.principal()  # the first login creates the principal collection
    journal.new()
    url = server.base_url + "/alice/imported/"

    assert put_ics(url, vcalendar(("a@x", "A"), ("b@x", "B"), ("c@x", "C"))).status_code == 201
    rows = journal.new()
    assert rows[0] == ("alice", "alice/imported", None, None, "create_collection")
    assert sorted(rows[1:]) == [("alice", "alice/imported", f"{u}.ics", u, "upload")
                                for u in ("a@x", "b@x", "c@x")]

    # Replacing the calendar journals its new content; dropped items are left to reconcile.
    assert put_ics(url, vcalendar(("b@x", "B2"), ("d@x", "D"))).status_code == 201
    rows = journal.new()
    assert rows[0] == ("alice", "alice/imported", None, None, "create_collection")
    assert sorted(rows[1:]) == [("alice", "alice/imported", f"{u}.ics", u, "upload")
                                for u in ("b@x", "d@x")]


def test_move_journals_delete_of_source_and_upload_of_target(server: Server) -> None:
    work = server.make_calendar("office")
    server.make_calendar("home")
    work.add_event(vcalendar(("mv@x", "Move me")))
    server.journal.new()

    source = server.base_url + "/alice/office/mv@x.ics"
    target = server.base_url + "/alice/home/moved.ics"
    response = requests.request("MOVE", source, headers={"Destination": target},
                                auth=AUTH, timeout=10)
    assert response.status_code == 201
    assert server.journal.new() == [("alice", "alice/office", "mv@x.ics", "mv@x", "delete"),
                                    ("alice", "alice/home", "moved.ics", "mv@x", "upload")]
    assert requests.get(target, auth=AUTH, timeout=10).status_code == 200
    assert requests.get(source, auth=AUTH, timeout=10).status_code == 404


# --- failures never reach the client --------------------------------------------------------


def test_unwritable_journal_does_not_fail_the_request(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="radicale_plugin")
    db_dir = tmp_path / "journal-is-a-directory"
    db_dir.mkdir()
    with running(tmp_path, {"storage": {"calbridge_db": str(db_dir)}}) as server:
        calendar = server.make_calendar("office")
        url = server.base_url + "/alice/office/e.ics"
        assert put_ics(url, vcalendar(("e@x", "E"))).status_code == 201
        assert put_ics(url, vcalendar(("e@x", "E2"))).status_code == 204
        stored = requests.get(url, auth=AUTH, timeout=10)
        assert stored.status_code == 200 and "SUMMARY:E2" in stored.text
        assert [event.id for event in calendar.get_events()] == ["e@x"]
        assert requests.delete(url, auth=AUTH, timeout=10).status_code == 200

    failures = [r for r in caplog.records
                if r.name == "radicale_plugin" and r.levelno == logging.WARNING]
    assert len(failures) >= 4 and all(r.exc_info for r in failures)
    assert "could not journal" in failures[0].getMessage()


def test_damaged_journal_file_is_logged_once_without_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="radicale_plugin")
    damaged = tmp_path / "bridge.sqlite"
    damaged.write_bytes(b"this is no SQLite file" * 500)
    with running(tmp_path, {"storage": {"calbridge_db": str(damaged)}}) as server:
        server.make_calendar("office")
        for n in range(3):
            url = server.base_url + f"/alice/office/e{n}.ics"
            assert put_ics(url, vcalendar((f"e{n}@x", "E"))).status_code == 201
            assert requests.get(url, auth=AUTH, timeout=10).status_code == 200

    warnings = [r for r in caplog.records if r.name == "radicale_plugin"
                and r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert "the file is damaged (file is not a database)" in warnings[0].getMessage()


def test_failing_wakeup_callback_does_not_fail_the_request(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="radicale_plugin")

    def broken() -> None:
        raise RuntimeError("engine is gone")

    previous = set_wakeup(broken)
    try:
        server.make_calendar("office")
        put = put_ics(server.base_url + "/alice/office/w.ics", vcalendar(("w@x", "W")))
    finally:
        set_wakeup(previous)
    assert put.status_code == 201
    assert server.journal.new()[-1] == ("alice", "alice/office", "w.ics", "w@x", "upload")
    assert any("wake-up callback failed" in r.getMessage() and r.exc_info
               for r in caplog.records)


# --- wake-ups -------------------------------------------------------------------------------


def test_wakeup_callback_runs_once_per_write_after_its_rows(server: Server) -> None:
    base_url, journal = server.base_url, server.journal
    calls: list[int] = []
    previous = set_wakeup(lambda: calls.append(journal.count()))
    try:
        server.client.principal()  # principal creation is a write too
        calendar = server.make_calendar("office")
        server.make_calendar("home")
        event = calendar.add_event(vcalendar(("wk@x", "W")))
        event.icalendar_component["summary"] = "W2"
        event.save()
        requests.request("MOVE", base_url + "/alice/office/wk@x.ics", auth=AUTH, timeout=10,
                         headers={"Destination": base_url + "/alice/home/wk@x.ics"})
        put_ics(base_url + "/alice/bulk/", vcalendar(("1@x", "1"), ("2@x", "2")))
        requests.delete(base_url + "/alice/home/wk@x.ics", auth=AUTH, timeout=10)
    finally:
        set_wakeup(previous)
    # One call per write operation -- a MOVE's two rows and an import's three wake once --
    # each made after that operation's rows were committed.
    rows_per_write = [b - a for a, b in zip([0, *calls], calls, strict=False)]
    assert rows_per_write == [1, 1, 1, 1, 1, 2, 3, 1]
    assert calls[-1] == journal.count()


# --- the bridge's own writes ----------------------------------------------------------------


def _item(collection_path: str, uid: str, summary: str) -> radicale_item.Item:
    item = radicale_item.Item(collection_path=collection_path,
                              vobject_item=vobject.readOne(vcalendar((uid, summary))))
    item.prepare()
    return item


def test_bridge_writes_are_marked_and_do_not_wake(server: Server) -> None:
    server.make_calendar("office")
    server.journal.new()
    calls: list[None] = []
    previous = set_wakeup(lambda: calls.append(None))
    storage = radicale_storage.load(server.configuration)  # in-process, as the bridge does
    try:
        with storage.acquire_lock("w", "alice"):
            (collection,) = storage.discover("/alice/office/")
            assert isinstance(collection, radicale_plugin.Collection)
            with bridge_write():
                collection.upload("from-owa.ics", _item("alice/office", "owa@x", "From OWA"))
                with bridge_write():  # nesting keeps the mark
                    collection.upload("from-owa.ics", _item("alice/office", "owa@x", "Accepted"))
                collection.upload("gone.ics", _item("alice/office", "gone@x", "Gone"))
                collection.delete("gone.ics")

                # The mark is per thread: another thread's write is a user change.
                worker = threading.Thread(target=collection.upload, args=(
                    "user.ics", _item("alice/office", "user@x", "Mine")))
                worker.start()
                worker.join()
            # Outside the block the same thread writes user changes again.
            collection.delete("user.ics")
    finally:
        set_wakeup(previous)

    owa = ("alice", "alice/office", "from-owa.ics", "owa@x")
    gone = ("alice", "alice/office", "gone.ics", "gone@x")
    user = ("alice", "alice/office", "user.ics", "user@x")
    assert server.journal.new() == [(*owa, "bridge-upload"), (*owa, "bridge-upload"),
                                    (*gone, "bridge-upload"), (*gone, "bridge-delete"),
                                    (*user, "upload"), (*user, "delete")]
    assert len(calls) == 2  # the two user writes only
    # CalDAV clients see the bridge's write like any other event.
    stored = requests.get(server.base_url + "/alice/office/from-owa.ics", auth=AUTH, timeout=10)
    assert stored.status_code == 200 and "SUMMARY:Accepted" in stored.text
