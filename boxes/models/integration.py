"""The DMS connection of each dealer, its sync cursors, runs and the records it could not store."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow

DMS_ENTITIES = ("customers", "vehicles", "deliveries", "appointments", "repair_orders")
DMS_ENTITY_LABELS = {"customers": _l("Customers"), "vehicles": _l("Vehicles"), "deliveries": _l("Sales deliveries"),
                     "appointments": _l("Appointments"), "repair_orders": _l("Repair orders")}
# Sync order: references first (an RO needs its vehicle, a vehicle its customer).
SYNC_ORDER = ("customers", "vehicles", "deliveries", "repair_orders", "appointments")
SYNC_STATUSES = ("running", "succeeded", "failed")
SYNC_STATUS_LABELS = {"running": _l("Running"), "succeeded": _l("Succeeded"), "failed": _l("Failed")}
CONNECTOR_KINDS = ("simulator", "http", "files", "sql")
CONNECTOR_KIND_LABELS = {"simulator": _l("Simulator (built-in DMS)"), "http": _l("HTTP feed v1"),
                         "files": _l("Files (CSV/XLSX)"), "sql": _l("SQL database")}


class DmsConnector(DealerOwned, Base):
    """One per dealer. ``settings`` is shown to admins; ``secrets`` never leaves the server (the page
    only says whether each one is set). ``token``/``token_expires_at`` cache the http connector's
    bearer token between runs."""

    __tablename__ = "dms_connector"
    __table_args__ = (UniqueConstraint("dealer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="simulator")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    secrets: Mapped[dict] = mapped_column(JSON, default=dict)
    # Arrival matching: an RO opened up to this many local days before/after the appointment's day.
    tolerance_days: Mapped[int] = mapped_column(Integer, default=0)
    token: Mapped[str | None] = mapped_column(Text, nullable=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncCursor(DealerOwned, Base):
    """Where the last committed page of an entity ended. Written in the same transaction as the
    records of that page, never before."""

    __tablename__ = "sync_cursor"
    __table_args__ = (UniqueConstraint("dealer_id", "entity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(24))
    cursor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncRun(DealerOwned, Base):
    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_dealer_entity_started", "dealer_id", "entity", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), default="running")
    trigger: Mapped[str] = mapped_column(String(16), default="cron")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    cursor_before: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cursor_after: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


class QuarantinedRecord(DealerOwned, Base):
    __tablename__ = "quarantined_record"
    __table_args__ = (Index("ix_quarantined_record_dealer_entity", "dealer_id", "entity", "resolved_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(24))
    dms_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    # "invalid" (the record itself is wrong: retried by an admin after fixing the mapping),
    # "reference" (it names a customer/vehicle not stored yet: retried by every run), "file".
    kind: Mapped[str] = mapped_column(String(16), default="invalid")
    sync_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
