"""The alert digest's delivery: handed to the SMTP server, or written as .eml and .html files.

Any failure becomes ``AlertDeliveryError`` naming the server and the reason, never the password;
``hub.ops.notify`` keeps an undelivered digest queued in the store and tries again after the next run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from hub.config.models import EmailConfig
from hub.errors import OmnihubError
from hub.redact import MASK, redact

__all__ = ["AlertDeliveryError", "send_email", "write_digest_files"]

log = logging.getLogger("omnihub.alerts")


class AlertDeliveryError(OmnihubError):
    """The digest could not be handed to the SMTP server; the message says why, never with a secret."""


def _send_sync(message: EmailMessage, email: EmailConfig, context: ssl.SSLContext) -> dict[str, Any]:
    smtp: smtplib.SMTP
    if email.ssl:
        smtp = smtplib.SMTP_SSL(email.smtp_host, email.smtp_port, timeout=email.timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(email.smtp_host, email.smtp_port, timeout=email.timeout_s)
    with smtp:
        if email.starttls:
            smtp.starttls(context=context)
        if email.username:
            password = email.password.get_secret_value() if email.password else ""
            smtp.login(email.username, password)
        return smtp.send_message(message, from_addr=email.sender, to_addrs=email.recipients)


def _safe(text: str, email: EmailConfig) -> str:
    """Redact, and mask the SMTP password even if nobody registered it as a secret."""
    if email.password is not None:
        secret = email.password.get_secret_value()
        if secret:
            text = text.replace(secret, MASK)
    return redact(text)


async def send_email(message: EmailMessage, email: EmailConfig, *, tls_context: ssl.SSLContext | None = None) -> None:
    """Hand the digest to the SMTP server (in a worker thread: smtplib blocks).

    STARTTLS or implicit TLS as configured, a login when a username is set, ``timeout_s`` on every
    socket operation. ``tls_context`` replaces the default certificate verification (a private CA).
    Any failure becomes ``AlertDeliveryError`` naming the server and the reason, never the password.
    """
    context = tls_context or ssl.create_default_context()
    where = f"{email.smtp_host}:{email.smtp_port}"
    try:
        refused = await asyncio.to_thread(_send_sync, message, email, context)
    except smtplib.SMTPAuthenticationError as exc:
        detail = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        raise AlertDeliveryError(
            _safe(
                f"SMTP server {where} refused the login of {email.username!r} ({exc.smtp_code} {detail}): "
                "check alerts.email.username and password",
                email,
            )
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise AlertDeliveryError(_safe(f"could not send the alert e-mail via {where}: {reason}", email)) from None
    if refused:
        log.warning("SMTP server %s refused some recipients: %s", where, _safe(", ".join(refused), email))


def write_digest_files(message: EmailMessage, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write the digest as ``<stem>.eml`` (the whole mail) and ``<stem>.html`` (its HTML part).

    Each file is written to a temporary name and moved into place, so a reader never sees half a
    mail. Returns (eml path, html path).
    """
    if not stem or Path(stem).name != stem or stem in {".", ".."}:
        raise ValueError(f"{stem!r} is not a plain file name stem")
    folder.mkdir(parents=True, exist_ok=True)
    html_part = message.get_body(preferencelist=("html",))
    html = html_part.get_content() if html_part is not None else ""
    eml_path, html_path = folder / f"{stem}.eml", folder / f"{stem}.html"
    for path, data in ((eml_path, message.as_bytes()), (html_path, html.encode("utf-8"))):
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    return eml_path, html_path
