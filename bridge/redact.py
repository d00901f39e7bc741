"""Redaction: what leaves the process (logs, the state database, exception text) holds no secret.

Rule kept here: the one place that knows what a credential looks like in text. `scrub` removes
credentials from free text (error messages before they are stored or logged); `redact_url`
reduces a URL to what may be shown (no userinfo, no fragment, no control characters). Both are
pure and idempotent; callers should still avoid putting secrets into text in the first place.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["CONTROL_CHARACTERS", "redact_url", "scrub"]

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
"""Runs of C0/C1 controls and Unicode line/paragraph separators (log and header injection)."""

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # whole header lines: Authorization / Proxy-Authorization / Cookie / Set-Cookie
    (re.compile(r"(?im)\b((?:proxy-)?authorization|(?:set-)?cookie)(\s*:\s*)[^\r\n]*"), r"\1\2***"),
    # key=value and key: value pairs, quoted or not (form bodies, URLs, JSON, dict reprs)
    (
        re.compile(
            r"""(?i)(["']?\b(?:password|passwd|pwd|cadata|sessionid)\b["']?\s*[=:]\s*)"""
            r"""("[^"]*"|'[^']*'|[^\s&;,'"}]+)"""
        ),
        r"\1***",
    ),
    # credentials of an auth scheme outside a header line (e.g. quoted in an exception)
    (re.compile(r"(?i)\b(basic|bearer|ntlm|negotiate)\s+[A-Za-z0-9+/=._~-]{8,}"), r"\1 ***"),
    # user:password@ in URLs
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^@\s/]*@"), r"\1:***@"),
)


def scrub(text: str) -> str:
    """Remove anything that looks like a credential from `text` (idempotent).

    Covers ``password=…`` (and passwd/pwd), ``cadata=…`` and ``sessionid=…`` (Exchange forms
    login cookies), ``Authorization:``/``Cookie:``/``Set-Cookie:`` header lines, bare
    ``Basic``/``NTLM``/``Negotiate``/``Bearer`` tokens and ``user:password@`` in URLs.
    """
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: str | None) -> str | None:
    """Return ``url`` without userinfo (``user:password@``), fragment or control characters.

    A URL that cannot be split is reduced to what follows its first ``@`` (never echoed whole).
    """
    if url is None:
        return None
    text = CONTROL_CHARACTERS.sub("", url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return text.split("@", 1)[-1] if "@" in text else text
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
