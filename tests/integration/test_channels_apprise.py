"""Alert channels besides e-mail, through apprise to a real HTTP receiver on 127.0.0.1 (``json://``):
the plain-text digest arrives with the subject as its title; a receiver that is down keeps the
digest queued without failing anything, and the next run delivers it once; the URL's secret never
reaches a log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.config.loader import LoadedConfig, load_config
from hub.config.models import AlertChannel
from hub.ops.channels import channel_id, send_to_channel
from hub.ops.delivery import AlertDeliveryError
from hub.ops.notify import notify_after_run
from hub.sandbox.kit import serve
from hub.state.store import Store

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOOK_SECRET = "hookSECRET0123456789"


@dataclass
class Receiver:
    """A webhook receiver that keeps every JSON body, or answers 503 while ``down``."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    async def hook(self, request: Request) -> JSONResponse:
        if self.down:
            return JSONResponse({"error": "maintenance"}, status_code=503)
        self.bodies.append(await request.json())
        return JSONResponse({"ok": True})


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    app = Starlette(routes=[Route(f"/hooks/{HOOK_SECRET}", state.hook, methods=["POST"])])
    with serve(app) as served:
        yield state, f"json://127.0.0.1:{served.port}/hooks/{HOOK_SECRET}"


async def test_the_digest_arrives_with_its_subject_as_title(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    await send_to_channel(AlertChannel(url=url), "[omnihub] 1 open (1 new)", "line one\nline two")
    assert len(state.bodies) == 1
    assert state.bodies[0]["title"] == "[omnihub] 1 open (1 new)"
    assert state.bodies[0]["message"] == "line one\nline two"


async def test_a_refusal_names_the_channel_not_its_secret(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.down = True
    channel = AlertChannel(url=url)
    with pytest.raises(AlertDeliveryError) as caught:
        await send_to_channel(channel, "title", "body")
    assert channel_id(channel) in str(caught.value) and channel_id(channel).startswith("json-")
    assert HOOK_SECRET not in str(caught.value)


def _hub(tmp_path: Path, url: str) -> tuple[LoadedConfig, Store]:
    (tmp_path / "omnihub.yaml").write_text(
        """version: 1
hub: {database: "sqlite:///state.db"}
connectors:
  erp: {type: csv, path: erp.csv}
  shop: {type: csv, path: shop.csv}
truth: {prices: erp}
jobs:
  prices: {entity: prices, targets: [shop], mode: monitor}
alerts:
  channels:
    - {url: "${TEAM_HOOK_URL}", name: team}
""",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "omnihub.yaml", env={"TEAM_HOOK_URL": url})
    store = Store.open(config.database_url())
    finding = {"key": "A", "grp": "A", "field": "amount", "connector": "shop", "expected": "10.00", "actual": "12.00"}
    store.mismatches.save("prices", "prices", [{**finding, "detail": None}], [], NOW - timedelta(hours=1))
    return config, store


def test_a_channel_that_is_down_keeps_the_digest_queued_and_gets_it_once(
    receiver: tuple[Receiver, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state, url = receiver
    config, store = _hub(tmp_path, url)
    try:
        state.down = True
        with caplog.at_level(logging.DEBUG):
            asyncio.run(notify_after_run(config, store, [], now=NOW))  # never raises into the sync
        assert state.bodies == []
        (pending,) = store.notifications.pending()
        assert "team" in pending["last_error"]
        assert any("not delivered yet" in r.getMessage() for r in caplog.records)

        state.down = False
        asyncio.run(notify_after_run(config, store, [], now=NOW + timedelta(minutes=5)))
        assert store.notifications.pending() == []
        assert len(state.bodies) == 1  # the queued digest, not a second copy of the same news
        assert state.bodies[0]["title"] == "[omnihub] 1 open (1 new)"
        assert "A" in state.bodies[0]["message"] and "+2.00" in state.bodies[0]["message"]
        assert all(len(line) <= 78 for line in state.bodies[0]["message"].splitlines())
    finally:
        store.close()
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert HOOK_SECRET not in logged
    assert HOOK_SECRET not in repr(config.alerts)
