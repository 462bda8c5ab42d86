"""The push stage: journal each planned change in the outbox, send it in batches behind the
connector's circuit breaker, and settle what the platform answered.

What makes pushes safe: every change is journaled before it is sent; a change a platform refused
for good is not sent again until the data changes (its ``decision`` digest is the same); a run
that died leaves its journaled changes to be decided again from a fresh pull (never replayed).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from hub.errors import ConnectorError, RetriableError
from hub.model.base import Entity
from hub.model.limits import out_of_range
from hub.plugins.contract import Capability, Change, Connector, PushResult
from hub.redact import redact
from hub.state.store import Store, utcnow
from hub.sync.outcome import PullOutcome
from hub.sync.reconcile import PRESENCE, Plan, as_text
from hub.sync.report import JobReport
from hub.transport.breaker import Breaker, CircuitOpen

__all__ = ["Pushed", "Pusher"]

#: (outbox id, change) of a change journaled and not settled yet.
Journaled = tuple[int, Change]


@dataclass
class Pushed:
    """What pushing changed beyond the report: the cursors a write moved past (connector ->
    cursor to save instead of the pull's, None to read everything next time)."""

    cursors: dict[str, str | None] = field(default_factory=dict)


class Pusher:
    """Pushes one run's plans to the connectors that accept writes."""

    def __init__(self, store: Store, failures_to_trip: int) -> None:
        self.store = store
        self.failures_to_trip = failures_to_trip

    async def push(
        self,
        job: str,
        entity: Entity,
        run_id: int,
        plans: list[Plan],
        connectors: dict[str, Connector],
        outcomes: dict[str, PullOutcome],
        report: JobReport,
    ) -> Pushed:
        """Send every plan to its connector; the report counts what landed and what failed."""
        pushed = Pushed()
        by_connector: dict[str, list[Plan]] = defaultdict(list)
        for plan in plans:
            by_connector[plan.connector].append(plan)
        for conn_name, conn_plans in by_connector.items():
            conn = connectors[conn_name]
            if not conn.can(entity, Capability.write):
                continue
            links = self.store.links.load(conn_name, entity.value, [p.key for p in conn_plans])
            fresh = outcomes[conn_name].links
            links.update({p.key: fresh[p.key] for p in conn_plans if p.key in fresh})
            changes = [_change(job, entity, run_id, plan, links.get(plan.key, {})) for plan in conn_plans]
            to_send = self._sendable(entity, conn, changes, report)
            ids = self.store.outbox.journal([_journal_row(job, run_id, conn_name, entity, c, d) for c, d in to_send])
            await self._send(entity, conn, list(zip(ids, (c for c, _ in to_send), strict=True)), report)
            cursor = outcomes[conn_name].cursor
            if cursor is not None:
                after = conn.cursor_after_push(entity, cursor)
                if after != cursor:  # the saved cursor describes what was there before the write
                    self.store.cursors.set(conn_name, entity.value, None)
                    pushed.cursors[conn_name] = after
        return pushed

    def _sendable(
        self, entity: Entity, conn: Connector, changes: list[tuple[Change, str]], report: JobReport
    ) -> list[tuple[Change, str]]:
        """The changes to send: not those out of the platform's range, nor those it refused for good."""
        refused = self.store.outbox.refused(c[1] for c in changes)
        to_send = []
        for change, decision in changes:
            unfit = out_of_range(change, conn.value_limits, conn.name)
            if unfit is not None:  # this record alone fails, unsent: never its batch or its job
                report.fail(conn.name, change.key, list(change.values), "out_of_range", unfit)
                self.store.mismatches.set_detail(entity.value, change.key, conn.name, unfit)
                continue
            if decision in refused:
                code, message = refused[decision]
                detail = f"not sent again: {conn.name} refused this change before ({code or 'error'}: {message})"
                report.fail(conn.name, change.key, list(change.values), code, detail)
                self.store.mismatches.set_detail(entity.value, change.key, conn.name, detail)
                continue
            to_send.append((change, decision))
        return to_send

    async def _send(self, entity: Entity, conn: Connector, journaled: list[Journaled], report: JobReport) -> None:
        """Hand ``journaled`` to the connector batch by batch, behind the connector's circuit breaker.

        The breaker counts the write calls the transport gave up on, in a row, wherever they happen
        (a connector may split a batch into several calls, and answer a failed call item by item):
        once ``hub.push_failures_to_trip`` have failed, no further batch is handed over this run, and
        its changes are left to the next run instead of each costing its calls' retries. A refusal
        that no retry can help (``FatalError``: bad credentials) stops the connector at once."""
        breaker = Breaker(conn.name, self.failures_to_trip)
        size = max(1, conn.batch_size(entity))
        for start in range(0, len(journaled), size):
            batch = journaled[start : start + size]
            if breaker.is_open:
                self._unsent(conn.name, journaled[start:], "circuit_open", breaker.reason(), report)
                break
            try:
                with breaker.watching():
                    results = await conn.push(entity, [c for _, c in batch])
            except RetriableError as exc:
                breaker.failed(exc)
                if isinstance(exc, CircuitOpen):
                    self._unsent(conn.name, batch, "circuit_open", breaker.reason(), report)
                else:
                    self._unsent(conn.name, batch, "unavailable", redact(exc), report)
                continue
            except ConnectorError as exc:
                message = redact(exc)
                report.status = "failed"
                report.errors.append(f"push to {conn.name} stopped: {message}")
                self._unsent(conn.name, journaled[start:], "unavailable", message, report)
                return
            self._settle(entity, conn.name, batch, results, report)
        if breaker.is_open:
            report.status = "failed"
            report.errors.append(f"push to {conn.name} stopped: {breaker.reason()}")

    def _unsent(self, conn_name: str, rows: Sequence[Journaled], code: str, message: str, report: JobReport) -> None:
        """Changes that did not reach the platform: failed in the report, retried (superseded by the
        next run's decisions) in the outbox."""
        self.store.outbox.settle([(outbox_id, "retry", code, message) for outbox_id, _ in rows])
        for _, change in rows:
            report.fail(conn_name, change.key, list(change.values), code, message)

    def _settle(
        self,
        entity: Entity,
        conn_name: str,
        batch: Sequence[Journaled],
        results: Iterable[PushResult],
        report: JobReport,
    ) -> None:
        """Record each answer: in the outbox, the report, and the mismatches it resolves or explains."""
        by_key = {r.key: r for r in results}
        outcomes = []
        resolved: list[tuple[str, str, str]] = []
        written = []
        now = utcnow()
        for outbox_id, change in batch:
            result = by_key.get(change.key)
            if result is None:
                message = f"{conn_name} gave no answer for this record"
                outcomes.append((outbox_id, "retry", "no_answer", message))
                report.fail(conn_name, change.key, list(change.values), "no_answer", message)
            elif result.ok:
                outcomes.append((outbox_id, "done", None, None))
                report.pushed[conn_name] = report.pushed.get(conn_name, 0) + 1
                written.append(change.key)
                resolved += [(change.key, f, conn_name) for f in change.values]
                if not change.link:  # a create: the record is on the channel now
                    resolved.append((change.key, PRESENCE, conn_name))
            else:
                outcomes.append(self._not_applied(entity, conn_name, outbox_id, change, result, report))
        self.store.outbox.settle(outcomes)
        if written:  # what was read of these records is no longer what the channel holds
            self.store.observations.forget_hashes(conn_name, entity.value, written)
        if resolved:
            report.resolved_mismatches += self.store.mismatches.resolve_pushed(entity.value, resolved, now)

    def _not_applied(
        self, entity: Entity, conn_name: str, outbox_id: int, change: Change, result: PushResult, report: JobReport
    ) -> tuple[int, str, str | None, str | None]:
        """The outbox outcome of a change the platform did not apply (a race or a refusal), said on
        its mismatch too."""
        if result.stale:
            report.races += 1
            message = result.message or "the value changed on the platform during the sync"
            actual = {k: as_text(v) or "" for k, v in (result.actual or {}).items()}
            self.store.mismatches.set_detail(entity.value, change.key, conn_name, f"race: {message}", actual)
            return (outbox_id, "stale", result.code, message)
        status = "retry" if result.retriable else "failed"
        report.fail(conn_name, change.key, list(change.values), result.code, result.message or "refused")
        detail = f"{conn_name} refused: {result.code or 'error'}: {result.message}"
        self.store.mismatches.set_detail(entity.value, change.key, conn_name, detail)
        return (outbox_id, status, result.code, result.message)


def _change(job: str, entity: Entity, run_id: int, plan: Plan, link: dict[str, str]) -> tuple[Change, str]:
    """The change a plan makes, and its decision digest: the same for the same change decided in a
    later run (what remembers a refusal); the idempotency key adds the run."""
    decision = hashlib.blake2b(
        orjson.dumps(
            [
                job,
                plan.connector,
                plan.key,
                sorted((k, as_text(v)) for k, v in plan.values.items()),
                sorted((k, as_text(v)) for k, v in plan.previous.items()),
            ]
        ),
        digest_size=16,
    ).hexdigest()
    idempotency = hashlib.blake2b(f"{run_id}:{decision}".encode(), digest_size=16).hexdigest()
    change = Change(
        entity=entity,
        key=plan.key,
        connector=plan.connector,
        values=plan.values,
        previous=plan.previous,
        record=plan.record,
        link={} if plan.create else link,
        idempotency_key=idempotency,
    )
    return change, decision


def _journal_row(job: str, run_id: int, conn_name: str, entity: Entity, change: Change, decision: str) -> dict:
    """The outbox row of a change about to be sent."""
    return {
        "run_id": run_id,
        "job": job,
        "connector": conn_name,
        "entity": entity.value,
        "key": change.key,
        "idempotency_key": change.idempotency_key,
        "decision": decision,
        "payload": orjson.dumps({"values": change.values, "previous": change.previous}, default=str).decode(),
    }
