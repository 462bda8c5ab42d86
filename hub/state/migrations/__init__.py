"""Alembic migrations of the state store; applied by ``hub.state.store.Store.open`` on start."""
