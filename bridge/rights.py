"""Radicale rights for calbridge (``[rights] type = bridge.rights``): owner-only, plus the
shared company directory read-only for everyone.

Rule kept here: a user reads and writes their own principal and collections (Radicale's
``owner_only``); every logged-in user may read the GAL address book (``/gal/addressbook/``)
and its principal, and nobody may write them over HTTP (PUT, DELETE, MOVE, PROPPATCH, MKCOL:
403). Only the bridge's refresh writes the directory, in-process (bridge/gal_refresh.py).
"""

from __future__ import annotations

from radicale import pathutils
from radicale.rights import owner_only

from bridge.gal import GAL_COLLECTION, GAL_OWNER

__all__ = ["Rights"]


class Rights(owner_only.Rights):
    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        sane = pathutils.strip_path(path)
        if sane == GAL_OWNER or sane == GAL_COLLECTION or sane.startswith(GAL_COLLECTION + "/"):
            if self._verify_user and not user:
                return ""
            # "R"/"r": read the principal / the collection's items; no "w" or "W" for anyone.
            return "R" if sane == GAL_OWNER else "r"
        if sane.split("/", 1)[0] == GAL_OWNER:
            return ""  # nothing else lives under the directory's principal
        rights: str = super().authorization(user, user_groups, path)
        return rights
