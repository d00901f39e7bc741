"""Colleagues, rooms and availability for the service: the GAL refresh and the outbox layer.

Rule kept here: one object owns the Exchange sessions these features use, so each stays logged
in across refreshes and queries (no login per query), and `close()` ends them with the service.
The GAL refresh runs as its own scheduler job (never inside a sync pass); a failed refresh is
one log line and the address book keeps its last good contents.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from bridge import gal_refresh
from bridge.config import Config
from bridge.exchange.errors import ExchangeError
from bridge.outbox_http import FreeBusyDesk, OutboxLayer, WsgiApp

__all__ = ["Directory"]

logger = logging.getLogger(__name__)


class Directory:
    def __init__(self, config: Config, storage_configuration: Any) -> None:
        self.config = config
        self.storage_configuration = storage_configuration
        self.desk = FreeBusyDesk(config)
        self._refreshing = threading.Lock()
        self.last: gal_refresh.Sweep | None = None

    def outbox_layer(self, app: WsgiApp, configuration: Any) -> WsgiApp:
        """For `gate.add_layer`: the scheduling outbox in front of Radicale."""
        return OutboxLayer(app, configuration, self.desk)

    def refresh(self) -> gal_refresh.StoreReport | None:
        """Read the whole GAL and store it; None when Exchange failed (nothing changed)."""
        if not self.config.users:
            return None
        with self._refreshing:
            user = self.config.users[0]  # its mailbox path is where galfind is asked
            session = self.desk.session_for(user)
            try:
                sweep = gal_refresh.sweep_gal(
                    session,
                    user.mailbox,
                    rooms=self.config.gal_rooms,
                    page_limit=self.config.gal_page_limit,
                )
            except ExchangeError as error:
                logger.warning("GAL refresh failed, the address book is unchanged: %s", error)
                return None
            report = gal_refresh.store_gal(self.storage_configuration, sweep.contacts.values())
            self.last = sweep
            logger.info(
                "GAL refreshed: %d entries in %d requests (%.1f s); %d written, %d deleted",
                len(sweep.contacts), sweep.requests, sweep.seconds, report.written,
                report.deleted,
            )
            return report

    def close(self) -> None:
        self.desk.close()
