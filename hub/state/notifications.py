"""Notifications: the queue of alert digests, kept until the mail server took them.

A digest is queued with the mismatches it reports (``covers``) before it is sent, so a mail that
fails is sent again on the next round instead of being lost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from hub.state import schema as t
from hub.state.sql import Repository, utcnow

__all__ = ["NotificationRepository"]


class NotificationRepository(Repository):
    """``store.notifications``: digests pending or sent."""

    def queue(self, message: str, covers: Sequence[tuple[int, str]]) -> int:
        """Queue a whole RFC 5322 message reporting the (mismatch id, status) pairs; its id."""
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(t.notifications).values(
                    created_at=utcnow(), status="pending", attempts=0, message=message, covers=json.dumps(covers)
                )
            )
            return int(result.inserted_primary_key[0])

    def pending(self) -> list[dict[str, Any]]:
        n = t.notifications.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.notifications).where(n.status == "pending").order_by(n.id)).mappings()
            return [{**dict(r), "covers": [tuple(c) for c in json.loads(r["covers"])]} for r in rows]

    def settle(self, notification_id: int, sent: bool, error: str | None) -> None:
        """Count an attempt; a sent digest leaves the queue."""
        n = t.notifications.c
        values: dict[str, Any] = {"attempts": n.attempts + 1, "last_error": error}
        if sent:
            values.update(status="sent", sent_at=utcnow())
        with self.engine.begin() as conn:
            conn.execute(update(t.notifications).where(n.id == notification_id).values(**values))
