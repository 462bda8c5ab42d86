"""A WMS reached over a configurable REST API (the ``rest_wms`` connector type) and its sandbox.

Importing the package registers the ``wms_location`` mapping transform that
``mappings/rest_wms.yaml`` names.
"""

from __future__ import annotations

from . import transforms as _transforms  # noqa: F401  (registers the `wms_location` transform)
from .connector import RestWmsConnector
from .settings import EndpointSettings, EndpointsSettings, PaginationSettings, RestWmsSettings

__all__ = ["EndpointSettings", "EndpointsSettings", "PaginationSettings", "RestWmsConnector", "RestWmsSettings"]
