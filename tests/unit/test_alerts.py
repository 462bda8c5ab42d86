"""The digest rules (what is mailed, when) and the mail itself (both parts, escaping, no secret)."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import policy
from pathlib import Path
from typing import Any

import pytest

from hub.config.models import Thresholds
from hub.ops.alerts import Digest, MismatchView, Severity, select_for_digest, severity
from hub.ops.delivery import write_digest_files
from hub.ops.digest_mail import render_digest
from hub.redact import register_secret
from hub.sync.report import JobReport

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
SMTP_SECRET = "smtp-SECRET-password"


def mismatch(id: int = 1, **changes: Any) -> MismatchView:
    values: dict[str, Any] = {
        "id": id,
        "job": "stock",
        "entity": "stock",
        "key": f"SKU-{id}@milano-store",
        "field": "available",
        "connector": "shop",
        "expected": "5",
        "actual": "9",
        "status": "open",
        "first_seen": NOW - timedelta(hours=5),
        "last_seen": NOW,
        "resolved_at": None,
        "notified_at": None,
        "notified_status": None,
        "detail": None,
    }
    values.update(changes)
    return MismatchView(**values)


def test_from_row_keeps_the_fields_it_mails() -> None:
    row = {**mismatch(9).__dict__, "grp": "SKU-9", "resolution": None}
    assert MismatchView.from_row(row) == mismatch(9)


def select(*mismatches: MismatchView, thresholds: Thresholds | None = None) -> Digest:
    return select_for_digest(mismatches, now=NOW, renotify_after=DAY, thresholds=thresholds or Thresholds())


class TestSelection:
    def test_open_never_mailed_is_new(self) -> None:
        digest = select(mismatch(1))
        assert [m.id for m in digest.new] == [1]
        assert digest.persisting == [] and digest.resolved == []
        assert digest.notified() == [(1, "open")]

    def test_mailed_open_is_repeated_only_after_renotify_after(self) -> None:
        recent = mismatch(1, notified_at=NOW - DAY + timedelta(seconds=1), notified_status="open")
        due = mismatch(2, notified_at=NOW - DAY, notified_status="open")
        digest = select(recent, due)
        assert digest.new == []
        assert [m.id for m in digest.persisting] == [2]
        assert digest.notified() == [(2, "open")]

    def test_naive_times_from_the_store_are_taken_as_utc(self) -> None:
        naive = (NOW - DAY).replace(tzinfo=None)
        digest = select(mismatch(1, notified_at=naive, notified_status="open"))
        assert [m.id for m in digest.persisting] == [1]

    def test_a_digest_of_mailed_mismatches_within_renotify_after_is_empty(self) -> None:
        digest = select(mismatch(1, notified_at=NOW - timedelta(minutes=5), notified_status="open"))
        assert digest.is_empty
        assert digest.notified() == []

    def test_resolved_is_mailed_once_after_it_was_mailed_open(self) -> None:
        mailed_open = mismatch(1, status="resolved", resolved_at=NOW, notified_at=NOW - DAY, notified_status="open")
        mailed_resolved = mismatch(2, status="resolved", resolved_at=NOW, notified_at=NOW, notified_status="resolved")
        never_mailed = mismatch(3, status="resolved", resolved_at=NOW)
        digest = select(mailed_open, mailed_resolved, never_mailed)
        assert [m.id for m in digest.resolved] == [1]
        assert digest.new == [] and digest.persisting == []
        assert digest.notified() == [(1, "resolved")]

    def test_a_mismatch_that_reopens_after_its_resolution_was_mailed_is_new_again(self) -> None:
        digest = select(mismatch(1, notified_at=NOW - timedelta(hours=1), notified_status="resolved"))
        assert [m.id for m in digest.new] == [1]

    @pytest.mark.parametrize(
        ("expected", "actual", "mailed"),
        [("10.00", "10.01", False), ("10.00", "9.99", False), ("10.00", "10.02", True), ("10.00", None, True)],
    )
    def test_price_differences_within_the_threshold_are_left_out(
        self, expected: str, actual: str | None, mailed: bool
    ) -> None:
        for field in ("amount", "compare_at"):
            item = mismatch(
                1, entity="prices", job="prices", key="SKU-1", field=field, expected=expected, actual=actual
            )
            assert (not select(item, thresholds=Thresholds(price=Decimal("0.01"))).is_empty) is mailed

    def test_stock_threshold_applies_to_available_only(self) -> None:
        thresholds = Thresholds(stock=2)
        assert select(mismatch(1, expected="5", actual="7"), thresholds=thresholds).is_empty
        assert not select(mismatch(1, expected="5", actual="8"), thresholds=thresholds).is_empty
        assert not select(mismatch(1, field="on_hand", expected="5", actual="6"), thresholds=thresholds).is_empty

    def test_thresholds_do_not_swallow_other_entities_or_text_values(self) -> None:
        consent = mismatch(
            1, entity="customers", key="a@example.com", field="email_marketing", expected="unsubscribed", actual="never"
        )
        title = mismatch(2, entity="prices", key="SKU-2", field="amount", expected="n/a", actual="10")
        digest = select(consent, title, thresholds=Thresholds(price=Decimal("100"), stock=100))
        assert [m.id for m in digest.new] == [2, 1]  # prices before customers

    def test_sections_are_sorted_worst_first_then_by_key(self) -> None:
        digest = select(
            mismatch(5, entity="customers", key="a@x", field="phone", expected="1", actual="2"),
            mismatch(3, key="B@x"),
            mismatch(1, entity="prices", key="Z", field="amount", expected="1", actual="3"),
            mismatch(4, key="C@x", expected="9", actual="5"),  # fewer shown than held: cannot oversell
            mismatch(2, key="A@x"),
        )
        assert [m.id for m in digest.new] == [2, 3, 4, 1, 5]
        assert [severity(m) for m in digest.new] == [
            Severity.oversell,
            Severity.oversell,
            Severity.stock,
            Severity.prices,
            Severity.other,
        ]

    def test_stock_the_truth_does_not_hold_is_an_oversell_risk(self) -> None:
        assert severity(mismatch(1, expected=None, actual="3")) is Severity.oversell
        assert severity(mismatch(1, expected="3", actual=None)) is Severity.stock
        assert severity(mismatch(1, field="on_hand", expected="1", actual="3")) is Severity.stock

    def test_open_mismatches_mailed_recently_are_counted_quietly(self) -> None:
        digest = select(mismatch(1), mismatch(2, notified_at=NOW - timedelta(minutes=5), notified_status="open"))
        assert [m.id for m in digest.new] == [1] and digest.quiet == 1 and digest.open_count == 2


def parts(message: email.message.EmailMessage) -> tuple[str, str]:
    """The plain and HTML bodies, read back the way a mail client would."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def sample_digest() -> Digest:
    return select(
        mismatch(
            1,
            entity="prices",
            job="prices",
            key="<script>alert(1)</script>",
            field="amount",
            expected="19.90",
            actual="18.00",
            connector="web",
        ),
        mismatch(
            2,
            entity="customers",
            job="customers",
            key="anna@example.com",
            field="email_marketing",
            expected="unsubscribed",
            actual="subscribed",
            connector="news",
        ),
        mismatch(3, notified_at=NOW - 2 * DAY, notified_status="open"),
        mismatch(4, notified_at=NOW - 2 * DAY, notified_status="open"),
        mismatch(5, status="resolved", resolved_at=NOW, notified_at=NOW - DAY, notified_status="open"),
    )


