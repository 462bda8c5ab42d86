"""One pass over a feed's bytes: what the pull must know before it reads a single row.

A feed is parsed straight from its file (``csv`` over a text stream), never held: a decoded feed in
memory costs its size again, and ``io.StringIO`` four times that (it keeps four bytes a character),
which at a million rows was most of a sync's memory. What the parse needs first is learned here in
chunks of a mebibyte: the digest that recognizes an unchanged feed, the line count for the
progress bar, whether a cell may carry the formula guard, and whether the last line was cut.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FeedScan", "ascii_compatible", "digest_of", "scan_feed"]

_CHUNK = 1 << 20
#: A quote before a formula character, as ``cells.has_guarded_cells`` looks for it, in bytes.
_GUARDED = re.compile(rb"'[=+\-@\t\r]")


def digest_of(content: bytes) -> str:
    """The feed's digest (its incremental cursor): BLAKE2b, 16 bytes, as hex."""
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def ascii_compatible(encoding: str) -> bool:
    """Whether the encoding writes ASCII as ASCII bytes (UTF-8, Latin-1, Windows-1252 ...): then
    line endings and the guard can be found in the bytes. UTF-16 feeds are read the slow way."""
    try:
        encoded = codecs.lookup(encoding).encode("\n'=,")[0]
    except LookupError:
        return False
    return encoded.removeprefix(codecs.BOM_UTF8) == b"\n'=,"  # utf-8-sig starts with its mark


@dataclass(frozen=True, slots=True)
class FeedScan:
    digest: str
    #: Line endings in the file (the progress bar's total; a quoted multi-line cell makes it an estimate).
    newlines: int
    #: A cell may carry the formula guard (``'=``): only then is each cell looked at when reading.
    guarded: bool
    #: The file is not empty and its last byte is no line ending (a file cut while being written).
    ends_mid_line: bool


def scan_feed(path: Path) -> FeedScan:
    """Digest, line count, guard and cut of a feed in one streaming pass (an ASCII-compatible one)."""
    digest = hashlib.blake2b(digest_size=16)
    newlines = 0
    guarded = False
    previous = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            guarded = guarded or _GUARDED.search(previous[-1:] + chunk) is not None
            previous = chunk
    return FeedScan(digest.hexdigest(), newlines, guarded, bool(previous) and previous[-1:] not in (b"\n", b"\r"))
