"""The schema as SQLAlchemy declarative models (the rest of the app never sees these).

The migrations in :mod:`heartops.store.migrations` create exactly this schema; a test compares
the two with Alembic's autogenerate so they cannot drift apart.

Design notes
------------
* Ids are the domain's strings (call sign, CAD incident id, task id) and are the primary keys,
  so rows and core values share one identity. Log-like tables (notes, assignments, fixes,
  audit) have integer keys.
* ``units`` holds the roster entry and the live state. ``version`` is the mapper's
  ``version_id_col``: every ORM update of a unit checks and bumps it, which is what turns a
  second desk's stale write into a conflict. Position columns are written by the AVL path with
  plain Core updates that deliberately do *not* bump it: a unit moving must not invalidate a
  dispatcher's pending status change.
* ``calls`` keeps one column per lifecycle step (metrics read them directly), and the
  ``(source, external_id)`` pair that makes imports idempotent. Units assigned are derived from
  ``assignments``; ``source_unit_ids`` keeps those named by an imported CAD record.
* ``assignments`` has at most one ``active`` row per unit, enforced by a partial unique index
  on both dialects.
* ``audit_log`` is append-only (triggers, see the initial migration); ``change_id`` groups the
  rows of one transaction and is the cursor of the multi-desk change feed. It is taken from the
  one-row ``change_counter`` table at the end of each write transaction: the row lock makes
  change ids commit in order, so a desk polling ``change_id > cursor`` never skips one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from heartops.store.types import JsonDoc, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, identical on SQLite and PostgreSQL (later migrations and
SQLite batch operations need to name them)."""

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""64-bit key; plain INTEGER on SQLite, where only that is an alias of the rowid."""

ACTIVE_ASSIGNMENT_INDEX = "uq_assignments_active_unit"
"""The partial unique index allowing one active assignment per unit."""


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class MetaRow(Base):
    """Key/value facts about the database itself (``application = heartops``)."""

    __tablename__ = "heartops_meta"

    key: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)


class ChangeCounterRow(Base):
    """The single row whose lock orders write transactions' change ids."""

    __tablename__ = "change_counter"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    last_change_id: Mapped[int] = mapped_column(sa.BigInteger)


class UnitRow(Base):
    """A unit: roster entry and live state."""

    __tablename__ = "units"
    __table_args__ = (
        sa.CheckConstraint("(lat IS NULL) = (lon IS NULL)", name="position_complete"),
    )

    unit_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    program: Mapped[str] = mapped_column(sa.Text)
    name: Mapped[str] = mapped_column(sa.Text, default="")
    team: Mapped[list[str]] = mapped_column(JsonDoc)
    capabilities: Mapped[list[str]] = mapped_column(JsonDoc)
    home_post_id: Mapped[str | None] = mapped_column(sa.Text)
    shift_start: Mapped[str] = mapped_column(sa.Text)
    shift_end: Mapped[str] = mapped_column(sa.Text)
    shift_days: Mapped[list[int]] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(sa.Text)
    status_since: Mapped[datetime] = mapped_column(UtcDateTime)
    call_id: Mapped[str | None] = mapped_column(sa.ForeignKey("calls.call_id"))
    lat: Mapped[float | None] = mapped_column(sa.Float)
    lon: Mapped[float | None] = mapped_column(sa.Float)
    last_avl_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(sa.Integer)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012


