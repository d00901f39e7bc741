"""`calbridge check --config FILE` as an administrator runs it: a real subprocess against the
simulator over HTTP (every logon mode), a self-signed TLS server, a closed port, a taken CalDAV
port and a running calbridge. Each seeded fault must come out as a failed row with its fix, the
exit status must say so, no password may appear, and the simulator's request log must show that
nothing was written."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from exchange_sim.app import Simulator
from exchange_sim.mailboxes import demo_mailboxes
from exchange_sim.server import RunningSimulator, running_simulator
from exchange_sim.store import Store
from tests.e2e.conftest import Bridge, free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "demo"  # the simulator's password; must never be printed
WRONG = "Wr0ng-S3cret-xyz"
READS = {"GET", "PROPFIND"}


@dataclass(frozen=True)
class Row:
    status: str
    detail: str
    fix: str


def write_config(
    tmp_path: Path,
    url: str,
    auth: str,
    *,
    password: str = SECRET,
    users: tuple[str, ...] = ("alice", "bob"),
    per_user: dict[str, str] | None = None,
    caldav_port: int | None = None,
    state_dir: Path | None = None,
    exchange_extra: str = "",
) -> Path:
    """A configuration as an administrator writes it; `per_user`: alias -> Exchange password
    (no service account)."""
    lines = [
        f'state_dir = "{state_dir or tmp_path / "state"}"',
        "[exchange]",
        f'url = "{url}"',
        f'auth = "{auth}"',
        "timeout = 10",
        exchange_extra,
    ]
    if per_user is None:
        lines += ["[exchange.service_account]", 'username = "svc-calbridge"',
                  f'password = "{password}"']
    lines += ["[caldav]", f"port = {caldav_port or free_port()}"]
    for name in users:
        lines += ["[[user]]", f'name = "{name}"', f'caldav_password = "{SECRET}"',
                  f'email = "{name}@example.com"']
        if per_user is not None:
            lines += [f'exchange_username = "{name}"',
                      f'exchange_password = "{per_user[name]}"']
    path = tmp_path / "calbridge.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_check(config: Path) -> tuple[int, str, dict[str, Row]]:
    """Run `calbridge check` in a subprocess; return the status, the output and its rows."""
    env = {**os.environ, "COLUMNS": "1000", "NO_COLOR": "1", "TERM": "dumb"}
    result = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "check", "--config", str(config)],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False,
    )
    output = result.stdout + result.stderr
    rows: dict[str, Row] = {}
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 7 and cells[1].isdigit():
            rows[cells[2]] = Row(cells[3], cells[4], cells[5])
    assert "Traceback" not in output, output
    return result.returncode, output, rows


def assert_only_reads(sim: RunningSimulator) -> None:
    """Nothing but GET/PROPFIND, and the forms logon POST, reached the simulator."""
    entries = sim.app.log.entries()
    assert entries
    for entry in entries:
        assert entry.method in READS or (
            entry.method == "POST" and entry.path.lower() == "/exchweb/bin/auth/owaauth.dll"
        ), entry


def only_service(access: tuple[str, ...]) -> list:  # type: ignore[type-arg]
    """The demo mailboxes, with the service account's rights cut to `access`."""
    return [replace(m, access=access) if m.kind == "service" else m for m in demo_mailboxes()]


@pytest.fixture(params=["fba", "basic", "ntlm"])
def sim(request: pytest.FixtureRequest) -> Iterator[RunningSimulator]:
    with running_simulator(auth=request.param) as running:
        yield running


# -- all green ---------------------------------------------------------------------------------


def test_every_check_passes_and_nothing_is_written(sim: RunningSimulator, tmp_path: Path
                                                   ) -> None:
    mode = sim.app.auth.mode
    code, output, rows = run_check(write_config(tmp_path, sim.base_url, mode))
    assert code == 0, output
    assert rows["configuration"].status == "ok"
    assert rows["Exchange URL"].status == "ok"
    assert rows["TLS"].status == "skipped"  # plain http on loopback
    assert rows["logon mode"].status == "ok" and f"'{mode}' matches" in rows["logon mode"].detail
    assert rows["login svc-calbridge"].status == "ok"
    assert "/exchange/svc-calbridge/" in rows["login svc-calbridge"].detail
    for user in ("alice", "bob"):
        assert rows[f"mailbox {user}"].status == "ok"
        assert "calendar 'Calendar'" in rows[f"mailbox {user}"].detail
    assert rows["free/busy"].status == "ok" and "2 address(es)" in rows["free/busy"].detail
    assert rows["CalDAV port"].status == "ok"
    assert "All checks passed" in output
    assert SECRET not in output
    assert_only_reads(sim)
    assert sum(e.path.startswith("/public") for e in sim.app.log.entries()) == 1


