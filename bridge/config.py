"""calbridge's configuration: one TOML file, validated before anything starts.

Size: over 400 lines because every key's check and message sits beside the key (the schema of
names is `bridge.config_schema`).

Rules kept here: every problem is reported as one `ConfigError` naming the key
(`exchange.auth: must be one of fba, basic, ntlm`), and so is a key or section calbridge does not
know (`sync.intervall: unknown key (did you mean 'interval'?)`), as Radicale's configuration does;
secrets are read from the file, an environment variable (`*_env`) or a secrets file (`*_file`)
and are held in `Secret`, whose repr and str never show the value. A secret is resolved when
first needed (`calbridge status` needs none) or, by default, while loading, so a command that
needs them stops before anything starts. A file holding passwords that other users can read
gets one warning. Without a file, the embedded demo is configured (simulator + demo users).
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bridge.config_schema import find_unknown_key

__all__ = ["Config", "ConfigError", "Secret", "UserConfig", "load_config"]

logger = logging.getLogger(__name__)

DEMO_USERS = ("alice", "bob", "carol", "dave")
AUTH_MODES = ("fba", "basic", "ntlm")
CALDAV_AUTH_MODES = ("htpasswd", "exchange")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_CALENDAR = "calendar"


class ConfigError(ValueError):
    """A configuration problem; the message starts with the offending key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class Secret:
    """A password that never prints itself, read from its source when first revealed."""

    __slots__ = ("_load", "_value")

    def __init__(self, value: str | None = None, *, load: Callable[[], str] | None = None) -> None:
        if value is None and load is None:
            raise ValueError("a Secret needs a value or a loader")
        self._value = value
        self._load = load

    def reveal(self) -> str:
        """The password; raises `ConfigError` (naming the key) if its source cannot be read."""
        if self._value is None:
            assert self._load is not None
            self._value = self._load()
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.reveal() == self.reveal()

    def __hash__(self) -> int:
        return hash(self.reveal())


@dataclass(frozen=True)
class UserConfig:
    name: str  # CalDAV login
    mailbox: str  # Exchange alias (/exchange/<mailbox>/)
    email: str
    caldav_password: Secret | None  # None when CalDAV logins are checked by Exchange
    exchange_username: str | None = None  # per-user Exchange credentials (no service account)
    exchange_password: Secret | None = None
    delegates: tuple[str, ...] = ()  # organizers this user may send for


@dataclass(frozen=True)
class Config:
    exchange_url: str  # "embedded" or scheme://host[:port]
    auth: str
    verify: bool | str
    insecure: bool
    timeout: float
    service_username: str | None
    service_password: Secret | None
    users: tuple[UserConfig, ...]
    interval: float
    timezone: str
    workers: int
    mass_cancel_threshold: float
    mass_cancel_min: int
    cancel_grace: float  # seconds an event must stay gone before its cancellation goes out
    reconcile_interval: float  # seconds between two full reconciles (every calendar read)
    caldav_host: str
    caldav_port: int
    default_calendar: str  # created for every user at start ("" = none)
    sim_host: str
    sim_port: int
    sim_language: str
    state_dir: Path
    source: str = "defaults"
    caldav_auth: str = "htpasswd"  # who checks CalDAV passwords: "htpasswd" or "exchange"
    caldav_allow: tuple[str, ...] = ()  # further Exchange aliases that may log in ("*": all)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    # -- the company directory (bridge/gal_refresh.py) --
    gal_refresh: float = 6 * 3600.0  # seconds between GAL refreshes; 0 = never
    gal_rooms: tuple[str, ...] = ()  # addresses the GAL shows as rooms (galfind cannot tell)
    gal_page_limit: int = 100  # a galfind answer this long may be cut: ask narrower prefixes
    # -- the pull (bridge/pull/job.py) --
    pull_interval: float = 60.0  # seconds between pull passes over every mailbox; 0 = never

    @property
    def embedded(self) -> bool:
        return self.exchange_url == "embedded"

    def server_url(self) -> str:
        if self.embedded:
            return f"http://{self.sim_host}:{self.sim_port}"
        return self.exchange_url.rstrip("/")

    def user(self, name: str) -> UserConfig:
        for user in self.users:
            if user.name == name:
                return user
        raise ConfigError("user", f"no user named {name!r} in {self.source}")

    def secrets(self) -> list[Secret]:
        found = [self.service_password] if self.service_password is not None else []
        for user in self.users:
            if user.caldav_password is not None:
                found.append(user.caldav_password)
            if user.exchange_password is not None:
                found.append(user.exchange_password)
        return found

    def resolve_secrets(self) -> None:
        """Read every secret now; raises `ConfigError` naming the first one that is missing."""
        for secret in self.secrets():
            secret.reveal()


