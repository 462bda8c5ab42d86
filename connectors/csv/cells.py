"""Spreadsheet formula injection: what a cell the hub writes into a feed may start with.

Feeds are opened in spreadsheets sooner or later, and a spreadsheet runs a cell that starts with
``=``, ``+``, ``-`` or ``@`` (or with a tab or a carriage return, which some skip first) as a
formula: ``=cmd|' /C calc'!A0`` starts a program. The OWASP rule for CSV injection is to make
such a cell text by putting a single quote before it, which spreadsheets do not show.

The hub applies the rule to every text cell it writes. Numbers it formats itself (prices,
quantities) are written as numbers, and cells it does not write are left as they were. Reading
undoes the rule (``'=x`` reads ``=x``, as a spreadsheet shows it), so a guarded value compares
equal to the value it came from and the next sync finds no mismatch in it. A value that already
starts with quotes before such a character gets one more, so reading gives it back unchanged.
"""

from __future__ import annotations

import re

__all__ = ["TRIGGERS", "guard", "has_guarded_cells", "unguard", "unguard_row"]

#: The characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_QUOTED_TRIGGER = re.compile(r"'[=+\-@\t\r]")


def _formula_like(text: str) -> bool:
    """True when the text, past any leading quotes, starts with a formula character."""
    return text.lstrip("'").startswith(TRIGGERS)


def guard(text: str) -> str:
    """The cell to write for a text value: a quote before anything a spreadsheet would run."""
    return "'" + text if _formula_like(text) else text


def unguard(text: str) -> str:
    """The value a guarded cell holds: ``guard``'s inverse (``unguard(guard(t)) == t``)."""
    return text[1:] if text.startswith("'") and _formula_like(text) else text


def unguard_row(cells: list[str]) -> list[str]:
    return [unguard(cell) for cell in cells]


def has_guarded_cells(text: str) -> bool:
    """Whether a feed may hold a guarded cell: every one has a quote right before a formula
    character. One scan of the text (a regular expression led by a literal, about a millisecond
    per megabyte) spares most feeds the look at each cell; a match elsewhere (``Levi's-501``) only
    costs that look."""
    return _QUOTED_TRIGGER.search(text) is not None
