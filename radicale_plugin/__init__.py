"""Radicale storage plugin for calbridge: multifilesystem plus a change journal and a wake-up.

Enable with ``[storage] type = radicale_plugin``. Rule kept: the plugin never talks to Exchange
and never fails the client's request. Each of the four write paths of Radicale 3.9's
multifilesystem storage calls the parent first; only after the parent succeeded does it append
the change to the ``changes`` table (one transaction, see ``radicale_plugin.recorder``) and wake
the sync engine. Any error while recording or waking is logged with its traceback on this
module's logger and swallowed: the file is already written, and the engine's reconcile pass
finds writes the journal missed. A journal file SQLite reports as corrupt is logged once, in
one line without a traceback (a known condition that `calbridge status` explains, not a bug).

Write paths and the rows they record (``op`` in parentheses):

- ``Collection.upload(href, item)`` -- PUT of one item: ``upload`` with the item's UID.
- ``Collection.delete(href)`` -- DELETE of one item: ``delete`` with the UID the item had;
  ``Collection.delete(None)`` -- DELETE of a collection: one ``delete_collection`` row.
- ``Storage.create_collection(href, items, props)`` -- MKCALENDAR, MKCOL, principal creation and
  whole-calendar PUT (.ics import): one ``create_collection`` row (``href`` NULL), plus one
  ``upload`` row per item stored this way. Items that the replaced collection held and the new
  one lacks are not listed one by one: the ``create_collection`` row tells the engine to
  reconcile the whole collection.
- ``Storage.move(item, to_collection, to_href)`` -- MOVE: ``delete`` for the source, then
  ``upload`` for the target, both with the item's UID.

Options (declared through Radicale's plugin schema, ``Configuration.copy(PLUGIN_CONFIG_SCHEMA)``):

- ``[storage] calbridge_db``: the SQLite file; default ``<filesystem_folder>/../bridge.sqlite``.

Wake-ups: after each successful write operation (one storage call, whatever number of rows it
recorded) the plugin calls the in-process callback registered with ``set_wakeup``. It runs while
Radicale still holds its storage write lock, so the callback must only signal (set an event)
and return; exceptions from it are swallowed. There is no out-of-process wake-up (the former
``calbridge_wake`` datagram socket): ``calbridge run`` serves Radicale in its own process, and a
Radicale run elsewhere on the same folder is still seen, at the next interval pass, through its
``changes`` rows and the collection folders' signatures.

The bridge's own writes (design section 4b): code that writes into Radicale's storage in-process
on behalf of the bridge wraps the call in ``with bridge_write():``. The flag is thread-local.
Such writes are still journaled, with ``op`` prefixed by ``bridge-`` (``bridge-upload``,
``bridge-delete``, ...), so the journal stays a complete record of writes; they do not wake the
engine, and consumers select user changes with ``op NOT LIKE 'bridge-%'``. Writes that reach
Radicale over HTTP run in Radicale's request threads and are therefore always user changes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import storage as radicale_storage
from radicale.storage import multifilesystem

from radicale_plugin.recorder import (
    BRIDGE_OP_PREFIX,
    OP_CREATE_COLLECTION,
    OP_DELETE,
    OP_DELETE_COLLECTION,
    OP_UPLOAD,
    Change,
    ChangeRecorder,
    is_damaged_file,
)

__all__ = [
    "PLUGIN_CONFIG_SCHEMA",
    "Collection",
    "Storage",
    "bridge_write",
    "bulk_upload",
    "changes_db_path",
    "set_wakeup",
]

logger = logging.getLogger(__name__)

PLUGIN_CONFIG_SCHEMA: dict[str, dict[str, dict[str, Any]]] = {
    "storage": {
        "calbridge_db": {
            "value": "",
            "help": "calbridge SQLite file (default: <filesystem_folder>/../bridge.sqlite)",
            "type": radicale_config.filepath,
        },
    },
}

WakeupCallback = Callable[[], None]

_wakeup_lock = threading.Lock()
_wakeup_callback: WakeupCallback | None = None
_bridge_local = threading.local()


def set_wakeup(callback: WakeupCallback | None) -> WakeupCallback | None:
    """Register the in-process wake-up ``callback`` (``None`` removes it); return the old one.

    The callback is called with no arguments after every user write, inside Radicale's storage
    write lock: it must return quickly. Its exceptions are logged and swallowed.
    """
    global _wakeup_callback
    with _wakeup_lock:
        previous, _wakeup_callback = _wakeup_callback, callback
    return previous


@contextmanager
def bridge_write() -> Iterator[None]:
    """Mark storage writes made by the calling thread as the bridge's own (nestable)."""
    _bridge_local.depth = getattr(_bridge_local, "depth", 0) + 1
    try:
        yield
    finally:
        _bridge_local.depth -= 1


