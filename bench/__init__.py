"""calbridge benchmarks (`make bench`, or `.venv/bin/python -m bench --help`).

Benchmarks print figures; they never assert wall-clock times. Sections (one module each):

- `requests_per_op`: Exchange requests per meeting operation (client and engine level).
- `latency`: CalDAV PUT → meeting request in the attendee's Inbox, through the live loop.
- `idle_sync`: an idle sync pass over a large calendar (CPU, wall, requests, memory).
- `radicale_put`: Radicale PUT time with the calbridge storage plugin vs plain multifilesystem.
"""
