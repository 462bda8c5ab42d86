"""The web console without a browser: read-only without an admin token or a daemon, the headers of
every answer, the admin token's length, the mismatch filters' text match and connector health."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hub.config.loader import LoadedConfig, load_config
from hub.console import queries
from hub.console.app import standalone_app
from hub.errors import ConfigError
from hub.ops.endpoints import create_app
from hub.ops.metrics import HubMetrics
from hub.state.store import Store

CONFIG = """
version: 1
hub: {{database: "sqlite:///{db}"{token}}}
connectors:
  wms: {{type: csv, path: wms.csv}}
  shop: {{type: csv, path: shop.csv}}
truth: {{stock: wms}}
jobs:
  stock: {{entity: stock, targets: [shop], schedule: "every 1h"}}
"""
TOKEN = "unit-admin-token-0123456789"
ORIGIN = {"Origin": "http://testserver"}


def config(tmp_path: Path, token: str | None = None) -> LoadedConfig:
    path = tmp_path / "omnihub.yaml"
    setting = ', admin_token: "${OMNIHUB_ADMIN_TOKEN}"' if token is not None else ""
    path.write_text(CONFIG.format(db=tmp_path / "state.db", token=setting))
    return load_config(path, env={"OMNIHUB_ADMIN_TOKEN": token} if token is not None else {})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


def csrf_of(client: TestClient) -> str:
    client.get("/console/")
    return client.cookies["omnihub_csrf"]


def test_alone_the_console_shows_the_store_and_runs_nothing(tmp_path: Path, store: Store) -> None:
    with TestClient(standalone_app(config(tmp_path, TOKEN), store)) as client:
        page = client.get("/console/")
        assert page.status_code == 200
        assert "run now: needs <code>omnihub run</code>" in page.text
        assert 'name="token"' not in page.text  # nothing to sign in for
        assert "call-this-number" not in client.get("/console/?ran=call-this-number").text  # no text from the URL
        assert "run of stock requested" in client.get("/console/?ran=stock").text
        csrf = csrf_of(client)
        answer = client.post("/console/jobs/stock/run", data={"csrf": csrf}, headers=ORIGIN)
        assert answer.status_code == 409
        assert "no daemon" in answer.text


def test_without_an_admin_token_the_daemons_console_only_shows(tmp_path: Path, store: Store) -> None:
    from hub.console.app import create_console

    asked: list[str] = []
    console = create_console(config(tmp_path), store, health=lambda: (200, {"jobs": {}}), run_now=asked.append)
    app = create_app(lambda: (200, {}), HubMetrics(), console=console)
    with TestClient(app) as client:
        assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
        assert "no admin token configured" in client.get("/console/").text
        csrf = csrf_of(client)
        refused = client.post("/console/signin", data={"csrf": csrf, "token": ""}, headers=ORIGIN)
        assert refused.status_code == 403
        assert "no admin token is configured" in refused.text
        assert client.post("/console/jobs/stock/run", data={"csrf": csrf}, headers=ORIGIN).status_code == 401
    assert asked == []


def test_every_answer_carries_the_security_headers(tmp_path: Path, store: Store) -> None:
    with TestClient(standalone_app(config(tmp_path), store)) as client:
        cookie = client.get("/console/").headers["set-cookie"].lower()
        assert "omnihub_csrf=" in cookie and "samesite=strict" in cookie and "httponly" in cookie
        assert "path=/console" in cookie
        for path in ("/console/", "/console/mismatches?q=%3Cx%3E", "/console/static/console.css"):
            headers = client.get(path).headers
            assert headers["content-security-policy"].startswith("default-src 'self'"), path
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "no-referrer"
        assert "set-cookie" not in client.get("/console/").headers  # the browser keeps its token


def test_a_short_admin_token_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config(tmp_path, "short-tok")
    assert "at least 16 characters" in str(caught.value)
    assert "short-tok" not in str(caught.value)


def test_the_text_filter_matches_literally(store: Store) -> None:
    from datetime import UTC, datetime

    rows = [
        {"key": k, "grp": k, "field": "quantity", "connector": "shop", "expected": "1", "actual": "2"}
        for k in ("A_1", "AB1", "100%")
    ]
    store.mismatches.save("stock", "stock", rows, [], datetime.now(UTC))
    assert [r["key"] for r in queries.mismatches(store, queries.Filters(text="a_"))] == ["A_1"]
    assert [r["key"] for r in queries.mismatches(store, queries.Filters(text="%"))] == ["100%"]
    assert len(queries.mismatches(store, queries.Filters(connector="web"))) == 0
    assert len(queries.mismatches(store, queries.Filters(text="a"), limit=1)) == 2  # one more: "more match"


def test_connector_health_takes_each_connectors_newest_finished_run(tmp_path: Path) -> None:
    loaded = config(tmp_path)
    recent = [
        {"id": 3, "job": "stock", "status": "running", "finished_at": None, "report": None},
        {
            "id": 2,
            "job": "stock",
            "status": "failed",
            "finished_at": None,
            "report": {"pulled": {"wms": 5}, "requests": {"shop": 7}, "errors": ["shop: timed out"]},
        },
        {"id": 1, "job": "stock", "status": "ok", "finished_at": None, "report": {"pulled": {"wms": 5, "shop": 5}}},
    ]
    health = {h.name: h for h in queries.connector_health(loaded, recent)}
    assert (health["shop"].last_run_id, health["shop"].pulled, health["shop"].requests) == (2, False, 7)
    assert health["shop"].errors == ["shop: timed out"]
    assert (health["wms"].pulled, health["wms"].jobs) == (True, ["stock"])
