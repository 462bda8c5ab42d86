"""Partitions of a job's keys: which worker of a distributed run decides which groups.

A group (a SKU, an e-mail) belongs to partition ``md5(group) mod count``: the first 28 bits of its
MD5 digest, taken as an unsigned number. MD5 is not here for security but because it is stable
(the same group falls in the same partition on every run, every host and every Python, unlike
``hash()``) and because PostgreSQL computes the very same number (``md5`` is built in), so a
worker asks the database for its partition's rows only instead of reading every row to skip most.
SQLite has no ``md5``; the store registers the same function there (``register_sqlite``), so
the partitioned paths run, and are tested, on both databases.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, func, literal_column
from sqlalchemy.dialects.postgresql import BIT

__all__ = ["Partition", "bucket_of", "register_sqlite"]

#: How many leading hex digits of the digest make a group's number (28 bits: a positive int4 in SQL).
_HEX_DIGITS = 7
#: The SQLite function standing in for PostgreSQL's expression.
_SQLITE_FUNCTION = "omnihub_bucket"


def _number(group: str) -> int:
    """The first 28 bits of the group's MD5 digest, as PostgreSQL's ``Partition.clause`` reads them."""
    return int(hashlib.md5(group.encode("utf-8"), usedforsecurity=False).hexdigest()[:_HEX_DIGITS], 16)


def bucket_of(group: str, count: int) -> int:
    """The partition (0 .. count-1) of ``group``."""
    return _number(group) % count


@dataclass(frozen=True)
class Partition:
    """Partition ``index`` of ``count``: the groups whose bucket is ``index``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"partition {self.index} of {self.count} does not exist")

    def holds(self, group: str) -> bool:
        return self.count == 1 or bucket_of(group, self.count) == self.index

    def only(self, groups: set[str]) -> set[str]:
        """The groups of ``groups`` this partition decides."""
        return groups if self.count == 1 else {g for g in groups if bucket_of(g, self.count) == self.index}

    def clause(self, column: Any, dialect: str) -> ColumnElement[bool] | None:
        """The SQL condition that keeps this partition's rows of ``column`` (a group column); None
        when the partition is everything."""
        if self.count == 1:
            return None
        if dialect == "postgresql":
            # ('x' || first 7 hex digits)::bit(28)::int: the digest's first 28 bits, unsigned.
            hexed = literal_column("'x'", String) + func.substr(func.md5(column), 1, _HEX_DIGITS)
            number = hexed.cast(BIT(4 * _HEX_DIGITS)).cast(Integer)
        else:
            number = getattr(func, _SQLITE_FUNCTION)(column)
        return (number % self.count) == self.index

    def as_json(self) -> list[int]:
        return [self.index, self.count]

    def __str__(self) -> str:
        return f"partition {self.index + 1} of {self.count}"


def register_sqlite(dbapi_connection: Any) -> None:
    """Give a SQLite connection the digest number PostgreSQL computes in ``Partition.clause``."""

    def number(group: str | None) -> int | None:
        return None if group is None else _number(group)

    dbapi_connection.create_function(_SQLITE_FUNCTION, 1, number, deterministic=True)
