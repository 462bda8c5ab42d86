"""Mailchimp Marketing API v3: the ``mailchimp`` connector (one audience's members) and its sandbox."""

from __future__ import annotations

from .connector import MailchimpConnector
from .settings import MailchimpSettings

__all__ = ["MailchimpConnector", "MailchimpSettings"]
