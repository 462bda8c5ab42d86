"""The console's pages: what each one reads and which template shows it.

Store reads are synchronous SQLAlchemy: the handlers are plain ``def`` endpoints, which Starlette
runs in a worker thread, so a slow query never blocks the event loop that answers webhooks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hub.config.loader import LoadedConfig
from hub.console import queries
from hub.console.security import SESSION_COOKIE, Guard, read_form, set_cookie
from hub.redact import redact
from hub.state.store import Store

__all__ = ["Console", "Health", "RunNow"]

Health = Callable[[], tuple[int, dict[str, Any]]]
RunNow = Callable[[str], object]

TEMPLATES = Path(__file__).parent / "templates"
log = logging.getLogger("omnihub.console")


@dataclass
class Console:
    """What the pages read: the config, the store (None: a daemon without one), the daemon's health
    and its run request (None: ``omnihub console`` alone, where nothing can run)."""

    config: LoadedConfig
    store: Store | None
    health: Health | None
    run_now: RunNow | None
    guard: Guard

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.config.hub.timezone)
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
        self.env.filters["when"] = self._when
        self.env.filters["redact"] = redact

    def _when(self, value: datetime | str | None) -> str:
        """A time in ``hub.timezone``, to the second."""
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S %Z")

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
        root = request.scope.get("root_path", "")
        page = self.env.get_template(template).render(
            root=root,
            csrf=self.guard.csrf_token(request),
            signed_in=self.guard.signed_in(request),
            actions=self.guard.enabled and self.run_now is not None,
            daemon=self.health is not None,
            has_store=self.store is not None,
            timezone=self.config.hub.timezone,
            path=request.url.path,
            **context,
        )
        response = HTMLResponse(page, status_code=status_code)
        self.guard.remember_csrf(request, response)
        return response

    # pages ------------------------------------------------------------------------------------

    def jobs(self, request: Request) -> Response:
        ran = request.query_params.get("ran", "")
        notice = f"run of {ran} requested" if ran in self.config.jobs else ""  # never text from the URL
        return self.render(request, "jobs.html.j2", jobs=self._jobs(), notice=notice)

    def _jobs(self) -> list[dict[str, Any]]:
        live = self.health()[1]["jobs"] if self.health is not None else {}
        last_stored = self._last_stored_runs()
        rows = []
        for name, job in self.config.jobs.items():
            state = live.get(name) or {}
            last = state.get("last_run")
            stored = last_stored.get(name)
            rows.append(
                {
                    "name": name,
                    "entity": str(job.entity),
                    "mode": job.mode,
                    "schedule": job.schedule,
                    "running": state.get("running", False),
                    "next_run": state.get("next_run"),
                    "status": (last or {}).get("status") or (stored or {}).get("status"),
                    "finished_at": (last or {}).get("finished_at") or (stored or {}).get("finished_at"),
                    "mismatches": (last or {}).get("mismatches", (stored or {}).get("mismatches")),
                    "errors": [redact(e) for e in ((last or {}).get("errors") or (stored or {}).get("errors") or [])],
                }
            )
        return rows

    def _last_stored_runs(self) -> dict[str, dict[str, Any]]:
        if self.store is None:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for run in self.store.runs.recent(200):
            if run["job"] in out or run["status"] == "running":
                continue
            report = run["report"] or {}
            out[run["job"]] = {
                "status": run["status"],
                "finished_at": run["finished_at"],
                "mismatches": report.get("mismatches"),
                "errors": report.get("errors") or ([run["error"]] if run["error"] else []),
            }
        return out

    def runs(self, request: Request) -> Response:
        runs = self.store.runs.recent(100) if self.store is not None else []
        return self.render(request, "runs.html.j2", runs=runs)

    def mismatches(self, request: Request) -> Response:
        params = request.query_params
        filters = queries.Filters(
            entity=params.get("entity", "").strip(),
            job=params.get("job", "").strip(),
            connector=params.get("connector", "").strip(),
            text=params.get("q", "").strip()[:200],
        )
        rows = queries.mismatches(self.store, filters) if self.store is not None else []
        more = len(rows) > queries.PAGE_ROWS
        choices = queries.choices(self.store) if self.store is not None else {}
        return self.render(
            request,
            "mismatches.html.j2",
            rows=rows[: queries.PAGE_ROWS],
            more=more,
            filters=filters,
            choices=choices,
            limit=queries.PAGE_ROWS,
        )

    def history(self, request: Request) -> Response:
        entity = request.query_params.get("entity", "")
        key = request.query_params.get("key", "")
        rows, runs = queries.key_history(self.store, entity, key) if self.store is not None else ([], [])
        return self.render(request, "history.html.j2", entity=entity, key=key, rows=rows, runs=runs)

    def quarantine(self, request: Request) -> Response:
        rows = self.store.quarantine.recent(limit=200) if self.store is not None else []
        return self.render(request, "quarantine.html.j2", rows=rows)

    def connectors(self, request: Request) -> Response:
        recent = self.store.runs.recent(200) if self.store is not None else []
        return self.render(request, "connectors.html.j2", connectors=queries.connector_health(self.config, recent))

    def reservations(self, request: Request) -> Response:
        rows = self.store.orders.ledger() if self.store is not None else []
        return self.render(request, "reservations.html.j2", rows=rows)

    # actions ----------------------------------------------------------------------------------

    async def sign_in(self, request: Request) -> Response:
        form = await read_form(request)
        if (why := self.guard.refusal(request, str(form.get("csrf", "")))) is not None:
            return self.refused(request, why)
        if not self.guard.enabled:
            return self.refused(request, "no admin token is configured (hub.admin_token): the console only shows")
        if not self.guard.token_matches(str(form.get("token", ""))):
            return self.refused(request, "that is not the admin token", status_code=401)
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/", status_code=303)
        set_cookie(request, response, SESSION_COOKIE, self.guard.session_value(), max_age=12 * 3600)
        return response

    async def sign_out(self, request: Request) -> Response:
        form = await read_form(request)
        if (why := self.guard.refusal(request, str(form.get("csrf", "")))) is not None:
            return self.refused(request, why)
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/", status_code=303)
        set_cookie(request, response, SESSION_COOKIE, "", max_age=0)
        return response

    async def run(self, request: Request) -> Response:
        name = request.path_params["job"]
        form = await read_form(request)
        if (why := self.guard.refusal(request, str(form.get("csrf", "")))) is not None:
            return self.refused(request, why)
        if self.run_now is None:
            return self.refused(request, "nothing can run from here: this console has no daemon (omnihub run)", 409)
        if not self.guard.signed_in(request):
            return self.refused(request, "running a job needs the admin token: sign in first", 401)
        if name not in self.config.jobs:
            return self.refused(request, f"there is no job {name!r}", 404)
        log.info("console: run of %s requested", name, extra={"job": name})
        self.run_now(name)
        return RedirectResponse(f"{request.scope.get('root_path', '')}/?{urlencode({'ran': name})}", status_code=303)

    def refused(self, request: Request, why: str, status_code: int = 403) -> Response:
        return self.render(request, "refused.html.j2", status_code=status_code, why=why)
