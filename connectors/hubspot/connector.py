"""The ``hubspot`` connector: customers as HubSpot CRM v3 contacts, keyed by e-mail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hub.connector import READ_WRITE, Change, ClientConnector, PullPage, PushResult, RawRecord
from hub.http import Reply, dig
from hub.mapping import EntityMapping
from hub.model import Entity, normalize_email

from .client import HubSpotClient, modified_ms
from .settings import HubSpotSettings

__all__ = ["HubSpotConnector"]

#: Keys of the row's ``configured`` part and the setting that names each one's property.
_CONFIGURED = {"consent": "consent_property", "loyalty": "loyalty_property", "modified": "modified_property"}


class HubSpotConnector(ClientConnector[HubSpotClient]):
    """Reads contacts (all by list paging, changed ones by a windowed search) and writes them by
    batch upsert on e-mail, 100 per call, reporting HubSpot's per-contact errors one by one."""

    type_name = "hubspot"
    settings_model = HubSpotSettings
    capabilities = {Entity.customers: READ_WRITE}
    push_batch_size = 100

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
        newest = floor = _cursor_ms(since) if since else 0
        ceiling: int | None = None
        async for page in pages:
            if ceiling is None:
                ceiling = page.server_ms
            records = []
            for contact in page.contacts:
                row = self._row(contact)
                ms = modified_ms(row["configured"]["modified"])
                if ms is not None and ms > newest:
                    newest = ms
                records.append(
                    RawRecord(data=row, link={"contact_id": str(contact.get("id"))}, origin=_origin(contact))
                )
            cursor = newest if ceiling is None else min(newest, max(ceiling, floor))
            yield PullPage(records, cursor=_cursor_text(cursor or None), complete=since is None)

    def _row(self, contact: Mapping[str, Any]) -> dict[str, Any]:
        properties = dict(contact.get("properties") or {})
        configured = {
            key: properties.get(getattr(self.settings, setting) or "") for key, setting in _CONFIGURED.items()
        }
        return {"id": str(contact.get("id")), "properties": properties, "configured": configured}

    # ------------------------------------------------------------------ push

    async def push(self, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        _only_customers(entity)
        results: list[PushResult] = []
        size = self.settings.batch_size
        for start in range(0, len(changes), size):
            results.extend(await self._push_batch(changes[start : start + size]))
        return results

    async def _push_batch(self, changes: Sequence[Change]) -> list[PushResult]:
        inputs: list[dict[str, Any]] = []
        failed: dict[str, PushResult] = {}
        for change in changes:
            try:
                inputs.append(
                    {"id": normalize_email(change.key), "idProperty": "email", "properties": self._properties(change)}
                )
            except ValueError as exc:
                failed[change.key] = PushResult(change.key, ok=False, code="UNWRITABLE", message=str(exc))
        answers = _read_upsert(await self.client.batch_upsert(inputs)) if inputs else {}
        return [failed.get(c.key) or answers.get(normalize_email(c.key)) or _unconfirmed(c.key) for c in changes]

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


def _read_upsert(reply: Reply) -> dict[str, PushResult]:
    """Per-email answers of a batch upsert: successes from ``results``, failures from a 207's ``errors``."""
    answers: dict[str, PushResult] = {}
    for item in dig(reply.data, "results") or []:
        email = dig(item, "properties.email")
        if email:
            key = str(email).strip().lower()
            answers[key] = PushResult(key, ok=True, link={"contact_id": str(item.get("id"))})
    for error in dig(reply.data, "errors") or []:
        detail = (error.get("errors") or [{}])[0] if isinstance(error.get("errors"), list) else {}
        code = detail.get("code") or error.get("subCategory") or error.get("category") or "ERROR"
        ids = dig(error, "context.ids") or []
        for email in ids:
            key = str(email).strip().lower()
            answers[key] = PushResult(key, ok=False, code=str(code), message=str(error.get("message") or code))
    return answers


def _unconfirmed(key: str) -> PushResult:
    # Neither a result nor an error named this contact: the outbox tries it again.
    return PushResult(
        key, ok=False, retriable=True, code="UNCONFIRMED", message="HubSpot's answer did not mention this contact"
    )


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


def _cursor_text(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
