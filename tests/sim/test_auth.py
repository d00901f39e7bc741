"""Authentication over real HTTP: FBA dance, 440 on expiry, Basic, NTLM, mailbox access."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests_ntlm import HttpNtlmAuth

from tests.sim.conftest import logged_in
from tests.sim.davclient import login_fba, propfind

ROOT_PROPS = ("DAV:displayname",)


def test_fba_dance_as_davmail_does_it(sim, http):
    first = http.get(sim.base_url + "/exchange/", allow_redirects=False)
    assert first.status_code == 302
    location = first.headers["Location"]
    assert location.startswith(sim.base_url + "/exchweb/bin/auth/owalogon.asp?")
    query = parse_qs(urlsplit(location).query)
    assert query == {"url": [sim.base_url + "/exchange/"], "reason": ["0"]}
    assert "url=http%3A%2F%2F127.0.0.1%3A" in location
    page = http.get(location)
    assert page.status_code == 200
    assert page.text.count("<FORM") == 1
    assert 'action="/exchweb/bin/auth/owaauth.dll"' in page.text
    assert 'name="logonForm"' in page.text
    assert f'name="destination" value="{sim.base_url}/exchange/"' in page.text
    for field in ('name="flags"', 'name="username"', 'name="password"', 'name="trusted"'):
        assert field in page.text
    posted = http.post(sim.base_url + "/exchweb/bin/auth/owaauth.dll",
                       data={"destination": sim.base_url + "/exchange/", "username": "alice",
                             "password": "demo", "trusted": "4", "flags": "4"},
                       cookies={"PBack": "0"}, allow_redirects=False)
    assert posted.status_code == 302
    assert posted.headers["Location"] == sim.base_url + "/exchange/"
    cookies = posted.raw.headers.getlist("Set-Cookie")
    assert any(c.startswith("sessionid=") and c.endswith(",0x409; path=/") for c in cookies)
    assert any(c.startswith('cadata="2,') and "HttpOnly" in c for c in cookies)
    welcome = http.get(sim.base_url + "/exchange/")
    assert welcome.status_code == 200
    assert f'<BASE href="{sim.base_url}/exchange/alice/">' in welcome.text.splitlines()


def test_bad_password_redirects_with_reason_2(sim, http):
    answer = http.post(sim.base_url + "/exchweb/bin/auth/owaauth.dll",
                       data={"destination": sim.base_url + "/exchange/", "username": "alice",
                             "password": "wrong"}, allow_redirects=False)
    assert answer.status_code == 302
    assert "reason=2" in answer.headers["Location"]
    assert "cadata" not in http.cookies
    page = http.get(answer.headers["Location"])
    assert "could not be logged on" in page.text
    with pytest.raises(PermissionError):
        login_fba(http, sim.base_url, "alice", "nope")


def test_open_redirect_is_refused(sim, http):
    answer = http.post(sim.base_url + "/exchweb/bin/auth/owaauth.dll",
                       data={"destination": "http://evil.example/x", "username": "bob",
                             "password": "demo"}, allow_redirects=False)
    assert answer.headers["Location"] == sim.base_url + "/exchange/"


def test_logon_page_with_translate_f_is_403(sim, http):
    answer = http.get(sim.base_url + "/exchweb/bin/auth/owalogon.asp?url=x&reason=0",
                      headers={"Translate": "F"})
    assert answer.status_code == 403


def test_user_name_forms(sim):
    for name in ("EXAMPLE\\carol", "carol@example.com", "CAROL"):
        with requests.Session() as session:
            page = login_fba(session, sim.base_url, name, "demo")
            assert f"{sim.base_url}/exchange/carol/" in page.text


def test_non_get_without_session_is_440_and_basic_is_ignored(sim, http):
    answer = propfind(http, sim.base_url + "/exchange/alice/", ROOT_PROPS)
    assert answer.status_code == 440
    assert answer.text == ("<HTML><SCRIPT>if (parent.navbar != null) parent.location = "
                           "self.location;else self.location = self.location;</SCRIPT>"
                           "<BODY>440 Login Timeout</BODY></HTML>")
    assert answer.headers["Connection"] == "close"
    assert "sessionid=; path=/; expires=Thu, 01-Jan-1970" in answer.headers["Set-Cookie"]
    http.auth = ("alice", "demo")
    assert propfind(http, sim.base_url + "/exchange/alice/", ROOT_PROPS).status_code == 440
    assert http.get(sim.base_url + "/exchange/", allow_redirects=False).status_code == 302


def test_expire_sessions_gives_440_then_relogin_works(sim, alice):
    url = sim.base_url + "/exchange/alice/"
    assert propfind(alice, url, ROOT_PROPS).status_code == 207
    sim.app.expire_sessions()
    assert propfind(alice, url, ROOT_PROPS).status_code == 440
    # A stale cookie on a plain OWA GET shows the logon form again (reference §8.2).
    stale = alice.get(url, allow_redirects=False,
                      cookies={"sessionid": "x,0x409", "cadata": '"2,x"'})
    assert stale.status_code == 200 and "logonForm" in stale.text
    alice.cookies.clear()
    login_fba(alice, sim.base_url, "alice", "demo")
    assert propfind(alice, url, ROOT_PROPS).status_code == 207


def test_session_expires_after_idle_lifetime(sim, alice):
    url = sim.base_url + "/exchange/alice/"
    sim.app.session_lifetime = 0.3
    assert propfind(alice, url, ROOT_PROPS).status_code == 207
    time.sleep(0.2)
    assert propfind(alice, url, ROOT_PROPS).status_code == 207  # idle time, not age
    time.sleep(0.5)
    assert propfind(alice, url, ROOT_PROPS).status_code == 440


def test_logoff_ends_the_session(sim, alice):
    assert alice.get(sim.base_url + "/exchange/alice/?Cmd=logoff").status_code == 200
    assert propfind(alice, sim.base_url + "/exchange/alice/", ROOT_PROPS).status_code == 440


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_basic_challenge_and_success(sim, http):
    answer = http.get(sim.base_url + "/exchange/")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="127.0.0.1"'
    http.auth = ("alice", "wrong")
    assert http.get(sim.base_url + "/exchange/").status_code == 401
    http.auth = ("EXAMPLE\\alice", "demo")
    page = http.get(sim.base_url + "/exchange/")
    assert page.status_code == 200 and "/exchange/alice/" in page.text
    assert propfind(http, sim.base_url + "/exchange/alice/", ROOT_PROPS).status_code == 207
    assert http.get(sim.base_url + "/exchweb/bin/auth/owalogon.asp").status_code == 404


@pytest.mark.parametrize("sim", ["ntlm"], indirect=True)
@pytest.mark.parametrize("user", ["EXAMPLE\\alice", "alice", "alice@example.com"])
def test_ntlm_handshake(sim, http, user):
    plain = http.get(sim.base_url + "/exchange/")
    assert plain.status_code == 401
    assert plain.headers["WWW-Authenticate"] == "NTLM"
    http.auth = HttpNtlmAuth(user, "demo")
    page = http.get(sim.base_url + "/exchange/")
    assert page.status_code == 200
    assert f'<BASE href="{sim.base_url}/exchange/alice/">' in page.text
    # The connection is authenticated now: later requests need no new handshake.
    http.auth = None
    assert propfind(http, sim.base_url + "/exchange/alice/", ROOT_PROPS).status_code == 207
    assert [e.status for e in sim.app.log][-2:] == [200, 207]


@pytest.mark.parametrize("sim", ["ntlm"], indirect=True)
def test_ntlm_wrong_password_and_wrong_domain(sim, http):
    for user, password in (("EXAMPLE\\alice", "nope"), ("OTHER\\alice", "demo")):
        http.auth = HttpNtlmAuth(user, password)
        assert http.get(sim.base_url + "/exchange/").status_code == 401


def test_other_mailbox_is_forbidden_unknown_is_404(sim, alice):
    assert propfind(alice, sim.base_url + "/exchange/bob/", ROOT_PROPS).status_code == 403
    assert alice.get(sim.base_url + "/exchange/bob/Inbox/").status_code == 403
    missing = propfind(alice, sim.base_url + "/exchange/nobody/", ROOT_PROPS)
    assert missing.status_code == 404
    assert missing.headers["MS-WebStorage"].startswith("6.5.")
    assert propfind(alice, sim.base_url + "/public/", ROOT_PROPS).status_code == 207


def test_service_account_opens_every_mailbox(sim):
    with logged_in(sim, "svc-calbridge") as session:
        for alias in ("alice", "room-101", "dave"):
            answer = propfind(session, f"{sim.base_url}/exchange/{alias}/", ROOT_PROPS)
            assert answer.status_code == 207
        page = session.get(sim.base_url + "/exchange/room-101/")
        assert f'<BASE href="{sim.base_url}/exchange/room-101/">' in page.text
