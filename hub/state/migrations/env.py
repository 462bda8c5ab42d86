"""Alembic environment: runs on the connection ``hub.state.store`` hands over (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from hub.state.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` command line, for writing new migrations
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///omnihub.db"
    connection = create_engine(url).connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
