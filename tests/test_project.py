"""The project's promises about itself: declared dependencies and an honest README.

Every third-party module the shipped packages import belongs to a distribution declared in
pyproject.toml (an undeclared one works only while another package happens to pull it in), and
every command, option and make target the README shows exists as written.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("bridge", "radicale_plugin", "exchange_sim")


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0] for spec in project["dependencies"]}
    return {_normal(name) for name in names}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_levels() -> dict[str, str]:
    found: dict[str, str] = {}
    for package in SHIPPED:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_imported_distribution_is_declared() -> None:
    declared = _declared()
    owners = packages_distributions()
    undeclared = {}
    for module, where in _imported_top_levels().items():
        if module in sys.stdlib_module_names or module in SHIPPED:
            continue
        distributions = {_normal(d) for d in owners.get(module, [module])}
        if not distributions & declared:
            undeclared[module] = (sorted(distributions), where)
    assert undeclared == {}


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_calbridge_command_and_option_in_the_readme_exists() -> None:
    shown = re.findall(r"^\.venv/bin/calbridge (\w+)(.*)$", _readme(), flags=re.MULTILINE)
    assert len(shown) >= 7
    for command, rest in shown:
        result = CliRunner().invoke(main, [command, "--help"], catch_exceptions=False)
        if command == "sim":  # passes --help on to the simulator's own parser
            continue
        assert result.exit_code == 0, (command, result.output)
        usage = rest.split("#", 1)[0]
        for option in re.findall(r"--[a-z][a-z-]*", usage):
            assert option in result.output, (command, option)


def _make_recipes() -> dict[str, list[str]]:
    recipes: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        target = re.match(r"^([a-z]+):", line)
        if target:
            current = target.group(1)
            recipes[current] = []
        elif line.startswith("\t") and current is not None:
            recipes[current].append(line.strip())
    return recipes


def test_the_readme_names_every_tool_a_make_target_runs() -> None:
    """Where the README lists the checkers a target runs, it lists all of them (`make lint` is
    not "ruff only" when it also runs mypy)."""
    recipes = _make_recipes()
    described = re.findall(r"^make (\w+)\s+# (.*)$", _readme(), flags=re.MULTILINE)
    assert {target for target, _ in described} >= {"run", "test", "lint", "bench", "sim"}
    for target, description in described:
        assert target in recipes, target
        runs = {tool for tool in TOOLS if any(_runs(line, tool) for line in recipes[target])}
        named = {tool for tool in TOOLS if tool in description}
        if named:
            assert named == runs, (target, description, sorted(runs))


TOOLS = ("ruff", "mypy", "pytest")


def _runs(line: str, tool: str) -> bool:
    return f"$(BIN)/{tool}" in line or f"-m {tool}" in line
