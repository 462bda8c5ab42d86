"""The sandbox plugin: what one platform's simulator tells the hub, so that the core never imports it.

A connector package names a ``SandboxPlugin`` in the ``omnihub.sandboxes`` entry point group. The
demo (``omnihub demo``), ``omnihub sandbox NAME`` and the contract tests (``tests/contract/``) read
everything platform-specific from it: how to build the app, the credentials it accepts, and the
connector entry of a hub config that points at it once it is served. The core stays a loop over
entry points; a new platform brings its own demo and its own contract run by shipping one object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.sandbox.seed import Catalogue

__all__ = ["GROUP", "SandboxPlugin"]

#: The entry point group that names every installed ``SandboxPlugin``.
GROUP = "omnihub.sandboxes"

#: ``connector_block(url, app)``: the connector's entry of ``connectors:`` for the sandbox ``app``
#: served at ``url``, secrets as ``${ENV}`` references to the names of ``credentials``.
BlockFactory = Callable[[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class SandboxPlugin:
    """One platform simulator as the hub sees it."""

    #: The ``type:`` of the connector this sandbox simulates (an ``omnihub.connectors`` name).
    connector_type: str
    #: ``create_app(catalogue=None, **options)``: the Starlette app, seeded with ``catalogue``.
    create_app: Callable[..., Any]
    connector_block: BlockFactory
    #: The credentials the sandbox accepts: ``create_app`` option -> (environment variable, value).
    #: The config of ``connector_block`` refers to them as ``${VARIABLE}``, as a production one would.
    secrets: Mapping[str, tuple[str, str]]
    #: Other ``create_app`` options the demo plays with (the location a shop sells from, a list id).
    options: Mapping[str, Any] = field(default_factory=dict)
    #: The connector's name in the demo config (``shop``, ``web``, ``wms``, ``crm``, ``news``): the
    #: part of the demo store this platform plays. ``None``: not part of the demo.
    demo_name: str | None = None
    #: Connector settings for reading a seed of several pages quickly: small pages where the
    #: connector has a setting for it (no huge seed needed), a bigger plan's rate limits otherwise.
    paging_settings: Mapping[str, Any] = field(default_factory=dict)
    #: ``create_app`` options to go with ``paging_settings`` (the same plan on the sandbox's side).
    paging_app_options: Mapping[str, Any] = field(default_factory=dict)
    #: Records one page holds with ``paging_settings``: a seed of more than this spans several pages.
    page_size: int = 100

    @property
    def credentials(self) -> dict[str, str]:
        """The credentials as environment variables: name -> value."""
        return dict(self.secrets.values())

    @property
    def app_options(self) -> dict[str, Any]:
        """The ``create_app`` options that make it accept ``credentials`` and play the demo."""
        return {**{option: value for option, (_, value) in self.secrets.items()}, **self.options}

    def app(self, catalogue: Catalogue | None = None, **options: Any) -> Any:
        """The app, accepting ``credentials``, seeded with ``catalogue``; ``options`` override."""
        return self.create_app(catalogue=catalogue, **{**self.app_options, **options})

    def settings(self, url: str, app: Any, **overrides: Any) -> dict[str, Any]:
        """``connector_block`` with the ``${NAME}`` references resolved: settings a connector takes as they are."""
        return {**_resolved(self.connector_block(url, app), self.credentials), **overrides}


def _resolved(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for name, secret in env.items():
            value = value.replace(f"${{{name}}}", secret)
        return value
    if isinstance(value, dict):
        return {k: _resolved(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, env) for v in value]
    return value
