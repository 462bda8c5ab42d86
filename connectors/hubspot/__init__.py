"""HubSpot CRM v3 contacts: the ``hubspot`` connector (customers) and its sandbox."""

from __future__ import annotations

from .connector import HubSpotConnector
from .settings import HubSpotSettings

__all__ = ["HubSpotConnector", "HubSpotSettings"]
