"""Test support: injected statuses, delays, dropped connections, the request log."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.sim.davclient import propfind, proppatch, search

PROPS = ("DAV:displayname",)


def test_injected_status_then_recovery(sim, alice):
    url = sim.base_url + "/exchange/alice/Calendar/"
    sim.app.faults.add(r"^SEARCH /exchange/alice/Calendar", status=503, count=2)
    sql = 'SELECT "DAV:displayname" FROM ""'
    assert propfind(alice, url, PROPS).status_code == 207  # other methods are untouched
    first, second = search(alice, url, sql), search(alice, url, sql)
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.headers["MS-WebStorage"].startswith("6.5.")
    assert search(alice, url, sql).status_code == 207


def test_injected_delay(sim, alice):
    url = sim.base_url + "/exchange/alice/"
    sim.app.faults.add("PROPFIND", delay=0.4)
    started = time.monotonic()
    assert propfind(alice, url, PROPS).status_code == 207
    assert time.monotonic() - started >= 0.4
    assert len(sim.app.faults) == 0  # used up by that one request: the next is not delayed


def test_dropped_connection_raises_connection_error(sim, alice):
    url = sim.base_url + "/exchange/alice/"
    sim.app.faults.add(r"PROPFIND /exchange/alice/$", drop=True)
    with pytest.raises(requests.ConnectionError):
        propfind(alice, url, PROPS)
    assert propfind(alice, url, PROPS).status_code == 207
    assert [e.status for e in sim.app.log if e.method == "PROPFIND"] == [0, 207]


def test_fault_needs_an_effect(sim):
    with pytest.raises(ValueError):
        sim.app.faults.add("GET")


def test_request_log_and_json_export(sim, alice, tmp_path):
    sim.app.log.clear()
    propfind(alice, sim.base_url + "/exchange/alice/Sent%20Items/", PROPS)
    propfind(alice, sim.base_url + "/exchange/bob/", PROPS)
    entries = [e for e in sim.app.log if e.method == "PROPFIND"]
    assert [(e.path, e.user, e.status) for e in entries] == [
        ("/exchange/alice/Sent Items/", "alice", 207), ("/exchange/bob/", "alice", 403)]
    assert all(e.ts <= time.time() for e in entries)
    target = tmp_path / "log.json"
    sim.app.log.export_json(target)
    exported = json.loads(target.read_text())
    assert exported[-1]["method"] == "PROPFIND" and exported[-1]["status"] == 403
    assert set(exported[-1]) >= {"method", "path", "user", "status", "ts"}


def test_unauthenticated_requests_are_logged_without_user(sim, http):
    http.get(sim.base_url + "/exchange/", allow_redirects=False)
    entry = sim.app.log[-1]
    assert (entry.method, entry.path, entry.user, entry.status) == ("GET", "/exchange/", None,
                                                                     302)


def test_fault_after_the_request_drops_its_answer_but_keeps_its_effect(sim, alice):
    url = sim.base_url + "/exchange/alice/Calendar/after-drop.EML"
    sim.app.faults.add(r"^PROPPATCH /exchange/alice/Calendar/after-drop", drop=True, after=True)
    with pytest.raises(requests.ConnectionError):
        proppatch(alice, url, {"urn:schemas:httpmail:subject": "written, answer lost"})
    found = propfind(alice, url, ("urn:schemas:httpmail:subject",))
    assert found.status_code == 207
    assert b"written, answer lost" in found.content
    assert [e.status for e in sim.app.log if e.method == "PROPPATCH"][-1] == 0


def test_fault_after_the_request_can_replace_or_delay_its_answer(sim, alice):
    url = sim.base_url + "/exchange/alice/Calendar/after-status.EML"
    sim.app.faults.add(r"^PROPPATCH /exchange/alice/Calendar/after-status", status=504,
                       after=True)
    answer = proppatch(alice, url, {"urn:schemas:httpmail:subject": "done anyway"})
    assert answer.status_code == 504
    assert b"done anyway" in propfind(alice, url, ("urn:schemas:httpmail:subject",)).content
    sim.app.faults.add(r"^PROPFIND /exchange/alice/Calendar/after-status", delay=0.3,
                       after=True)
    started = time.monotonic()
    assert propfind(alice, url, ("urn:schemas:httpmail:subject",)).status_code == 207
    assert time.monotonic() - started >= 0.3
