"""The alert digest: which mismatches to mail, the mail itself, and its delivery.

After each run the caller (engine or daemon) hands the job's mismatches over as plain
``MismatchView`` values; ``select_for_digest`` decides what is worth a mail (new ones, ones still
open after ``renotify_after``, ones resolved since they were mailed) and ``Digest.notified`` says
what to remember so that the same mismatch is not mailed every five minutes. The store is not
touched here, which keeps the rules pure and testable.

Every string that reaches a mail goes through ``hub.redact.redact`` first, and the HTML part is
rendered with autoescaping: a SKU or a customer name is data from a platform, never markup.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from hub.config.models import EmailConfig, Thresholds
from hub.errors import OmnihubError
from hub.redact import MASK, redact
from hub.sync.report import JobReport

__all__ = [
    "AlertDeliveryError",
    "Digest",
    "MismatchView",
    "digest_subject",
    "render_digest",
    "select_for_digest",
    "send_email",
    "write_digest_files",
]

log = logging.getLogger("omnihub.alerts")

#: Price fields whose differences up to ``thresholds.price`` are not mailed.
_PRICE_FIELDS = frozenset({"amount", "compare_at"})
#: Values longer than this are cut in the mail (an address or a tag list can be long).
_MAX_VALUE_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

MismatchStatus = Literal["open", "resolved"]


class AlertDeliveryError(OmnihubError):
    """The digest could not be handed to the SMTP server; the message says why, never with a secret."""


@dataclass
class MismatchView:
    """One mismatch as the store knows it, with what was last mailed about it."""

    id: int
    job: str
    entity: str
    #: The SKU, ``SKU@location`` for stock, or the normalized e-mail of a customer.
    key: str
    field: str
    #: The channel that shows the wrong value.
    connector: str
    expected: str | None
    actual: str | None
    status: MismatchStatus
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    #: When this mismatch was last mailed, and as what (``open`` or ``resolved``).
    notified_at: datetime | None = None
    notified_status: str | None = None
    detail: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MismatchView:
        """Build one from a store row (``store.mismatches.rows``), ignoring the columns not mailed."""
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})


@dataclass
class Digest:
    """What one digest mail reports, in its three sections."""

    new: list[MismatchView] = field(default_factory=list)
    persisting: list[MismatchView] = field(default_factory=list)
    resolved: list[MismatchView] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.new or self.persisting or self.resolved)

    def notified(self) -> list[tuple[int, MismatchStatus]]:
        """(mismatch id, status it was mailed as): persist these once the mail is sent."""
        out: list[tuple[int, MismatchStatus]] = [(m.id, "open") for m in (*self.new, *self.persisting)]
        out.extend((m.id, "resolved") for m in self.resolved)
        return out


def _within_thresholds(mismatch: MismatchView, thresholds: Thresholds) -> bool:
    """True when the difference is too small to bother anyone (a cent of rounding, one unit)."""
    if mismatch.entity == "prices" and mismatch.field in _PRICE_FIELDS:
        limit: Decimal = thresholds.price
    elif mismatch.entity == "stock" and mismatch.field == "available":
        limit = Decimal(thresholds.stock)
    else:
        return False
    if mismatch.expected is None or mismatch.actual is None:
        return False  # a value that is missing on one side is never a rounding difference
    try:
        difference = abs(Decimal(mismatch.expected) - Decimal(mismatch.actual))
    except InvalidOperation:
        return False
    return difference <= limit


def _utc(moment: datetime) -> datetime:
    """A naive time is taken as UTC (SQLite hands times back without their zone)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def select_for_digest(
    mismatches: Iterable[MismatchView], *, now: datetime, renotify_after: timedelta, thresholds: Thresholds
) -> Digest:
    """Pick the mismatches worth mailing now.

    - ``new``: open and never mailed as open (a mismatch that reopens after a mailed resolution
      counts as new again).
    - ``persisting``: open, mailed as open at least ``renotify_after`` ago: a reminder, not spam.
    - ``resolved``: resolved after it was mailed as open; one never mailed is not worth a mail.

    Open differences within ``thresholds`` are left out altogether.
    """
    digest = Digest()
    for mismatch in mismatches:
        mailed_open = mismatch.notified_status == "open" and mismatch.notified_at is not None
        if mismatch.status == "resolved":
            if mailed_open:
                digest.resolved.append(mismatch)
            continue
        if _within_thresholds(mismatch, thresholds):
            continue
        if not mailed_open:
            digest.new.append(mismatch)
        elif _utc(now) - _utc(mismatch.notified_at) >= renotify_after:  # type: ignore[arg-type]
            digest.persisting.append(mismatch)
    for section in (digest.new, digest.persisting, digest.resolved):
        section.sort(key=lambda m: (m.entity, m.job, m.key, m.field, m.connector))
    return digest


# --- rendering ---------------------------------------------------------------------------------

_KEY_HEADINGS = {"stock": "SKU@location", "customers": "E-mail", "products": "SKU", "prices": "SKU"}
_SECTIONS = (("new", "New"), ("persisting", "Still open"), ("resolved", "Resolved"))


