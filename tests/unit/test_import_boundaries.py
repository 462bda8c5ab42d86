"""The plugin boundary, both ways: a connector imports only ``hub.sdk`` of the hub, and the hub never
imports a connector (it finds them through entry points).

Every import is found, wherever it is written (module level, inside a function, under
``TYPE_CHECKING``), in every form (``import hub.x``, ``import hub.x as y``, ``from hub.x import y``,
``from hub import x``, relative imports resolved within the package, ``importlib.import_module("...")`` and
``__import__("...")`` with a literal name). The checker itself is first held to synthetic sources
with one planted violation of each form, so that a checker that cannot fail is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(source: str, package: str) -> set[str]:
    """Every module name ``source`` imports; ``package`` is the dotted package it lives in (for relative imports)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base and anchor else (base or anchor)
            names.add(base)
            # `from hub import config` imports the module hub.config
            names |= {f"{base}.{alias.name}" for alias in node.names if alias.name != "*"}
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def connector_violations(source: str, package: str) -> set[str]:
    """The hub modules a connector module imports other than the public seam ``hub.sdk``."""
    allowed = {"hub", "hub.sdk"}  # `from hub import sdk` names hub and hub.sdk
    found = imported_modules(source, package)
    hub_names = {n for n in found if n == "hub" or n.startswith("hub.")}
    bad = {n for n in hub_names if n not in allowed and not n.startswith("hub.sdk.")}
    if "hub" in hub_names and not ({"hub.sdk"} & found) and not bad:
        bad.add("hub")  # a bare `import hub` reaches every room through attributes
    return bad


def core_violations(source: str, package: str) -> set[str]:
    """The connector modules a hub module imports."""
    return {n for n in imported_modules(source, package) if n == "connectors" or n.startswith("connectors.")}


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _package(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts if path.name == "__init__.py" else parts[:-1]).removesuffix(".__init__")


# ------------------------------------------------------------------ the checker catches each form

PLANTED_IN_A_CONNECTOR = [
    "import hub.state.store",
    "import hub.sync.engine as engine",
    "from hub.plugins.contract import Connector",
    "from hub import errors",
    "import hub",
    "def later():\n    from hub.transport.http import Transport\n    return Transport",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hub.model.records import Product",
    "import importlib\nstore = importlib.import_module('hub.state.store')",
    "store = __import__('hub.state.store')",
]

PLANTED_IN_THE_CORE = [
    "import connectors",
    "import connectors.shopify",
    "import connectors.shopify.sandbox_state as state",
    "from connectors.shopify.sandbox_state import location_gids",
    "from connectors import shopify",
    "def later():\n    from connectors.woocommerce import WooCommerceConnector\n    return WooCommerceConnector",
    "import importlib\nplugin = importlib.import_module('connectors.csv')",
]


@pytest.mark.parametrize("source", PLANTED_IN_A_CONNECTOR)
def test_the_checker_catches_a_connector_reaching_past_the_sdk(source: str) -> None:
    assert connector_violations(source, "connectors.example"), source


@pytest.mark.parametrize("source", PLANTED_IN_THE_CORE)
def test_the_checker_catches_the_core_importing_a_connector(source: str) -> None:
    assert core_violations(source, "hub.cli"), source


@pytest.mark.parametrize(
    "source",
    [
        "from hub.sdk import Connector, READ",
        "import hub.sdk",
        "from hub import sdk",
        "import hub.sdk as sdk",
        "from . import client",
        "from .client import Client",
        "import httpx\nfrom connectors.example.client import Client",
        "import importlib\nimportlib.import_module('connectors.example.client')",
    ],
)
def test_the_checker_lets_a_connector_use_the_sdk_and_itself(source: str) -> None:
    assert connector_violations(source, "connectors.example") == set(), source


@pytest.mark.parametrize(
    "source",
    ["from hub.sdk import Connector", "from importlib.metadata import entry_points", "from . import demo", "x = 1"],
)
def test_the_checker_lets_the_core_import_the_core(source: str) -> None:
    assert core_violations(source, "hub.cli") == set(), source


# ------------------------------------------------------------------ the tree holds the boundary


def test_connectors_import_only_the_sdk_of_the_hub() -> None:
    modules = _modules("connectors")
    assert len(modules) > 20, "the scan found too few connector modules"
    problems = {
        str(path.relative_to(ROOT)): sorted(bad)
        for path in modules
        if (bad := connector_violations(path.read_text(encoding="utf-8"), _package(path)))
    }
    assert problems == {}


def test_the_hub_never_imports_a_connector() -> None:
    modules = _modules("hub")
    assert len(modules) > 20, "the scan found too few hub modules"
    problems = {
        str(path.relative_to(ROOT)): sorted(bad)
        for path in modules
        if (bad := core_violations(path.read_text(encoding="utf-8"), _package(path)))
    }
    assert problems == {}
