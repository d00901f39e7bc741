"""Common answers of the simulated Exchange 2003 / IIS 6 server.

Rule kept here: an error body is a short static HTML page in the style of IIS, built only from the
status and an optional one-line detail that is HTML-escaped; it never carries a traceback, an
exception text from Python, a cookie or a credential. Handlers return these instead of raising.
"""

from __future__ import annotations

import html

from exchange_sim.http import Response

__all__ = [
    "LOGIN_TIMEOUT_BODY",
    "REASONS",
    "error",
    "login_timeout",
    "method_not_allowed",
    "multistatus",
    "not_found",
    "redirect",
    "status_line",
    "unauthorized",
]

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    207: "Multi-Status",
    302: "Moved Temporarily",  # the phrase IIS 6 and the reference (§9) use
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable",
    422: "Unprocessable Entity",
    423: "Locked",
    424: "Failed Dependency",
    440: "Login Timeout",  # non-IANA, Exchange forms-based authentication (reference §8.2)
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    507: "Insufficient Storage",
}

# Observed verbatim (reference §8.2, [GH-ERICSSON-489]).
LOGIN_TIMEOUT_BODY = (
    "<HTML><SCRIPT>if (parent.navbar != null) parent.location = self.location;"
    "else self.location = self.location;</SCRIPT><BODY>440 Login Timeout</BODY></HTML>"
)

_EXPIRED = "expires=Thu, 01-Jan-1970 00:00:00 GMT"
CLEAR_COOKIES = [
    ("Set-Cookie", f"sessionid=; path=/; {_EXPIRED}"),
    ("Set-Cookie", f"cadata=; path=/; {_EXPIRED}"),
]


def status_line(status: int) -> str:
    """`207 Multi-Status`: the WSGI status string (unknown codes get a generic phrase)."""
    return f"{status} {REASONS.get(status, 'Unknown')}"


def error(status: int, detail: str | None = None, headers: list[tuple[str, str]] | None = None
          ) -> Response:
    """A short IIS-style HTML error page; `detail` is escaped and kept to one line."""
    reason = REASONS.get(status, "Error")
    text = f"<P>{html.escape(detail.splitlines()[0][:200])}</P>" if detail else ""
    body = (
        f"<HTML><HEAD><TITLE>{status} {reason}</TITLE></HEAD>"
        f"<BODY><H1>{reason}</H1>{text}<HR><P>HTTP Error {status}</P></BODY></HTML>"
    )
    return Response(status, body.encode("utf-8"),
                    [("Content-Type", "text/html"), *(headers or [])])


def not_found() -> Response:
    return error(404, "The page cannot be found.")


def method_not_allowed(allow: list[str]) -> Response:
    return error(405, "The HTTP verb used to access this page is not allowed.",
                 [("Allow", ", ".join(allow))])


def unauthorized(challenges: list[str]) -> Response:
    """401 with one `WWW-Authenticate` header per challenge (`Basic realm="h"`, `NTLM ...`)."""
    return error(401, "You are not authorized to view this page.",
                 [("WWW-Authenticate", c) for c in challenges])


def login_timeout() -> Response:
    """440 for a non-GET without a valid forms-based session: clears both cookies and closes."""
    return Response(
        440,
        LOGIN_TIMEOUT_BODY.encode("ascii"),
        [("Content-Type", "text/html"), *CLEAR_COOKIES, ("Connection", "close")],
    )


def redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Response:
    body = (f'<HTML><HEAD><TITLE>Object moved</TITLE></HEAD><BODY><H1>Object Moved</H1>'
            f'This object may be found <A HREF="{html.escape(location)}">here</A>.</BODY></HTML>')
    return Response(302, body.encode("utf-8"),
                    [("Location", location), ("Content-Type", "text/html"), *(headers or [])])


def multistatus(body: bytes, headers: list[tuple[str, str]] | None = None) -> Response:
    """207 with `Content-Type: text/xml` exactly (no charset: DavMail compares the string)."""
    return Response(207, body, [("Content-Type", "text/xml"), *(headers or [])])
