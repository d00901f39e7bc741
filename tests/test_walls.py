"""The walls of the design (§1): the simulator and the bridge share nothing but the wire.

Read statically from the source (every `import` and `from … import`, at any depth), so a
late import inside a function cannot slip past: `exchange_sim` never imports `bridge` or
`radicale_plugin`; `bridge` imports `exchange_sim` only in the launcher (`service`, `cli`),
which may start the embedded simulator; the Radicale plugin imports neither.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = {"bridge/service.py", "bridge/cli.py"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_scan_sees_imports_at_any_depth(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from exchange_sim.store import Store\n    import bridge.x\n")
    assert imported_packages(module) == {"exchange_sim", "bridge"}


@pytest.mark.parametrize("path", sources("exchange_sim"), ids=lambda p: p.name)
def test_simulator_never_imports_the_bridge(path: Path) -> None:
    assert not imported_packages(path) & {"bridge", "radicale_plugin"}


@pytest.mark.parametrize("path", sources("bridge"), ids=lambda p: p.name)
def test_bridge_imports_the_simulator_only_in_the_launcher(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    if relative not in LAUNCHER:
        assert "exchange_sim" not in imported_packages(path), relative


@pytest.mark.parametrize("path", sources("radicale_plugin"), ids=lambda p: p.name)
def test_plugin_imports_neither_exchange_client_nor_simulator(path: Path) -> None:
    # It runs under Radicale's lock and never talks to Exchange (design §1).
    assert not imported_packages(path) & {"exchange_sim", "requests", "requests_ntlm"}
    assert "bridge.exchange" not in path.read_text(encoding="utf-8")
