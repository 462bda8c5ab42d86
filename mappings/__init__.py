"""Shipped mapping files, one per connector type (``<type>.yaml``); data only."""
