"""DMS connectors: http (feed v1, also used for the simulator), files (CSV/XLSX) and sql."""

from boxes.dms.connectors.base import (
    ConfigurationError,
    Connector,
    ConnectorError,
    Page,
    TransportError,
    build,
)

__all__ = ["ConfigurationError", "Connector", "ConnectorError", "Page", "TransportError", "build"]
