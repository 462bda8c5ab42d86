"""Alert channels besides e-mail (Slack, Teams, webhooks ...): the plain-text digest through apprise.

Each configured channel (``alerts.channels``: an apprise URL, its secret from ``${ENV}``) gets the
plain-text part of the digest with the subject as its title. A channel is named in logs and in the
delivery queue by its ``name`` or by its scheme and a short hash of its URL, never by the URL
itself, which usually is the secret. Any failure becomes ``AlertDeliveryError`` with apprise's
reason, redacted; ``hub.ops.notify`` keeps the digest queued and tries again after the next run.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

import apprise

from hub.config.models import AlertChannel
from hub.ops.delivery import AlertDeliveryError
from hub.redact import redact

__all__ = ["channel_id", "send_to_channel"]

log = logging.getLogger("omnihub.alerts")

#: The most of a digest a chat message carries (Slack cuts a message near 40,000 characters).
MAX_BODY_CHARS = 30_000


def channel_id(channel: AlertChannel) -> str:
    """``slack-1a2b3c4d``: the channel's ``name``, or its scheme and a hash of its URL (stable while
    the URL is, and saying nothing of its secret)."""
    if channel.name:
        return channel.name
    url = channel.url.get_secret_value()
    scheme = url.partition("://")[0].lower() or "channel"
    return f"{scheme}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"


def _notify(url: str, title: str, body: str) -> tuple[bool, str]:
    """Send one notification; (sent, apprise's own words on why not)."""
    sender = apprise.Apprise()
    if not sender.add(url):
        return False, "apprise does not understand this URL (check its scheme and form)"
    with apprise.LogCapture(level=logging.WARNING) as captured:
        sent = sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        words = captured.getvalue().strip()  # type: ignore[union-attr]
    return bool(sent), " ".join(words.split())


async def send_to_channel(channel: AlertChannel, title: str, body: str) -> None:
    """Post the digest to one channel (in a worker thread: apprise blocks).

    Raises ``AlertDeliveryError`` naming the channel by ``channel_id`` and apprise's reason, redacted.
    """
    if len(body) > MAX_BODY_CHARS:
        body = body[: MAX_BODY_CHARS - 60].rstrip() + "\n\n... cut here: the e-mail digest has the rest."
    try:
        sent, reason = await asyncio.to_thread(_notify, channel.url.get_secret_value(), title, body)
    except Exception as exc:  # apprise plugins may raise anything; a digest never fails a sync
        sent, reason = False, f"{type(exc).__name__}: {exc}"
    if not sent:
        raise AlertDeliveryError(
            redact(f"could not post the alert digest to channel {channel_id(channel)}: {reason or 'refused'}")
        )
