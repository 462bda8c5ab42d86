"""The consent rule for writes to Mailchimp: never subscribe someone who said no.

Consent belongs to the person. A member who unsubscribed (or whose address was cleaned after
bounces) must not be subscribed again by a sync, even when another channel says "subscribed" and
even when the hub's last pull of Mailchimp is stale (the person clicked "unsubscribe" a second
after it). Mailchimp obeys a ``status: subscribed`` sent for an unsubscribed member, so the rule is
enforced in what is sent, not in what was pulled:

* a member the hub does not know is added by batch subscribe with ``update_existing: false``
  and ``status`` carrying the canonical consent: if the address is in the audience after all,
  Mailchimp leaves it as it is and answers ``ERROR_CONTACT_EXISTS``, and the write goes the
  existing member's way below;
* an existing member is written by ``PUT /lists/{id}/members/{hash}``, whose ``status_if_new``
  (the canonical consent) applies only if the member has disappeared meanwhile, and whose
  ``status`` is sent only as ``unsubscribed``: an unsubscribe is always pushed, a subscribe never
  touches an existing member;
* the answer is checked: each member's status after the write is compared with what was asked,
  and a member that stayed unsubscribed is reported ``stale`` with its actual consent, so the
  engine adopts the more restrictive answer instead of retrying.

Mailchimp statuses as canonical consent: ``subscribed`` -> subscribed; ``unsubscribed`` and
``cleaned`` -> unsubscribed (a cleaned address may not be mailed: for consent it is a no);
``pending`` (double opt-in not confirmed), ``transactional`` and ``archived`` -> never.
"""

from __future__ import annotations

from typing import Any

from hub.sdk import Consent, PushResult

__all__ = ["CONSENT_OF_STATUS", "check", "status_for_existing", "status_for_new"]

CONSENT_OF_STATUS: dict[str, Consent] = {
    "subscribed": Consent.subscribed,
    "unsubscribed": Consent.unsubscribed,
    "cleaned": Consent.unsubscribed,
    "pending": Consent.never,
    "transactional": Consent.never,
    "archived": Consent.never,
}
_NEW_STATUS = {Consent.subscribed: "subscribed", Consent.unsubscribed: "unsubscribed", Consent.never: "transactional"}


def status_for_new(consent: Consent | str | None) -> str:
    """The status a member gets when the write creates it (``transactional`` without consent)."""
    return _NEW_STATUS[Consent(consent)] if consent else "transactional"


def status_for_existing(consent: Consent | str | None) -> str | None:
    """The ``status`` to send to a member that exists: only ever ``unsubscribed``."""
    return "unsubscribed" if consent == Consent.unsubscribed else None


def check(key: str, wanted: Consent | str | None, member: dict[str, Any]) -> PushResult:
    """The result of a write for one member, from the member Mailchimp answered with."""
    status = str(member.get("status") or "")
    actual = CONSENT_OF_STATUS.get(status)
    if wanted is None or actual is None or actual == Consent(wanted):
        return PushResult(key, ok=True, link={"subscriber_hash": str(member.get("id") or "")})
    if actual == Consent.unsubscribed:
        return PushResult(
            key,
            ok=False,
            stale=True,
            actual={"email_marketing": actual.value},
            code="CONSENT_KEPT",
            message=f"the member is {status} in Mailchimp; omnihub never subscribes them again (consent is theirs)",
        )
    return PushResult(
        key,
        ok=False,
        code="CONSENT_NOT_CHANGED",
        message=(
            f"the existing member stays {status}: omnihub changes an existing member's status only to "
            f"unsubscribed; {wanted} needs the person's own opt-in (a signup form or a double opt-in e-mail)"
        ),
    )
