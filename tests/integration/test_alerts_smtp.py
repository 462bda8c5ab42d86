"""Real SMTP delivery of the digest to an aiosmtpd server on 127.0.0.1: plain, STARTTLS with login,
implicit TLS, a refused login, an untrusted certificate and a server that is down.

The TLS certificate is self-signed, generated per test session with ``cryptography``; the client
trusts it through ``send_email(..., tls_context=...)``, exactly as a private CA would be used.
"""

from __future__ import annotations

import email
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from hub.config.models import EmailConfig
from hub.ops.alerts import Digest, MismatchView
from hub.ops.delivery import AlertDeliveryError, send_email
from hub.ops.digest_mail import render_digest

SMTP_SECRET = "smtp-SECRET-password"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps every envelope it accepts."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == b"alerts"
            and auth_data.password == SMTP_SECRET.encode()
        )
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535 itself


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def start(inbox: Inbox, **kwargs: Any) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, port


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    yield Inbox()


def config(port: int, **changes: Any) -> EmailConfig:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "sender": "omnihub@example.com",
        "recipients": ["ops@example.com", "it@example.com"],
        "timeout_s": 5,
    }
    values.update(changes)
    return EmailConfig(**values)


def digest_message() -> email.message.EmailMessage:
    item = MismatchView(
        id=7,
        job="stock",
        entity="stock",
        key="SKU-1@milano-store",
        field="available",
        connector="shop",
        expected="5",
        actual="9",
        status="open",
        first_seen=NOW - timedelta(hours=1),
        last_seen=NOW,
    )
    return render_digest(
        Digest(new=[item]), sender="omnihub@example.com", recipients=["ops@example.com", "it@example.com"], now=NOW
    )


def received(inbox: Inbox) -> email.message.EmailMessage:
    assert len(inbox.envelopes) == 1
    envelope = inbox.envelopes[0]
    assert envelope.mail_from == "omnihub@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "it@example.com"]
    assert isinstance(envelope.content, bytes)
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


async def test_delivers_both_parts_over_plain_smtp(inbox: Inbox) -> None:
    controller, port = start(inbox)
    try:
        await send_email(digest_message(), config(port))
    finally:
        controller.stop()
    message = received(inbox)
    assert message["Subject"] == "[omnihub] 1 open (1 new)"
    assert message["Auto-Submitted"] == "auto-generated" and message["X-Auto-Response-Suppress"] == "All"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and "SKU-1@milano-store" in plain.get_content()
    assert html is not None and "<td" in html.get_content() and "SKU-1@milano-store" in html.get_content()


async def test_starttls_then_login(inbox: Inbox, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    controller, port = start(
        inbox, tls_context=server_tls, require_starttls=True, authenticator=inbox.authenticate, auth_required=True
    )
    try:
        await send_email(
            digest_message(),
            config(port, starttls=True, username="alerts", password=SMTP_SECRET),
            tls_context=client_tls,
        )
    finally:
        controller.stop()
    assert inbox.logins == ["alerts"]
    assert received(inbox)["Subject"].startswith("[omnihub] 1 open (1 new)")


async def test_implicit_tls(inbox: Inbox, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    controller, port = start(inbox, ssl_context=server_tls)
    try:
        await send_email(digest_message(), config(port, ssl=True), tls_context=client_tls)
    finally:
        controller.stop()
    assert received(inbox)["Subject"].startswith("[omnihub] 1 open (1 new)")


async def test_refused_login_names_the_setting_and_not_the_password(
    inbox: Inbox, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    controller, port = start(
        inbox, tls_context=server_tls, require_starttls=True, authenticator=inbox.authenticate, auth_required=True
    )
    wrong = SMTP_SECRET + "-wrong"
    try:
        with pytest.raises(AlertDeliveryError) as caught:
            await send_email(
                digest_message(),
                config(port, starttls=True, username="alerts", password=wrong),
                tls_context=client_tls,
            )
    finally:
        controller.stop()
    text = str(caught.value)
    assert "refused the login of 'alerts'" in text and "password" in text
    assert SMTP_SECRET not in text
    assert inbox.envelopes == []


async def test_untrusted_certificate_is_refused(inbox: Inbox, server_tls: ssl.SSLContext) -> None:
    controller, port = start(inbox, tls_context=server_tls, require_starttls=True)
    try:
        with pytest.raises(AlertDeliveryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await send_email(digest_message(), config(port, starttls=True, username="alerts", password=SMTP_SECRET))
    finally:
        controller.stop()
    assert inbox.envelopes == []


async def test_server_down_fails_fast_without_the_password() -> None:
    port = free_port()  # nothing listens there any more
    started = time.monotonic()
    with pytest.raises(AlertDeliveryError) as caught:
        await send_email(digest_message(), config(port, username="alerts", password=SMTP_SECRET, timeout_s=3))
    assert time.monotonic() - started < 3
    text = str(caught.value)
    assert f"127.0.0.1:{port}" in text and "ConnectionRefusedError" in text
    assert SMTP_SECRET not in text
