"""No sandbox imports its connector's client, connector or cost code: a sandbox that shares code
with the client it tests can only agree with it. Every sandbox module under ``connectors/*/``
(``sandbox*.py`` or a ``sandbox/`` package) may import the standard library, third-party packages,
``hub`` (the sandbox kit ``hub.sandbox.kit`` and the neutral ``hub.sandbox.seed``), other sandbox modules of
its own connector and the platform's published documents (``spec``, ``schemas``); nothing else of
``connectors``."""

from __future__ import annotations

import ast
from pathlib import Path

CONNECTORS = Path(__file__).resolve().parents[2] / "connectors"
#: Modules of a connector package a sandbox may use: platform documents, not client code.
DOCUMENTS = frozenset({"spec", "schemas"})


def _sandbox_modules() -> list[Path]:
    found = list(CONNECTORS.glob("*/sandbox*.py")) + list(CONNECTORS.glob("*/sandbox/**/*.py"))
    return sorted(found)


def _imported(path: Path) -> set[str]:
    """Absolute names of the ``connectors`` modules ``path`` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(CONNECTORS.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
                names |= {f"{base}.{alias.name}" for alias in node.names if not node.module}
            names.add(base)
    return {n for n in names if n.startswith("connectors.")}


def _allowed(connector: str, name: str) -> bool:
    parts = name.split(".")
    if len(parts) < 3 or parts[1] != connector:
        return False  # another connector, or the connector package's own __init__
    return parts[2].startswith("sandbox") or parts[2] in DOCUMENTS


def test_every_connector_with_a_sandbox_is_scanned() -> None:
    scanned = {p.relative_to(CONNECTORS).parts[0] for p in _sandbox_modules()}
    assert {"woocommerce", "shopify", "hubspot", "mailchimp", "rest_wms"} <= scanned


def test_no_sandbox_imports_its_connectors_client_code() -> None:
    problems = {}
    for path in _sandbox_modules():
        connector = path.relative_to(CONNECTORS).parts[0]
        bad = {n for n in _imported(path) if not _allowed(connector, n)}
        if bad:
            problems[str(path.relative_to(CONNECTORS.parent))] = sorted(bad)
    assert problems == {}


def test_the_check_sees_relative_and_client_imports(tmp_path: Path) -> None:
    sample = CONNECTORS / "woocommerce" / "sandbox.py"
    tree = "from connectors.woocommerce.auth import x\nfrom .client import y\nfrom . import rows\nfrom .spec import s\n"
    probe = sample.with_name("sandbox_probe_for_test.py")
    probe.write_text(tree)
    try:
        names = _imported(probe)
    finally:
        probe.unlink()
    assert {"connectors.woocommerce.auth", "connectors.woocommerce.client", "connectors.woocommerce.rows"} <= names
    assert not any(_allowed("woocommerce", n) for n in names if not n.endswith("spec"))
    assert _allowed("woocommerce", "connectors.woocommerce.spec")
