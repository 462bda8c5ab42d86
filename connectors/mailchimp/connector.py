"""The ``mailchimp`` connector: customers as the members of one Mailchimp audience."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from hub.connector import READ_WRITE, Change, ClientConnector, PullPage, PushResult, RawRecord
from hub.http import Reply, dig
from hub.mapping import EntityMapping
from hub.model import Entity, normalize_email

from . import consent
from .client import MailchimpClient
from .settings import MERGEABLE, MailchimpSettings

__all__ = ["MailchimpConnector"]


class MailchimpConnector(ClientConnector[MailchimpClient]):
    """Reads members 1,000 per page (changed ones with ``since_last_changed``) and writes them by batch
    subscribe, 500 per call, with the consent rule of ``connectors.mailchimp.consent``."""

    type_name = "mailchimp"
    settings_model = MailchimpSettings
    capabilities = {Entity.customers: READ_WRITE}
    push_batch_size = 500

    client_class = MailchimpClient
    settings: MailchimpSettings

    def carried_fields(self, entity: Entity) -> frozenset[str] | None:
        """Merge fields exist only where the audience has a tag for them (``merge_fields``)."""
        if self.context.mapping is None or not self.context.mapping.covers(entity):
            return None
        mapped = {rule.name for rule in self.context.mapping[entity].rules}
        missing = set(MERGEABLE) - set(self.settings.merge_fields)
        return frozenset(mapped - missing)

    def batch_size(self, entity: Entity) -> int:
        return self.settings.batch_size

    @property
    def mapping(self) -> EntityMapping:
        """The customers mapping (the hub's: the user's file or the shipped one)."""
        return self.field_mapping[Entity.customers]

    # ------------------------------------------------------------------ pull

    async def pull(self, entity: Entity, since: str | None = None) -> AsyncIterator[PullPage]:
        """Every member, or those changed since the cursor (``last_changed``, read from a second early).

        The cursor is the newest ``last_changed`` seen, but never later than the server's clock at the
        first answer, so a member edited during the pull is read again next time, never skipped.
        """
        _only_customers(entity)
        floor = datetime.fromisoformat(since) if since else None
        newest, ceiling = floor, None
        async for page in self.client.members(since=floor):
            ceiling = ceiling or page.server_time
            records = []
            for member in page.members:
                row = self._row(member)
                changed = _time(member.get("last_changed"))
                if changed is not None and (newest is None or changed > newest):
                    newest = changed
                records.append(
                    RawRecord(row, link={"subscriber_hash": str(member.get("id") or "")}, origin=_origin(member))
                )
            cursor = newest
            if cursor is not None and ceiling is not None:
                cursor = min(cursor, max(ceiling, floor or ceiling))
            yield PullPage(
                records,
                cursor=cursor.isoformat(timespec="seconds") if cursor else None,
                total=page.total,
                complete=since is None,
            )

    def _row(self, member: Mapping[str, Any]) -> dict[str, Any]:
        merge_fields = dict(member.get("merge_fields") or {})
        tags = [str(t.get("name")) for t in member.get("tags") or [] if isinstance(t, Mapping) and t.get("name")]
        return {
            "email_address": member.get("email_address"),
            "status": member.get("status"),
            "last_changed": member.get("last_changed"),
            "merge_fields": merge_fields,
            "merge": {field: merge_fields.get(tag) for field, tag in self.settings.merge_fields.items()},
            "tags": tags,
        }

    # ------------------------------------------------------------------ push

    async def push(self, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        _only_customers(entity)
        results: list[PushResult] = []
        size = self.settings.batch_size
        for start in range(0, len(changes), size):
            results.extend(await self._push_batch(changes[start : start + size]))
        return results

    async def _push_batch(self, changes: Sequence[Change]) -> list[PushResult]:
        members: list[dict[str, Any]] = []
        failed: dict[str, PushResult] = {}
        for change in changes:
            try:
                members.append(self._member(change))
            except ValueError as exc:
                failed[change.key] = PushResult(change.key, ok=False, code="UNWRITABLE", message=str(exc))
        answered, errors = _read_batch(await self.client.batch_subscribe(members)) if members else ({}, {})
        results = []
        for change in changes:
            email = change.key.strip().lower()
            if change.key in failed:
                results.append(failed[change.key])
            elif email in errors:
                results.append(errors[email])
            elif email in answered:
                results.append(consent.check(change.key, change.values.get("email_marketing"), answered[email]))
            else:
                # Neither a member nor an error named this address: the outbox tries it again.
                results.append(
                    PushResult(
                        change.key, ok=False, retriable=True, code="UNCONFIRMED", message="not in Mailchimp's answer"
                    )
                )
        return results

    def _member(self, change: Change) -> dict[str, Any]:
        """One member of a batch subscribe; the consent rule decides its status fields."""
        values = dict(change.values)
        if not change.link and change.record is not None:
            values = {**change.record.compared(), **values}
        wanted = values.get("email_marketing")
        if wanted is None and change.record is not None:
            wanted = change.record.compared().get("email_marketing")
        member: dict[str, Any] = {
            "email_address": normalize_email(change.key),
            "status_if_new": consent.status_if_new(wanted),
        }
        if status := consent.status_for_existing(values.get("email_marketing")):
            member["status"] = status
        merge = self.mapping.to_platform({k: v for k, v in values.items() if k != "email"}).get("merge") or {}
        merge_fields = {self.settings.merge_fields[k]: v for k, v in merge.items() if k in self.settings.merge_fields}
        if merge_fields:
            member["merge_fields"] = merge_fields
        tags = self._tags(change, values)
        if tags is not None:
            member["tags"] = tags
        return member

    def _tags(self, change: Change, values: Mapping[str, Any]) -> list[str] | None:
        """Tags to send: the changed ones; with ``sync_tags`` every member needs its full set, or none."""
        if "tags" in values:
            return list(values["tags"])
        if not self.settings.sync_tags:
            return None
        if change.record is not None:
            return list(change.record.compared()["tags"])
        if "tags" in change.previous:
            return list(change.previous["tags"])
        return None


def _read_batch(reply: Reply) -> tuple[dict[str, dict[str, Any]], dict[str, PushResult]]:
    """Members written (new and updated) and per-member errors of a batch subscribe answer, by e-mail."""
    answered: dict[str, dict[str, Any]] = {}
    for key in ("new_members", "updated_members"):
        for member in dig(reply.data, key) or []:
            if member.get("email_address"):
                answered[str(member["email_address"]).strip().lower()] = member
    errors: dict[str, PushResult] = {}
    for error in dig(reply.data, "errors") or []:
        email = str(error.get("email_address") or "").strip().lower()
        code = str(error.get("error_code") or "ERROR")
        errors[email] = PushResult(email, ok=False, code=code, message=str(error.get("error") or code))
    return answered, errors


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _only_customers(entity: Entity) -> None:
    if entity is not Entity.customers:
        raise NotImplementedError(f"mailchimp handles customers only, not {entity}")


def _origin(member: Mapping[str, Any]) -> str:
    return f"mailchimp member {member.get('id')}"