_bulk_local = threading.local()


@contextmanager
def bulk_upload() -> Iterator[None]:
    """Many `Collection.upload` calls in a row (an .ics import, under one storage lock).

    Radicale's history clean-up runs once per collection when the block ends, not per item;
    files are written without a temporary folder each and without an ``fsync`` each: when the
    block ends, one ``os.sync()`` makes them all durable (if ``[storage] _filesystem_fsync`` is
    on), before the caller reports the import done. A crash inside the block can lose files
    whose ``changes`` rows exist; a row for a missing file is a no-op for the engine.
    """
    if getattr(_bulk_local, "pending", None) is not None:
        yield  # nested: the outer block cleans up
        return
    _bulk_local.pending = {}
    _bulk_local.unsynced = False
    try:
        yield
    finally:
        pending, _bulk_local.pending = _bulk_local.pending, None
        unsynced, _bulk_local.unsynced = _bulk_local.unsynced, False
        try:
            for collection in pending.values():
                multifilesystem.Collection._clean_history(collection)  # type: ignore[no-untyped-call]  # Radicale: untyped
        finally:
            if unsynced:
                os.sync()


def _in_bulk() -> bool:
    return getattr(_bulk_local, "pending", None) is not None


def _in_bridge_write() -> bool:
    return getattr(_bridge_local, "depth", 0) > 0


def _with_plugin_schema(
        configuration: radicale_config.Configuration) -> radicale_config.Configuration:
    try:
        return configuration.copy(PLUGIN_CONFIG_SCHEMA)
    except ValueError:
        # "option already exists": the configuration already carries this schema.
        return configuration


def changes_db_path(configuration: radicale_config.Configuration) -> str:
    """Return the SQLite file the plugin journals to under ``configuration``."""
    configuration = _with_plugin_schema(configuration)
    path: str = configuration.get("storage", "calbridge_db")
    if path:
        return path
    folder: str = configuration.get("storage", "filesystem_folder")
    return os.path.normpath(os.path.join(folder, os.pardir, "bridge.sqlite"))


def _owner(collection_path: str) -> str | None:
    return collection_path.split("/", 1)[0] or None


def _uid(item: radicale_item.Item | None) -> str | None:
    if item is None:
        return None
    try:
        return item.uid or None
    except Exception:  # a broken item has no UID; the row is still worth writing
        logger.debug("calbridge: no UID for item %r", item.href, exc_info=True)
        return None


def _change(collection_path: str, href: str | None, uid: str | None, op: str) -> Change:
    return Change(_owner(collection_path), collection_path, href, uid, op)


def _wake() -> None:
    with _wakeup_lock:
        callback = _wakeup_callback
    if callback is not None:
        try:
            callback()
        except Exception:
            logger.warning("calbridge: wake-up callback failed", exc_info=True)


