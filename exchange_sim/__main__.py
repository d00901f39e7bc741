"""`python -m exchange_sim`: run the Exchange 2003 simulator until Ctrl-C or SIGTERM.

Rule kept here: the command prints where it listens and which mailboxes exist, never a password
(the demo set's shared password is documented in the README, not echoed here).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from exchange_sim.auth import MODES
from exchange_sim.server import serve
from exchange_sim.store import FOLDER_NAMES, Store, load_mailboxes

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

DEFAULT_DATA = "state/exchange_sim.sqlite"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exchange_sim", description="Microsoft Exchange Server 2003 simulator (WebDAV + OWA)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8800, help="port (0 = any free port)")
    parser.add_argument("--auth", choices=MODES, default="fba",
                        help="authentication: forms-based (fba), basic or ntlm")
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help=f"SQLite file for the mailboxes (default {DEFAULT_DATA}; ':memory:')")
    parser.add_argument("--mailboxes", type=Path, help="TOML file with [[mailbox]] tables")
    parser.add_argument("--language", choices=sorted(FOLDER_NAMES), default="en",
                        help="language of the default folder names")
    parser.add_argument("--session-lifetime", type=float, default=1800,
                        help="forms-based session idle time-out in seconds")
    parser.add_argument("--ntlm-domain", default="EXAMPLE", help="NT domain for DOMAIN\\user")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from exchange_sim.app import Simulator

    try:
        mailboxes = load_mailboxes(args.mailboxes) if args.mailboxes else None
        store = Store(args.data, mailboxes, language=args.language)
    except (OSError, ValueError) as error:
        print(f"exchange_sim: {error}")
        return 2
    app = Simulator(store, auth=args.auth, session_lifetime=args.session_lifetime,
                    ntlm_domain=args.ntlm_domain)
    try:
        server = serve(app, args.host, args.port)
    except OSError as error:
        print(f"exchange_sim: cannot listen on {args.host}:{args.port}: {error}")
        return 2
    print(f"Exchange 2003 simulator on {server.base_url}/exchange/ (auth: {args.auth}, "
          f"data: {args.data})", flush=True)
    print("mailboxes: " + ", ".join(sorted(store.mailboxes)), flush=True)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        print("stopping")
        server.stop()
        app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
