"""`bridge.state`: schema and migrations, the outbox, retries, status, concurrency, damage."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bridge.backoff import backoff_delay
from bridge.meeting import (
    Attendee,
    AttendeeKind,
    Meeting,
)
from bridge.state import (
    CHANGES_SCHEMA,
    MIGRATIONS,
    ItemRow,
    JournalConflict,
    SchemaTooNew,
    State,
    StateDamaged,
    StateError,
    UnknownJournalEntry,
)
from tests.damage import DAMAGES, fill, garble_page, page_of

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def meeting(uid: str = "m1@x", **changes: object) -> Meeting:
    values: dict[str, object] = {
        "uid": uid,
        "start": datetime(2025, 3, 3, 10, 0, tzinfo=BERLIN),
        "end": datetime(2025, 3, 3, 11, 0, tzinfo=BERLIN),
        "summary": "Planning",
        "organizer": "alice@example.org",
        "attendees": (Attendee("bob@example.org"), Attendee("room1@example.org",
                                                            kind=AttendeeKind.ROOM)),
    }
    values.update(changes)
    return Meeting(**values)  # type: ignore[arg-type]


@pytest.fixture
def state(tmp_path: Path) -> State:
    opened = State.open(tmp_path / "bridge.sqlite", clock=lambda: T0)
    yield opened
    opened.close()


# -- opening and migrations ------------------------------------------------------------------


def test_open_creates_folder_wal_foreign_keys_and_newest_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "bridge.sqlite"
    with State.open(path, busy_timeout=2.5) as state:
        assert path.exists()
        assert state.schema_version == len(MIGRATIONS) == 5
        assert state.journal_mode == "wal"
    raw = sqlite3.connect(path)
    versions = [v for (v,) in raw.execute("SELECT version FROM schema_version ORDER BY 1")]
    tables = {n for (n,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    raw.close()
    assert versions == [1, 2, 3, 4, 5]
    assert {
        "items", "outbox", "changes", "runs", "holds", "provisioned_users", "schema_version",
        "pull_folders", "pull_seen", "pulled", "answer_outbox", "pull_problems", "conflicts",
    } <= tables


def test_connection_pragmas(state: State) -> None:
    conn = state._db.conn
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (10000,)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_memory_database_for_tests() -> None:
    with State.open(":memory:") as state:
        assert state.schema_version == len(MIGRATIONS)
        assert state.items("alice") == []


def test_upgrades_a_version_1_file_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with State.open(path, migrations=MIGRATIONS[:1], clock=lambda: T0) as old:
        assert old.schema_version == 1
        old._db.execute(
            "INSERT INTO items (mailbox, uid, sent_hash, kind, status, created_at, updated_at) "
            "VALUES ('alice', 'u1', 'h1', 'meeting', 'synced', ?, ?)",
            (T0.isoformat(), T0.isoformat()),
        )
        assert "snapshot" not in old._db["items"].columns_dict
        assert not old._db["holds"].exists()

    with State.open(path, clock=lambda: T0) as new:
        assert new.schema_version == len(MIGRATIONS)
        row = new.get_item("alice", "u1")
        assert row is not None and row.sent_hash == "h1" and row.snapshot is None
        new.mark_synced("alice", "u1", meeting=meeting("u1"), kind="meeting", sequence=0)
        assert new.get_item("alice", "u1").snapshot == meeting("u1")  # type: ignore[union-attr]
        assert new.set_hold("alice", ["u1"], "test").count == 1


def test_a_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    State.open(path).close()
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO schema_version VALUES (7, '2030-01-01T00:00:00+00:00')")
    raw.commit()
    raw.close()
    with pytest.raises(SchemaTooNew) as caught:
        State.open(path)
    assert caught.value.found == 7 and caught.value.known == len(MIGRATIONS)
    assert "schema version 7" in str(caught.value) and "upgrade calbridge" in str(caught.value)
    with pytest.raises(SchemaTooNew):  # an older calbridge refuses a version-2 file too
        State.open(path, migrations=MIGRATIONS[:1])


def test_changes_table_is_the_plugins_and_either_side_may_create_it(tmp_path: Path) -> None:
    from radicale_plugin.recorder import SCHEMA, ChangeRecorder

    assert CHANGES_SCHEMA == SCHEMA
    path = tmp_path / "bridge.sqlite"
    recorder = ChangeRecorder(str(path))  # the plugin writes first, into an unmigrated file
    recorder.record("alice", "alice/calendar", "a.ics", "a@x", "upload")
    recorder.close()
    with State.open(path) as state:
        assert state.schema_version == len(MIGRATIONS)
        (change,) = state.pending_changes()
        assert (change.user, change.href, change.uid, change.op) == (
            "alice", "a.ics", "a@x", "upload")
        assert change.ts.tzinfo is not None


def test_naive_datetimes_are_refused(state: State) -> None:
    with pytest.raises(ValueError, match="naive"):
        state.mark_failed("alice", "u1", "x", datetime(2025, 1, 1))


# -- items -----------------------------------------------------------------------------------


def test_upsert_item_round_trip_keeps_created_at(state: State) -> None:
    row = ItemRow(
        mailbox="alice", uid="u1", collection="alice/calendar", href="u1.ics",
        radicale_etag='"e1"', content_hash="c1", exchange_url="http://x/u1.EML",
        exchange_etag='"x1"', exchange_uid="u1", exchange_hash="xh", sent_sequence=3,
        sent_hash="c1", snapshot=meeting("u1"), kind="meeting", status="synced",
        last_error="Cookie: sessionid=abc",
    )
    stored = state.upsert_item(row, now=T0)
    assert stored.created_at == stored.updated_at == T0
    assert stored.last_error == "Cookie: ***"
    later = T0 + timedelta(hours=1)
    again = state.upsert_item(ItemRow(mailbox="alice", uid="u1", status="pending"), now=later)
    assert again.created_at == T0 and again.updated_at == later
    assert again.status == "pending" and again.snapshot is None
    assert [r.uid for r in state.items("alice")] == ["u1"]
    assert state.items("bob") == []
    assert state.get_item("alice", "nope") is None


def test_item_row_validates_its_vocabulary() -> None:
    with pytest.raises(ValueError):
        ItemRow(mailbox="a", uid="u", status="done")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ItemRow(mailbox="a", uid="u", kind="party")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ItemRow(mailbox="a", uid="u", snapshot=meeting("other"))


def test_mark_synced_then_cancelled_keeps_history(state: State) -> None:
    m = meeting("u1", sequence=2)
    row = state.mark_synced(
        "alice", "u1", meeting=m, kind="meeting", sequence=2, href="u1.ics",
        exchange_url="http://x/u1.EML",
    )
    assert (row.status, row.sent_hash, row.content_hash) == ("synced", m.content_hash(),
                                                            m.content_hash())
    assert row.snapshot == m and row.sent_sequence == 2
    # optional fields left out keep their values
    row = state.mark_synced("alice", "u1", meeting=m, kind="meeting", sequence=3)
    assert row.href == "u1.ics" and row.exchange_url == "http://x/u1.EML"
    row = state.mark_cancelled("alice", "u1", sequence=4)
    assert (row.status, row.sent_sequence, row.snapshot) == ("cancelled", 4, m)
    assert state.mark_cancelled("alice", "u1").sent_sequence == 4


def test_mark_skipped_never_hides_what_exchange_holds(state: State) -> None:
    fresh = state.mark_skipped("alice", "new", "overrides", content_hash="c", radicale_etag="e")
    assert (fresh.status, fresh.skip_reason, fresh.content_hash) == ("skipped", "overrides", "c")

    m = meeting("u1")
    state.mark_synced("alice", "u1", meeting=m, kind="meeting", sequence=0)
    row = state.mark_skipped("alice", "u1", "cannot read the event: bad DTSTART",
                             error="bad DTSTART", radicale_etag="e2")
    assert row.status == "synced" and row.sent_hash == m.content_hash() and row.snapshot == m
    assert row.skip_reason.startswith("cannot read") and row.last_error == "bad DTSTART"
    assert state.note_seen("alice", "u1", collection="alice/calendar", href="u1.ics",
                           radicale_etag="e3", content_hash=m.content_hash())
    row = state.get_item("alice", "u1")
    assert row is not None and row.skip_reason is None and row.radicale_etag == "e3"
    assert not state.note_seen("alice", "ghost", collection=None, href=None, radicale_etag=None,
                               content_hash=None)


# -- backoff ---------------------------------------------------------------------------------


def test_mark_failed_schedules_retries_and_reset_makes_them_due(state: State) -> None:
    now = T0
    expected = [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    for n, seconds in enumerate(expected, start=1):
        row = state.mark_failed("alice", "u1", f"503 try {n}", now)
        assert row.status == "failed" and row.attempts == n
        assert row.next_attempt_at == now + timedelta(seconds=seconds)
        now = row.next_attempt_at  # type: ignore[assignment]
    state.mark_failed("alice", "u2", "x", T0)
    state.mark_failed("bob", "u3", "x", T0)
    assert state.reset_retry("alice", "u1") == 1
    row = state.get_item("alice", "u1")
    assert row is not None and row.attempts == 0 and row.next_attempt_at is None
    assert state.get_item("alice", "u2").next_attempt_at is not None  # type: ignore[union-attr]
    assert state.reset_retry("alice") == 2  # u1 and u2, not bob's
    due = {r.uid for r in state.items("alice") if r.next_attempt_at is None}
    assert due == {"u1", "u2"}
    assert state.get_item("bob", "u3").next_attempt_at is not None  # type: ignore[union-attr]
    # a success clears the bookkeeping
    row = state.mark_synced("alice", "u1", meeting=meeting("u1"), kind="meeting", sequence=0)
    assert (row.attempts, row.next_attempt_at, row.last_error) == (0, None, None)


def test_jitter_only_ever_delays(state: State) -> None:
    rng = random.Random(7)
    for n in range(1, 6):
        row = state.mark_failed("alice", "u1", "x", T0, jitter=0.2, rng=rng)
        assert row.next_attempt_at is not None
        delay = row.next_attempt_at - T0
        assert backoff_delay(n) <= delay < backoff_delay(n) * 1.2


# -- outbox ----------------------------------------------------------------------------------


def test_journal_round_trip(state: State) -> None:
    assert state.open_journal("alice", "u1") == []
    with pytest.raises(StateError, match="pending first"):
        state.journal_start("alice", "u1", "create", "appointment_written")
    state.upsert_item(ItemRow(mailbox="alice", uid="u1", kind="meeting", status="pending"))

    first = state.journal_start("alice", "u1", "create", "appointment_written",
                                target_url="http://x/Calendar/u1.EML", payload={"seq": 0},
                                now=T0)
    state.journal_done(first, now=T0 + timedelta(seconds=1))
    second = state.journal_start("alice", "u1", "create", "draft_written",
                                 target_url="http://x/Drafts/u1.EML", now=T0)
    entries = state.open_journal("alice", "u1")
    assert [(e.id, e.step, e.state) for e in entries] == [
        (first, "appointment_written", "done"), (second, "draft_written", "started")]
    assert entries[0].payload == {"seq": 0} and entries[0].done
    assert entries[0].completed_at == T0 + timedelta(seconds=1)
    assert entries[1].payload is None and entries[1].completed_at is None
    assert state.open_journals() == [("alice", "u1")]
    assert state.open_journals("bob") == []

    # another operation may not start while this one is open
    with pytest.raises(JournalConflict):
        state.journal_start("alice", "u1", "cancel", "cancel_draft")
    # rewriting the item (an upsert, never a REPLACE) keeps its journal
    state.upsert_item(ItemRow(mailbox="alice", uid="u1", kind="meeting", status="pending"))
    assert len(state.open_journal("alice", "u1")) == 2

    done = state.journal_done(second, marker="sent")
    assert done.state == "done" and done.marker == "sent"
    assert state.journal_done(second).marker == "sent"  # idempotent; the marker stays
    with pytest.raises(UnknownJournalEntry):
        state.journal_done(9999)
    with pytest.raises(ValueError):
        state.journal_start("alice", "u1", "explode", "x")  # type: ignore[arg-type]

    with state.transaction():  # outcome and journal clean-up together
        state.mark_synced("alice", "u1", meeting=meeting("u1"), kind="meeting", sequence=0)
        assert state.clear_journal("alice", "u1") == 2
    assert state.open_journal("alice", "u1") == []
    state.journal_start("alice", "u1", "cancel", "cancel_draft")  # now allowed


def test_transaction_rolls_back_as_a_whole(state: State) -> None:
    with pytest.raises(RuntimeError), state.transaction():
        state.mark_failed("alice", "u1", "x", T0)
        with state.transaction():  # nested: a savepoint
            state.mark_failed("alice", "u2", "x", T0)
        raise RuntimeError("boom")
    assert state.items("alice") == []


# -- changes, runs, holds, status ------------------------------------------------------------


def test_changes_queue(state: State) -> None:
    a1 = state.record_change("alice", "alice/calendar", "upload", href="1.ics", uid="1@x")
    b1 = state.record_change("bob", "bob/calendar", "delete", href="2.ics", uid="2@x")
    state.record_change("carol", "carol/calendar", "bridge-upload", href="3.ics")
    state.record_change(None, "x", "create_collection")
    with pytest.raises(ValueError):
        state.record_change("alice", "alice/calendar", "rename")
    assert {c.user for c in state.pending_changes()} == {"alice", "bob", None}
    assert [c.id for c in state.pending_changes()] == [a1, b1, a1 + 3]
    assert [c.id for c in state.pending_changes(a1)] == [b1, a1 + 3]
    assert [c.op for c in state.pending_changes(user="carol", include_bridge=True)] == [
        "bridge-upload"]
    later = state.record_change("alice", "alice/calendar", "upload", href="4.ics")
    assert state.ack_changes(b1, user="alice") == 1  # alice up to b1; the later one stays
    assert [c.id for c in state.pending_changes(user="alice")] == [later]
    assert state.ack_changes(later) == 4
    assert state.pending_changes(include_bridge=True) == []
    # ids keep growing after deletions (AUTOINCREMENT), so since_id stays meaningful
    assert state.record_change("alice", "alice/calendar", "upload") > later


def test_status_summary(state: State) -> None:
    m = meeting("s1")
    state.mark_synced("alice", "s1", meeting=m, kind="meeting", sequence=0)
    state.mark_synced("alice", "s2", meeting=meeting("s2"), kind="meeting", sequence=0)
    state.mark_skipped("alice", "s2", "cannot read the event: bad", error="bad")
    state.mark_skipped("alice", "k1", "overridden occurrences")
    state.upsert_item(ItemRow(mailbox="alice", uid="p1", status="pending"))
    state.mark_failed("alice", "f1", "PROPPATCH 503 Authorization: Basic YWxpY2U6czNjcjN0", T0)
    state.mark_synced("alice", "c1", meeting=meeting("c1"), kind="meeting", sequence=0)
    state.mark_cancelled("alice", "c1")
    state.mark_failed("bob", "f2", "timeout", T0)
    run = state.start_run("alice", now=T0)
    state.finish_run(run, counts={"create": 2, "failed": 1}, errors=["f1: password=x"],
                     now=T0 + timedelta(seconds=3))
    state.set_hold("carol", ["x", "y", "x"], "3 of 4 meetings vanished", now=T0)

    summary = {s.mailbox: s for s in state.status_summary()}
    assert list(summary) == ["alice", "bob", "carol"]
    alice = summary["alice"]
    assert (alice.synced, alice.pending, alice.failed, alice.skipped, alice.cancelled) == (
        1, 1, 1, 2, 1)
    assert alice.last_run is not None and alice.last_run.counts == {"create": 2, "failed": 1}
    assert alice.last_run.errors == ("f1: password=***",)
    assert alice.last_run.finished_at == T0 + timedelta(seconds=3)
    assert "f1: PROPPATCH 503 Authorization: ***" in alice.last_errors
    assert "s2: bad" in alice.last_errors
    assert alice.hold is None
    assert summary["bob"].failed == 1 and summary["bob"].last_run is None
    carol = summary["carol"]
    assert carol.hold is not None and carol.hold.uids == ("x", "y") and carol.hold.count == 2
    assert (carol.synced, carol.failed) == (0, 0)


def test_holds_refresh_and_clear(state: State) -> None:
    first = state.set_hold("alice", ["a", "b", "c"], "r1", now=T0)
    later = T0 + timedelta(minutes=5)
    second = state.set_hold("alice", ["a", "b"], "r2", now=later)
    assert second.created_at == first.created_at == T0 and second.updated_at == later
    assert (second.count, second.reason) == (2, "r2")
    assert [h.mailbox for h in state.holds()] == ["alice"]
    assert state.clear_hold("alice") and not state.clear_hold("alice")
    assert state.get_hold("alice") is None


# -- concurrency -----------------------------------------------------------------------------


def _hammer(path: Path, mailbox: str, count: int, start: threading.Barrier,
            errors: list[BaseException]) -> None:
    try:
        with State.open(path) as state:
            start.wait()
            for n in range(count):
                uid = f"{mailbox}-{n}"
                state.upsert_item(ItemRow(mailbox=mailbox, uid=uid, status="pending"))
                entry = state.journal_start(mailbox, uid, "create", "appointment_written")
                state.journal_done(entry, marker="ok")
                with state.transaction():
                    state.mark_synced(mailbox, uid, meeting=meeting(uid), kind="meeting",
                                      sequence=0)
                    state.clear_journal(mailbox, uid)
                state.record_change(mailbox, f"{mailbox}/calendar", "upload", uid=uid)
                state.mark_failed(mailbox, f"{mailbox}-f", "x", T0)
    except BaseException as error:  # reported by the test
        errors.append(error)


def test_two_states_on_one_file_write_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite"
    State.open(path).close()
    errors: list[BaseException] = []
    start = threading.Barrier(2)
    threads = [threading.Thread(target=_hammer, args=(path, name, 60, start, errors))
               for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with State.open(path) as state:
        for name in ("alice", "bob"):
            rows = state.items(name)
            assert sum(r.status == "synced" for r in rows) == 60
            assert state.get_item(name, f"{name}-f").attempts == 60  # type: ignore[union-attr]
        assert len(state.pending_changes()) == 120
        assert state.open_journals() == []


def test_one_state_shared_by_threads(tmp_path: Path) -> None:
    with State.open(tmp_path / "bridge.sqlite") as state:
        errors: list[BaseException] = []

        def work(name: str) -> None:
            try:
                for n in range(40):
                    state.mark_failed(name, f"u{n % 3}", "x", T0)
                    state.record_change(name, f"{name}/c", "upload")
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=work, args=(f"m{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert len(state.pending_changes()) == 160
        assert sum(r.attempts for r in state.items("m0")) == 40


_CHILD = """
import sys
from bridge.state import State
with State.open(sys.argv[1]) as state:
    for n in range(50):
        state.mark_failed("child", f"u{n % 5}", "x", __import__("datetime").datetime.now(
            __import__("datetime").UTC))
        state.record_change("child", "child/calendar", "upload")
