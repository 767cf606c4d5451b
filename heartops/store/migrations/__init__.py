"""Alembic migrations of the heartops store (run by :func:`heartops.store.migrate.upgrade`)."""
