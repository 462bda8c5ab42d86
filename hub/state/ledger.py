"""What a pull past ``hub.memory_records`` remembers, on disk instead of in memory.

A pull must know every key it has seen (to find duplicates, deletions, and how many records the
connector holds) and, on a re-sync, every stored row hash (to skip unchanged rows unread). Held in
Python that costs a few hundred bytes per key, which is what outgrew the budget on a million-row
catalogue. The ledger keeps both in a temporary SQLite file, deleted when it is closed: the pull
appends its keys window by window and asks its questions once, at the end, by SQL."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from itertools import islice

__all__ = ["PullLedger"]

#: Values bound in one ``IN (...)``: well under SQLite's limit on a statement's variables.
_IN_CHUNK = 500


def _chunks(items: Iterable[object], size: int) -> Iterator[list[object]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class PullLedger:
    """The keys (with their origins) one pull has seen, and the stored rows it compares with.

    Keys are appended without an index (an index maintained row by row would cost more than the
    pull); ``finish`` builds it once, before the questions. Stored rows are indexed by hash once they
    are loaded, since each page of a re-sync looks its digests up."""

    def __init__(self) -> None:
        handle, self._path = tempfile.mkstemp(prefix="omnihub-pull-", suffix=".sqlite")
        os.close(handle)
        self._db = sqlite3.connect(self._path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (key TEXT NOT NULL, origin TEXT NOT NULL)")
        self._db.execute("CREATE TABLE stored (key TEXT NOT NULL, hash INTEGER NOT NULL)")
        self.stored = 0

    def close(self) -> None:
        """Close and delete the file: nothing of a pull outlives it."""
        self._db.close()
        os.unlink(self._path)

    # ------------------------------------------------------------------ filling

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One transaction per batch: left to autocommit, every row would be a transaction of its
        own, written to the file one by one (ten times the cost of the whole pull)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add_seen(self, rows: Iterable[tuple[str, str]]) -> None:
        """Append (key, origin) rows: one per occurrence, so a key seen twice is there twice."""
        with self._transaction():
            self._db.executemany("INSERT INTO seen VALUES (?, ?)", rows)

    def add_window(self, seen: dict[str, str], duplicates: dict[str, list[str]]) -> None:
        """Append one window of a pull: each key with its first origin, then every further copy
        of a key that the window itself found twice (``duplicates``: key -> all its origins)."""
        self.add_seen(seen.items())
        self.add_seen((key, origin) for key, origins in duplicates.items() for origin in origins[1:])

    def add_stored(self, rows: Iterable[tuple[str, int]]) -> None:
        """Append stored (key, row hash) rows, streamed: the store's copy is never held whole."""
        before = self._db.total_changes
        with self._transaction():
            self._db.executemany("INSERT INTO stored VALUES (?, ?)", rows)
        self.stored += self._db.total_changes - before

    def index_stored(self) -> None:
        """Index the stored rows by hash (what each page looks up), once they are all in."""
        self._db.execute("CREATE INDEX stored_hash ON stored (hash)")

    def finish(self) -> None:
        """Index the seen keys, once the pull has appended them all."""
        self._db.execute("CREATE INDEX seen_key ON seen (key)")

    # ------------------------------------------------------------------ questions

    def known(self, digests: Iterable[int], ignore: int) -> dict[int, str]:
        """Digest -> stored key for the digests of one page that a stored row has (but ``ignore``,
        the hash of rows that must be read again whatever they hold)."""
        found: dict[int, str] = {}
        if not self.stored:
            return found
        for chunk in _chunks(digests, _IN_CHUNK):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT hash, key FROM stored WHERE hash IN ({marks}) AND hash != ?"
            found.update(self._db.execute(query, (*chunk, ignore)).fetchall())
        return found

    def duplicates(self) -> dict[str, list[str]]:
        """Every key seen more than once, with all its origins in the order they were appended."""
        query = (
            "SELECT key, origin FROM seen WHERE key IN (SELECT key FROM seen GROUP BY key HAVING count(*) > 1)"
            " ORDER BY key, rowid"
        )
        found: dict[str, list[str]] = {}
        for key, origin in self._db.execute(query):
            found.setdefault(key, []).append(origin)
        return found

    def count_seen(self) -> int:
        """How many distinct keys the pull brought."""
        return int(self._db.execute("SELECT count(DISTINCT key) FROM seen").fetchone()[0])

    def count_held(self) -> int:
        """How many distinct keys the pull brought or the store held before it (an incremental pull)."""
        query = "SELECT count(*) FROM (SELECT key FROM seen UNION SELECT key FROM stored)"
        return int(self._db.execute(query).fetchone()[0])

    def locations(self, *, with_stored: bool) -> frozenset[str]:
        """The stock locations (the text after the ``@``) of the keys seen exactly once, or of every
        key seen or stored (``with_stored``: an incremental pull, whose duplicates stay held)."""
        if with_stored:
            keys = "SELECT key FROM seen UNION SELECT key FROM stored"
        else:
            keys = "SELECT key FROM seen GROUP BY key HAVING count(*) = 1"
        query = f"SELECT DISTINCT substr(key, instr(key, '@') + 1) FROM ({keys})"
        return frozenset(row[0] for row in self._db.execute(query))

    def unseen_stored(self) -> list[str]:
        """The stored keys the pull did not bring: deleted, when the pull was complete."""
        query = "SELECT key FROM stored WHERE NOT EXISTS (SELECT 1 FROM seen WHERE seen.key = stored.key)"
        return [row[0] for row in self._db.execute(query)]
