"""Initial schema: units, calls, assignments, follow-ups, safety, ledger, imports, AVL, audit.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Types are spelled out here rather than imported from the models, so this revision keeps
creating the same schema however the models evolve. The audit log is made append-only by
triggers that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_MESSAGE = "audit_log is append-only"


def _utc() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True),
                                                   "postgresql")


def _big_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _text(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, _utc(), nullable=nullable)


def _fk(column: str, table: str, target: str, key: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.{key}"],
                                   name=op.f(f"fk_{table}_{column}_{target}"))


def upgrade() -> None:
    """Create every table, index and trigger, and the first rows of the meta tables."""
    _meta_tables()
    _call_tables()
    _unit_tables()
    _care_and_safety_tables()
    _log_tables()
    _append_only_triggers()


def _meta_tables() -> None:
    meta = op.create_table(
        "heartops_meta",
        _text("key"), _text("value"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_heartops_meta")))
    op.bulk_insert(meta, [{"key": "application", "value": "heartops"}])
    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_change_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_change_counter_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_counter")))
    op.bulk_insert(counter, [{"id": 1, "last_change_id": 0}])


def _call_tables() -> None:
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("source"), _time("started_at"), _time("finished_at"),
        sa.Column("first_index", sa.Integer(), nullable=False),
        sa.Column("last_index", sa.Integer(), nullable=False),
        _text("first_external_id"), _text("last_external_id"),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        _text("desk"), _text("operator"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")))
    op.create_index(op.f("ix_import_batches_source"), "import_batches", ["source"])
    op.create_table(
        "calls",
        _text("call_id"), _text("source"), _text("external_id"), _text("call_type"),
        sa.Column("priority", sa.String(1), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        _text("zone_id", nullable=True), _text("address"),
        sa.Column("flags", _json(), nullable=False),
        sa.Column("needs", _json(), nullable=False),
        _time("received_at"),
        *(_time(f"{step}_at", nullable=True)
          for step in ("triaged", "dispatched", "en_route", "on_scene", "transport", "cleared")),
        sa.Column("dispositions", _json(), nullable=False),
        _text("destination", nullable=True),
        sa.Column("source_unit_ids", _json(), nullable=False),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        _fk("import_batch_id", "calls", "import_batches", "id"),
        sa.CheckConstraint("priority IN ('P', '1', '2', '3')", name=op.f("ck_calls_priority_code")),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_calls")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_calls_source_external_id")))
    for column in ("zone_id", "received_at", "cleared_at"):
        op.create_index(op.f(f"ix_calls_{column}"), "calls", [column])
    op.create_table(
        "call_notes",
        sa.Column("id", _big_id(), nullable=False),
        _text("call_id"), _time("at"), _text("author"), _text("text"), _text("desk"),
        _fk("call_id", "call_notes", "calls", "call_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_notes")))
    op.create_index(op.f("ix_call_notes_call_id_at"), "call_notes", ["call_id", "at"])


def _unit_tables() -> None:
    op.create_table(
        "units",
        _text("unit_id"), _text("program"), _text("name"),
        sa.Column("team", _json(), nullable=False),
        sa.Column("capabilities", _json(), nullable=False),
        _text("home_post_id", nullable=True), _text("shift_start"), _text("shift_end"),
        sa.Column("shift_days", _json(), nullable=False),
        _text("status"), _time("status_since"), _text("call_id", nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        _time("last_avl_at", nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("call_id", "units", "calls", "call_id"),
        sa.CheckConstraint("(lat IS NULL) = (lon IS NULL)",
                           name=op.f("ck_units_position_complete")),
        sa.PrimaryKeyConstraint("unit_id", name=op.f("pk_units")))
    op.create_table(
        "assignments",
        sa.Column("id", _big_id(), nullable=False),
        _text("unit_id"), _text("call_id"),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("assigned_at"), _time("released_at", nullable=True),
        _text("program", nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        _text("recommended_unit_id", nullable=True), _text("override_reason", nullable=True),
        sa.Column("eta_seconds", sa.Float(), nullable=True),
        _text("explanation"), _text("desk"), _text("operator"),
        _text("release_reason", nullable=True),
        _fk("unit_id", "assignments", "units", "unit_id"),
        _fk("call_id", "assignments", "calls", "call_id"),
        sa.CheckConstraint("(active AND released_at IS NULL) OR "
                           "(NOT active AND released_at IS NOT NULL)",
                           name=op.f("ck_assignments_released_iff_inactive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")))
    op.create_index(op.f("ix_assignments_call_id"), "assignments", ["call_id"])
    # The database itself allows one active assignment per unit, whatever the code does.
    op.create_index("uq_assignments_active_unit", "assignments", ["unit_id"], unique=True,
                    sqlite_where=sa.text("active"), postgresql_where=sa.text("active"))
    op.create_table(
        "avl_fixes",
        sa.Column("id", _big_id(), nullable=False),
        _text("unit_id"), _time("at"),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=True),
        _text("source"),
        _fk("unit_id", "avl_fixes", "units", "unit_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_avl_fixes")),
        sa.UniqueConstraint("unit_id", "at", name=op.f("uq_avl_fixes_unit_id_at")))


def _care_and_safety_tables() -> None:
    op.create_table(
        "follow_up_tasks",
        _text("task_id"), _text("call_id"), _time("created_at"), _time("due_at"),
        sa.Column("needs", _json(), nullable=False),
        _time("completed_at", nullable=True),
        sa.Column("connected", sa.Boolean(), nullable=True),
        _text("note"),
        _fk("call_id", "follow_up_tasks", "calls", "call_id"),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_follow_up_tasks")))
    op.create_index(op.f("ix_follow_up_tasks_call_id"), "follow_up_tasks", ["call_id"])
    op.create_index(op.f("ix_follow_up_tasks_due_at"), "follow_up_tasks", ["due_at"])
    op.create_table(
        "follow_up_attempts",
        sa.Column("id", _big_id(), nullable=False),
        _text("task_id"), _time("at"),
        _fk("task_id", "follow_up_attempts", "follow_up_tasks", "task_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up_attempts")))
    op.create_index(op.f("ix_follow_up_attempts_task_id_at"), "follow_up_attempts",
                    ["task_id", "at"])
    op.create_table(
        "safety_events",
        sa.Column("id", _big_id(), nullable=False),
        _text("kind"), _time("at"), _text("unit_id", nullable=True),
        _text("call_id", nullable=True), _text("program", nullable=True),
        _fk("unit_id", "safety_events", "units", "unit_id"),
        _fk("call_id", "safety_events", "calls", "call_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_events")))
    op.create_index(op.f("ix_safety_events_at"), "safety_events", ["at"])
    op.create_index(op.f("ix_safety_events_call_id"), "safety_events", ["call_id"])
    op.create_table(
        "alert_acknowledgements",
        sa.Column("id", _big_id(), nullable=False),
        _text("unit_id"), _text("call_id", nullable=True), _text("level"), _time("at"),
        _text("desk"), _text("operator"), _text("note"),
        _fk("unit_id", "alert_acknowledgements", "units", "unit_id"),
        _fk("call_id", "alert_acknowledgements", "calls", "call_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_acknowledgements")))
    op.create_index(op.f("ix_alert_acknowledgements_unit_id"), "alert_acknowledgements",
                    ["unit_id"])
    op.create_table(
        "ledger_entries",
        _text("call_id"), _time("at"), _text("outcome"), _text("reason", nullable=True),
        sa.Column("programs", _json(), nullable=False),
        _fk("call_id", "ledger_entries", "calls", "call_id"),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_ledger_entries")))
    op.create_index(op.f("ix_ledger_entries_outcome"), "ledger_entries", ["outcome"])


def _log_tables() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("change_id", sa.BigInteger(), nullable=False),
        _time("at"), _text("desk"), _text("operator"), _text("entity"), _text("entity_id"),
        _text("action"),
        sa.Column("before", _json(), nullable=True),
        sa.Column("after", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")))
    op.create_index(op.f("ix_audit_log_change_id"), "audit_log", ["change_id"])
    op.create_index(op.f("ix_audit_log_entity_entity_id"), "audit_log", ["entity", "entity_id"])


def _append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION heartops_audit_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}: % refused', TG_OP;
            END
            $$""")
        op.execute("""
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION heartops_audit_append_only()""")
        op.execute("""
            CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION heartops_audit_append_only()""")
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log
            BEGIN
                SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: {action} refused');
            END""")


def downgrade() -> None:
    """Drop everything (the database is empty of heartops afterwards)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS heartops_audit_append_only()")
    for table in ("audit_log", "ledger_entries", "alert_acknowledgements", "safety_events",
                  "follow_up_attempts", "follow_up_tasks", "avl_fixes", "assignments", "units",
                  "call_notes", "calls", "import_batches", "change_counter", "heartops_meta"):
        op.drop_table(table)
