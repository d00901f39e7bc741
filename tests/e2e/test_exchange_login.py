"""CalDAV login with the Exchange password (issue 11 item 1), over real HTTP.

A real calbridge Service (Radicale + the Exchange auth plugin) in front of a real simulator in
each of its logon modes, the `caldav` library as the user's client, and no htpasswd entry for
anybody. What Exchange was asked is read from the simulator's request log.
"""

from __future__ import annotations

import base64
import http.client
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import caldav
import pytest
import requests
from caldav.lib.error import AuthorizationError

from bridge.config import UserConfig
from bridge.exchange_auth import LoginState
from bridge.login_guard import LoginGuard
from bridge.service import Service
from exchange_sim.mailboxes import Mailbox, demo_mailboxes
from exchange_sim.server import RunningSimulator, running_simulator
from exchange_sim.store import Store
from tests.e2e import ics
from tests.e2e.conftest import make_config

MODES = ["fba", "basic", "ntlm"]
# Distinctive passwords, so a grep for them cannot hit anything by chance.
ALICE_PW = "Alice-Exch4nge-Pw!7"
BOB_PW = "Bob-Exch4nge-Pw!8"
MALLORY_PW = "Mallory-Exch4nge-Pw!9"


class Clock:
    """The login guard's clock, moved by the test (tests never wait for wall-clock time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def mailboxes() -> list[Mailbox]:
    """The demo set with real-looking passwords, plus mallory, whose SMTP address looks like
    alice's (`alice@elsewhere.example`)."""
    passwords = {"alice": ALICE_PW, "bob": BOB_PW}
    found = [replace(m, password=passwords.get(m.alias, m.password)) for m in demo_mailboxes()]
    found.append(Mailbox("mallory", "alice@elsewhere.example", "Mallory Example", MALLORY_PW))
    return found


@contextmanager
def exchange_login_bridge(
    tmp_path: Path, mode: str, **changes: Any
) -> Iterator[tuple[Service, RunningSimulator, Clock]]:
    """calbridge (caldav.auth = "exchange") in front of a simulator in `mode`."""
    with running_simulator(Store(":memory:", mailboxes()), auth=mode) as sim:
        config = make_config(
            tmp_path / f"state-{mode}",
            exchange_url=sim.base_url,
            auth=mode,
            caldav_auth="exchange",
            **changes,
        )
        # No CalDAV password anywhere: the [[user]] tables carry none.
        config = replace(config, users=tuple(replace(u, caldav_password=None)
                                             for u in config.users))
        service = Service(config, autosync=False)
        service.start()
        clock = Clock()
        plugin(service).guard = LoginGuard(clock)
        try:
            yield service, sim, clock
        finally:
            service.stop()


def plugin(service: Service) -> LoginState:
    """What the service's Exchange auth plugins share: guard, probe count, newcomers."""
    found: LoginState = service.caldav_configuration.get("auth", "type").state
    return found


def logons(sim: RunningSimulator) -> list[str]:
    """One line per logon the simulator saw, "METHOD path status user" of its last request:
    the owaauth.dll POST (fba), the GET of the OWA page (basic), or the last request of each
    three-request NTLM handshake (anonymous GET, NEGOTIATE, AUTHENTICATE)."""
    mode = sim.app.auth.mode
    found = [
        f"{entry.method} {entry.path} {entry.status} {entry.user}"
        for entry in sim.app.log
        if (entry.path.endswith("owaauth.dll") if mode == "fba" else entry.path == "/exchange/")
    ]
    return found[2::3] if mode == "ntlm" else found


def client(service: Service, user: str, password: str) -> caldav.DAVClient:
    return caldav.DAVClient(url=service.caldav_url, username=user, password=password)


def raw_get(service: Service, path: str, authorization: str) -> int:
    """A request with exactly this Authorization header (no client library in between)."""
    address = urlsplit(service.caldav_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.request("PROPFIND", path, headers={"Authorization": authorization,
                                                      "Depth": "0"})
        return connection.getresponse().status
    except (ConnectionError, http.client.HTTPException):
        return 0  # the server closed the connection instead of answering
    finally:
        connection.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


# -- logging in ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_alice_uses_caldav_with_her_exchange_password(tmp_path: Path, mode: str) -> None:
    with exchange_login_bridge(tmp_path, mode) as (service, sim, _):
        principal = client(service, "alice", ALICE_PW).principal()
        assert urlsplit(str(principal.url)).path == "/alice/"
        calendar = next(c for c in principal.calendars()
                        if str(c.url).rstrip("/").endswith("/calendar"))
        calendar.save_event(ics.calendar(ics.event("login-probe", ics.BOB)))
        assert [e.icalendar_component["uid"] for e in calendar.events()] == ["login-probe"]
        # Every request was authenticated, Exchange was asked once (the warm cache did the rest).
        assert len(logons(sim)) == 1
        assert plugin(service).guard.cached_names() == ["alice"]
        assert not (service.config.state_dir / "htpasswd").exists()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["EXAMPLE\\alice", "alice@example.com", "ALICE"])
