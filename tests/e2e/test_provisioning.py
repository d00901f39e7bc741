"""People who log in with their Exchange password become users (issue 11 item 1, last part).

A real calbridge Service (`caldav.auth = "exchange"`, the service account, the embedded
simulator), the `caldav` library as the person's client, real SQLite state. Only alice has a
`[[user]]` table; bob is let in by `caldav.allow`, provisioned, synced, and kept across a
restart. What carol received is read from her Exchange Inbox as an administrator sees it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import caldav
import pytest
import requests
from caldav.lib.error import AuthorizationError

from bridge.config import Config
from bridge.service import Service
from bridge.state import State
from tests.e2e import ics
from tests.e2e.conftest import REQUEST, Exchange, make_config
from tests.e2e.processes import cli
from tests.sim.davclient import login_fba

BOB_ORGANIZES = "ORGANIZER;CN=Bob Example:mailto:bob@example.com"


def only_alice(state_dir: Path, allow: tuple[str, ...]) -> Config:
    config = make_config(state_dir, caldav_auth="exchange", caldav_allow=allow)
    alice = replace(config.user("alice"), caldav_password=None)
    return replace(config, users=(alice,))


@contextmanager
def running(config: Config, *, autosync: bool = False) -> Iterator[tuple[Service, Exchange]]:
    service = Service(config, autosync=autosync)
    service.start()
    try:
        assert service.sim_url is not None
        admin = requests.Session()
        login_fba(admin, service.sim_url, "svc-calbridge", "demo")
        yield service, Exchange(service.sim_url, admin)
    finally:
        service.stop()


def bob_logs_in(service: Service) -> caldav.Principal:
    client = caldav.DAVClient(url=service.caldav_url, username="bob", password="demo")
    return client.principal()


def bob_calendar(service: Service) -> caldav.Calendar:
    client = caldav.DAVClient(url=service.caldav_url, username="bob", password="demo")
    return client.calendar(url=f"{service.caldav_url}bob/calendar/")


def bob_invites_carol(uid: str) -> str:
    return ics.calendar(ics.event(uid, ics.CAROL, organizer=BOB_ORGANIZES, summary=uid))


def requests_to_carol(exchange: Exchange, summary: str) -> list[dict[str, Any]]:
    return [
        item for item in exchange.inbox("carol", REQUEST)
        if summary in json.dumps(item, default=str)
    ]


def sent_from_bob(service: Service) -> bool:
    """The simulator saw the service account write into bob's own mailbox (his Outbox or
    Drafts): the request went out as bob, not as alice."""
    return any(
        entry.method in {"PUT", "PROPPATCH", "MOVE", "POST"}
        and entry.path.startswith("/exchange/bob/")
        for entry in service.simulator.app.log
    )


def synced_users(service: Service) -> list[str]:
    assert service.engine is not None
    return [u.name for u in service.engine.config.users]


def test_a_newcomer_becomes_a_user_whose_meetings_reach_exchange_once_even_after_a_restart(
    tmp_path: Path,
) -> None:
    config = only_alice(tmp_path / "state", allow=("*",))
    with running(config) as (service, exchange):
        bob_logs_in(service)  # his first login: Exchange checks "demo"; no [[user]] for him
        assert synced_users(service) == ["alice"]  # the request thread only recorded him
        assert service.provision_pending() == ["bob"]  # what the loop does before its pass
        assert synced_users(service) == ["alice", "bob"]
        bob_calendar(service).save_event(bob_invites_carol("bob-meeting-1"))
        assert service.engine is not None
        service.engine.sync(full=False)
        assert len(requests_to_carol(exchange, "bob-meeting-1")) == 1
        assert sent_from_bob(service)
        service.engine.sync()  # a later pass (a full reconcile) sends nothing again
        assert len(requests_to_carol(exchange, "bob-meeting-1")) == 1
        # His outbox answers him now (it answered 403 before he was a user).
        answer = requests.post(
            f"{service.caldav_url}bob/outbox/", auth=("bob", "demo"),
            headers={"Content-Type": "text/calendar"}, data=b"not a calendar", timeout=30,
        )
        assert answer.status_code == 400  # the outbox read his (bad) body: he is a user

    with State.open(config.state_dir / "bridge.sqlite") as state:
        (row,) = state.provisioned_users()
    assert (row.name, row.mailbox, row.email) == ("bob", "bob", "bob@example.com")

    with running(config) as (service, exchange):
        assert synced_users(service) == ["alice", "bob"]  # from the state, before any login
        bob_calendar(service).save_event(bob_invites_carol("bob-meeting-2"))
        assert service.engine is not None
        service.engine.sync(full=False)
        assert len(requests_to_carol(exchange, "bob-meeting-2")) == 1
        assert len(requests_to_carol(exchange, "bob-meeting-1")) == 1

    done = cli("status", "--json", "--state-dir", str(config.state_dir))
    document = json.loads(done.stdout)
    (bob,) = document["provisioned"]
    assert (bob["name"], bob["mailbox"], bob["email"]) == ("bob", "bob", "bob@example.com")
    assert "bob" in {entry["mailbox"] for entry in document["mailboxes"]}


def test_a_newcomer_who_is_not_allowed_is_never_provisioned(tmp_path: Path) -> None:
    config = only_alice(tmp_path / "state", allow=("dave",))
    with running(config) as (service, _):
        with pytest.raises(AuthorizationError):
            bob_logs_in(service)
        assert service.provision_pending() == []
        assert synced_users(service) == ["alice"]
        assert service.engine is not None
        assert service.engine.state.provisioned_users() == []


def test_a_provisioned_user_taken_out_of_allow_is_not_synced_after_a_restart(
    tmp_path: Path,
) -> None:
    config = only_alice(tmp_path / "state", allow=("bob",))
    with running(config) as (service, _):
        bob_logs_in(service)
        assert service.provision_pending() == ["bob"]
    with running(replace(config, caldav_allow=("dave",))) as (service, _):
        assert synced_users(service) == ["alice"]


def test_the_running_service_provisions_a_newcomer_on_its_own(tmp_path: Path) -> None:
    """`calbridge run` as it is: the login wakes the loop, whose tick provisions bob (his
    default calendar appears) and whose passes send his meeting."""
    config = only_alice(tmp_path / "state", allow=("*",))
    with running(config, autosync=True) as (service, exchange):
        principal = bob_logs_in(service)
        exchange.wait_for(lambda: "bob" in synced_users(service))
        exchange.wait_for(lambda: any(
            str(c.url).rstrip("/").endswith("bob/calendar") for c in principal.calendars()
        ))
        bob_calendar(service).save_event(bob_invites_carol("bob-live"))
        exchange.wait_for(lambda: requests_to_carol(exchange, "bob-live"))
        assert len(requests_to_carol(exchange, "bob-live")) == 1
