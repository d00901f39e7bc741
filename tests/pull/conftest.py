"""The simulator fixtures of tests/sim, for the pull tests (same real server, fresh store)."""

from tests.sim.conftest import http, sim, sim_servers  # noqa: F401 - pytest finds them by name
