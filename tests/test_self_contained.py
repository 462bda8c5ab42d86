"""A fresh clone tests and runs itself: no code, test or benchmark reaches for files outside the
repository. Platform files the tests need are copied into ``tests/fixtures/`` (or shipped as
package data) with their origin noted beside them; a path to a folder beside the clone works on
one machine and fails everywhere else."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The folders whose files run at test or run time.
SCANNED = ("tests", "hub", "connectors", "benchmarks")
#: The folder the project's own platform notes live in, beside a developer's clone: written in two
#: pieces so that this file does not itself read as a reference to it.
SIBLING = "".join(("sha", "red"))
#: Spellings of that folder, once quotes and spaces are taken out of the text and separators of
#: path-building calls made slashes (a parent-folder step then the folder's name, or the folder's
#: name then ``platforms``).
OUTSIDE = re.compile(rf"\.\./{SIBLING}|{SIBLING}/platforms")


def _normalized(text: str) -> str:
    return re.sub(r"[\s\"']", "", text).replace(",", "/").replace("\\", "/")


def _scanned_files() -> list[Path]:
    files = [p for folder in SCANNED for p in (REPO / folder).rglob("*") if p.is_file()]
    return [p for p in files if "__pycache__" not in p.parts and p != Path(__file__).resolve()]


def _outside_references() -> list[str]:
    found = []
    for path in _scanned_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # gzipped schemas and other binary data
            continue
        if OUTSIDE.search(_normalized(text)):
            found.append(str(path.relative_to(REPO)))
    return found


def test_the_check_sees_every_spelling_of_the_folder_beside_the_repository() -> None:
    spellings = [
        f'Path(__file__).parents[2] / ".." / "{SIBLING}" / "platforms" / "shopify"',
        f'ROOT = Path(__file__).parents[2]\n    / ".."\n    / "{SIBLING}"\n    / "platforms"',
        f'os.path.join("..", "{SIBLING}", "woocommerce")',
        f"open('../{SIBLING}/platforms/mailchimp/members.yml')",
        f"see {SIBLING}/platforms/README.md",
    ]
    assert all(OUTSIDE.search(_normalized(s)) for s in spellings)
    assert not OUTSIDE.search(_normalized(f'"{SIBLING} by every connector"; tests/fixtures/platforms/woocommerce'))


def test_no_file_refers_to_a_folder_outside_the_repository() -> None:
    assert len(_scanned_files()) > 100  # the walk really found the repository's files
    assert _outside_references() == [], "copy what is needed into the repository (tests/fixtures/) and read it there"


def test_every_document_the_readme_names_is_in_the_repository() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"[\w./-]+\.md\b", readme))
    assert "docs/contract.md" in named
    missing = sorted(name for name in named if not (REPO / name).is_file())
    assert missing == [], f"README.md names documents that are not in the repository: {missing}"
