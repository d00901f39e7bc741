"""The keys a calbridge configuration file may hold.

Rule kept here: calbridge refuses what it would otherwise silently ignore. An unknown section or
key (`[sync] intervall = 5`) is reported by its dotted name with the closest known key as a hint
(the loader raises it as a `ConfigError`), as Radicale's own configuration does. Pure: no I/O.
"""

from __future__ import annotations

import difflib
from typing import Any

__all__ = ["SCHEMA", "find_unknown_key"]


def _secret_keys(*names: str) -> frozenset[str]:
    return frozenset(f"{name}{suffix}" for name in names for suffix in ("", "_env", "_file"))


# Every key calbridge reads; anything else is a mistake named in a ConfigError.
SCHEMA: dict[str, frozenset[str]] = {
    "": frozenset({"state_dir", "exchange", "sync", "caldav", "simulator", "user", "gal"}),
    "exchange": frozenset({"url", "auth", "verify", "insecure", "timeout", "service_account"}),
    "exchange.service_account": frozenset({"username"}) | _secret_keys("password"),
    "sync": frozenset(
        {"interval", "timezone", "workers", "mass_cancel_threshold", "mass_cancel_min",
         "cancel_grace", "reconcile_interval", "pull_interval"}
    ),
    "caldav": frozenset({"host", "port", "default_calendar", "auth", "allow"}),
    "simulator": frozenset({"host", "port", "language"}),
    # -- the company directory (bridge/gal_refresh.py) --
    "gal": frozenset({"refresh", "rooms", "page_limit"}),
    "user": frozenset({"name", "mailbox", "email", "exchange_username", "delegates"})
    | _secret_keys("caldav_password", "exchange_password"),
}


def find_unknown_key(data: dict[str, Any]) -> tuple[str, str] | None:
    """The first key (dotted name, message) calbridge would silently ignore, or None."""
    problem = _unknown_in(data, "")
    for section in ("exchange", "sync", "caldav", "simulator", "exchange.service_account", "gal"):
        if problem is not None:
            return problem
        node: Any = data
        for part in section.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        if not isinstance(node, dict):
            return section, f"must be a table ([{section}])"
        problem = _unknown_in(node, section)
    users = data.get("user")
    if problem is None and isinstance(users, list):
        for index, entry in enumerate(users):
            if isinstance(entry, dict):
                problem = problem or _unknown_in(entry, "user", shown=f"user[{index}]")
    return problem


def _unknown_in(
    table: dict[str, Any], section: str, *, shown: str | None = None
) -> tuple[str, str] | None:
    known = SCHEMA[section]
    prefix = shown or section
    for key, value in table.items():
        if key in known:
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        what = "section" if isinstance(value, dict) else "key"
        return (f"{prefix}.{key}" if prefix else key), f"unknown {what}{hint}"
    return None
