"""One authenticated HTTP session per Exchange identity: auth, re-login, retries, time-outs.

Rules kept here (the only module that decides what is retried, as requests' HTTPAdapter does):
- A request is repeated only when repeating it cannot cause a second side effect: connection
  failures before anything was sent (connect time-outs, refused connections) are always retried;
  read time-outs, dropped connections and 502/503/504 only for safe methods (GET, HEAD, PROPFIND,
  SEARCH, OPTIONS) or writes made idempotent by an `If-Match`/`If-None-Match` header. A MOVE to
  the submission URI or an OWA `Cmd=sendappt` POST is never repeated blindly: the caller
  (the engine) reads back the marker and decides.
- Forms-based auth: a 440 (or a redirect to owalogon.asp) means the session expired; log in again
  once and replay the request (the request never reached the mailbox, so replay is safe).
- Every low-level failure leaves as a `bridge.exchange.errors` class; credentials never appear in
  logs, exception text or reprs.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests_ntlm import HttpNtlmAuth

from bridge.exchange import errors, owa

__all__ = ["AuthMode", "Credentials", "ExchangeSession", "SessionConfig"]

logger = logging.getLogger(__name__)

AuthMode = Literal["fba", "basic", "ntlm"]

# OWA answers XML (free/busy, galfind) only to browsers that claim to be Internet Explorer.
DEFAULT_USER_AGENT = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; calbridge)"
SAFE_METHODS = frozenset({"GET", "HEAD", "PROPFIND", "SEARCH", "OPTIONS", "BPROPFIND"})
BUSY_STATUSES = frozenset({502, 503, 504})
LOGON_PATH = "/exchweb/bin/auth/owaauth.dll"


@dataclass(frozen=True)
class Credentials:
    """A user name (`alice`, `EXAMPLE\\alice` or `alice@example.com`) and its password."""

    username: str
    password: str = field(repr=False)

    def __str__(self) -> str:
        return self.username


@dataclass(frozen=True)
class SessionConfig:
    server_url: str  # scheme://host[:port], e.g. https://mail.example.com
    credentials: Credentials
    auth: AuthMode = "fba"
    verify: bool | str = True  # True, or the path of a CA bundle
    insecure: bool = False  # explicit opt-out of TLS verification (logged as a warning)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 3
    backoff: float = 0.5  # seconds; doubled per attempt, with jitter
    max_backoff: float = 8.0
    user_agent: str = DEFAULT_USER_AGENT
    accept_language: str = "en-us"
    pool_size: int = 4


class ExchangeSession:
    """Sends requests as one identity and turns every failure into a typed error."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._http = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=config.pool_size, pool_maxsize=config.pool_size, max_retries=0
        )
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        self._http.headers.update(
            {
                "User-Agent": config.user_agent,
                "Accept-Language": config.accept_language,
                "Accept": "*/*",
            }
        )
        self._http.trust_env = False  # proxies/netrc from the environment must not leak creds
        if config.insecure:
            logger.warning(
                "TLS verification is OFF for %s (insecure = true in the configuration)",
                config.server_url,
            )
            self._http.verify = False
        else:
            self._http.verify = config.verify
        if config.auth == "basic":
            self._http.auth = requests.auth.HTTPBasicAuth(
                config.credentials.username, config.credentials.password
            )
        elif config.auth == "ntlm":
            self._http.auth = HttpNtlmAuth(
                config.credentials.username, config.credentials.password
            )
        self._logged_in = config.auth != "fba"
        self.request_count = 0

    def __repr__(self) -> str:
        return f"<ExchangeSession {self.config.credentials.username}@{self.config.server_url}>"

    def close(self) -> None:
        self._http.close()

    # -- public ------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """An absolute URL on this server for `path` (already percent-encoded)."""
        return urljoin(self.config.server_url.rstrip("/") + "/", path)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        idempotent: bool | None = None,
        accept: tuple[int, ...] = (),
    ) -> requests.Response:
        """Send one request; return the response for 2xx/3xx or a status in `accept`.

        Raises an `errors.ExchangeError` subclass for every other outcome.
        """
        headers = dict(headers or {})
        if idempotent is None:
            idempotent = method in SAFE_METHODS or any(
                h.lower() in ("if-match", "if-none-match") for h in headers
            )
        if not self._logged_in:
            self.login()
        relogged = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(method, url, headers, body)
            except errors.ConnectTimeout:
                if attempt > self.config.retries:
                    raise
                self._backoff(attempt, method, url, "connection failed")
                continue
            except errors.TransportError:
                if not idempotent or attempt > self.config.retries:
                    raise
                self._backoff(attempt, method, url, "connection lost")
                continue
            if self._is_expired(response):
                if self.config.auth != "fba" or relogged:
                    raise errors.SessionExpired(
                        "session expired and re-login did not help",
                        method=method,
                        url=url,
                        status=response.status_code,
                    )
                logger.info("session expired for %s; logging in again", self)
                relogged = True
                self.login()
                continue
            status = response.status_code
            if status in BUSY_STATUSES and idempotent and attempt <= self.config.retries:
                self._backoff(attempt, method, url, f"server busy ({status})")
                continue
            if status < 400 or status in accept:
                return response
            error = errors.error_for_status(
                status, method=method, url=url, body=response.content
            )
            raise error if error is not None else errors.ExchangeError(
                f"unexpected status {status}",
                method=method,
                url=url,
                status=status,
            )

    def login(self) -> None:
        """Authenticate: forms-based logon (owaauth.dll) or a probe for Basic/NTLM."""
        if self.config.auth != "fba":
            self._logged_in = True
            return
        self._http.cookies.clear()
        destination = self.url("/exchange/")
        form = owa.build_fba_login_form(
            destination, self.config.credentials.username, self.config.credentials.password
        )
        response = self._send(
            "POST",
            self.url(LOGON_PATH),
            {"Content-Type": "application/x-www-form-urlencoded"},
            form,
        )
        if response.status_code in BUSY_STATUSES:
            # The server (or a gateway) is down, not refusing the password.
            raise errors.ServerBusy(
                f"HTTP {response.status_code} on forms-based logon",
                method="POST",
                url=self.url(LOGON_PATH),
                status=response.status_code,
                body=response.content,
            )
        location = response.headers.get("Location", "")
        reason = owa.logon_reason(location) if location else None
        cookies = {c.name.lower() for c in self._http.cookies}
        if reason is not None or not (
            "sessionid" in cookies or any(c.startswith("cadata") for c in cookies)
        ):
            raise errors.AuthFailed(
                "forms-based logon was refused (check user name and password)",
                method="POST",
                url=self.url(LOGON_PATH),
                status=response.status_code,
                body=f"reason={reason}" if reason is not None else None,
            )
        self._logged_in = True
        logger.info("logged in to %s as %s", self.config.server_url, self.config.credentials)

    # -- internals ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | Mapping[str, str] | None,
    ) -> requests.Response:
        self.request_count += 1
        started = time.monotonic()
        try:
            response = self._http.request(
                method,
                url,
                headers=dict(headers),
                data=body,
                allow_redirects=False,
                timeout=(self.config.connect_timeout, self.config.read_timeout),
            )
        except (requests.ConnectTimeout, requests.exceptions.SSLError) as error:
            if isinstance(error, requests.exceptions.SSLError):
                raise errors.TransportError(
                    "TLS handshake failed (certificate not trusted?)",
                    method=method,
                    url=url,
                    status=None,
                ) from None
            raise errors.ConnectTimeout(
                "could not connect", method=method, url=url, status=None
            ) from None
        except requests.ReadTimeout:
            raise errors.ReadTimeout(
                "no answer in time", method=method, url=url, status=None
            ) from None
        except requests.ConnectionError as error:
            # A refused connection never reached the server: as safe to retry as a time-out.
            refused = "refused" in str(error).lower() or "NewConnectionError" in repr(error)
            kind = errors.ConnectTimeout if refused else errors.TransportError
            raise kind(
                "connection refused" if refused else "connection dropped",
                method=method,
                url=url,
                status=None,
            ) from None
        except requests.RequestException as error:
            raise errors.TransportError(
                type(error).__name__, method=method, url=url, status=None
            ) from None
        logger.debug(
            "%s %s -> %s (%.0f ms)",
            method,
            urlsplit(url).path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _is_expired(self, response: requests.Response) -> bool:
        if response.status_code == 440:
            return True
        if response.status_code in (301, 302, 303):
            return owa.is_logon_redirect(response.headers.get("Location", ""))
        return False

    def _backoff(self, attempt: int, method: str, url: str, why: str) -> None:
        delay = min(self.config.max_backoff, self.config.backoff * 2 ** (attempt - 1))
        delay *= 0.5 + random.random()  # jitter: many bridges must not retry in lock-step
        logger.warning(
            "%s %s: %s; retry %d/%d in %.1fs",
            method,
            urlsplit(url).path,
            why,
            attempt,
            self.config.retries,
            delay,
        )
        self._sleep(delay)