def _clean(value: object, *, limit: int = _MAX_VALUE_CHARS) -> str:
    """Redacted, one line, bounded: what any value looks like in a mail."""
    text = _CONTROL.sub(" ", redact(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _row(mismatch: MismatchView, zone: ZoneInfo) -> dict[str, str]:
    return {
        "job": _clean(mismatch.job),
        "key": _clean(mismatch.key),
        "connector": _clean(mismatch.connector),
        "field": _clean(mismatch.field),
        "expected": "(none)" if mismatch.expected is None else _clean(mismatch.expected),
        "actual": "(none)" if mismatch.actual is None else _clean(mismatch.actual),
        "since": _when(mismatch.first_seen, zone),
        "resolved_at": _when(mismatch.resolved_at, zone),
        "detail": "" if mismatch.detail is None else _clean(mismatch.detail),
    }


def _tables(mismatches: Sequence[MismatchView], zone: ZoneInfo) -> list[dict[str, Any]]:
    """One table per entity, in the order the digest sorted them."""
    tables: dict[str, dict[str, Any]] = {}
    for mismatch in mismatches:
        entity = _clean(mismatch.entity)
        table = tables.setdefault(
            entity, {"entity": entity, "key_heading": _KEY_HEADINGS.get(mismatch.entity, "Key"), "rows": []}
        )
        table["rows"].append(_row(mismatch, zone))
    return list(tables.values())


def _summary(report: JobReport) -> dict[str, str]:
    return {
        "name": _clean(report.name),
        "entity": _clean(report.entity),
        "mode": _clean(report.mode),
        "status": _clean(report.status),
        "pulled": str(sum(report.pulled.values())),
        "pushed": str(sum(report.pushed.values())),
        "mismatches": str(report.mismatches),
        "failed": str(report.failed),
        "quarantined": str(report.quarantined),
        "duration": f"{report.duration_s:.1f}s",
        "errors": "; ".join(_clean(e) for e in report.errors),
        "compared": str(report.compared),
        # what did not land, one line each: who should look at which record, and why
        "failures": [
            _clean(f"{f.connector}: {f.key} ({', '.join(f.fields)}): {f.code or 'error'}: {f.message}")
            for f in report.failures
        ]
        + ([f"... and {report.failed - len(report.failures)} more"] if report.failed > len(report.failures) else []),
        "warnings": [_clean(w, limit=400) for w in report.warnings],
    }


def _pad(value: object, width: int) -> str:
    return str(value).ljust(width)


@cache
def _environments() -> tuple[Environment, Environment]:
    """(HTML with autoescaping, plain text without): the same data rendered twice."""
    common: dict[str, Any] = {"undefined": StrictUndefined, "trim_blocks": True, "lstrip_blocks": True}
    html = Environment(loader=PackageLoader("hub.ops", "templates"), autoescape=True, **common)
    text = Environment(
        loader=PackageLoader("hub.ops", "templates"), autoescape=False, keep_trailing_newline=True, **common
    )
    text.filters["pad"] = _pad
    return html, text


def _widths(tables: list[dict[str, Any]], columns: Sequence[str], headings: dict[str, str]) -> dict[str, int]:
    """Column widths that line the plain-text tables up (the same for every table of a mail)."""
    widths = {c: len(headings[c]) for c in columns}
    for table in tables:
        widths["key"] = max(widths["key"], len(table["key_heading"]))
        for row in table["rows"]:
            for column in columns:
                widths[column] = max(widths[column], len(row[column]))
    return widths


def digest_subject(digest: Digest, hub_name: str = "omnihub") -> str:
    """``omnihub: 3 new, 2 open, 1 resolved mismatches`` (open = still open, mailed before)."""
    return (
        f"{_clean(hub_name, limit=60)}: {len(digest.new)} new, {len(digest.persisting)} open, "
        f"{len(digest.resolved)} resolved mismatches"
    )


def render_digest(
    digest: Digest,
    *,
    hub_name: str = "omnihub",
    run_summary: list[JobReport] | None = None,
    sender: str,
    recipients: list[str],
    now: datetime,
    timezone: str = "UTC",
) -> EmailMessage:
    """The digest as one multipart/alternative mail (plain text first, then HTML).

    ``timezone`` is the zone times are shown in (the hub's ``timezone``); every value is redacted
    and cut to one bounded line before it reaches a template.
    """
    zone = ZoneInfo(timezone)
    headings = {
        "key": "Key",
        "connector": "Channel",
        "field": "Field",
        "expected": "Expected",
        "actual": "Actual",
        "since": "Since",
        "resolved_at": "Resolved",
    }
    sections = []
    for attr, title in _SECTIONS:
        tables = _tables(getattr(digest, attr), zone)
        columns = ["key", "connector", "field", "expected", "actual", "since"]
        if attr == "resolved":
            columns.append("resolved_at")
        sections.append(
            {
                "id": attr,
                "title": title,
                "count": len(getattr(digest, attr)),
                "tables": tables,
                "columns": columns,
                "widths": _widths(tables, columns, headings),
            }
        )
    subject = digest_subject(digest, hub_name)
    context = {
        "subject": subject,
        "hub_name": _clean(hub_name, limit=60),
        "generated": _when(now, zone),
        "sections": sections,
        "headings": headings,
        "runs": [_summary(r) for r in run_summary or []],
    }
    html_env, text_env = _environments()
    text_body = text_env.get_template("digest.txt.j2").render(context)
    html_body = html_env.get_template("digest.html.j2").render(context)

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = _clean(sender)
    message["To"] = ", ".join(_clean(r) for r in recipients)
    message["Date"] = format_datetime(now if now.tzinfo else now.replace(tzinfo=UTC))
    domain = sender.rpartition("@")[2] or "omnihub.invalid"
    message["Message-ID"] = make_msgid("omnihub", domain=_clean(domain, limit=100))
    message.set_content(text_body)
    message.add_alternative(html_body, subtype="html")
    return message


# --- delivery ----------------------------------------------------------------------------------


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
