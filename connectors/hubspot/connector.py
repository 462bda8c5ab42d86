"""The ``hubspot`` connector: customers as HubSpot CRM v3 contacts, keyed by e-mail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hub.sdk import (
    READ_WRITE,
    Change,
    ClientConnector,
    Entity,
    EntityMapping,
    Incremental,
    PullPage,
    PushResult,
    RawRecord,
    normalize_email,
)

from .client import HubSpotClient, modified_ms
from .settings import HubSpotSettings
from .upsert_answer import Sent, read_upsert

__all__ = ["HubSpotConnector"]

#: Keys of the row's ``configured`` part and the setting that names each one's property.
_CONFIGURED = {"consent": "consent_property", "loyalty": "loyalty_property", "modified": "modified_property"}


def _modified_time(value: Any) -> datetime | None:
    ms = modified_ms(value)
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _cursor_text(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: The cursor: the newest modification of a row, never past the server's clock at the first answer.
MODIFIED = Incremental("configured.modified", parse=_modified_time, render=_cursor_text, until_server_clock=True)


class HubSpotConnector(ClientConnector[HubSpotClient]):
    """Reads contacts (all by list paging, changed ones by a windowed search) and writes them by
    batch upsert on e-mail, 100 per call, reporting HubSpot's per-contact errors one by one
    (``upsert_answer`` says how each input's result is found in an answer that does not echo them)."""

    type_name = "hubspot"
    display_name = "HubSpot"
    settings_model = HubSpotSettings
    capabilities = {Entity.customers: READ_WRITE}

    client_class = HubSpotClient
    settings: HubSpotSettings

    def batch_size(self, entity: Entity) -> int:
        return self.settings.batch_size

    @property
    def mapping(self) -> EntityMapping:
        """The customers mapping (the hub's: the user's file or the shipped one)."""
        return self.field_mapping[Entity.customers]

    # ------------------------------------------------------------------ pull

    async def pull(self, entity: Entity, since: str | None = None) -> AsyncIterator[PullPage]:
        """All contacts without ``since``; with it, those modified at or after it (the same instant
        is read again on purpose: a contact changed in the millisecond of the cursor is not lost).

        The cursor is the newest modification seen, but never later than the server's clock at the
        first answer: a contact edited during a full pull, behind the page being read, is then read
        again by the next incremental pull instead of hiding behind a newer contact's time.
        """
        _only_customers(entity)
        pages = self.client.list_contacts() if since is None else self.client.search_modified_since(_cursor_ms(since))
        tracker = MODIFIED.tracker(since)
        async for page in pages:
            tracker.answered_at(_modified_time(page.server_ms))
            records = []
            for contact in page.contacts:
                row = self._row(contact)
                tracker.see(row["configured"]["modified"])
                records.append(
                    RawRecord(data=row, link={"contact_id": str(contact.get("id"))}, origin=_origin(contact))
                )
            yield PullPage(records, cursor=tracker.cursor, complete=since is None)

    def _row(self, contact: Mapping[str, Any]) -> dict[str, Any]:
        properties = dict(contact.get("properties") or {})
        configured = {
            key: properties.get(getattr(self.settings, setting) or "") for key, setting in _CONFIGURED.items()
        }
        return {"id": str(contact.get("id")), "properties": properties, "configured": configured}

    # ------------------------------------------------------------------ push

    async def push(self, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        """Changes as the engine batches them (``batch_size``: HubSpot's 100 per batch upsert)."""
        _only_customers(entity)
        return await self._push_batch(changes)

    async def _push_batch(self, changes: Sequence[Change]) -> list[PushResult]:
        """One batch upsert; each change's result is read from the answer by ``upsert_answer``."""
        inputs: list[dict[str, Any]] = []
        sent: list[Sent] = []
        failed: dict[str, PushResult] = {}
        for change in changes:
            try:
                properties = self._properties(change)
            except ValueError as exc:
                failed[change.key] = PushResult(change.key, ok=False, code="UNWRITABLE", message=str(exc))
                continue
            email = normalize_email(change.key)
            inputs.append({"id": email, "idProperty": "email", "properties": properties})
            sent.append(Sent(change.key, email, change.link.get("contact_id")))
        answers = read_upsert(sent, (await self.client.batch_upsert(inputs)).data) if inputs else {}
        return [failed.get(c.key) or answers[c.key] for c in changes]

    def _properties(self, change: Change) -> dict[str, str]:
        """The contact properties to set: the changed fields, or the whole record for a new contact."""
        values = dict(change.values)
        if not change.link and change.record is not None:
            values = {**change.record.compared(), **values}
        values.pop("email", None)
        payload = self.mapping.to_platform(values)
        properties = {k: _text(v) for k, v in (payload.get("properties") or {}).items()}
        for key, value in (payload.get("configured") or {}).items():
            name = getattr(self.settings, _CONFIGURED[key])
            if name:
                properties[name] = _text(value)
        return properties


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return str(int(value.timestamp() * 1000))
    return str(value)


def _only_customers(entity: Entity) -> None:
    if entity is not Entity.customers:
        raise NotImplementedError(f"hubspot handles customers only, not {entity}")


def _origin(contact: Mapping[str, Any]) -> str:
    return f"hubspot contact {contact.get('id')}"


def _cursor_ms(cursor: str) -> int:
    ms = modified_ms(cursor)
    if ms is None:
        raise ValueError(f"{cursor!r} is not a HubSpot cursor")
    return ms
