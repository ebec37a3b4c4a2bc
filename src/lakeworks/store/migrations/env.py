"""Alembic environment: runs migrations on the connection ``Database.migrate`` passes.

``Database.migrate`` opens the transaction (and takes the migration lock) itself and
hands the connection over in ``config.attributes["connection"]``; Alembic then runs
every pending script inside that one transaction.
"""

from __future__ import annotations

from alembic import context

from lakeworks.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run Lakeworks migrations through lakeworks.store.database.Database.migrate()"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    transaction_per_migration=False,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
