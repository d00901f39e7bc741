"""`bridge.redact`: credentials never survive into stored or logged text, nor into shown URLs."""

from __future__ import annotations

import pytest

from bridge.exchange.errors import ExchangeError
from bridge.redact import redact_url, scrub


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("login failed: password=hunter2&user=alice", "login failed: password=***&user=alice"),
        ("destination=x&username=a&password=p%40ss", "destination=x&username=a&password=***"),
        ("{'username': 'a', 'password': 'hunter2'}", "{'username': 'a', 'password': ***}"),
        ('{"passwd": "s3cr3t", "x": 1}', '{"passwd": ***, "x": 1}'),
        ("Authorization: Basic YWxpY2U6czNjcjN0\r\nHost: x", "Authorization: ***\r\nHost: x"),
        ("proxy-authorization: NTLM TlRMTVNTUAAB", "proxy-authorization: ***"),
        ("Cookie: sessionid=abc; cadata=def", "Cookie: ***"),
        ("Set-Cookie: cadata=\"1abc\"; path=/", "Set-Cookie: ***"),
        ("redirect with cadata=1e2f3a4b; sessionid=99", "redirect with cadata=***; sessionid=***"),
        ("WWW-Authenticate said Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag",
         "WWW-Authenticate said Negotiate ***"),
        ("GET https://alice:s3cret@mail.example.org/exchange/",
         "GET https://alice:***@mail.example.org/exchange/"),
        ("PROPPATCH 503 Service Unavailable", "PROPPATCH 503 Service Unavailable"),
        ("", ""),
    ],
)
def test_scrub(raw: str, clean: str) -> None:
    assert scrub(raw) == clean
    assert scrub(clean) == clean  # idempotent


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("https://alice:s3cret@mail.example.org/exchange/alice/#frag",
         "https://mail.example.org/exchange/alice/"),
        ("https://mail.example.org/a\r\nX-Injected: 1", "https://mail.example.org/aX-Injected: 1"),
        ("http://[::1/broken@host", "host"),
        (None, None),
    ],
)
def test_redact_url(raw: str | None, shown: str | None) -> None:
    assert redact_url(raw) == shown
    assert redact_url(shown) == shown  # idempotent


def test_exchange_errors_show_redacted_urls() -> None:
    error = ExchangeError("boom", url="https://alice:s3cret@mail.example.org/x")
    assert error.url == "https://mail.example.org/x"
