"""Receiving webhook deliveries under ``omnihub run``: verify, dedupe, hint, and start the runs they concern.

``POST /webhooks/{connector}`` (``connector`` is the name in YAML) is answered at once; the work is
a run of every job the delivery concerns, started a moment later (``JobRunner.request``: deliveries
that arrive together make one run, and a delivery during a run makes one more after it). A
delivery is a hint to re-read, never a value: the runs pull what changed from the platforms, and
the SKUs a delivery names are written to the store as sync hints *before* it is answered, so a
delivery the platform saw accepted is decided even if the daemon stops before the run.

Answers: 202 accepted; 200 for a ping (WooCommerce's unsigned creation ping) and for a duplicate
(the platform retried one already accepted); 401 for a missing or wrong signature, and for a
connector without ``webhook_secret`` (nothing can be verified, so nothing is trusted); 400 for a
signed body that cannot be read; 404 for a connector that is not defined or receives no webhooks;
413 for a body over ``MAX_BODY``. Only a 202 changes anything.

Serving a stores directory, each store has a receiver of its own at
``POST /webhooks/{store}/{connector}`` (``hub.ops.lifecycle``): its connectors' secrets, its
store's hints, its own dedupe window, and runs of its own jobs only. Two stores may both call a
connector ``web``; the URL's store segment says whose it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.config.loader import LoadedConfig
from hub.plugins.contract import secret_value
from hub.plugins.registry import connector_class
from hub.plugins.webhooks import WebhookDelivery, WebhookParser, WebhookRefused
from hub.redact import redact
from hub.state.store import Store

__all__ = ["MAX_BODY", "DeliveryDedupe", "WebhookReceiver", "jobs_for"]

log = logging.getLogger("omnihub.webhooks")

#: Deliveries are a resource's JSON: far below this. A larger body is refused before it is read whole.
MAX_BODY = 2 * 1024 * 1024


class DeliveryDedupe:
    """The dedupe keys seen in the last ``ttl_seconds``, at most ``max_keys`` of them (oldest dropped).

    In memory and bounded: a duplicate that slips past after a restart or past the window only
    costs one more targeted re-read, since a delivery is a hint to re-read, never a value."""

    def __init__(
        self, ttl_seconds: float = 3600.0, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_keys
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def seen_before(self, delivery: WebhookDelivery) -> bool:
        """Whether ``delivery`` was already seen within the window; records it if not."""
        now = self._clock()
        self._expire(now)
        key = delivery.dedupe_key
        if key in self._seen:
            return True
        self._seen[key] = now
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return False

    def forget(self, delivery: WebhookDelivery) -> None:
        """Un-see ``delivery`` (it could not be acted on): the platform's retry must not be dropped."""
        self._seen.pop(delivery.dedupe_key, None)

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self._ttl:
                return
            del self._seen[key]


def jobs_for(config: LoadedConfig, delivery: WebhookDelivery) -> list[str]:
    """The jobs a delivery concerns: those reading the delivering connector for an entity the
    delivery names, and the stock jobs reserving for it when it is about orders."""
    names = []
    for name, job in config.jobs.items():
        readers = {config.source_of(job), *job.sources, *job.targets}
        reserves = "orders" in delivery.entities and delivery.connector in job.reservations
        if reserves or (delivery.connector in readers and job.entity.value in delivery.entities):
            names.append(name)
    return names


@dataclass(frozen=True)
class _Endpoint:
    parser: WebhookParser
    secret: str | None


class WebhookReceiver:
    """Answers ``POST /webhooks/{connector}``; ``request_run(job)`` starts a run of a job soon."""

    def __init__(
        self,
        config: LoadedConfig,
        store: Store,
        request_run: Callable[[str], Any],
        *,
        dedupe: DeliveryDedupe | None = None,
        on_outcome: Callable[[str, str], None] | None = None,
        store_name: str | None = None,
    ) -> None:
        self.config = config
        #: The store of a stores directory this receiver answers for (None: a single config).
        self.store_name = store_name
        self.store = store
        self.request_run = request_run
        self.dedupe = dedupe if dedupe is not None else DeliveryDedupe()
        self._on_outcome = on_outcome
        self._endpoints: dict[str, _Endpoint] = {}
        for name, settings in config.connectors.items():
            parser = connector_class(settings.type).webhook_parser
            if parser is not None:
                self._endpoints[name] = _Endpoint(parser, secret_value(getattr(settings, "webhook_secret", None)))

    async def receive(self, connector: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one delivery to ``connector``."""
        endpoint = self._endpoints.get(connector)
        if endpoint is None:
            return self._answer(connector, "unknown", 404, f"no connector {connector!r} receives webhooks here")
        if endpoint.secret is None:
            reason = f"{connector} has no webhook_secret: deliveries cannot be verified, so none is trusted"
            return self._answer(connector, "refused", 401, reason)
        try:
            delivery = endpoint.parser(connector, headers, body, endpoint.secret)
        except WebhookRefused as refused:
            status = 401 if refused.unsigned else 400
            return self._answer(connector, "refused", status, refused.reason)
        if delivery.ping:
            return self._answer(connector, "ping", 200, "ping acknowledged")
        if self.dedupe.seen_before(delivery):
            return self._answer(connector, "duplicate", 200, "already received", duplicate=True)
        jobs = jobs_for(self.config, delivery)
        try:
            if jobs and delivery.skus:
                await asyncio.to_thread(self.store.hints.add, jobs, sorted(delivery.skus), f"webhook:{connector}")
        except Exception as exc:  # the store is down: the platform must retry, so do not answer 2xx
            self.dedupe.forget(delivery)
            log.error("webhook to %s could not be recorded: %s", self._name(connector), redact(exc))
            return self._answer(connector, "error", 503, "the hub could not record the delivery; retry")
        for job in jobs:
            self.request_run(job)
        log.info(
            "webhook %s from %s: %d SKU(s), runs of %s",
            delivery.topic or "(no topic)",
            self._name(connector),
            len(delivery.skus),
            ", ".join(jobs) or "no job",
            extra=self._extra(connector),
        )
        return self._answer(connector, "accepted", 202, "accepted", jobs=jobs, skus=len(delivery.skus))

    def _answer(
        self, connector: str, outcome: str, status: int, message: str, **extra: Any
    ) -> tuple[int, dict[str, Any]]:
        if self._on_outcome is not None:
            self._on_outcome(connector, outcome)
        if status >= 400:
            log.warning(
                "webhook to %s answered %d: %s", self._name(connector), status, message, extra=self._extra(connector)
            )
        return status, {"status": outcome, "message": message, **extra}

    def _name(self, connector: str) -> str:
        """How logs name a connector: ``store/connector`` when serving a stores directory."""
        return connector if self.store_name is None else f"{self.store_name}/{connector}"

    def _extra(self, connector: str) -> dict[str, str]:
        if self.store_name is None:
            return {"connector": connector}
        return {"connector": connector, "store": self.store_name}
