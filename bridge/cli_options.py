"""What every `calbridge` command shares: its options, its configuration, its failures.

Rules kept here: every command takes `--config`, `--state-dir` and `--sim-port`; the
configuration is loaded before the command starts (one clear error naming the key), with its
passwords read up front only for the commands that need them; every command but `run` reaches
the Exchange of the `calbridge run` running on its state folder (`bridge.instance`). A known
failure (configuration, Exchange unreachable or refusing the login, a file or folder that cannot
be used) ends the command with one message on stderr, printed as text (never as rich markup),
and a non-zero exit: 2 for the configuration, 1 for the rest; a damaged state file prints what
is damaged and the steps out (on stdout, to be copied) and exits 1. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.markup import escape

from bridge import instance
from bridge.config import Config, ConfigError, load_config
from bridge.exchange.errors import AuthFailed, ExchangeError, TransportError
from bridge.state.errors import StateDamaged

__all__ = ["common", "fail", "options", "stderr"]

stdout = Console()
stderr = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def options(*, secrets: bool, starts_instance: bool = False) -> Callable[[F], F]:
    """The options every command takes, the configuration loaded from them, and the error
    handling that turns a known failure into one message and an exit code.

    Args:
        secrets: read every password before the command starts (commands that talk to
            Exchange or serve CalDAV); otherwise a password is read only if it is used.
        starts_instance: the command is `run`; the others reach the running instance.
    """
    sim_port_help = (
        "Port of the embedded Exchange simulator (default 8800)."
        if starts_instance
        else "Port of the embedded Exchange simulator (default: the one `calbridge run` on "
        "this state folder listens on, else 8800)."
    )

    def decorate(func: F) -> F:
        return _with_options(func, secrets, starts_instance, sim_port_help)

    return decorate


def common(func: F) -> F:
    """`options` for a command that needs no password (status, retry, import)."""
    return options(secrets=False)(func)


def location_options(func: F) -> F:
    """`--config FILE` and `--state-dir DIR`, as every subcommand takes them."""
    func = click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Folder for the SQLite state and the calendars (default: state/).",
    )(func)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="TOML configuration file (default: the embedded demo).",
    )(func)


def _with_options(func: F, secrets: bool, starts_instance: bool, sim_port_help: str) -> F:
    @location_options
    @click.option("--sim-port", type=int, default=None, help=sim_port_help)
    @click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        config_path: Path | None,
        state_dir: Path | None,
        sim_port: int | None,
        verbose: int,
        **kwargs: Any,
    ) -> Any:
        _setup_logging(verbose)
        config: Config | None = None
        try:
            config = load_config(
                config_path,
                state_dir=state_dir,
                caldav_port=kwargs.pop("caldav_port", None),
                sim_port=sim_port,
                resolve_secrets=secrets,
            )
            if not starts_instance and sim_port is None:
                config = _reach_running_instance(config)
            return func(config, *args, **kwargs)
        except ConfigError as error:
            fail("configuration error", str(error), code=2)
        except StateDamaged as damage:
            _print_damage(damage)
            sys.exit(1)
        except AuthFailed as error:
            fail("Exchange refused the login:", _login_hint(config, error))
        except TransportError as error:
            fail("Exchange cannot be reached:", _transport_hint(config, error))
        except ExchangeError as error:
            fail("Exchange error:", str(error))
        except OSError as error:  # a folder or file we may not use: the environment, not a bug
            where = f"{error.filename}: " if error.filename else ""
            fail("cannot continue:", f"{where}{error.strerror or error}")

    return wrapper  # type: ignore[return-value]  # same signature as the command


def fail(what: str, detail: str, *, code: int = 1) -> NoReturn:
    stderr.print(f"[red]{escape(what)}[/red] {escape(detail)}", soft_wrap=True)
    sys.exit(code)


def _print_damage(damage: StateDamaged) -> None:
    """What is damaged and the steps out, instead of a traceback."""
    lines = [
        f"[bold red]The state database is damaged:[/bold red] {escape(damage.path)}",
        *(f"  SQLite reports: {escape(problem)}" for problem in damage.problems),
        "`calbridge run` keeps serving CalDAV, but does not sync until the file is replaced.",
        "To recover:",
        *(f"  {escape(step)}" for step in damage.recovery),
    ]
    for line in lines:
        stdout.print(line, soft_wrap=True)  # unwrapped: the commands can be copied


def _reach_running_instance(config: Config) -> Config:
    """The embedded simulator where `calbridge run` on this state folder really listens."""
    running = instance.read(config.state_dir)
    if not config.embedded or running is None or running.sim_url is None:
        return config
    address = urlsplit(running.sim_url)
    if address.hostname is None or address.port is None:
        return config
    return replace(config, sim_host=address.hostname, sim_port=address.port)


def _transport_hint(config: Config | None, error: TransportError) -> str:
    where = config.server_url() if config is not None else "Exchange"
    text = f"{where}: {error.message or type(error).__name__}"
    if config is not None and config.embedded and instance.read(config.state_dir) is None:
        text += (
            f". The embedded simulator runs inside `calbridge run`: start it with the same "
            f"--state-dir ({config.state_dir}), or give --sim-port for one started with "
            "`calbridge sim`."
        )
    return text


def _login_hint(config: Config | None, error: AuthFailed) -> str:
    if config is not None and config.service_username is not None:
        who = f"the service account {config.service_username!r}"
        key = "exchange.service_account.password"
    else:
        who, key = "the user's Exchange account", "user[].exchange_password"
    where = config.server_url() if config is not None else "Exchange"
    return f"{error.message} for {who} at {where}; check {key}"


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
