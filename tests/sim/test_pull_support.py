"""What the pull direction reads from the simulator, over real HTTP (issue 10, part A).

- Folder `repl:contenttag` in one `PROPFIND Depth: 1,noroot` of the mailbox root; delivery moves
  the Inbox's tag (and the Calendar's when Outlook places a tentative copy).
- Tentative placement is each mailbox's setting, from the `--mailboxes` TOML file.
- `?Cmd=accept|tentative|decline` (reference §6.2): a plain GET on the request item, the command
  name in any case; the answer reaches the organizer's Inbox as `Resp.*` whose MIME carries the
  attendee's PARTSTAT. The reference is silent on per-recipient tracking on the organizer's
  appointment, so the simulator records only `replytime` there and the replies stay in the
  organizer's Inbox, where Outlook 2003 (and the pull) read them.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest

from exchange_sim.app import Simulator
from exchange_sim.server import RunningServer, RunningSimulator, serve
from exchange_sim.store import Store, load_mailboxes
from tests.sim.conftest import logged_in
from tests.sim.davclient import parse_multistatus, propfind
from tests.sim.test_transport import CAL, CLASS, classes, folder, send_meeting

CONTENTTAG = "http://schemas.microsoft.com/repl/contenttag"
RESPONSESTATUS = "http://schemas.microsoft.com/mapi/responsestatus"
TOML = """
[[mailbox]]
alias = "alice"
password = "demo"
[[mailbox]]
alias = "carol"
password = "demo"
auto_tentative = true
[[mailbox]]
alias = "bob"
password = "demo"
[[mailbox]]
alias = "svc"
password = "demo"
kind = "service"
access = ["*"]
"""


@pytest.fixture
def toml_sim(tmp_path: Path, sim_servers: dict[str, RunningServer]
             ) -> Iterator[RunningSimulator]:
    """The basic-auth test server with the mailboxes of a `--mailboxes` TOML file."""
    path = tmp_path / "mailboxes.toml"
    path.write_text(TOML, encoding="utf-8")
    store = Store(":memory:", load_mailboxes(path))
    app = Simulator(store, auth="basic")
    server = sim_servers.get("basic")
    if server is None:
        server = sim_servers["basic"] = serve(app)
    server.app = app
    yield RunningSimulator(server.base_url, app, store, server)
    app.close()


def tags(sim: RunningSimulator, alias: str) -> dict[str, str]:
    """{folder name: contenttag} from one PROPFIND Depth 1,noroot of the mailbox root."""
    with logged_in(sim, alias) as session:
        answer = propfind(session, f"{sim.base_url}/exchange/{alias}/", [CONTENTTAG],
                          depth="1,noroot", brief=True)
    assert answer.status_code == 207
    found = parse_multistatus(answer.content)
    return {href.rstrip("/").rsplit("/", 1)[-1]: str(props[200][CONTENTTAG])
            for href, props in found.items() if 200 in props and CONTENTTAG in props[200]}


def test_delivery_moves_inbox_tag_and_tentative_copy_moves_calendar_tag(
        toml_sim: RunningSimulator) -> None:
    before = {alias: tags(toml_sim, alias) for alias in ("alice", "carol")}
    assert {"Calendar", "Inbox"} <= set(before["alice"])
    with logged_in(toml_sim, "bob") as bob:
        send_meeting(bob, toml_sim.base_url, "bob", "tag",
                     to="alice@example.com, carol@example.com")
    after = {alias: tags(toml_sim, alias) for alias in ("alice", "carol")}
    assert after["alice"]["Inbox"] != before["alice"]["Inbox"]
    assert after["alice"]["Calendar"] == before["alice"]["Calendar"]  # no auto_tentative
    assert after["carol"]["Inbox"] != before["carol"]["Inbox"]
    assert after["carol"]["Calendar"] != before["carol"]["Calendar"]  # TOML: auto_tentative
    with logged_in(toml_sim, "svc") as admin:
        (copy,) = folder(admin, toml_sim.base_url, "carol", "Calendar")
        assert (copy[CAL + "busystatus"], copy[RESPONSESTATUS]) == ("TENTATIVE", 5)
        assert folder(admin, toml_sim.base_url, "alice", "Calendar") == []


def test_answer_commands_in_any_case_reach_the_organizer_with_partstat(
        toml_sim: RunningSimulator) -> None:
    base = toml_sim.base_url
    with logged_in(toml_sim, "bob") as bob:
        _, uid = send_meeting(bob, base, "bob", "answers",
                              to="alice@example.com, carol@example.com")
    for alias, command in (("alice", "ACCEPT"), ("carol", "Tentative")):
        with logged_in(toml_sim, alias) as session:
            (request,) = folder(session, base, alias, "Inbox")
            answer = session.get(f"{request['href']}?cmd={command}", allow_redirects=False)
            assert answer.status_code == 302
            again = session.get(f"{request['href']}?Cmd=decline", allow_redirects=False)
            assert again.status_code == 404  # the request moved: nothing sent twice
    with logged_in(toml_sim, "svc") as admin:
        assert classes(admin, base, "bob", "Inbox") == [
            "IPM.Schedule.Meeting.Resp.Pos", "IPM.Schedule.Meeting.Resp.Tent"]
        statuses = {alias: folder(admin, base, alias, "Calendar")[0][RESPONSESTATUS]
                    for alias in ("alice", "carol")}
        assert statuses == {"alice": 3, "carol": 2}  # respAccepted, respTentative (§4.4)
        found = {}
        for reply in folder(admin, base, "bob", "Inbox"):
            mime = admin.get(str(reply["href"]), headers={"Translate": "f"})
            assert mime.status_code == 200
            part = next(p for p in email.message_from_bytes(mime.content).walk()
                        if p.get_content_type() == "text/calendar")
            event = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]
            attendee = event["ATTENDEE"]
            found[str(attendee).lower()] = (str(attendee.params["PARTSTAT"]), str(event["UID"]))
        assert found == {"mailto:alice@example.com": ("ACCEPTED", uid),
                         "mailto:carol@example.com": ("TENTATIVE", uid)}
        (appointment,) = folder(admin, base, "bob", "Calendar")
        assert appointment.get(RESPONSESTATUS) is None  # no per-recipient tracking (silent)


def test_a_changed_answer_is_sent_on_the_request_in_deleted_items(
        toml_sim: RunningSimulator) -> None:
    base = toml_sim.base_url
    with logged_in(toml_sim, "bob") as bob:
        _, uid = send_meeting(bob, base, "bob", "change", to="alice@example.com")
    with logged_in(toml_sim, "alice") as alice:
        (request,) = folder(alice, base, "alice", "Inbox")
        assert alice.get(f"{request['href']}?Cmd=accept",
                         allow_redirects=False).status_code == 302
        assert folder(alice, base, "alice", "Inbox") == []
        (moved,) = [i for i in folder(alice, base, "alice", "Deleted Items")
                    if i.get(CLASS) == "IPM.Schedule.Meeting.Request"]
        assert alice.get(f"{moved['href']}?Cmd=decline",
                         allow_redirects=False).status_code == 302
        assert folder(alice, base, "alice", "Calendar") == []  # declined: the copy is gone
    with logged_in(toml_sim, "svc") as admin:
        assert classes(admin, base, "bob", "Inbox") == [
            "IPM.Schedule.Meeting.Resp.Neg", "IPM.Schedule.Meeting.Resp.Pos"]
        assert {i[CAL + "uid"] for i in folder(admin, base, "bob", "Inbox")} == {uid}
