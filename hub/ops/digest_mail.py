"""The alert digest as a mail: the subject, the plain-text and HTML parts rendered from ``templates/``.

Every string that reaches a mail goes through ``hub.redact.redact`` first, and the HTML part is
rendered with autoescaping: a SKU or a customer name is data from a platform, never markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from hub.ops.alerts import Digest, MismatchView
from hub.redact import redact
from hub.sync.report import JobReport

__all__ = ["digest_subject", "render_digest"]

#: Values longer than this are cut in the mail (an address or a tag list can be long).
_MAX_VALUE_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

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
    subject = digest_subject(digest, hub_name)
    context = {
        "subject": subject,
        "hub_name": _clean(hub_name, limit=60),
        "generated": _when(now, zone),
        "sections": _sections(digest, zone),
        "headings": _HEADINGS,
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


#: The column headings of the mismatch tables, by row field.
_HEADINGS = {
    "key": "Key",
    "connector": "Channel",
    "field": "Field",
    "expected": "Expected",
    "actual": "Actual",
    "since": "Since",
    "resolved_at": "Resolved",
}


def _sections(digest: Digest, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The digest's three sections as the templates read them: tables per entity, their columns
    (resolved ones also say when) and the widths that line the plain-text tables up."""
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
                "widths": _widths(tables, columns, _HEADINGS),
            }
        )
    return sections
