"""Alembic environment: runs the migrations on the connection the store hands over.

:func:`mission_control.store.engine.migrate` calls Alembic with
``config.attributes["connection"]`` set to a connection inside a transaction; offline mode
(``--sql``) writes the SQL for a URL given as ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context

from mission_control.store.models import metadata

config = context.config

if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run the migrations through mission_control.store (Store.open or "
            "engine.migrate), which passes the connection in config.attributes"
        )
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
