"""Exactly once when an answer is lost *after* Exchange acted (design §4, issue: lost answers).

Every request of every operation is carried out by the simulator and then its answer is lost:
the connection is dropped, or the answer comes later than the client's read time-out. The
client may retry what is safe to retry (a conditional write), and recovery checks the rest
against the server; either way every attendee ends with exactly one copy of each message.
The expected counts come from what the user did (one create, one move, one removal), not from
the bridge's own view.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Bridge
from tests.e2e.test_exactly_once import check, prepare

APPOINTMENT = r"^PROPPATCH /exchange/alice/Calendar/"
DRAFT = r"^PROPPATCH /exchange/alice/Drafts/"
SEND = r"^MOVE /exchange/alice/Drafts/"
SENDAPPT = r"^POST /exchange/alice/Calendar/"
GETCANCEL = r"^GET /exchange/alice/Calendar/.*[?]Cmd=getcancel"
DELETE = r"^DELETE /exchange/alice/Calendar/"

# The requests each operation makes, in order (the simulator's request log shows them).
REQUESTS = {
    "create": [APPOINTMENT, DRAFT, SEND],
    "update": [APPOINTMENT, SENDAPPT],
    "cancel": [GETCANCEL, SEND, DELETE],
    "shrink": [APPOINTMENT, SENDAPPT, DRAFT, SEND],  # carol removed: her own cancellation
}
TIMEOUT = 1.0  # the bridge's read time-out in these tests; a late answer comes after it
CASES = [
    pytest.param(op, request, lost, id=f"{op}-{i}-{lost}")
    for op, requests in REQUESTS.items()
    for i, request in enumerate(requests)
    for lost in ("dropped", "late")
]


@pytest.mark.parametrize(("op", "request_pattern", "lost"), CASES)
def test_answer_lost_after_exchange_acted(bridge_with, op: str, request_pattern: str,
                                          lost: str) -> None:
    bridge: Bridge = bridge_with(timeout=TIMEOUT)
    prepare(bridge, op)
    if lost == "dropped":
        bridge.sim.faults.add(request_pattern, drop=True, after=True)
    else:
        bridge.sim.faults.add(request_pattern, delay=TIMEOUT + 1.0, after=True)
    carried_out = len(bridge.sim.log)
    bridge.sync()
    hit = [e for e in bridge.sim.log.entries()[carried_out:] if e.status == 0]
    assert lost == "late" or hit, "the fault never fired: the request list is out of date"
    bridge.sim.faults.clear()
    bridge.sync_later()  # past the settle time and any back-off, as after a later restart
    check(bridge, op)