class Collection(multifilesystem.Collection):
    """multifilesystem collection whose item writes are journaled after they succeed."""

    @contextmanager
    def _atomic_write(
        self, path: str, mode: str = "w", newline: str | None = None
    ) -> Iterator[Any]:
        if not _in_bulk():
            handle: Any
            with super()._atomic_write(path, mode, newline) as handle:
                yield handle
            return
        # Inside bulk_upload(): a temporary file beside the target, renamed over it (still
        # atomic for readers), without Radicale's temporary folder and fsync per file.
        parent, name = os.path.split(path)
        temporary = os.path.join(parent, f".Radicale.tmp-bulk-{threading.get_ident()}-{name}")
        try:
            with open(temporary, mode, newline=newline,
                      encoding=None if "b" in mode else self._encoding) as handle:
                yield handle
            os.replace(temporary, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.remove(temporary)
            raise
        if self._storage._filesystem_fsync:
            _bulk_local.unsynced = True

    def upload(self, href: str, item: radicale_item.Item
               ) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        uploaded, replaced = super().upload(href, item)
        self._note(lambda: [_change(self.path, href, _uid(uploaded), OP_UPLOAD)])
        return uploaded, replaced

    def delete(self, href: str | None = None) -> None:
        if href is None:
            super().delete(None)
            self._note(lambda: [_change(self.path, None, None, OP_DELETE_COLLECTION)])
            return
        uid = self._uid_of(href)
        super().delete(href)
        self._note(lambda: [_change(self.path, href, uid, OP_DELETE)])

    def _uid_of(self, href: str) -> str | None:
        try:
            for _, item in self.get_multi([href]):
                return _uid(item)
        except Exception:
            logger.debug("calbridge: cannot read %r before delete", href, exc_info=True)
        return None

    def _note(self, build: Callable[[], list[Change]]) -> None:
        if isinstance(self._storage, Storage):
            self._storage._note(build)

    def _clean_history(self) -> None:
        # Radicale scans the whole history cache after every upload (O(n) per item, so a bulk
        # import is O(n²)); inside `bulk_upload()` the scan runs once per collection, at the end.
        pending = getattr(_bulk_local, "pending", None)
        if pending is not None:
            pending[self.path] = self
            return
        super()._clean_history()  # type: ignore[no-untyped-call]  # Radicale: untyped


class Storage(multifilesystem.Storage):
    """multifilesystem storage with journaled collection writes and moves."""

    _collection_class: ClassVar[type[multifilesystem.Collection]] = Collection

    def __init__(self, configuration: radicale_config.Configuration) -> None:
        configuration = _with_plugin_schema(configuration)
        super().__init__(configuration)
        self._recorder = ChangeRecorder(changes_db_path(configuration))
        self._damage_reported = False  # a damaged journal file is logged once, until it heals
        logger.info("calbridge: journaling changes to %r", self._recorder.path)

    def create_collection(
            self, href: str, items: Iterable[radicale_item.Item] | None = None,
            props: Mapping[str, str] | None = None,
    ) -> tuple[multifilesystem.Collection, dict[str, radicale_item.Item], list[str]]:
        collection, replaced_items, new_item_hrefs = super().create_collection(
            href, items, props)

        def build() -> list[Change]:
            changes = [_change(collection.path, None, None, OP_CREATE_COLLECTION)]
            if items is not None and props:  # without props the parent ignores ``items``
                # The stored hrefs are chosen by Radicale while it consumes ``items`` (often a
                # one-shot generator), so read them back from the new collection.
                changes.extend(_change(collection.path, item.href, _uid(item), OP_UPLOAD)
                               for item in collection.get_all())
            return changes

        self._note(build)
        return collection, replaced_items, new_item_hrefs

    def move(self, item: radicale_item.Item, to_collection: radicale_storage.BaseCollection,
             to_href: str) -> None:
        super().move(item, to_collection, to_href)

        def build() -> list[Change]:
            uid = _uid(item)
            changes = [_change(to_collection.path, to_href, uid, OP_UPLOAD)]
            if item.collection is not None:  # always set: the parent asserts it
                changes.insert(0, _change(item.collection.path, item.href, uid, OP_DELETE))
            return changes

        self._note(build)

    def _note(self, build: Callable[[], list[Change]]) -> None:
        """Journal the changes ``build`` returns, then wake the engine; never raise."""
        own = _in_bridge_write()
        try:
            changes = build()
            if own:
                changes = [c._replace(op=BRIDGE_OP_PREFIX + c.op) for c in changes]
            self._recorder.record_many(changes)
            self._damage_reported = False
        except Exception as error:
            if not is_damaged_file(error):
                logger.warning("calbridge: could not journal a change to %r; the reconcile pass "
                               "will pick it up", self._recorder.path, exc_info=True)
            elif not self._damage_reported:  # a known condition, not a bug: one line, once
                self._damage_reported = True
                logger.warning("calbridge: could not journal changes to %r, the file is damaged "
                               "(%s); CalDAV keeps working, see `calbridge status`",
                               self._recorder.path, error)
        if not own:
            _wake()
