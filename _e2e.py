import time

import caldav
import requests

c = caldav.DAVClient(url="http://127.0.0.1:15232/alice/", username="alice", password="demo")
p = c.principal()
cal = p.make_calendar(name="calendar", cal_id="calendar")
ics = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:e2e-1
DTSTAMP:20261125T120000Z
DTSTART:20261210T140000Z
DTEND:20261210T150000Z
SUMMARY:Planning
ORGANIZER:mailto:alice@example.com
ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:bob@example.com
ATTENDEE;ROLE=OPT-PARTICIPANT:mailto:carol@example.com
ATTENDEE;CUTYPE=ROOM:mailto:room-101@example.com
END:VEVENT
END:VCALENDAR
"""
t0=time.time()
cal.save_event(ics)
s = requests.Session(); s.auth=("svc-calbridge","demo")
from tests.sim.davclient import items_in, login_fba

login_fba(s, "http://127.0.0.1:18800", "svc-calbridge", "demo")
for i in range(50):
    got = items_in(s, "http://127.0.0.1:18800/exchange/bob/Inbox/")
    if got: break
    time.sleep(0.1)
print(time.time()-t0, got)
