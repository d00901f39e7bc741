"""Which users a pass must visit, and which of their events it must read (pure).

Rule kept here (design §1, "a pass costs what changed"): a pass reads only what moved. Its inputs
are taken together under Radicale's storage lock, so they agree with each other:

- the unacknowledged ``changes`` rows the plugin wrote (each user write: collection, href, UID);
- each collection's signature now (`bridge.calendars.CalendarStore.signatures`: one ``stat`` of
  the collection's folder) and the one stored after the last successful pass over it.

Decisions, per configured user:

- an item-level change (``upload``/``delete``) puts its (collection, href) and UID on the list:
  the pass reads those files only, and plans those events only;
- a collection-level change (``create_collection``/``delete_collection``), a collection whose
  signature moved without a change row to explain it (a write that missed the journal: another
  process, a restore, a crash between the file and the INSERT), a collection that appeared or
  vanished, and anything the caller forces (a reconcile, a pending cancellation, an unfinished
  operation, a hold) make the pass over that user *full*: every calendar read, every row planned;
- the bridge's own writes (``bridge-`` rows) need no pass: they are acknowledged with the rest;
- a user with none of these is not visited at all: an idle pass costs one ``stat`` per collection.

Why the folder's ``stat`` and not Radicale's own collection etag or sync-token: both are hashes
over every item's etag (``BaseCollection.etag``, ``multifilesystem.sync``), i.e. a read of every
item, which is the cost this module exists to avoid. Every write Radicale makes to a collection
(``_atomic_write`` = temporary file + rename, ``os.remove``, the props file) changes the folder's
mtime; an edit *inside* an existing file by hand does not, and is found by the full reconcile
(its own, slower schedule), which is the documented contract.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["BRIDGE_PREFIX", "ChangeLike", "UserWork", "WorkList", "build"]

BRIDGE_PREFIX = "bridge-"
_ITEM_OPS = frozenset({"upload", "delete"})


class ChangeLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def user(self) -> str | None: ...
    @property
    def collection(self) -> str: ...
    @property
    def href(self) -> str | None: ...
    @property
    def uid(self) -> str | None: ...
    @property
    def op(self) -> str: ...


@dataclass(frozen=True)
class UserWork:
    """What one user's pass must look at."""

    full: bool
    reason: str  # why full, or "changes"
    places: frozenset[tuple[str, str]] = frozenset()  # (collection, href) to read
    uids: frozenset[str] = frozenset()  # rows to plan (besides those found at `places`)
    change_ids: tuple[int, ...] = ()  # the rows this pass acknowledges when it succeeds
    signatures: Mapping[str, str] = field(default_factory=dict)  # to store after success


@dataclass(frozen=True)
class WorkList:
    users: dict[str, UserWork]  # only users that need a pass
    settled: dict[str, Mapping[str, str]]  # users skipped whose signatures are stored as they are
    ack_now: tuple[int, ...]  # rows nobody needs to process (unknown users, bridge writes)


def build(
    users: Sequence[str],
    changes: Iterable[ChangeLike],
    signatures: Mapping[str, Mapping[str, str]],
    stored: Mapping[str, Mapping[str, str]],
    *,
    forced: Mapping[str, str] | None = None,
    retry_uids: Mapping[str, Iterable[str]] | None = None,
    full: bool = False,
) -> WorkList:
    """The work of one pass.

    Args:
        users: the configured CalDAV user names (collection owners).
        changes: unacknowledged ``changes`` rows, read under the same lock as `signatures`.
        signatures: user -> {collection path: signature} now.
        stored: user -> {collection path: signature} after the last successful pass.
        forced: user -> reason: users that get a full pass whatever changed.
        retry_uids: user -> UIDs of failed rows due for a retry (planned with the changes).
        full: a reconcile: every user gets a full pass.
    """
    forced = forced or {}
    retry_uids = retry_uids or {}
    known = set(users)
    ack_now: list[int] = []
    ids: dict[str, list[int]] = {}
    places: dict[str, set[tuple[str, str]]] = {}
    uids: dict[str, set[str]] = {}
    explained: dict[str, set[str]] = {}  # collections whose move the rows account for
    whole: dict[str, str] = {}  # user -> why the whole user is read
    for change in changes:
        user = change.user
        if user not in known:
            ack_now.append(change.id)
            continue
        assert user is not None
        explained.setdefault(user, set()).add(change.collection)
        if change.op.startswith(BRIDGE_PREFIX):
            ack_now.append(change.id)
            continue
        ids.setdefault(user, []).append(change.id)
        if change.op in _ITEM_OPS and change.href:
            places.setdefault(user, set()).add((change.collection, change.href))
            if change.uid:
                uids.setdefault(user, set()).add(change.uid)
        else:
            whole.setdefault(user, f"{change.op} of {change.collection}")

    work: dict[str, UserWork] = {}
    settled: dict[str, Mapping[str, str]] = {}
    for user in users:
        now = dict(signatures.get(user, {}))
        before = stored.get(user, {})
        reason = "reconcile" if full else forced.get(user) or whole.get(user)
        if reason is None:
            moved = sorted(
                c
                for c in set(now) | set(before)
                if now.get(c) != before.get(c) and c not in explained.get(user, set())
            )
            if moved:
                reason = f"{', '.join(moved)} changed outside the journal"
        if reason is not None:
            work[user] = UserWork(
                True, reason, change_ids=tuple(ids.get(user, ())), signatures=now
            )
        elif user in places or user in retry_uids:
            work[user] = UserWork(
                False,
                "changes",
                places=frozenset(places.get(user, ())),
                uids=frozenset(uids.get(user, set()) | set(retry_uids.get(user, ()))),
                change_ids=tuple(ids.get(user, ())),
                signatures=now,
            )
        elif now != before:
            settled[user] = now  # only the bridge's own writes moved it
    return WorkList(work, settled, tuple(ack_now))
