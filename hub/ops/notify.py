"""After a run: choose what to tell, queue the digest durably, and deliver what is queued.

A digest is queued in the store (``notifications``), once for the e-mail and once for each other
channel (``alerts.channels``), and its mismatches are marked as notified in the same step, so a
later run never reports them again while the first digest is still pending; the queue is delivered
at once and, if a server is down, at the end of every later run until it goes out. Delivery
problems are logged and never fail a sync.
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
from hub.ops.channels import channel_id, send_to_channel
from hub.ops.delivery import AlertDeliveryError, send_email, write_digest_files
from hub.ops.digest_facts import gather_facts
from hub.ops.digest_mail import render_digest
from hub.redact import redact
from hub.state.store import Store, utcnow
from hub.sync.report import JobReport

__all__ = ["CHANNEL_HEADER", "deliver_pending", "notify_after_run"]

log = logging.getLogger("omnihub.notify")

#: The header that marks a queued digest as meant for a channel (its ``channel_id``), not the e-mail.
CHANNEL_HEADER = "X-Omnihub-Channel"


def _channel_copy(message: EmailMessage, channel: str) -> EmailMessage:
    """The plain-text digest for one channel, queued as a small message of its own."""
    plain = message.get_body(preferencelist=("plain",))
    copy = EmailMessage()
    copy["Subject"] = message["Subject"]
    copy[CHANNEL_HEADER] = channel
    copy.set_content(plain.get_content() if plain is not None else message["Subject"])
    return copy


async def notify_after_run(
    config: LoadedConfig, store: Store, reports: list[JobReport], *, now: datetime | None = None
) -> Path | None:
    """Queue this run's digest (if anything is worth telling) and deliver the queue.

    Returns the ``.eml`` path when the digest was also written to ``alerts.outbox_dir``.
    """
    alerts = config.alerts
    if alerts.email is None and alerts.outbox_dir is None and not alerts.channels:
        return None
    now = now or utcnow()
    views = [MismatchView.from_row(row) for row in store.mismatches.for_alerts()]
    digest = select_for_digest(views, now=now, renotify_after=alerts.renotify_after, thresholds=alerts.thresholds)
    written = None
    if not digest.is_empty:
        sender = alerts.email.sender if alerts.email else "omnihub@localhost"
        recipients = alerts.email.recipients if alerts.email else ["ops@localhost"]
        message = render_digest(
            digest,
            run_summary=reports,
            sender=sender,
            recipients=recipients,
            now=now,
            timezone=config.hub.timezone,
            facts=gather_facts(config, store, digest, reports),
        )
        if alerts.outbox_dir is not None:
            stem = "digest-" + re.sub(r"[^0-9T]", "", now.strftime("%Y%m%dT%H%M%S"))
            written, _ = write_digest_files(message, config.resolve_path(alerts.outbox_dir), stem)
        if alerts.email is not None:
            store.notifications.queue(message.as_string(), digest.notified())
        for channel in alerts.channels:
            store.notifications.queue(_channel_copy(message, channel_id(channel)).as_string(), digest.notified())
        store.mismatches.mark_notified(digest.notified(), now)
    if alerts.email is not None or alerts.channels:
        await deliver_pending(config, store)
    return written


async def deliver_pending(config: LoadedConfig, store: Store) -> int:
    """Send every queued digest to its e-mail or channel; return how many are still waiting.

    A digest for the e-mail waits while ``alerts.email`` is unset; one for a channel no longer
    configured is dropped with a warning (its URL is gone, nobody could get it).
    """
    channels = {channel_id(c): c for c in config.alerts.channels}
    waiting = 0
    for item in store.notifications.pending():
        message = email.message_from_string(item["message"], _class=EmailMessage, policy=email.policy.SMTP)
        target = message[CHANNEL_HEADER]
        try:
            if target is None:
                if config.alerts.email is None:
                    waiting += 1
                    continue
                await send_email(message, config.alerts.email)  # type: ignore[arg-type]
            elif (channel := channels.get(str(target))) is None:
                log.warning("alert digest %d dropped: channel %s is no longer configured", item["id"], redact(target))
                store.notifications.settle(item["id"], sent=True, error=f"dropped: channel {redact(target)} removed")
                continue
            else:
                body = message.get_body(preferencelist=("plain",))
                text = body.get_content() if body is not None else ""
                await send_to_channel(channel, str(message["Subject"]), text)
        except AlertDeliveryError as exc:
            waiting += 1
            store.notifications.settle(item["id"], sent=False, error=redact(exc))
            log.warning(
                "alert digest %d not delivered yet (attempt %d): %s", item["id"], item["attempts"] + 1, redact(exc)
            )
            continue
        store.notifications.settle(item["id"], sent=True, error=None)
    return waiting