def load_config(
    path: str | Path | None,
    *,
    state_dir: str | Path | None = None,
    caldav_port: int | None = None,
    sim_port: int | None = None,
    environ: dict[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Config:
    """Read and validate `path` (None: the embedded demo); command-line overrides win.

    With `resolve_secrets=False`, passwords are read only when first used (for commands that
    need none, such as `calbridge status`).
    """
    env = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError("--config", f"file not found: {path}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError("--config", f"{path} is not valid TOML: {error}") from None
        unknown = find_unknown_key(data)
        if unknown is not None:
            raise ConfigError(*unknown)
    base = Path(path).parent if path is not None else Path.cwd()
    reader = _Reader(data, env, base)

    exchange_url = reader.text("exchange.url", "embedded")
    if exchange_url != "embedded" and not exchange_url.startswith(("http://", "https://")):
        raise ConfigError("exchange.url", "must be 'embedded' or an http(s):// URL")
    auth = reader.text("exchange.auth", "fba")
    if auth not in AUTH_MODES:
        raise ConfigError("exchange.auth", f"must be one of {', '.join(AUTH_MODES)}")
    verify_raw = reader.get("exchange.verify", True)
    if not isinstance(verify_raw, bool | str):
        raise ConfigError("exchange.verify", "must be true, false or the path of a CA bundle")
    if isinstance(verify_raw, str) and not (base / verify_raw).exists():
        raise ConfigError("exchange.verify", f"CA bundle not found: {verify_raw}")
    insecure = reader.boolean("exchange.insecure", False)
    host = urlsplit(exchange_url).hostname if exchange_url != "embedded" else None
    if exchange_url.startswith("http://") and host not in LOOPBACK and not insecure:
        raise ConfigError(
            "exchange.url",
            "http:// would send the Exchange password in clear text; use https:// "
            "(or set exchange.insecure = true for a lab server)",
        )
    if verify_raw is False and not insecure:
        raise ConfigError(
            "exchange.verify",
            "false is refused; set exchange.insecure = true to disable TLS checks",
        )

    service_username = reader.optional_text("exchange.service_account.username")
    service_password = reader.secret("exchange.service_account.password")
    if service_username is None and exchange_url == "embedded":
        service_username, service_password = "svc-calbridge", Secret("demo")
    if service_username is not None and service_password is None:
        raise ConfigError("exchange.service_account.password", "missing (or its _env/_file)")

    caldav_auth = reader.text("caldav.auth", "htpasswd")
    if caldav_auth not in CALDAV_AUTH_MODES:
        raise ConfigError("caldav.auth", f"must be one of {', '.join(CALDAV_AUTH_MODES)}")
    caldav_allow = _read_allow(reader, caldav_auth, service_username is not None)
    users = _read_users(
        reader,
        data,
        service_username is not None,
        exchange_url == "embedded",
        needs_caldav_password=caldav_auth == "htpasswd",
    )
    timezone = reader.text("sync.timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError("sync.timezone", f"unknown time zone {timezone!r}") from None
    threshold = reader.number("sync.mass_cancel_threshold", 0.5)
    if not 0 < threshold <= 1:
        raise ConfigError("sync.mass_cancel_threshold", "must be in (0, 1]")
    chosen_state = Path(state_dir) if state_dir is not None else None
    if chosen_state is None:
        chosen_state = base / reader.text("state_dir", "state") if path else Path("state")
    default_calendar = reader.text("caldav.default_calendar", DEFAULT_CALENDAR)
    if default_calendar and not _is_simple_name(default_calendar):
        raise ConfigError("caldav.default_calendar", "letters, digits, '-', '_' and '.' only")
    if path is not None:
        _warn_if_readable(Path(path), reader.inline_secrets)
        for secret_file in sorted(reader.secret_files):
            _warn_if_readable(secret_file, 1)
    config = Config(
        exchange_url=exchange_url,
        auth=auth,
        verify=str(base / verify_raw) if isinstance(verify_raw, str) else verify_raw,
        insecure=insecure,
        timeout=reader.number("exchange.timeout", 30.0),
        service_username=service_username,
        service_password=service_password,
        users=users,
        interval=reader.number("sync.interval", 60.0),
        timezone=timezone,
        workers=int(reader.number("sync.workers", 2)),
        mass_cancel_threshold=threshold,
        mass_cancel_min=int(reader.number("sync.mass_cancel_min", 3)),
        cancel_grace=reader.number("sync.cancel_grace", 3.0),
        reconcile_interval=reader.number("sync.reconcile_interval", 3600.0),
        caldav_host=reader.text("caldav.host", "127.0.0.1"),
        caldav_port=caldav_port or int(reader.number("caldav.port", 5232)),
        default_calendar=default_calendar,
        sim_host=reader.text("simulator.host", "127.0.0.1"),
        sim_port=sim_port if sim_port is not None else int(reader.number("simulator.port", 8800)),
        sim_language=reader.text("simulator.language", "en"),
        state_dir=chosen_state,
        source=source,
        caldav_auth=caldav_auth,
        caldav_allow=caldav_allow,
        pull_interval=reader.number("sync.pull_interval", 60.0),
    )
    config = _with_gal(config, reader)
    if resolve_secrets:
        config.resolve_secrets()
    return config


def _with_gal(config: Config, reader: _Reader) -> Config:
    """The `[gal]` keys (company directory); the embedded demo's rooms are rooms."""
    from dataclasses import replace

    rooms = reader.get("gal.rooms", None)
    if rooms is None:
        rooms = ["room-101@example.com", "room-102@example.com"] if config.embedded else []
    if not isinstance(rooms, list) or not all(isinstance(r, str) and "@" in r for r in rooms):
        raise ConfigError("gal.rooms", "must be a list of e-mail addresses")
    if any(user.name == "gal" for user in config.users):
        raise ConfigError("user", "the name 'gal' is the company directory's (/gal/addressbook/)")
    page_limit = int(reader.number("gal.page_limit", 100))
    if page_limit < 1:
        raise ConfigError("gal.page_limit", "must be at least 1")
    return replace(
        config,
        gal_refresh=reader.number("gal.refresh", 6 * 3600.0),
        gal_rooms=tuple(r.strip().lower() for r in rooms),
        gal_page_limit=page_limit,
    )


def _warn_if_readable(path: Path, secrets: int) -> None:
    """One warning line when a file holding passwords can be read by other users."""
    if not secrets:
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        logger.warning(
            "%s holds passwords and other users can read it; fix: chmod 600 %s", path, path
        )


def _is_simple_name(name: str) -> bool:
    return (
        not name.startswith(".")
        and name.replace("-", "").replace("_", "").replace(".", "").isalnum()
    )


def _read_allow(reader: _Reader, caldav_auth: str, has_service: bool) -> tuple[str, ...]:
    """`caldav.allow`: Exchange aliases (or "*") that may log in besides the [[user]] tables."""
    raw = reader.get("caldav.allow", [])
    if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
        raise ConfigError("caldav.allow", "must be a list of mailbox aliases (or [\"*\"])")
    allow = tuple(a.strip().lower() for a in raw if a.strip())
    if allow and caldav_auth != "exchange":
        raise ConfigError("caldav.allow", 'needs caldav.auth = "exchange"')
    if allow and not has_service:
        # Their calendars could only be synced with the service account: calbridge never keeps
        # a password it was given at login.
        raise ConfigError("caldav.allow", "needs [exchange.service_account]")
    for alias in allow:
        if alias != "*" and not _is_simple_name(alias):
            raise ConfigError("caldav.allow", f"{alias!r}: letters, digits, '-', '_', '.' only")
    return allow


def _read_users(
    reader: _Reader,
    data: dict[str, Any],
    has_service: bool,
    embedded: bool,
    *,
    needs_caldav_password: bool = True,
) -> tuple[UserConfig, ...]:
    entries = data.get("user")
    if entries is None:
        if not embedded:
            raise ConfigError("user", "at least one [[user]] table is required")
        return tuple(
            UserConfig(name, name, f"{name}@example.com", Secret("demo")) for name in DEMO_USERS
        )
    if not isinstance(entries, list) or not entries:
        raise ConfigError("user", "must be a list of [[user]] tables")
    users = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        key = f"user[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(key, "must be a table")
        sub = _Reader(entry, reader.env, reader.base, prefix=key + ".", parent=reader)
        name = sub.text("name", None)
        if not name or not _is_simple_name(name):
            raise ConfigError(f"{key}.name", "letters, digits, '-', '_' and '.' only")
        if name in seen:
            raise ConfigError(f"{key}.name", f"duplicate user {name!r}")
        seen.add(name)
        caldav_password = sub.secret("caldav_password")
        if caldav_password is None and needs_caldav_password:
            raise ConfigError(f"{key}.caldav_password", "missing (or its _env/_file)")
        exchange_username = sub.optional_text("exchange_username")
        exchange_password = sub.secret("exchange_password")
        if not has_service and (exchange_username is None or exchange_password is None):
            raise ConfigError(
                f"{key}.exchange_username",
                "needed (with exchange_password) when there is no exchange.service_account",
            )
        mailbox = sub.text("mailbox", name)
        users.append(
            UserConfig(
                name=name,
                mailbox=mailbox,
                email=sub.text("email", f"{mailbox}@example.com").lower(),
                caldav_password=caldav_password,
                exchange_username=exchange_username,
                exchange_password=exchange_password,
                delegates=tuple(str(d).lower() for d in sub.get("delegates", [])),
            )
        )
    return tuple(users)


class _Reader:
    """Dotted-key access with type checks that name the key in every error."""

    def __init__(
        self,
        data: dict[str, Any],
        env: dict[str, str],
        base: Path,
        prefix: str = "",
        parent: _Reader | None = None,
    ) -> None:
        self.data, self.env, self.base, self.prefix = data, env, base, prefix
        # Shared with the per-user readers: what the permission warning looks at.
        self.inline_secrets = 0
        self.secret_files: set[Path] = set()
        self._root: _Reader = parent._root if parent is not None else self

    def get(self, key: str, default: Any) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def text(self, key: str, default: str | None) -> str:
        value = self.get(key, default)
        if not isinstance(value, str):
            raise ConfigError(self.prefix + key, "must be a string")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.get(key, None)
        if value is not None and not isinstance(value, str):
            raise ConfigError(self.prefix + key, "must be a string")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(self.prefix + key, "must be true or false")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(self.prefix + key, "must be a non-negative number")
        return float(value)

    def secret(self, key: str) -> Secret | None:
        """`key`, `key_env` (variable name) or `key_file` (path); never echoed.

        The shape is checked now; the variable or file is read when the secret is revealed.
        """
        direct = self.get(key, None)
        env_name = self.get(key + "_env", None)
        file_name = self.get(key + "_file", None)
        given = [v for v in (direct, env_name, file_name) if v is not None]
        if len(given) > 1:
            raise ConfigError(self.prefix + key, "give only one of the value, _env or _file")
        if direct is not None:
            if not isinstance(direct, str):
                raise ConfigError(self.prefix + key, "must be a string")
            self._root.inline_secrets += 1
            return Secret(direct)
        if env_name is not None:
            if not isinstance(env_name, str):
                raise ConfigError(self.prefix + key + "_env", "must be a string")
            env, env_key = self.env, self.prefix + key + "_env"

            def from_env() -> str:
                if env_name not in env:
                    raise ConfigError(env_key, f"environment variable {env_name!r} is not set")
                return env[env_name]

            return Secret(load=from_env)
        if file_name is not None:
            if not isinstance(file_name, str):
                raise ConfigError(self.prefix + key + "_file", "must be a string")
            path, file_key = self.base / file_name, self.prefix + key + "_file"
            self._root.secret_files.add(path)

            def from_file() -> str:
                try:
                    return path.read_text(encoding="utf-8").strip()
                except OSError:
                    raise ConfigError(file_key, f"cannot read {path}") from None

            return Secret(load=from_file)
        return None