def test_every_form_of_her_login_name_leads_to_her_own_principal(
    tmp_path: Path, mode: str, name: str
) -> None:
    with exchange_login_bridge(tmp_path, mode) as (service, _, _):
        principal = client(service, name, ALICE_PW).principal()
        assert urlsplit(str(principal.url)).path == "/alice/"


def test_with_htpasswd_still_the_default_the_exchange_password_is_not_a_caldav_password(
    bridge_with: Any,
) -> None:
    bridge = bridge_with()
    assert bridge.config.caldav_auth == "htpasswd"
    assert (bridge.config.state_dir / "htpasswd").exists()
    with pytest.raises(AuthorizationError):
        client(bridge.service, "alice", "not-demo").principal()
    assert urlsplit(str(client(bridge.service, "alice", "demo").principal().url)).path == "/alice/"


def test_the_embedded_demo_logs_in_with_the_demo_exchange_password(bridge_with: Any) -> None:
    bridge = bridge_with(caldav_auth="exchange")
    principal = client(bridge.service, "bob", "demo").principal()
    assert urlsplit(str(principal.url)).path == "/bob/"
    assert not (bridge.config.state_dir / "htpasswd").exists()


# -- wrong passwords -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_wrong_password_gets_401_and_is_not_remembered(tmp_path: Path, mode: str) -> None:
    with exchange_login_bridge(tmp_path, mode) as (service, sim, _):
        assert raw_get(service, "/alice/", basic("alice", "wrong-password")) == 401
        guard = plugin(service).guard
        assert guard.cached_names() == []
        assert guard.remembered("alice", "wrong-password") is None
        brake = guard.brake_of(key="alice")
        assert brake is not None and brake.failures == 1
        assert len(logons(sim)) == 1  # asked once, never retried


@pytest.mark.parametrize("mode", ["fba", "basic"])
def test_repeated_failures_are_braked_and_exchange_sees_only_the_first(
    tmp_path: Path, mode: str
) -> None:
    with exchange_login_bridge(tmp_path, mode) as (service, sim, clock):
        for _ in range(4):  # the guard's clock stands still: all inside the first brake
            assert raw_get(service, "/alice/", basic("alice", "guess")) == 401
        assert len(logons(sim)) == 1
        # Even the right password waits out the brake (it is not remembered yet) ...
        assert raw_get(service, "/alice/", basic("alice", ALICE_PW)) == 401
        assert len(logons(sim)) == 1
        brake = plugin(service).guard.brake_of(key="alice")
        assert brake is not None and brake.failures == 1 and brake.until == clock.now + 1.0
        # ... and once it has passed, Exchange is asked again, once.
        clock.now += 1.0
        assert raw_get(service, "/alice/", basic("alice", "guess-2")) == 401
        assert len(logons(sim)) == 2
        brake = plugin(service).guard.brake_of(key="alice")
        assert brake is not None and brake.failures == 2 and brake.until == clock.now + 2.0
        clock.now += 2.0
        assert raw_get(service, "/alice/", basic("alice", ALICE_PW)) == 207
        assert len(logons(sim)) == 3
        assert plugin(service).guard.brake_of(key="alice") is None


def test_a_remembered_login_survives_a_strangers_wrong_guesses(tmp_path: Path) -> None:
    with exchange_login_bridge(tmp_path, "basic") as (service, sim, _):
        assert raw_get(service, "/alice/", basic("alice", ALICE_PW)) == 207
        for _ in range(3):
            assert raw_get(service, "/alice/", basic("alice", "guess")) == 401
        assert raw_get(service, "/alice/", basic("alice", ALICE_PW)) == 207
        assert len(logons(sim)) == 2  # her login and the first guess


def test_when_exchange_cannot_answer_nothing_is_counted_or_remembered(tmp_path: Path) -> None:
    with exchange_login_bridge(tmp_path, "basic") as (service, sim, _):
        sim.app.faults.add(r"^GET /exchange/$", status=503)
        assert raw_get(service, "/alice/", basic("alice", ALICE_PW)) == 401
        guard = plugin(service).guard
        assert guard.cached_names() == [] and guard.brake_of(key="alice") is None
        assert plugin(service).probes == 1 and len(logons(sim)) == 1  # no retry of the login
        assert raw_get(service, "/alice/", basic("alice", ALICE_PW)) == 207  # back: let in


# -- whose calendars -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_bob_cannot_read_alices_calendar(tmp_path: Path, mode: str) -> None:
    with exchange_login_bridge(tmp_path, mode) as (service, _, _):
        alice = client(service, "alice", ALICE_PW).principal()
        next(iter(alice.calendars())).save_event(ics.calendar(ics.event("private", ics.BOB)))
        bob = client(service, "bob", BOB_PW)
        assert urlsplit(str(bob.principal().url)).path == "/bob/"
        answer = requests.request(
            "PROPFIND", f"{service.caldav_url}alice/calendar/", auth=("bob", BOB_PW),
            headers={"Depth": "1"}, timeout=30,
        )
        assert answer.status_code == 403
        assert b"private" not in answer.content


