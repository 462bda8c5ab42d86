"""Alembic migrations of the state store; applied by ``hub.store.Store.open`` on start."""
