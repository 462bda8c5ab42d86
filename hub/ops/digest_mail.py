"""The alert digest as a mail: the subject, the plain-text and HTML parts rendered from ``templates/``.

Every string that reaches a mail goes through ``hub.redact.redact`` first, and the HTML part is
rendered with autoescaping: a SKU or a customer name is data from a platform, never markup.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from hub.ops.alerts import Digest, MismatchView, Severity, severity
from hub.ops.digest_facts import Facts
from hub.redact import redact
from hub.sync.report import JobReport

__all__ = ["TEXT_WIDTH", "digest_subject", "render_digest"]

#: The plain part's widest line (RFC 5322's recommendation): read in any terminal or mail client.
TEXT_WIDTH = 78

#: Values longer than this are cut in the mail (an address or a tag list can be long).
_MAX_VALUE_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


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


_NO_FACTS = Facts()
#: Currency code -> symbol shown after an amount; other currencies show their code.
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF"}
#: Quantities shown with a unit.
_QUANTITY_FIELDS = frozenset({"available", "on_hand"})


def _decimal(value: str | None) -> Decimal | None:
    try:
        number = Decimal(value) if value is not None else None
    except InvalidOperation:
        return None
    return number if number is not None and number.is_finite() else None


def _difference(mismatch: MismatchView, unit: str) -> str:
    """``+10.00 €`` or ``-3 units``: the channel's value minus the truth's; empty for text values.
    A no-break space keeps the number and its unit on one line when the plain part wraps."""
    actual, expected = _decimal(mismatch.actual), _decimal(mismatch.expected)
    if actual is None or expected is None:
        return ""
    return f"{actual - expected:+}\u00a0{unit}".rstrip("\u00a0")


def _row(mismatch: MismatchView, facts: Facts, zone: ZoneInfo) -> dict[str, str]:
    """One mismatch with its context, every value cleaned: what both templates read."""
    unit = ""
    if mismatch.entity == "prices" and facts.currency:
        unit = _SYMBOLS.get(facts.currency, facts.currency)
    elif mismatch.entity == "stock" and mismatch.field in _QUANTITY_FIELDS:
        unit = "units"

    def value(raw: str | None) -> str:
        if raw is None:
            return "(none)"
        shown = _clean(raw)
        return f"{shown}\u00a0{_clean(unit)}" if unit and unit != "units" and _decimal(raw) is not None else shown

    return {
        "job": _clean(mismatch.job),
        "entity": _clean(mismatch.entity),
        "key": _clean(mismatch.key),
        "title": _clean(facts.title, limit=80) if facts.title else "",
        "connector": _clean(mismatch.connector),
        "channel": _clean(facts.channel or mismatch.connector),
        "truth": _clean(facts.truth or "the truth"),
        "field": _clean(mismatch.field),
        "expected": value(mismatch.expected),
        "actual": value(mismatch.actual),
        "difference": _clean(_difference(mismatch, unit)),
        "status": "new" if mismatch.status == "open" and mismatch.notified_status != "open" else mismatch.status,
        "since": _when(mismatch.first_seen, zone),
        "resolved_at": _when(mismatch.resolved_at, zone),
        "detail": "" if mismatch.detail is None else _clean(mismatch.detail),
        "action": _clean(facts.action) if facts.action else "",
        "link": _clean(facts.admin_url, limit=500) if facts.admin_url else "",
    }


def _wrap(text: str, indent: str = "", hanging: str | None = None) -> str:
    """``text`` as lines within ``TEXT_WIDTH`` (continued lines indented by ``hanging``); a word
    longer than a line (a link) is never broken."""
    return (
        "\n".join(
            textwrap.wrap(
                text,
                TEXT_WIDTH,
                initial_indent=indent,
                subsequent_indent=indent + "  " if hanging is None else hanging,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
        or indent.rstrip()
    )


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


@cache
def _environments() -> tuple[Environment, Environment]:
    """(HTML with autoescaping, plain text without): the same data rendered twice."""
    common: dict[str, Any] = {"undefined": StrictUndefined, "trim_blocks": True, "lstrip_blocks": True}
    html = Environment(loader=PackageLoader("hub.ops", "templates"), autoescape=True, **common)
    text = Environment(
        loader=PackageLoader("hub.ops", "templates"), autoescape=False, keep_trailing_newline=True, **common
    )
    return html, text


def digest_subject(digest: Digest, hub_name: str = "omnihub", *, failed: int = 0) -> str:
    """``[omnihub] 3 open (2 new), 1 resolved, 1 failed change``: every open mismatch (mailed now
    or recently), the new ones among them, those resolved since they were mailed, and the changes
    of this run that did not land."""
    parts = [f"{digest.open_count} open" + (f" ({len(digest.new)} new)" if digest.new else "")]
    if digest.resolved:
        parts.append(f"{len(digest.resolved)} resolved")
    if failed:
        parts.append(f"{failed} failed change" + ("s" if failed != 1 else ""))
    return f"[{_clean(hub_name, limit=60)}] " + ", ".join(parts)


def render_digest(
    digest: Digest,
    *,
    hub_name: str = "omnihub",
    run_summary: list[JobReport] | None = None,
    sender: str,
    recipients: list[str],
    now: datetime,
    timezone: str = "UTC",
    facts: Mapping[int, Facts] | None = None,
) -> EmailMessage:
    """The digest as one multipart/alternative mail (plain text first, then HTML).

    ``timezone`` is the zone times are shown in (the hub's ``timezone``); ``facts`` (by mismatch
    id, from ``hub.ops.digest_facts``) add titles, currencies, names, links and what happens next.
    Every value is redacted and cut to one bounded line before it reaches a template; the plain
    part keeps within 78 columns (a link longer than that stands alone on its line, unbroken).
    """
    zone = ZoneInfo(timezone)
    runs = run_summary or []
    failed = sum(r.failed for r in runs)
    subject = digest_subject(digest, hub_name, failed=failed)
    context = {
        "subject": subject,
        "hub_name": _clean(hub_name, limit=60),
        "generated": _when(now, zone),
        "groups": _groups(digest, facts or {}, zone),
        "resolved": [_row(m, (facts or {}).get(m.id, _NO_FACTS), zone) for m in digest.resolved],
        "quiet": digest.quiet,
        "failures": [line for r in runs for line in _summary(r)["failures"]],
        "runs": [_summary(r) for r in runs],
        "wrap": _wrap,
        "width": TEXT_WIDTH,
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
    # a machine wrote this: no vacation replies, no out-of-office loops (RFC 3834, Exchange)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(text_body)
    message.add_alternative(html_body, subtype="html")
    return message


#: The groups of open mismatches, worst first.
_GROUP_TITLES = {
    Severity.oversell: "Could oversell",
    Severity.stock: "Stock",
    Severity.prices: "Prices",
    Severity.other: "Other",
}


def _groups(digest: Digest, facts: Mapping[int, Facts], zone: ZoneInfo) -> list[dict[str, Any]]:
    """Open mismatches (new, then still open) in groups worst first; only groups with rows."""
    groups: dict[Severity, list[dict[str, str]]] = {s: [] for s in Severity}
    for mismatch in (*digest.new, *digest.persisting):
        groups[severity(mismatch)].append(_row(mismatch, facts.get(mismatch.id, _NO_FACTS), zone))
    for rows in groups.values():
        rows.sort(key=lambda r: r["status"] != "new")  # stable: keeps the digest's order within each
    return [
        {"id": s.name, "title": _GROUP_TITLES[s], "rows": rows, "entities": sorted({r["entity"] for r in rows})}
        for s, rows in groups.items()
        if rows
    ]
