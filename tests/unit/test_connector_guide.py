"""The connector guide cannot drift from the code: every code block it says is a file is that file.

In ``docs/writing-a-connector.md`` a fenced block preceded by ``<!-- file: PATH -->`` must equal the
file at PATH exactly, and one preceded by ``<!-- excerpt: PATH -->`` must appear in it verbatim.
The worked example's connector, package and mapping must be embedded whole, and the checker is
first held to a guide with a planted difference, so that a checker that cannot fail is caught too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "writing-a-connector.md"
BLOCK = re.compile(r"<!-- (file|excerpt): (\S+) -->\n```[a-z]*\n(.*?)```\n", re.S)
WHOLE = {"connectors/square/__init__.py", "connectors/square/connector.py", "mappings/square.yaml"}


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(kind, path, content) of every marked code block of a guide."""
    return BLOCK.findall(text)


def problems(text: str, root: Path) -> list[str]:
    """What differs between the guide's marked blocks and the files they name."""
    found = []
    for kind, path, content in blocks(text):
        source = (root / path).read_text(encoding="utf-8") if (root / path).is_file() else None
        if source is None:
            found.append(f"{path}: no such file")
        elif kind == "file" and content != source:
            found.append(f"{path}: the guide's copy differs from the file")
        elif kind == "excerpt" and content not in source:
            found.append(f"{path}: the guide's excerpt is not in the file")
    return found


def test_every_marked_block_is_the_file_it_names() -> None:
    assert problems(GUIDE.read_text(encoding="utf-8"), ROOT) == []


def test_the_worked_example_is_embedded_whole_and_stays_short() -> None:
    whole = {path for kind, path, _ in blocks(GUIDE.read_text(encoding="utf-8")) if kind == "file"}
    assert whole >= WHOLE
    python = sum(len((ROOT / p).read_text().splitlines()) for p in WHOLE if p.endswith(".py"))
    assert python < 150, f"the worked example's Python is {python} lines; the guide promises under 150"


def test_the_checker_catches_a_changed_line_a_missing_file_and_a_stale_excerpt(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\ny = 2\n")
    good = "<!-- file: a.py -->\n```python\nx = 1\ny = 2\n```\n<!-- excerpt: a.py -->\n```python\ny = 2\n```\n"
    assert problems(good, tmp_path) == [] and len(blocks(good)) == 2
    assert problems(good.replace("y = 2\n```\n<!--", "y = 3\n```\n<!--"), tmp_path) == [
        "a.py: the guide's copy differs from the file"
    ]
    assert problems(good.replace("```python\ny = 2", "```python\nz = 2"), tmp_path) == [
        "a.py: the guide's excerpt is not in the file"
    ]
    assert problems(good.replace("file: a.py", "file: b.py"), tmp_path) == ["b.py: no such file"]


@pytest.mark.parametrize("path", sorted(WHOLE))
def test_the_example_files_exist(path: str) -> None:
    assert (ROOT / path).is_file()
