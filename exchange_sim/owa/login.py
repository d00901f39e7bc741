"""OWA 2003 forms-based logon (owalogon.asp, owaauth.dll, Cmd=logoff) and the OWA shell page.

Rules kept here (reference §8.2, observed-traffic §3, davmail-client §1.3-1.4, §9):
- owalogon.asp serves exactly one `<FORM name="logonForm">` posting to owaauth.dll, with hidden
  `destination` (= the `url` parameter) and `flags`, text `username`, `password`, and radio
  `trusted`; `reason=2` shows the bad-credentials text. With `Translate: f` it is 403.
- owaauth.dll: success → 302 to `destination` with the `sessionid`/`cadata` cookies; failure →
  302 to owalogon.asp with `reason=2`. A destination that is not on this server is replaced by
  this server's `/exchange/` (no open redirect).
- The OWA shell page carries `<BASE href="http://host:port/exchange/<alias>/">` on a line of its
  own: absolute, one space, double quotes (DavMail reads the mailbox path from it).
"""

from __future__ import annotations

import html
import logging
from urllib.parse import parse_qsl, quote, urlsplit

from exchange_sim import responses
from exchange_sim.auth import LOGON_PATH, Authenticator
from exchange_sim.http import Request, Response
from exchange_sim.store import Store
from exchange_sim.xml import url_for

__all__ = ["AUTH_PATH", "LOGON_PATH", "handle", "logoff", "logon_page", "welcome_page"]

logger = logging.getLogger(__name__)

AUTH_PATH = "/exchweb/bin/auth/owaauth.dll"
_BAD_LOGON = ("You could not be logged on to Outlook Web Access. Make sure your domain\\user "
              "name and password are correct, and then try again.")


def _html(status: int, body: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, body.encode("utf-8"),
                    [("Content-Type", "text/html"), ("Cache-Control", "no-cache"),
                     *(headers or [])])


def logon_page(request: Request, destination: str, reason: int = 0) -> Response:
    """The owalogon.asp form (200)."""
    error = f'<P id="error" class="wrng">{html.escape(_BAD_LOGON)}</P>\n' if reason == 2 else ""
    body = (
        "<HTML>\n<HEAD>\n<TITLE>Microsoft Outlook Web Access</TITLE>\n</HEAD>\n<BODY>\n"
        f"{error}"
        '<FORM action="/exchweb/bin/auth/owaauth.dll" method="POST" name="logonForm" '
        'autocomplete="off">\n'
        f'<INPUT type="hidden" name="destination" value="{html.escape(destination)}">\n'
        '<INPUT type="hidden" name="flags" value="0">\n'
        'Domain\\user name: <INPUT id="username" name="username" type="text">\n'
        'Password: <INPUT id="password" name="password" type="password">\n'
        '<INPUT type="radio" name="forcedownlevel" value="0" checked>\n'
        '<INPUT type="radio" name="trusted" value="0" checked> Public or shared computer\n'
        '<INPUT type="radio" name="trusted" value="4"> Private computer\n'
        '<INPUT type="submit" name="SubmitCreds" value="Log On">\n'
        "</FORM>\n</BODY>\n</HTML>\n"
    )
    return _html(200, body)


def handle(request: Request, authenticator: Authenticator) -> Response:
    """GET owalogon.asp or POST owaauth.dll (no session needed)."""
    if request.path.lower() == LOGON_PATH:
        if request.method not in ("GET", "HEAD"):
            return responses.method_not_allowed(["GET", "HEAD"])
        if (request.header("Translate") or "").lower().startswith("f"):
            return responses.error(403, "Translate: f is not allowed on the logon page.")
        try:
            reason = int(request.arg("reason") or 0)
        except ValueError:
            reason = 0
        destination = _safe_destination(request, request.arg("url") or "")
        return logon_page(request, destination, reason)
    if request.method != "POST":
        return responses.method_not_allowed(["POST"])
    try:
        fields = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True,
                                max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        return responses.error(400, "The logon form could not be read.")
    destination = _safe_destination(request, fields.get("destination", ""))
    user = authenticator.check_password(fields.get("username", ""), fields.get("password", ""))
    if user is None:
        return responses.redirect(
            f"{request.base_url}{LOGON_PATH}?url={quote(destination, safe='')}&reason=2")
    return responses.redirect(destination, authenticator.create_session(user))


def _safe_destination(request: Request, destination: str) -> str:
    """`destination` when it points to this server, else this server's `/exchange/`."""
    fallback = request.base_url + "/exchange/"
    if not destination or any(ord(c) < 0x20 or c == "\x7f" for c in destination):
        return fallback
    parts = urlsplit(destination)
    ours = urlsplit(request.base_url)
    if parts.scheme or parts.netloc:
        same = parts.scheme.lower() == ours.scheme and parts.netloc.lower() == ours.netloc.lower()
        return destination if same else fallback
    if destination.startswith("/") and not destination.startswith("//"):
        return request.base_url + destination
    return fallback


def logoff(request: Request, authenticator: Authenticator, connection: object = None) -> Response:
    """`?Cmd=logoff`: ends the session and clears both cookies."""
    authenticator.end_session(request, connection)
    body = ("<HTML>\n<HEAD>\n<TITLE>Microsoft Outlook Web Access</TITLE>\n</HEAD>\n<BODY>\n"
            "<P>You have logged off Outlook Web Access.</P>\n"
            "<P>To help protect your mailbox, close all browser windows.</P>\n</BODY>\n</HTML>\n")
    return _html(200, body, responses.CLEAR_COOKIES)


def welcome_page(request: Request, store: Store, path: str) -> Response:
    """The OWA shell for a folder, a mailbox or `/exchange/` (the user's own mailbox)."""
    assert request.user is not None
    segments = [s for s in path.split("/") if s]
    alias, target = request.user.alias, store.mailbox_path(request.user.alias)
    if len(segments) >= 2 and segments[0].lower() == "exchange":
        alias, target = store.mailboxes[segments[1].lower()].alias, path
    elif segments and segments[0].lower() == "public":
        target = path
    item = store.get(target)
    if item is not None and not item.is_folder:
        target = item.parent
    base = url_for(request.base_url, target, folder=True)
    title = html.escape(request.user.display_name)
    inbox = html.escape(quote(store.folder_name(alias, "inbox")))
    body = (
        "<HTML>\n<HEAD>\n"
        f"<TITLE>Microsoft Outlook Web Access - {title}</TITLE>\n"
        f'<BASE href="{html.escape(base)}">\n'
        "</HEAD>\n"
        '<FRAMESET cols="185,*" border="0">\n'
        '<FRAME name="navbar" src="?Cmd=navbar">\n'
        f'<FRAME name="viewer" src="{inbox}/?Cmd=contents">\n'
        "</FRAMESET>\n</HTML>\n"
    )
    return _html(200, body)
