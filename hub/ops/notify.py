"""After a run: choose what to mail, queue the digest durably, and deliver what is queued.

A digest is queued in the store (``notifications``) and its mismatches are marked as mailed in
the same step, so a later run never mails them again while the first mail is still pending; the
queue is delivered at once and, if the SMTP server is down, at the end of every later run until
it goes out. Delivery problems are logged and never fail a sync.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from hub.config.loader import LoadedConfig
from hub.ops.alerts import MismatchView, select_for_digest
from hub.ops.delivery import AlertDeliveryError, send_email, write_digest_files
from hub.ops.digest_mail import render_digest
from hub.redact import redact
from hub.state.store import Store, utcnow
from hub.sync.report import JobReport

__all__ = ["deliver_pending", "notify_after_run"]

log = logging.getLogger("omnihub.notify")


async def notify_after_run(
    config: LoadedConfig, store: Store, reports: list[JobReport], *, now: datetime | None = None
) -> Path | None:
    """Queue this run's digest (if anything is worth mailing) and deliver the queue.

    Returns the ``.eml`` path when the digest was also written to ``alerts.outbox_dir``.
    """
    alerts = config.alerts
    if alerts.email is None and alerts.outbox_dir is None:
        return None
    now = now or utcnow()
    views = [MismatchView.from_row(row) for row in store.mismatches.for_alerts()]
    digest = select_for_digest(views, now=now, renotify_after=alerts.renotify_after, thresholds=alerts.thresholds)
    written = None
    if not digest.is_empty:
        sender = alerts.email.sender if alerts.email else "omnihub@localhost"
        recipients = alerts.email.recipients if alerts.email else ["ops@localhost"]
        message = render_digest(
            digest, run_summary=reports, sender=sender, recipients=recipients, now=now, timezone=config.hub.timezone
        )
        if alerts.outbox_dir is not None:
            stem = "digest-" + re.sub(r"[^0-9T]", "", now.strftime("%Y%m%dT%H%M%S"))
            written, _ = write_digest_files(message, config.resolve_path(alerts.outbox_dir), stem)
        if alerts.email is not None:
            store.notifications.queue(message.as_string(), digest.notified())
        store.mismatches.mark_notified(digest.notified(), now)
    if alerts.email is not None:
        await deliver_pending(config, store)
    return written


async def deliver_pending(config: LoadedConfig, store: Store) -> int:
    """Send every queued digest; return how many are still waiting (the SMTP server was down)."""
    assert config.alerts.email is not None
    waiting = 0
    for item in store.notifications.pending():
        message = email.message_from_string(item["message"], _class=EmailMessage, policy=email.policy.SMTP)
        try:
            await send_email(message, config.alerts.email)  # type: ignore[arg-type]
        except AlertDeliveryError as exc:
            waiting += 1
            store.notifications.settle(item["id"], sent=False, error=redact(exc))
            log.warning(
                "alert digest %d not delivered yet (attempt %d): %s", item["id"], item["attempts"] + 1, redact(exc)
            )
            continue
        store.notifications.settle(item["id"], sent=True, error=None)
    return waiting
