"""How a feed file is rewritten: its rows change, nothing else does.

Other programs read these files (a WMS picking up a stock feed, a person in a spreadsheet, a
container running as another user), so a rewrite keeps what they rely on besides the rows: the
byte order mark (kept when the file had one, never added), the line endings (``csv`` would write
``\\r\\n`` everywhere), and the permissions and owner (the temporary file of an atomic replace is
created ``0600``, which would lock every other reader out). The replace itself stays atomic: a
temporary file in the same folder, flushed to disk, then renamed over the feed, so a reader never
sees half a file and a crash leaves the old one.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import fcntl
import io
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Layout", "ends_mid_line", "feed_lock", "replace_file", "serialize"]

_NEWLINE = re.compile(r"\r\n?|\n")
#: Written when a file shows no line ending of its own (a lone header line): RFC 4180's.
DEFAULT_NEWLINE = "\r\n"


def ends_mid_line(text: str) -> bool:
    """True when the last line of a non-empty text has no line ending: a file cut while it was
    being written (or copied) ends like this, and its last row may be missing cells or digits."""
    return bool(text) and not text.endswith(("\n", "\r"))


@dataclass(frozen=True, slots=True)
class Layout:
    """What a rewrite keeps of a feed file besides its rows."""

    #: The UTF-8 byte order mark the file starts with, or nothing.
    bom: bytes
    #: The line ending of the file's first line.
    newline: str

    @classmethod
    def of(cls, content: bytes, text: str) -> Layout:
        """The layout of a file, from its bytes and their decoded text."""
        found = _NEWLINE.search(text)
        bom = codecs.BOM_UTF8 if content.startswith(codecs.BOM_UTF8) else b""
        return cls(bom=bom, newline=found.group() if found else DEFAULT_NEWLINE)

    def encode(self, text: str, encoding: str) -> bytes:
        """The file's bytes. ``utf-8-sig`` reads files with or without a BOM but would write one
        into every file: the BOM is written only when the file had it. Other codecs round-trip."""
        if codecs.lookup(encoding).name == "utf-8-sig":
            return self.bom + text.encode("utf-8")
        return text.encode(encoding)


def serialize(rows: Sequence[Sequence[str]], delimiter: str, newline: str) -> str:
    """Rows as CSV text ending every row with ``newline``.

    ``csv`` quotes a cell for the characters of its own line terminator only: with ``\\n`` rows, a
    cell holding a bare ``\\r`` would be written unquoted and split its row when read back. When
    that happens the rows are written one by one as for ``\\r\\n`` (which quotes both) and given
    the file's own ending."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerows(rows)
    text = buffer.getvalue()
    if not any(char in text for char in {"\r", "\n"} - set(newline)):
        return text
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    lines = []
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        lines.append(buffer.getvalue()[:-2] + newline)
    return "".join(lines)


@contextlib.contextmanager
def feed_lock(path: Path) -> Iterator[None]:
    """Hold the write lock of the feed's folder: a rewrite reads the file, changes rows and
    replaces it, so two writers at once (the partitions of a distributed run, on two workers
    sharing the folder) would each lose the other's rows. An advisory ``flock`` on the folder
    (the feed itself is replaced, so it cannot carry the lock; a lock file would be left in the
    user's folder). Readers are not held up: they see the old file or the new one."""
    folder = os.open(Path(os.path.realpath(path)).parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # closing the descriptor releases the lock


def replace_file(path: Path, data: bytes, like: os.stat_result) -> None:
    """Replace the file at ``path`` (a symbolic link's target, so the link stays) by ``data``,
    atomically, with the mode and, where permitted, the owner and group of ``like``."""
    target = Path(os.path.realpath(path))
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            _keep_owner(handle.fileno(), like)
            os.fchmod(handle.fileno(), stat.S_IMODE(like.st_mode))  # after chown, which may clear set-id bits
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _keep_owner(fd: int, like: os.stat_result) -> None:
    """Give the new file the old one's owner and group. Only root may give a file away; anyone may
    set a group they belong to; when neither is allowed the file stays the writer's own."""
    now = os.fstat(fd)
    if (now.st_uid, now.st_gid) == (like.st_uid, like.st_gid):
        return
    try:
        os.fchown(fd, like.st_uid, like.st_gid)
    except PermissionError:
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, like.st_gid)
