"""A local Mailchimp Marketing API v3 for one audience, faithful where a sync depends on it.

What it simulates: HTTP Basic with the API key as password (401 otherwise); the members listing
with ``count`` (<= 1,000), ``offset``, ``since_last_changed`` (strictly after, whole seconds),
``status`` and ``fields``; batch subscribe ``POST /3.0/lists/{id}`` (500 members at most; per-member
failures in the ``errors`` of a 200 with ``new_members``, ``updated_members``, ``error_count``; an
existing member refused with ``ERROR_CONTACT_EXISTS`` unless ``update_existing``, and its
``status`` obeyed when it is given); ``PUT /3.0/lists/{id}/members/{hash}`` (``status_if_new`` on
creation only, ``status`` obeyed on an existing member, so a client that sends ``subscribed``
does re-subscribe an unsubscribed member, as the real API would; a cleaned member refuses it);
member tags (``POST .../tags``, 204); ``/batches`` jobs run after ``batch_delay_s``, their results
in a gzipped tar archive (``batches``); the limit of simultaneous connections (429 beyond it);
``application/problem+json`` errors.

Every request body is held to Mailchimp's published spec (``connectors/mailchimp/spec``): a field
the spec does not document (``status_if_new`` or ``tags`` in a batch subscribe member), a
required one missing, a wrong type or enum value is ``400 Invalid Resource`` with an ``errors``
entry per field (``problems``).

``state.unsubscribe(email)`` (or ``POST /_sandbox/mailchimp/unsubscribe``) is the person clicking
"unsubscribe" in an e-mail.
"""

from __future__ import annotations

from .app import PLUGIN, create_app
from .audience import MailchimpState, subscriber_hash

__all__ = ["PLUGIN", "MailchimpState", "create_app", "subscriber_hash"]