def test_per_user_credentials(tmp_path: Path) -> None:
    with running_simulator(auth="basic") as sim:
        config = write_config(tmp_path, sim.base_url, "basic",
                              per_user={"alice": SECRET, "bob": WRONG})
        code, output, rows = run_check(config)
    assert code == 1
    assert rows["login alice"].status == "ok"
    assert rows["login bob"].status == "FAIL"
    assert "user[1].exchange.password" in rows["login bob"].fix
    assert rows["mailbox alice"].status == "ok"
    assert rows["mailbox bob"].status == "skipped"
    assert WRONG not in output and SECRET not in output


# -- seeded faults -----------------------------------------------------------------------------


def test_wrong_password(sim: RunningSimulator, tmp_path: Path) -> None:
    code, output, rows = run_check(write_config(tmp_path, sim.base_url, sim.app.auth.mode,
                                                password=WRONG))
    assert code == 1
    login = rows["login svc-calbridge"]
    assert login.status == "FAIL" and "refused the password" in login.detail
    assert "exchange.service_account.password" in login.fix
    assert rows["mailbox alice"].status == "skipped"
    assert WRONG not in output
    assert_only_reads(sim)


def test_mailbox_without_rights(tmp_path: Path) -> None:
    store = Store(":memory:", mailboxes=only_service(("alice",)))
    with running_simulator(store, auth="fba") as sim:
        code, output, rows = run_check(write_config(tmp_path, sim.base_url, "fba"))
        assert_only_reads(sim)
    assert code == 1
    assert rows["mailbox alice"].status == "ok"
    bob = rows["mailbox bob"]
    assert bob.status == "FAIL" and "may not open /exchange/bob/" in bob.detail
    assert "Full Mailbox Access" in bob.fix and "svc-calbridge" in bob.fix
    assert rows["free/busy"].status == "ok"  # free/busy needs no rights on bob's mailbox
    assert "1 check(s) failed" in output


def test_unknown_mailbox(tmp_path: Path) -> None:
    with running_simulator(auth="fba") as sim:
        code, _, rows = run_check(write_config(tmp_path, sim.base_url, "fba",
                                               users=("alice", "zoe")))
    assert code == 1
    assert rows["mailbox zoe"].status == "FAIL"
    assert "no mailbox /exchange/zoe/" in rows["mailbox zoe"].detail
    assert "Exchange alias" in rows["mailbox zoe"].fix


@pytest.mark.parametrize(("server", "configured"),
                         [("fba", "basic"), ("basic", "fba"), ("ntlm", "basic"), ("ntlm", "fba")])
def test_wrong_logon_mode(server: str, configured: str, tmp_path: Path) -> None:
    with running_simulator(auth=server) as sim:
        code, output, rows = run_check(write_config(tmp_path, sim.base_url, configured))
        assert_only_reads(sim)
        # The probe was anonymous: no credentials were tried against the wrong mode.
        assert all(e.method == "GET" for e in sim.app.log.entries())
    assert code == 1
    logon = rows["logon mode"]
    assert logon.status == "FAIL" and f"exchange.auth = '{configured}'" in logon.detail
    assert logon.fix == f'set exchange.auth = "{server}"'
    assert rows["login"].status == "skipped"
    assert SECRET not in output


def test_unreachable_host(tmp_path: Path) -> None:
    port = free_port()  # bound and closed again: nothing listens there
    code, _, rows = run_check(write_config(tmp_path, f"http://127.0.0.1:{port}", "fba"))
    assert code == 1
    reach = rows["Exchange URL"]
    assert reach.status == "FAIL" and "refused the connection" in reach.detail
    assert "port in exchange.url" in reach.fix
    assert rows["TLS"].status == rows["login"].status == "skipped"
    assert rows["CalDAV port"].status == "ok"  # checked whatever Exchange does


# -- TLS ---------------------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and exchange.test, not for the name `localhost`
    (PEM files: certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calbridge test exchange")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("exchange.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "exchange-ca.pem", folder / "exchange.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_sim(tmp_path: Path) -> Iterator[tuple[str, Simulator, Path]]:
    """The simulator (fba) behind TLS with a self-signed certificate, on loopback."""
    cert, key = self_signed(tmp_path)
    app = Simulator(Store(":memory:"), auth="fba")
    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=4)
    server.ssl_adapter = BuiltinSSLAdapter(str(cert), str(key))
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.bind_addr[1]}", app, cert
    finally:
        server.stop()
        thread.join(timeout=10)
        app.close()


