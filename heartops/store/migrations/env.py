"""Alembic environment: runs on the connection :mod:`heartops.store.migrate` hands over.

The caller has already begun the transaction (and taken the migration lock), so Alembic sees an
external transaction and leaves committing to it: the whole upgrade commits or nothing does.
"""

from __future__ import annotations

from alembic import context

from heartops.store.migrate import VERSION_TABLE
from heartops.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run heartops migrations through heartops.store.migrate.upgrade() "
                       "(it passes the connection in the Alembic config attributes)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things; batch mode rebuilds tables for later revisions.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
