"""Who a person let in by ``caldav.allow`` becomes: a `UserConfig` with no ``[[user]]`` table.

Rules kept here (pure: no I/O; the service records, creates the calendar and adds the user):
- Only with ``caldav.auth = "exchange"`` and a service account: the bridge acts on the person's
  mailbox through the service account, and never keeps their password (no CalDAV password, no
  Exchange credentials in the `UserConfig`).
- Their address is the one the GAL gave at login. When the GAL gave none, the fallback is
  ``<alias>@<domain>`` with the domain of the configured users' addresses when they all share
  one; otherwise nobody can tell the address, and the person is not provisioned (their
  calendars are kept, not synced, as before).
- A stored provisioning is honoured at start only while ``caldav.allow`` still lets the person
  in (`still_allowed`): removing someone from the allow list stops their sync at the next start.
- The configuration wins: a name or mailbox of a ``[[user]]`` is never provisioned.
"""

from __future__ import annotations

from bridge.config import Config, UserConfig
from bridge.login_names import choose_principal

__all__ = ["fallback_domain", "provisions", "still_allowed", "user_for"]


def provisions(config: Config) -> bool:
    """Whether this configuration turns newcomers into users."""
    return (
        config.caldav_auth == "exchange"
        and bool(config.caldav_allow)
        and config.service_username is not None
        and config.service_password is not None
    )


def fallback_domain(config: Config) -> str | None:
    """The one domain every configured user's address shares, or None."""
    domains = {u.email.rsplit("@", 1)[-1].lower() for u in config.users if "@" in u.email}
    return domains.pop() if len(domains) == 1 else None


def user_for(config: Config, name: str, mailbox: str, email: str | None) -> UserConfig | None:
    """The user `name` (mailbox alias `mailbox`) becomes, or None when no address is known."""
    if any(u.name == name or u.mailbox.lower() == mailbox.lower() for u in config.users):
        return None
    if not email:
        domain = fallback_domain(config)
        if domain is None:
            return None
        email = f"{mailbox.lower()}@{domain}"
    return UserConfig(name=name, mailbox=mailbox, email=email.lower(), caldav_password=None)


def still_allowed(config: Config, name: str, mailbox: str, reserved: tuple[str, ...]) -> bool:
    """Whether ``caldav.allow`` still admits mailbox `mailbox` as principal `name`."""
    admission = choose_principal(
        mailbox, [(u.name, u.mailbox) for u in config.users], config.caldav_allow,
        reserved=reserved,
    )
    return admission.principal == name and not admission.configured
