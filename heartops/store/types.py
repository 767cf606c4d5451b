"""Column types shared by the models and the migrations.

:class:`UtcDateTime` is the only datetime type the schema uses. It refuses naive datetimes (the
domain never has them, so one reaching the database is a bug to surface, not to guess about)
and always hands back aware UTC values, whatever the dialect stores:

* PostgreSQL keeps ``timestamp with time zone``; psycopg returns it in the session's zone, so
  results are converted to UTC.
* SQLite has no datetime type; SQLAlchemy stores ISO text. The value is converted to UTC and
  stored without an offset, so every stored string has the same shape and sorts in time order;
  results are tagged UTC again.

:data:`JsonDoc` is JSON on SQLite and JSONB on PostgreSQL (indexable, compact).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from heartops.core.clock import ensure_utc


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An instant stored in UTC; naive datetimes are refused on the way in.

    Raises
    ------
    NaiveDatetimeError
        When a naive datetime is bound (SQLAlchemy wraps it in ``StatementError``; the store
        unwraps it).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Check and normalise a value on its way to the database."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        utc = ensure_utc(value, what="a time stored in the database")
        # SQLite's text storage would drop the offset anyway; make that explicit and uniform.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> sa.types.TypeEngine[Any]:
    """Return the JSON column type: JSON on SQLite, JSONB on PostgreSQL."""
    # none_as_null: a missing document (an audit row's "before" on creation) is SQL NULL, not
    # the JSON literal null, so "IS NULL" finds it.
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True),
                                                   "postgresql")


JsonDoc = json_type()
"""JSON column type (lists of codes, audit before/after documents)."""
