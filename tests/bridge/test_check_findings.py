"""The pure half of `calbridge check`: reading the logon a server offers, and the verdicts."""

from __future__ import annotations

import pytest

from bridge.check.findings import (
    Finding,
    Status,
    auth_finding,
    discovery_failed,
    exit_code,
    tls_failed,
)
from bridge.check.listener import listening_inodes
from bridge.exchange import errors
from bridge.exchange.offered_auth import challenge_schemes, offered_auth

LOGON = "https://mail.example.com/exchweb/bin/auth/owalogon.asp?url=https%3A%2F%2Fm%2Fexchange%2F&reason=0"


@pytest.mark.parametrize(("values", "schemes"), [
    (['Basic realm="mail.example.com"'], ("Basic",)),
    (["NTLM", 'Basic realm="x"'], ("NTLM", "Basic")),
    (['Negotiate, NTLM, Basic realm="a, b", charset="UTF-8"'], ("Negotiate", "NTLM", "Basic")),
    (["NTLM TlRMTVNTUAACAAAA"], ("NTLM",)),  # a type-2 message during a handshake
    (["", "  "], ()),
])
def test_challenge_schemes(values: list[str], schemes: tuple[str, ...]) -> None:
    assert challenge_schemes(values) == schemes


def test_forms_logon_is_a_redirect_to_owalogon() -> None:
    offered = offered_auth(302, [], LOGON)
    assert offered.modes == {"fba"}
    assert offered_auth(302, [], "https://mail.example.com/CookieAuth.dll?GetLogon").modes == {
        "fba"}  # ISA Server publishing OWA (reference §8.2)
    assert offered_auth(302, [], "https://mail.example.com/exchange/alice/").modes == set()


def test_http_logons_come_from_a_401() -> None:
    assert offered_auth(401, ["Negotiate", "NTLM"], None).modes == {"ntlm"}
    assert offered_auth(401, ['Basic realm="m"', "NTLM"], None).modes == {"basic", "ntlm"}
    assert offered_auth(200, ['Basic realm="m"'], None).modes == set()


def test_mode_mismatch_names_the_setting_to_use() -> None:
    finding = auth_finding("basic", offered_auth(302, [], LOGON), https=True)
    assert finding.status is Status.FAIL and finding.fix == 'set exchange.auth = "fba"'
    finding = auth_finding("fba", offered_auth(401, ["NTLM", 'Basic realm="m"'], None), https=True)
    assert finding.fix == 'set exchange.auth = "basic"'
    assert auth_finding("ntlm", offered_auth(401, ["Negotiate"], None), https=True).status is (
        Status.OK)


def test_unclear_answers() -> None:
    assert auth_finding("fba", offered_auth(403, [], None), https=False).fix == (
        "use https:// in exchange.url")  # an SSL-required vroot, reference §8.1
    assert "without /exchange" in auth_finding("fba", offered_auth(404, [], None), https=True).fix
    assert auth_finding("fba", offered_auth(200, [], None), https=True).status is Status.WARN


@pytest.mark.parametrize(("reason", "words"), [
    ("self-signed certificate", "exchange.verify"),
    ("self signed certificate in certificate chain", "exchange.insecure = true"),
    ("unable to get local issuer certificate", "company's own CA"),
    ("Hostname mismatch, certificate is not valid for 'mail'.", "host name the certificate"),
    ("certificate has expired", "renew"),
    ("[SSL: WRONG_VERSION_NUMBER] wrong version number", "speaks https"),
])
def test_each_tls_failure_has_its_fix(reason: str, words: str) -> None:
    finding = tls_failed("mail", reason)
    assert finding.status is Status.FAIL and words in finding.fix


def test_exit_code_counts_failures_only() -> None:
    ok, warn, skip = (Finding(1, s, "") for s in (Status.OK, Status.WARN, Status.SKIP))
    assert exit_code([ok, warn, skip]) == 0
    assert exit_code([ok, Finding(8, Status.FAIL, "taken")]) == 1


def test_listening_inodes_from_proc_net_tcp() -> None:
    table = [
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode",
        "   0: 0100007F:1470 00000000:0000 0A 00000000:00000000 00:00000000 00000000   998"
        "        0 4711 1 0000000000000000 100 0 0 10 0",
        "   1: 0100007F:1470 0100007F:C350 01 00000000:00000000 00:00000000 00000000   998"
        "        0 4712 1 0000000000000000 20 4 30 10 -1",  # an established connection
        "   2: 00000000000000000000000000000000:1470 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000   998        0 4713 1 0 100 0 0 10 0",
        "   3: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
        "        0 4714 1 0000000000000000 100 0 0 10 0",
    ]
    assert listening_inodes(table, 5232) == {"4711", "4713"}
    assert listening_inodes(table, 8080) == {"4714"}
    assert listening_inodes(table, 1) == set()


def test_a_401_on_one_mailbox_after_a_good_login_points_at_rights() -> None:
    error = errors.AuthFailed("HTTP 401", method="PROPFIND", url="https://m/exchange/bob/",
                              status=401)
    finding = discovery_failed(error, "bob", "bob", "EXAMPLE\\svc")
    assert finding.status is Status.FAIL and "Full Mailbox Access" in finding.fix
    forbidden = errors.Forbidden("HTTP 403", status=403)
    assert "Mailbox Rights" in discovery_failed(forbidden, "bob", "bob", "svc").fix