class TestRendering:
    def test_subject_counts_each_section(self) -> None:
        message = render_digest(sample_digest(), sender="omnihub@example.com", recipients=["ops@example.com"], now=NOW)
        assert message["Subject"] == "[omnihub] 4 open (2 new), 1 resolved"
        assert message["From"] == "omnihub@example.com"
        assert message["To"] == "ops@example.com"
        assert message["Message-ID"]

    def test_both_parts_carry_every_section_and_row(self) -> None:
        message = render_digest(
            sample_digest(),
            hub_name="acme hub",
            sender="omnihub@example.com",
            recipients=["ops@example.com", "it@example.com"],
            now=NOW,
        )
        plain, html = parts(message)
        for body in (plain, html):
            for heading in ("Could oversell (2)", "Prices (1)", "Other (1)", "Resolved (1)"):
                assert heading in body
            for key in ("anna@example.com", "SKU-3@milano-store", "SKU-4@milano-store", "SKU-5@milano-store"):
                assert key in body
            assert "19.90" in body and "18.00" in body and "unsubscribed" in body
            assert "2025-03-01 07:00 UTC" in body  # first seen
            assert "acme hub" in body
        assert message["To"] == "ops@example.com, it@example.com"

    def test_groups_come_worst_first_in_both_parts(self) -> None:
        plain, html = parts(
            render_digest(sample_digest(), sender="a@example.com", recipients=["b@example.com"], now=NOW)
        )
        for body in (plain, html):
            order = [body.index(h) for h in ("Could oversell (2)", "Prices (1)", "Other (1)", "Resolved (1)")]
            assert order == sorted(order)
        assert "<th" in html and ">Channel shows</th>" in html and ">Truth has</th>" in html
        lines = plain.splitlines()
        assert all(line == line.rstrip() for line in lines if line != "-- ")

    def test_html_escapes_platform_data(self) -> None:
        plain, html = parts(
            render_digest(sample_digest(), sender="a@example.com", recipients=["b@example.com"], now=NOW)
        )
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert(1)</script>" in plain  # the plain part is text, not markup

    def test_no_secret_reaches_the_mail(self) -> None:
        register_secret(SMTP_SECRET)
        digest = select(
            mismatch(1, key="SKU-1@web", expected=f"value {SMTP_SECRET}", detail=f"token={SMTP_SECRET}"),
        )
        report = JobReport("stock", "stock", status="failed", errors=[f"login failed with {SMTP_SECRET}"])
        message = render_digest(
            digest,
            hub_name="omnihub",
            run_summary=[report],
            sender="a@example.com",
            recipients=["b@example.com"],
            now=NOW,
        )
        raw = message.as_string()
        plain, html = parts(message)
        assert SMTP_SECRET not in raw and SMTP_SECRET not in plain and SMTP_SECRET not in html
        assert "value ***" in plain and "login failed with ***" in plain and "login failed with ***" in html

    def test_run_summary_lists_each_job(self) -> None:
        reports = [
            JobReport(
                "stock", "stock", mode="enforce", pulled={"wms": 10, "shop": 7}, pushed={"shop": 3}, mismatches=2
            ),
            JobReport("prices", "prices", status="failed", errors=["web: 503"]),
        ]
        reports[0].compared = 12
        reports[1].fail("web", "JKT-1", ["amount"], "unavailable", "HTTP 503")
        plain, html = parts(
            render_digest(Digest(), run_summary=reports, sender="a@example.com", recipients=["b@example.com"], now=NOW)
        )
        words = " ".join(plain.split())  # the plain part wraps its lines at 78 columns
        assert "stock (stock, enforce): ok; pulled 17, compared 12, pushed 3, 2 open mismatches" in words
        assert "prices (prices, monitor): failed" in words and "web: 503" in words
        assert "== Failed changes (1) ==\n- web: JKT-1 (amount): unavailable: HTTP 503" in plain
        assert ">failed</td>" in html and "web: JKT-1 (amount): unavailable: HTTP 503</li>" in html

    def test_times_are_shown_in_the_hub_time_zone(self) -> None:
        plain, _ = parts(
            render_digest(
                sample_digest(), sender="a@example.com", recipients=["b@example.com"], now=NOW, timezone="Europe/Rome"
            )
        )
        assert "2025-03-01 08:00 CET" in plain and "Generated 2025-03-01 13:00 CET" in plain

    def test_newlines_in_values_cannot_break_the_layout_or_headers(self) -> None:
        digest = select(mismatch(1, key="SKU-1\nInjected: yes", actual="9\r\nBcc: x@evil.example"))
        message = render_digest(
            digest, hub_name="hub\nBcc: x@evil.example", sender="a@example.com", recipients=["b@example.com"], now=NOW
        )
        assert message["Bcc"] is None
        plain, _ = parts(message)
        assert "SKU-1 Injected: yes" in plain


def test_write_digest_files_writes_the_mail_and_its_html(tmp_path: Path) -> None:
    message = render_digest(sample_digest(), sender="a@example.com", recipients=["b@example.com"], now=NOW)
    eml, html = write_digest_files(message, tmp_path / "outbox", "digest-20250301T120000Z")
    assert eml == tmp_path / "outbox" / "digest-20250301T120000Z.eml"
    assert html.suffix == ".html" and html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == message["Subject"]
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [eml.name, html.name]
    with pytest.raises(ValueError):
        write_digest_files(message, tmp_path, "../escape")
