"""SEARCH answers only rows the user asking may open, for every scope form (issue 8 item 7).

Bob has a private message in his Inbox; alice searches from `/exchange/` with each traversal and
must see none of bob's rows, while her own rows and /public stay visible.
"""

from __future__ import annotations

import pytest
import requests

from exchange_sim.server import RunningSimulator
from tests.sim.conftest import logged_in
from tests.sim.davclient import parse_multistatus, proppatch, search

SUBJECT = "urn:schemas:httpmail:subject"


@pytest.fixture
def mailboxes(sim: RunningSimulator) -> RunningSimulator:
    """Bob's secret in his Inbox, alice's note in hers, an item in a public folder."""
    for alias, subject in (("bob", "Bob secret"), ("alice", "Alice note")):
        with logged_in(sim, alias) as session:
            answer = proppatch(session, f"{sim.base_url}/exchange/{alias}/Inbox/m.EML",
                               {SUBJECT: subject, "DAV:contentclass":
                                "urn:content-classes:message"})
            assert answer.status_code == 207
    sim.store.mkcol("/public/Notices")
    sim.store.write("/public/Notices/n.EML", {SUBJECT: "Public notice"})
    return sim


def _hrefs(session: requests.Session, url: str, sql: str) -> list[str]:
    answer = search(session, url, sql)
    assert answer.status_code == 207, answer.text
    return list(parse_multistatus(answer.content))


def _where(hrefs: list[str], alias: str) -> list[str]:
    return [h for h in hrefs if f"/exchange/{alias}/" in h or h.endswith(f"/exchange/{alias}")]


SELECT = 'SELECT "DAV:displayname", "urn:schemas:httpmail:subject" '


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
@pytest.mark.parametrize("scope", [
    "SCOPE('deep traversal of \"/exchange/\"')",
    "SCOPE('shallow traversal of \"/exchange/\"')",
    "SCOPE('hierarchical traversal of \"/exchange/\"')",
    '""',
])
def test_traversals_of_exchange_leave_out_other_mailboxes(mailboxes: RunningSimulator,
                                                          scope: str) -> None:
    base = mailboxes.base_url
    with logged_in(mailboxes, "alice") as alice:
        hrefs = _hrefs(alice, f"{base}/exchange/", SELECT + f"FROM {scope}")
    assert hrefs, "alice sees her own mailbox"
    for other in ("bob", "carol", "room-101", "svc-calbridge"):
        assert _where(hrefs, other) == [], (other, hrefs)
    assert _where(hrefs, "alice")
    if "deep" in scope:
        assert any(h.endswith("/exchange/alice/Inbox/m.EML") for h in hrefs)


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_deep_traversal_shows_no_subject_of_another_mailbox(mailboxes: RunningSimulator) -> None:
    with logged_in(mailboxes, "alice") as alice:
        answer = search(alice, mailboxes.base_url + "/exchange/",
                        SELECT + "FROM SCOPE('deep traversal of \"/exchange/\"')")
    assert b"Bob secret" not in answer.content
    assert b"Alice note" in answer.content


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_scope_naming_another_users_folder_is_refused(mailboxes: RunningSimulator) -> None:
    base = mailboxes.base_url
    with logged_in(mailboxes, "alice") as alice:
        for sql in (SELECT + "FROM SCOPE('shallow traversal of \"/exchange/bob/Inbox/\"')",
                    SELECT + "FROM SCOPE('deep traversal of \"/exchange/bob/\"')",
                    SELECT + 'FROM "/exchange/bob/Inbox/"'):
            answer = search(alice, f"{base}/exchange/alice/", sql)
            assert answer.status_code == 403, sql
            assert b"Bob secret" not in answer.content
        assert search(alice, f"{base}/exchange/bob/Inbox/", SELECT + 'FROM ""').status_code \
            == 403


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_public_and_granted_mailboxes_stay_searchable(mailboxes: RunningSimulator) -> None:
    base = mailboxes.base_url
    with logged_in(mailboxes, "alice") as alice:
        public = _hrefs(alice, f"{base}/public/",
                        SELECT + "FROM SCOPE('deep traversal of \"/public/\"')")
    assert any(h.endswith("/public/Notices/n.EML") for h in public)
    with logged_in(mailboxes, "svc-calbridge") as admin:  # may open every mailbox
        everything = _hrefs(admin, f"{base}/exchange/",
                            SELECT + "FROM SCOPE('deep traversal of \"/exchange/\"')")
    assert any(h.endswith("/exchange/bob/Inbox/m.EML") for h in everything)
