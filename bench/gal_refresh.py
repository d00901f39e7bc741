"""GAL refresh for 5,000 directory entries: Exchange requests and time, first and unchanged.

A simulator serves 5,000 generated mailboxes (people with realistic aliases — first-name
initial + surname + a number when taken — phones and offices, plus 50 rooms), written as a
`[[mailbox]]` TOML file and loaded with `exchange_sim.mailboxes.load_mailboxes`, on a free
loopback port. The bridge's refresh (bridge/gal_refresh.py) sweeps it with galfind
(`AN=<prefix>`, 39 first-level prefixes, a prefix split when its answer reaches the page
limit) through one logged-in session and writes the cards into a Radicale storage folder.
Run: .venv/bin/python -m bench.gal_refresh
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import replace

from bench.common import free_port, section, table, temp_dir
from bridge.config import load_config
from bridge.exchange.http import Credentials, ExchangeSession, SessionConfig
from bridge.gal_refresh import store_gal, sweep_gal
from bridge.service import radicale_configuration
from exchange_sim.mailboxes import load_mailboxes
from exchange_sim.server import running_simulator
from exchange_sim.store import Store

ENTRIES = 5_000
ROOMS = 50
FIRST = ["anna", "ben", "chloe", "david", "emma", "felix", "greta", "hugo", "ida", "jonas",
         "karin", "lars", "mia", "nils", "olga", "paul", "rosa", "sven", "tina", "uwe",
         "vera", "wim", "xenia", "yusuf", "zoe"]
LAST = ["meyer", "schmidt", "schneider", "fischer", "weber", "wagner", "becker", "hoffmann",
        "koch", "richter", "klein", "wolf", "neumann", "schwarz", "braun", "zimmermann",
        "krueger", "hartmann", "lange", "werner", "krause", "lehmann", "koehler", "maier",
        "mueller", "walter", "peters", "frank", "berger", "fuchs", "kaiser", "jung", "otto",
        "roth", "haas", "sommer", "graf", "brandt", "vogel", "stein"]


def _mailbox_toml(count: int, rooms: int) -> str:
    rng = random.Random(7)
    taken: set[str] = set()
    out = []
    for n in range(count - rooms):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        alias, k = f"{first[0]}{last}", 1
        while alias in taken:
            k += 1
            alias = f"{first[0]}{last}{k}"
        taken.add(alias)
        out.append(
            f'[[mailbox]]\nalias = "{alias}"\nname = "{first.title()} {last.title()}"\n'
            f'password = "x"\nphone = "+49 30 {1000 + n}"\noffice = "B{n % 9} {n % 400}"\n'
        )
    for n in range(rooms):
        out.append(f'[[mailbox]]\nalias = "room-{n:03d}"\nname = "Room {n:03d}"\n'
                   f'password = "x"\nkind = "room"\n')
    out.append('[[mailbox]]\nalias = "svc"\nname = "svc"\npassword = "demo"\n'
               'kind = "service"\naccess = ["*"]\n')
    return "\n".join(out)


def main() -> None:
    section("GAL refresh, 5,000 entries", ".venv/bin/python -m bench.gal_refresh")
    with temp_dir("gal") as folder:
        toml = folder / "mailboxes.toml"
        toml.write_text(_mailbox_toml(ENTRIES, ROOMS), encoding="utf-8")
        mailboxes = load_mailboxes(toml)
        began = time.monotonic()
        store = Store(str(folder / "sim.sqlite"), mailboxes)
        print(f"  simulator store with {len(mailboxes):,} mailboxes built in "
              f"{time.monotonic() - began:.1f} s")
        config = replace(load_config(None, state_dir=folder / "state", caldav_port=free_port()),
                         gal_rooms=tuple(f"room-{n:03d}@example.com" for n in range(ROOMS)))
        storage = radicale_configuration(config, with_server=False)
        rows = []
        with running_simulator(store) as sim:
            for limit in (100, 1000):
                session = ExchangeSession(SessionConfig(sim.base_url, Credentials("svc", "demo"),
                                                        auth="fba"))
                for run in ("first", "unchanged"):
                    before = len(sim.app.log)
                    began = time.monotonic()
                    sweep = sweep_gal(session, "svc", rooms=config.gal_rooms, page_limit=limit)
                    swept = time.monotonic() - began
                    report = store_gal(storage, sweep.contacts.values())
                    total = time.monotonic() - began
                    rows.append([limit, run, len(sweep.contacts), len(sim.app.log) - before,
                                 sweep.requests, swept, total - swept, report.longest_lock,
                                 report.written, len(sweep.incomplete)])
                session.close()
                # the second page limit starts from an empty address book again
                shutil.rmtree(config.state_dir / "collections", ignore_errors=True)
    print(table(["page limit", "refresh", "entries", "HTTP requests", "galfind", "sweep s",
                 "store s", "longest lock s", "cards written", "incomplete"], rows, digits=2))
    print("  HTTP requests include the one forms login of a fresh session; the simulator has no")
    print("  galfind cap, so 'page limit' is where the bridge splits a prefix (the real cap is")
    print("  not in the reference). Cards are written 100 per exclusive storage lock.")


if __name__ == "__main__":
    main()
