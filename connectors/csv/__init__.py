"""CSV feeds: the lingua franca of WMS, POS and ERP exports."""

from connectors.csv.connector import CsvConnector, CsvSettings

__all__ = ["CsvConnector", "CsvSettings"]
