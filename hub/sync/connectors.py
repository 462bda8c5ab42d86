"""The connectors of a run: built from the config (each mapping loaded once), opened, shared by
the jobs of one ``sync``, closed; and what each job cost on them (requests, throttles, points).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence

from hub.config.loader import LoadedConfig
from hub.plugins.contract import Connector, ConnectorContext
from hub.plugins.mapping import Mapping, load_mapping
from hub.plugins.registry import connector_class
from hub.sync.report import JobReport

__all__ = ["Connectors", "Figures", "count_figures", "figures"]

log = logging.getLogger("omnihub.engine")

#: A connector's (requests, throttled, points or None) counters at one moment.
Figures = tuple[int, int, int | None]


#: Loaded mappings per loaded config (the config's own object: a reloaded config loads them anew).
_MAPPINGS: weakref.WeakKeyDictionary[LoadedConfig, dict[str, Mapping]] = weakref.WeakKeyDictionary()


class Connectors:
    """Builds the config's connectors, and keeps the ones the jobs of one ``sync`` share."""

    def __init__(self, config: LoadedConfig) -> None:
        self.config = config
        #: The connectors the jobs of one ``sync`` share (``None`` outside a sync: each job opens its own).
        self._session: dict[str, Connector] | None = None
        #: Shared by every ``Connectors`` of this config: the daemon builds one per run (a run a
        #: webhook triggers included), and loading and compiling a mapping costs tens of ms.
        self._mappings: dict[str, Mapping] = _MAPPINGS.setdefault(config, {})

    def mapping_for(self, name: str) -> Mapping:
        """The mapping of a connector, loaded once per config."""
        if name not in self._mappings:
            settings = self.config.connectors[name]
            connector_class(settings.type)  # its package registers the transforms its mapping names
            self._mappings[name] = load_mapping(
                settings.type,
                user_file=settings.mapping,
                settings=dict(settings),
                currency=self.config.hub.currency,
                country=self.config.hub.country,
                base_dir=self.config.base_dir,
            )
        return self._mappings[name]

    def build(self, name: str) -> Connector:
        """A new, unopened connector."""
        settings = self.config.connectors[name]
        cls = connector_class(settings.type)
        context = ConnectorContext(
            currency=self.config.hub.currency, base_dir=self.config.base_dir, mapping=self.mapping_for(name)
        )
        return cls(name, settings, context)

    def start_session(self) -> None:
        """From now the jobs share each connector, opened once: a platform listing that serves
        several entities (WooCommerce's products: products, prices and stock) is read once."""
        self._session = {}

    async def end_session(self) -> None:
        session, self._session = self._session, None
        for conn in (session or {}).values():
            await close(conn)

    async def open(self, names: Sequence[str]) -> dict[str, Connector]:
        """A job's connectors, open: the session's shared ones where a session runs, else new ones."""
        session = self._session
        fresh = {n: self.build(n) for n in names if session is None or n not in session}
        try:
            await asyncio.gather(*(c.open() for c in fresh.values()))
        except BaseException:
            for conn in fresh.values():
                await close(conn)
            raise
        if session is None:
            return fresh
        session.update(fresh)
        return {n: session[n] for n in names}

    async def release(self, connectors: dict[str, Connector]) -> None:
        """The job is done with its connectors: closed, unless a session shares them."""
        if self._session is None:  # a job on its own (the daemon): its connectors are its own
            for conn in connectors.values():
                await close(conn)


def figures(conn: Connector) -> Figures:
    """A connector's request, throttle and point counters so far (a shared connector's grow across jobs)."""
    stats = conn.transport_stats
    if stats is None:
        return (0, 0, None)
    return (stats.requests, stats.throttled, getattr(stats, "points", None))


def count_figures(report: JobReport, conn: Connector, before: Figures | None) -> None:
    """What the job cost on ``conn``: its counters now less what they were when the job began."""
    if conn.transport_stats is None:
        return
    requests, throttled, points = figures(conn)
    start = before or (0, 0, 0)
    report.requests[conn.name] = requests - start[0]
    report.throttled[conn.name] = throttled - start[1]
    if points is not None:  # platforms priced in points
        report.points[conn.name] = points - (start[2] or 0)


async def close(conn: Connector) -> None:
    """Close a connector; a failure is logged, never raised over the run's own outcome."""
    try:
        await conn.close()
    except Exception:  # closing must not hide the run's own outcome
        log.warning("closing connector %s failed", conn.name, exc_info=True)
