"""The ``mailchimp`` connector: customers as the members of one Mailchimp audience."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from hub.sdk import (
    READ_WRITE,
    Change,
    ClientConnector,
    Entity,
    EntityMapping,
    PullPage,
    PushResult,
    RawRecord,
    RetriableError,
    TransportStats,
    normalize_email,
)

from . import consent
from .batches import run_job
from .client import MailchimpClient
from .members import MemberWrite, read_batch_subscribe, refused
from .settings import MERGEABLE, MailchimpSettings

__all__ = ["MailchimpConnector"]


class MailchimpConnector(ClientConnector[MailchimpClient]):
    """Reads members 1,000 per page (changed ones with ``since_last_changed``); adds new members by
    batch subscribe (500 per call) and writes existing ones by member PUTs in one ``/batches`` job,
    with the consent rule of ``connectors.mailchimp.consent``."""

    type_name = "mailchimp"
    display_name = "Mailchimp"
    settings_model = MailchimpSettings
    capabilities = {Entity.customers: READ_WRITE}

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
        return self.settings.job_size

    @property
    def transport_stats(self) -> TransportStats | None:
        """The API's figures and the ``/batches`` result downloads', together."""
        return self._client.stats if self._client is not None else None

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
        async for page in self.client.members(since):
            records = [
                RawRecord(self._row(m), link={"subscriber_hash": str(m.get("id") or "")}, origin=_origin(m))
                for m in page.records
            ]
            yield PullPage(records, cursor=page.cursor, total=page.total, complete=since is None)

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
        """Changes as the engine batches them (``batch_size``: one ``/batches`` job of ``job_size``)."""
        _only_customers(entity)
        return await self._push_piece(changes)

    async def _push_piece(self, changes: Sequence[Change]) -> list[PushResult]:
        """New members by batch subscribe, then every member PUT and tag change in one ``/batches``
        job; one result per change (``consent`` says why this split keeps the consent rule)."""
        results: dict[str, PushResult] = {}
        writes: list[MemberWrite] = []
        known: set[str] = set()
        for change in changes:
            try:
                writes.append(self._write(change))
            except ValueError as exc:
                results[change.key] = PushResult(change.key, ok=False, code="UNWRITABLE", message=str(exc))
            else:
                if change.link:
                    known.add(change.key)
        new = [w for w in writes if w.key not in known]
        size = self.settings.batch_size
        for start in range(0, len(new), size):
            results.update(await self._subscribe(new[start : start + size]))
        to_put = [w for w in writes if w.key not in results]
        to_tag = [w for w in writes if w.tags and (w.key not in results or results[w.key].ok)]
        if to_put or to_tag:
            results.update(await self._run_job(to_put, to_tag, results))
        return [results[c.key] for c in changes]

    async def _subscribe(self, new: Sequence[MemberWrite]) -> dict[str, PushResult]:
        """Add members by batch subscribe; an address already there is left out of the answer (it is
        written by member PUT instead), every other one answered."""
        answered, errors = read_batch_subscribe(
            (await self.client.batch_subscribe([w.subscribe_member() for w in new])).data
        )
        results = {}
        for write in new:
            error = errors.get(write.email)
            if error is not None and error.code == "ERROR_CONTACT_EXISTS":
                continue
            if error is not None:
                results[write.key] = PushResult(write.key, ok=False, code=error.code, message=error.message)
            elif write.email in answered:
                results[write.key] = consent.check(write.key, write.wanted, answered[write.email])
            else:
                results[write.key] = _unconfirmed(write.key, "neither added nor refused in Mailchimp's answer")
        return results

    async def _run_job(
        self, to_put: Sequence[MemberWrite], to_tag: Sequence[MemberWrite], settled: Mapping[str, PushResult]
    ) -> dict[str, PushResult]:
        """Member PUTs and tag changes as one ``/batches`` job; each change's result from its operations."""
        list_id = self.settings.list_id
        operations = [{**w.put(list_id), "operation_id": f"{i}.put"} for i, w in enumerate(to_put)]
        operations += [{**w.tag(list_id), "operation_id": f"{i}.tags"} for i, w in enumerate(to_tag)]
        try:
            outcomes = await run_job(
                self.client, operations, poll_s=self.settings.batch_poll_s, timeout_s=self.settings.batch_timeout_s
            )
        except RetriableError as exc:
            return {w.key: _unconfirmed(w.key, str(exc)) for w in [*to_put, *to_tag]}
        results = dict(settled)
        for i, write in enumerate(to_put):
            outcome = outcomes.get(f"{i}.put")
            if outcome is None:
                results[write.key] = _unconfirmed(write.key, "not in the batch job's results")
            elif outcome.status == 200 and isinstance(outcome.body, Mapping):
                results[write.key] = consent.check(write.key, write.wanted, dict(outcome.body))
            else:
                results[write.key] = refused(write.key, outcome.status, outcome.body)
        for i, write in enumerate(to_tag):
            outcome = outcomes.get(f"{i}.tags")
            if not results[write.key].ok:
                continue  # the member write's own answer says more (a kept unsubscribe, a refusal)
            if outcome is None:
                results[write.key] = _unconfirmed(write.key, "its tags are not in the batch job's results")
            elif outcome.status >= 300:
                results[write.key] = refused(write.key, outcome.status, outcome.body)
        return {w.key: results[w.key] for w in [*to_put, *to_tag]}

    def _write(self, change: Change) -> MemberWrite:
        """What ``change`` sends: a new member's whole record, an existing one's changed fields."""
        values = dict(change.values)
        if not change.link and change.record is not None:
            values = {**change.record.compared(), **values}
        new_consent = values.get("email_marketing")
        if new_consent is None and change.record is not None:
            new_consent = change.record.compared().get("email_marketing")
        merge = self.mapping.to_platform({k: v for k, v in values.items() if k != "email"}).get("merge") or {}
        merge_fields = {self.settings.merge_fields[k]: v for k, v in merge.items() if k in self.settings.merge_fields}
        return MemberWrite.of(
            change.key, normalize_email(change.key), values, new_consent, merge_fields, self._tags(change, values)
        )

    def _tags(self, change: Change, values: Mapping[str, Any]) -> tuple[dict[str, str], ...]:
        """Tags to make active (the canonical ones) and, with ``sync_tags``, inactive (those dropped)."""
        if "tags" not in values:
            return ()
        wanted = [str(t) for t in values["tags"]]
        changes = [{"name": t, "status": "active"} for t in wanted]
        if self.settings.sync_tags:
            dropped = [str(t) for t in change.previous.get("tags") or () if str(t) not in wanted]
            changes += [{"name": t, "status": "inactive"} for t in dropped]
        return tuple(changes)


def _unconfirmed(key: str, why: str) -> PushResult:
    # Silence is not a success: the outbox tries the change again (every write here is absolute).
    return PushResult(key, ok=False, retriable=True, code="UNCONFIRMED", message=why)


def _only_customers(entity: Entity) -> None:
    if entity is not Entity.customers:
        raise NotImplementedError(f"mailchimp handles customers only, not {entity}")


def _origin(member: Mapping[str, Any]) -> str:
    return f"mailchimp member {member.get('id')}"