def test_self_signed_certificate(tls_sim: tuple[str, Simulator, Path], tmp_path: Path) -> None:
    url, app, cert = tls_sim
    code, _, rows = run_check(write_config(tmp_path, url, "fba"))
    assert code == 1
    tls = rows["TLS"]
    assert tls.status == "FAIL" and "self-signed certificate" in tls.detail
    assert "exchange.verify" in tls.fix and "exchange.insecure = true" in tls.fix
    assert rows["logon mode"].status == "skipped"
    assert len(app.log) == 0  # nothing was sent over an unverified connection

    # The fix works: trust that certificate as the CA bundle, and every check passes over https.
    config = write_config(tmp_path, url, "fba", exchange_extra=f'verify = "{cert}"')
    code, output, rows = run_check(config)
    assert code == 0, output
    assert rows["TLS"].status == "ok" and "verified" in rows["TLS"].detail
    assert rows["mailbox bob"].status == "ok"


def test_unusable_ca_bundle(tls_sim: tuple[str, Simulator, Path], tmp_path: Path) -> None:
    url, _, _ = tls_sim
    bundle = tmp_path / "not-a-certificate.pem"
    bundle.write_text("hello\n", encoding="utf-8")
    code, _, rows = run_check(write_config(tmp_path, url, "fba",
                                           exchange_extra=f'verify = "{bundle}"'))
    assert code == 1
    assert rows["TLS"].status == "FAIL" and "cannot load the CA bundle" in rows["TLS"].detail
    assert "PEM" in rows["TLS"].fix


def test_insecure_is_a_warning(tls_sim: tuple[str, Simulator, Path], tmp_path: Path) -> None:
    url, _, _ = tls_sim
    code, output, rows = run_check(write_config(tmp_path, url, "fba",
                                                exchange_extra="insecure = true"))
    assert code == 0, output
    assert rows["TLS"].status == "warn" and "NOT verified" in rows["TLS"].detail
    assert "exchange.verify" in rows["TLS"].fix


def test_wrong_host_name_in_certificate(tls_sim: tuple[str, Simulator, Path],
                                        tmp_path: Path) -> None:
    url, _, cert = tls_sim
    other = url.replace("127.0.0.1", "localhost")  # same listener, a name not in the cert
    code, _, rows = run_check(write_config(tmp_path, other, "fba",
                                           exchange_extra=f'verify = "{cert}"'))
    assert code == 1
    assert rows["TLS"].status == "FAIL" and "not issued for localhost" in rows["TLS"].detail


# -- the CalDAV side ---------------------------------------------------------------------------


def test_caldav_port_taken_by_another_program(tmp_path: Path) -> None:
    with running_simulator(auth="fba") as sim, socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        code, _, rows = run_check(write_config(tmp_path, sim.base_url, "fba", caldav_port=port))
        squatter.setblocking(False)
        with pytest.raises(BlockingIOError):
            squatter.accept()  # nobody connected: no CalDAV password went to the squatter
    assert code == 1
    caldav = rows["CalDAV port"]
    assert caldav.status == "FAIL" and "taken by another program" in caldav.detail
    assert "caldav.port" in caldav.fix
    assert f"pid {os.getpid()}" in caldav.detail  # the holder is named
    assert rows["mailbox alice"].status == "ok"  # only the CalDAV row failed


def test_caldav_port_held_by_this_calbridge(bridge: Bridge, tmp_path: Path) -> None:
    """A running calbridge of this state folder holds the port: fine. Another folder: not."""
    config = bridge.config
    bridge.calendar("alice")  # alice has a calendar on disk and over CalDAV
    url = bridge.service.sim_url
    assert url is not None
    same = write_config(tmp_path, url, "fba", users=("alice", "bob"),
                        caldav_port=config.caldav_port, state_dir=config.state_dir)
    code, output, rows = run_check(same)
    assert code == 0, output
    assert rows["CalDAV port"].status == "ok"
    assert "held by the running calbridge" in rows["CalDAV port"].detail

    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    other = write_config(elsewhere, url, "fba", caldav_port=config.caldav_port,
                         state_dir=elsewhere / "state")
    code, _, rows = run_check(other)
    assert code == 1
    assert rows["CalDAV port"].status == "FAIL"
    assert "not one serving" in rows["CalDAV port"].detail


def test_configuration_error_is_a_row(tmp_path: Path) -> None:
    path = tmp_path / "calbridge.toml"
    path.write_text('[exchange]\nurl = "https://mail.example.com"\nauth = "kerberos"\n',
                    encoding="utf-8")
    code, _, rows = run_check(path)
    assert code == 1
    assert rows["configuration"].status == "FAIL"
    assert "exchange.auth: must be one of fba, basic, ntlm" in rows["configuration"].detail
    assert rows["Exchange URL"].status == rows["CalDAV port"].status == "skipped"