class ImportBatchRow(Base):
    """One committed batch of an import: which slice of the input it covered."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    source: Mapped[str] = mapped_column(sa.Text, index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    first_index: Mapped[int] = mapped_column(sa.Integer)
    last_index: Mapped[int] = mapped_column(sa.Integer)
    first_external_id: Mapped[str] = mapped_column(sa.Text)
    last_external_id: Mapped[str] = mapped_column(sa.Text)
    rows: Mapped[int] = mapped_column(sa.Integer)
    inserted: Mapped[int] = mapped_column(sa.Integer)
    skipped: Mapped[int] = mapped_column(sa.Integer)
    desk: Mapped[str] = mapped_column(sa.Text)
    operator: Mapped[str] = mapped_column(sa.Text)


class CallRow(Base):
    """A call for service and its lifecycle times."""

    __tablename__ = "calls"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id"),
        sa.CheckConstraint("priority IN ('P', '1', '2', '3')", name="priority_code"),
    )

    call_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    source: Mapped[str] = mapped_column(sa.Text)
    external_id: Mapped[str] = mapped_column(sa.Text)
    call_type: Mapped[str] = mapped_column(sa.Text)
    priority: Mapped[str] = mapped_column(sa.String(1))
    lat: Mapped[float] = mapped_column(sa.Float)
    lon: Mapped[float] = mapped_column(sa.Float)
    zone_id: Mapped[str | None] = mapped_column(sa.Text, index=True)
    address: Mapped[str] = mapped_column(sa.Text, default="")
    flags: Mapped[list[str]] = mapped_column(JsonDoc)
    needs: Mapped[list[str]] = mapped_column(JsonDoc)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    triaged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    en_route_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    on_scene_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    transport_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    dispositions: Mapped[list[str]] = mapped_column(JsonDoc)
    destination: Mapped[str | None] = mapped_column(sa.Text)
    source_unit_ids: Mapped[list[str]] = mapped_column(JsonDoc)
    import_batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("import_batches.id"))


class CallNoteRow(Base):
    """A line of a call's narrative."""

    __tablename__ = "call_notes"
    __table_args__ = (sa.Index(None, "call_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[str] = mapped_column(sa.ForeignKey("calls.call_id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    author: Mapped[str] = mapped_column(sa.Text)
    text: Mapped[str] = mapped_column(sa.Text)
    desk: Mapped[str] = mapped_column(sa.Text)


class AssignmentRow(Base):
    """A unit assigned to a call, from dispatch to release."""

    __tablename__ = "assignments"
    __table_args__ = (
        sa.Index(ACTIVE_ASSIGNMENT_INDEX, "unit_id", unique=True,
                 sqlite_where=sa.text("active"), postgresql_where=sa.text("active")),
        sa.CheckConstraint("(active AND released_at IS NULL) OR "
                           "(NOT active AND released_at IS NOT NULL)",
                           name="released_iff_inactive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit_id: Mapped[str] = mapped_column(sa.ForeignKey("units.unit_id"))
    call_id: Mapped[str] = mapped_column(sa.ForeignKey("calls.call_id"), index=True)
    active: Mapped[bool] = mapped_column(sa.Boolean)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    program: Mapped[str | None] = mapped_column(sa.Text)
    rank: Mapped[int | None] = mapped_column(sa.Integer)
    recommended_unit_id: Mapped[str | None] = mapped_column(sa.Text)
    override_reason: Mapped[str | None] = mapped_column(sa.Text)
    eta_seconds: Mapped[float | None] = mapped_column(sa.Float)
    explanation: Mapped[str] = mapped_column(sa.Text, default="")
    desk: Mapped[str] = mapped_column(sa.Text)
    operator: Mapped[str] = mapped_column(sa.Text)
    release_reason: Mapped[str | None] = mapped_column(sa.Text)


class FollowUpRow(Base):
    """A Care Navigation follow-up task."""

    __tablename__ = "follow_up_tasks"

    task_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    call_id: Mapped[str] = mapped_column(sa.ForeignKey("calls.call_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    needs: Mapped[list[str]] = mapped_column(JsonDoc)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    connected: Mapped[bool | None] = mapped_column(sa.Boolean)
    note: Mapped[str] = mapped_column(sa.Text, default="")


class FollowUpAttemptRow(Base):
    """A contact attempt on a follow-up task."""

    __tablename__ = "follow_up_attempts"
    __table_args__ = (sa.Index(None, "task_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[str] = mapped_column(sa.ForeignKey("follow_up_tasks.task_id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class SafetyEventRow(Base):
    """One safety event (on scene, check-in, emergency, requests), in arrival order."""

    __tablename__ = "safety_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    unit_id: Mapped[str | None] = mapped_column(sa.ForeignKey("units.unit_id"))
    call_id: Mapped[str | None] = mapped_column(sa.ForeignKey("calls.call_id"), index=True)
    program: Mapped[str | None] = mapped_column(sa.Text)


class AlertAckRow(Base):
    """A dispatcher's acknowledgement of a safety alert."""

    __tablename__ = "alert_acknowledgements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit_id: Mapped[str] = mapped_column(sa.ForeignKey("units.unit_id"), index=True)
    call_id: Mapped[str | None] = mapped_column(sa.ForeignKey("calls.call_id"))
    level: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    desk: Mapped[str] = mapped_column(sa.Text)
    operator: Mapped[str] = mapped_column(sa.Text)
    note: Mapped[str] = mapped_column(sa.Text, default="")


class LedgerRow(Base):
    """A call's line in the unmet-demand ledger (one per call; a re-screen replaces it)."""

    __tablename__ = "ledger_entries"

    call_id: Mapped[str] = mapped_column(sa.ForeignKey("calls.call_id"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(sa.Text, index=True)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    programs: Mapped[list[str]] = mapped_column(JsonDoc)


class AvlFixRow(Base):
    """An accepted AVL position."""

    __tablename__ = "avl_fixes"
    __table_args__ = (sa.UniqueConstraint("unit_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit_id: Mapped[str] = mapped_column(sa.ForeignKey("units.unit_id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    lat: Mapped[float] = mapped_column(sa.Float)
    lon: Mapped[float] = mapped_column(sa.Float)
    speed_mps: Mapped[float | None] = mapped_column(sa.Float)
    heading_deg: Mapped[float | None] = mapped_column(sa.Float)
    source: Mapped[str] = mapped_column(sa.Text, default="")


class AuditRow(Base):
    """One state change: who, which desk, what, before and after. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index(None, "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    change_id: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    desk: Mapped[str] = mapped_column(sa.Text)
    operator: Mapped[str] = mapped_column(sa.Text)
    entity: Mapped[str] = mapped_column(sa.Text)
    entity_id: Mapped[str] = mapped_column(sa.Text)
    action: Mapped[str] = mapped_column(sa.Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)


def table_of(model: type[Base]) -> sa.Table:
    """Return the Core table of a model (for bulk Core statements)."""
    return cast(sa.Table, model.__table__)