"""


def test_two_processes_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite"
    with State.open(path) as state:
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)],
                                 stderr=subprocess.PIPE, text=True)
        for n in range(50):
            state.mark_failed("parent", f"u{n % 5}", "x", T0)
            state.record_change("parent", "parent/calendar", "upload")
        _, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, stderr
        assert len(state.pending_changes()) == 100
        assert sum(r.attempts for r in state.items("child")) == 50


# -- snapshots ------------------------------------------------------------------------------


def test_a_corrupt_snapshot_is_a_clear_error(state: State) -> None:
    state.mark_synced("alice", "u1", meeting=meeting("u1"), kind="meeting", sequence=0)
    state._db.execute("UPDATE items SET snapshot = '{\"uid\": 5}'")
    with pytest.raises(StateError, match="alice/u1"):
        state.get_item("alice", "u1")


# -- a damaged file --------------------------------------------------------------------------


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_file_is_refused_at_open_with_the_way_out(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "bridge.sqlite"
    fill(path)
    DAMAGES[damage](path)
    with pytest.raises(StateDamaged) as caught:
        State.open(path)
    error = caught.value
    assert error.path == str(path) and error.problems
    message = str(error)
    assert f"the state database {path} is damaged" in message
    assert f"mv {path}* {tmp_path / 'damaged'}/" in message  # moves the -wal/-shm files too
    assert "without inviting anyone again" in message
    assert [step[:2] for step in error.recovery] == ["1.", "2.", "3.", "4."]


def test_damage_found_while_running_is_refused_from_then_on(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite"
    fill(path, rows=500)
    state = State.open(path, clock=lambda: T0)
    try:
        assert len(state.items("alice")) == 500
        garble_page(path, page_of(path, "items"))
        state._db.conn.execute("PRAGMA shrink_memory")  # drop the pages cached before
        with pytest.raises(StateDamaged, match=r"is damaged: Page \d+: .*\(and \d+ more\)"):
            state.items("alice")
        assert state.damage is not None
        before = path.read_bytes()
        # From now on nothing reaches the file: not even a write to a sound table.
        with pytest.raises(StateDamaged):
            state.record_change("alice", "alice/calendar", "upload")
        with pytest.raises(StateDamaged):
            with state.transaction():
                pass
        with pytest.raises(StateDamaged):
            state.check_integrity()
        assert path.read_bytes() == before
    finally:
        state.close()


def test_other_database_errors_are_not_damage(state: State) -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        state._select("SELECT * FROM no_such_table")
    with pytest.raises(StateError, match="no item row"):  # a foreign key, not damage
        state.journal_start("alice", "nobody", "create", "appointment_written")
    assert state.damage is None
    state.check_integrity()
    assert state.items("alice") == []


def test_a_provisioned_user_is_recorded_once_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with State.open(path, clock=lambda: T0) as state:
        assert state.add_provisioned_user("bob", "bob", "bob@example.com", display_name="Bob")
        # A second login (or a restart that provisions again) changes nothing.
        assert not state.add_provisioned_user("bob", "other", "x@example.com")
    with State.open(path) as reopened:
        (row,) = reopened.provisioned_users()
    assert (row.name, row.mailbox, row.email, row.display_name) == (
        "bob", "bob", "bob@example.com", "Bob"
    )
    assert row.created_at == T0


def test_touching_a_started_entry_moves_its_time_and_leaves_a_done_one(tmp_path: Path) -> None:
    clock = [T0]
    with State.open(tmp_path / "bridge.sqlite", clock=lambda: clock[0]) as state:
        state.upsert_item(ItemRow("alice", "u1"))
        entry = state.journal_start("alice", "u1", "update", "occurrences_sent")
        clock[0] = T0 + timedelta(seconds=50)
        state.journal_touch(entry)
        (started,) = state.open_journal("alice", "u1")
        assert started.created_at == T0 + timedelta(seconds=50)
        state.journal_done(entry)
        clock[0] = T0 + timedelta(seconds=90)
        state.journal_touch(entry)
        (done,) = state.open_journal("alice", "u1")
        assert done.created_at == T0 + timedelta(seconds=50)
