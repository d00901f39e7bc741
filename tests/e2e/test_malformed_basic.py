"""A malformed `Authorization: Basic` header is bad input: a 4xx and one INFO line, never a 500
with a traceback (Radicale 3.9 raised inside its handler). Both CalDAV login modes, over HTTP."""

from __future__ import annotations

import http.client
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest

from bridge.basic_header import is_malformed_basic
from bridge.service import Service

MALFORMED = ["Basic", "Basic !!!", "Basic bm9jb2xvbg==", "Basic //79:", "Basic w6k\u00e9"]


def propfind(service: Service, authorization: str) -> int:
    address = urlsplit(service.caldav_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest("PROPFIND", "/alice/")
        connection.putheader("Authorization", authorization.encode("latin-1"))
        connection.putheader("Depth", "0")
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize("caldav_auth", ["htpasswd", "exchange"])
def test_malformed_basic_headers_get_403_and_no_traceback(
    bridge_with: Any, caplog: pytest.LogCaptureFixture, caldav_auth: str
) -> None:
    caplog.set_level(logging.INFO)
    bridge = bridge_with(caldav_auth=caldav_auth)
    for header in MALFORMED:
        assert propfind(bridge.service, header) == 403, header
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    ignored = [r for r in caplog.records if "malformed Basic Authorization" in r.getMessage()]
    assert len(ignored) == len(MALFORMED)
    # A well-formed header still gets the usual answers: 401 to ask again, 207 when right.
    assert propfind(bridge.service, "Basic YWxpY2U6d3Jvbmc=") == 401  # alice:wrong
    assert propfind(bridge.service, "Basic YWxpY2U6ZGVtbw==") == 207  # alice:demo


@pytest.mark.parametrize(
    ("header", "malformed"),
    [
        ("", False),
        ("Bearer abc", False),
        ("Basic YWxpY2U6ZGVtbw==", False),
        ("Basic OnBhc3N3b3Jk", False),  # ":password": an empty name is Radicale's anonymous
        ("Basic", True),
        ("Basic bm9jb2xvbg==", True),
        ("Basic abc", True),  # bad padding
        ("Basic \u00e9\u00e9\u00e9\u00e9", True),
    ],
)
def test_which_headers_are_malformed(header: str, malformed: bool) -> None:
    assert is_malformed_basic(header) is malformed
