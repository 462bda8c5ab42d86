"""Sync a platform sandbox at volume and count requests against the platform's minimum.

    python benchmarks/sync_sandbox.py --platform shopify --skus 10000
    python benchmarks/sync_sandbox.py --platform hubspot --customers 50000

Each platform has a plugin module ``benchmarks/sandbox_<platform>.py`` with
``add_arguments(parser)`` and ``async run(args) -> dict``. The plugin starts the platform's
sandbox on loopback, pulls everything through the real connector, pushes a drifted fraction back,
checks the sandbox's final state, and returns ``requests`` (sent by the connector's transport),
``minimum`` (what the platform's page and batch limits allow), ``lost_updates`` and any other
figures. This driver prints them as one ``key=value`` line, with ``ratio`` and ``seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _plugin(platform: str):  # type: ignore[no-untyped-def]
    path = HERE / f"sandbox_{platform}.py"
    if not path.exists():
        known = sorted(p.stem.removeprefix("sandbox_") for p in HERE.glob("sandbox_*.py"))
        sys.exit(f"no benchmark plugin for {platform!r}; known: {', '.join(known)}")
    spec = importlib.util.spec_from_file_location(f"sandbox_{platform}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--platform", required=True)
    known, _ = first.parse_known_args(argv)
    plugin = _plugin(known.platform)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--platform", required=True)
    plugin.add_arguments(parser)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures = asyncio.run(plugin.run(args))
    seconds = time.perf_counter() - started
    requests, minimum = figures.pop("requests"), figures.pop("minimum")
    ratio = requests / minimum if minimum else float("inf")
    ordered = {
        "requests": requests,
        "minimum": minimum,
        "ratio": f"{ratio:.3f}",
        **figures,
        "seconds": f"{seconds:.1f}",
    }
    print(" ".join(f"{k}={v}" for k, v in ordered.items()))
    return 0 if figures.get("lost_updates", 0) == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
