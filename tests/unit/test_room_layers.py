"""The hub's rooms depend on each other in one direction only, the direction a record flows.

``docs/architecture.md`` draws the rooms; this test holds the drawing: each room may import the rooms
listed for it here and nothing above it, so that (for instance) the transport can be reused without
the engine, and the reconciler without a database. Imports under ``if TYPE_CHECKING:`` are type
hints, not dependencies, and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

HUB = Path(__file__).resolve().parents[2] / "hub"

BASE = {"errors", "redact"}
#: What each room may import besides itself and the base modules (``hub/errors.py``, ``hub/redact.py``).
ALLOWED: dict[str, set[str]] = {
    "errors": {"redact"},
    "redact": set(),
    "model": set(),
    "transport": set(),
    "plugins": {"model", "transport", "config.yamlio"},
    "config": {"model", "plugins"},
    "state": {"model"},
    "sandbox": {"model"},
    "sync": {"model", "transport", "plugins", "config", "state"},
    #: The web console reads the store and the config; the daemon (ops) and the CLI serve it, so it
    #: knows neither: what it needs of a daemon (health, run requests) is handed to it.
    "console": {"model", "config", "state"},
    "distributed": {"model", "plugins", "config", "state", "sync"},
    "ops": {"model", "plugins", "config", "state", "sync", "console", "distributed"},
    "cli": {"model", "transport", "plugins", "config", "state", "sync", "ops", "sandbox", "console", "distributed"},
    "sdk": {"model", "transport", "plugins", "sandbox", "sync.listing_memo"},
    "__main__": {"cli"},
    "__init__": set(),
}


def _room(path: Path) -> str:
    parts = path.relative_to(HUB).with_suffix("").parts
    return parts[0]


def _runtime_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """``hub.*`` modules imported outside ``if TYPE_CHECKING:`` blocks, with their line numbers."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "hub":
                found += [(node.lineno, f"hub.{alias.name}") for alias in node.names]
            elif node.module.startswith("hub."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("hub.")]
    return found


def _allowed(room: str, module: str) -> bool:
    dotted = module.removeprefix("hub.")
    target = dotted.split(".")[0]
    if target == room or target in BASE:
        return True
    return any(dotted == rule or dotted.startswith(rule + ".") for rule in ALLOWED[room])


def violations(source: str, room: str) -> list[str]:
    imports = _runtime_imports(ast.parse(source))
    return [f"line {line}: {module}" for line, module in imports if not _allowed(room, module)]


def test_every_room_imports_only_the_rooms_below_it() -> None:
    problems = []
    for path in sorted(HUB.rglob("*.py")):
        room = _room(path)
        assert room in ALLOWED, f"{path.relative_to(HUB)}: a new room? add it to ALLOWED and to docs/architecture.md"
        problems += [f"{path.relative_to(HUB)} ({room}) {v}" for v in violations(path.read_text(), room)]
    assert not problems, "imports against the direction of the flow:\n" + "\n".join(problems)


def test_the_checker_sees_each_form_of_import_and_ignores_type_hints() -> None:
    source = (
        "import hub.sync.engine\n"
        "from hub.state.store import Store\n"
        "from hub import ops\n"
        "def f():\n    from hub.cli.app import main\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from hub.sync.engine import Engine\n"
        "from hub.errors import FatalError\n"
    )
    assert violations(source, "transport") == [
        "line 1: hub.sync.engine",
        "line 2: hub.state.store",
        "line 3: hub.ops",
        "line 5: hub.cli.app",
    ]
    assert violations(source, "cli") == []
