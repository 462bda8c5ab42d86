"""Square's inventory, a physical store's point of sale: stock read and written (``type: square``)."""

from .connector import SquareConnector, SquareSettings

__all__ = ["SquareConnector", "SquareSettings"]