def test_an_exchange_account_that_is_not_a_user_is_refused(tmp_path: Path) -> None:
    with exchange_login_bridge(tmp_path, "basic") as (service, sim, _):
        # Mallory's login name looks like alice's address; her password opens only her mailbox.
        assert raw_get(service, "/", basic("alice@elsewhere.example", MALLORY_PW)) == 401
        assert raw_get(service, "/", basic("svc-calbridge", "demo")) == 401
        assert len(logons(sim)) == 2  # the passwords were right: Exchange said whose they are
        assert plugin(service).guard.cached_names() == []


def test_an_allowed_newcomer_gets_her_own_principal_never_the_one_her_name_suggests(
    tmp_path: Path,
) -> None:
    with exchange_login_bridge(tmp_path, "basic", caldav_allow=("mallory",)) as (service, _, _):
        principal = client(service, "alice@elsewhere.example", MALLORY_PW).principal()
        assert urlsplit(str(principal.url)).path == "/mallory/"
        answer = requests.request(
            "PROPFIND", f"{service.caldav_url}alice/", auth=("alice@elsewhere.example",
                                                             MALLORY_PW),
            headers={"Depth": "0"}, timeout=30,
        )
        assert answer.status_code == 403
        # What provisioning needs, probed from Exchange (the OWA page and the GAL).
        identity = plugin(service).newcomers["mallory"]
        assert identity.alias == "mallory"
        assert identity.mailbox_url == f"{service.config.server_url()}/exchange/mallory/"
        assert identity.email == "alice@elsewhere.example"
        assert identity.display_name == "Mallory Example"


def test_an_allowed_alias_never_takes_over_a_configured_name_of_another_mailbox(
    tmp_path: Path,
) -> None:
    with running_simulator(Store(":memory:", mailboxes()), auth="basic") as sim:
        users = (
            UserConfig("alice", "alice", "alice@example.com", None),
            UserConfig("bob", "carol", "carol@example.com", None),  # CalDAV "bob" is carol
        )
        config = replace(
            make_config(tmp_path / "state", exchange_url=sim.base_url, auth="basic",
                        caldav_auth="exchange", caldav_allow=("*",)),
            users=users,
        )
        service = Service(config, autosync=False)
        service.start()
        try:
            # Bob (alias bob) is allowed by "*", but "bob" is carol's principal: refused.
            assert raw_get(service, "/bob/", basic("bob", BOB_PW)) == 401
            assert raw_get(service, "/bob/", basic("carol", "demo")) == 207
            assert raw_get(service, "/dave/", basic("dave", "demo")) == 207
        finally:
            service.stop()


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (basic("alice", ""), 401),  # empty password: refused without asking Exchange
        (basic("alice/calendar", ALICE_PW), 401),
        (basic("../alice", ALICE_PW), 401),
        (basic("al\r\nice", ALICE_PW), 401),
        # 40 kB, 53 kB in base64: under the server's 64 KiB header cap, refused by length.
        (basic("alice", "x" * 40_000), 401),
        (basic("a" * 40_000, ALICE_PW), 401),
    ],
    ids=["empty-password", "slash", "dotdot", "control", "long-password", "long-name"],
)
def test_bad_credentials_are_refused_without_asking_exchange(
    tmp_path: Path, authorization: str, status: int
) -> None:
    with exchange_login_bridge(tmp_path, "basic") as (service, sim, _):
        assert raw_get(service, "/alice/", authorization) == status
        assert logons(sim) == []
        assert plugin(service).probes == 0


def test_a_megabyte_of_credentials_is_refused_by_the_server(tmp_path: Path) -> None:
    with exchange_login_bridge(tmp_path, "basic") as (service, sim, _):
        status = raw_get(service, "/alice/", basic("alice", "x" * (1 << 20)))
        assert status == 431  # Python's HTTP server: a header line over 64 KiB
        assert logons(sim) == []
        assert plugin(service).probes == 0


# -- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_no_password_reaches_a_log_or_the_state_folder(
    tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    with exchange_login_bridge(tmp_path, mode) as (service, _, clock):
        client(service, "alice", ALICE_PW).principal()
        assert raw_get(service, "/alice/", basic("alice", BOB_PW)) == 401  # a wrong one
        clock.now += 10
        assert raw_get(service, "/bob/", basic("EXAMPLE\\bob", BOB_PW)) == 207
        assert raw_get(service, "/", basic(ALICE_PW, ALICE_PW)) == 401  # password as the name
        state_dir = service.config.state_dir
    # calbridge's process: Radicale, our modules, the HTTP libraries. The simulator stands for
    # Exchange, which logs failed logons (with the name as typed) in its own security log.
    ours = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith("exchange_sim")
    )
    assert ours.count("\n") > 20  # DEBUG really was on
    captured = capfd.readouterr()
    for secret in (ALICE_PW, BOB_PW):
        encoded = base64.b64encode(f"alice:{secret}".encode()).decode()
        for text in (ours, captured.out, captured.err):
            assert secret not in text
            assert encoded not in text
        for path in state_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
