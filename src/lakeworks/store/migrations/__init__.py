"""Alembic migrations of the metadata store (run by ``Database.migrate``)."""
