"""What a page of the DMS feed writes, per entity: the model, the columns, what an update sets
and when a stored row takes the feed's record (the version guard). Both databases' store paths
(:mod:`.store`, :mod:`.postgres`) build their statements from these."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, case, or_

from boxes.models import Appointment, Customer, Delivery, RepairOrder, Vehicle

MAX_PARAMS = 30_000  # bound parameters per statement (SQLite allows 32766, PostgreSQL 65535)
MODELS = {"customers": Customer, "vehicles": Vehicle, "deliveries": Delivery, "appointments": Appointment,
          "repair_orders": RepairOrder}
LINE_COLUMNS = ("dealer_id", "repair_order_id", "line_no", "work_done", "result", "incidents", "declined")


def chunks(rows: list, width: int) -> Iterable[list]:
    """``rows`` in slices that fit one statement's bound parameters (``width`` per row)."""
    size = max(1, MAX_PARAMS // max(1, width))
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def _expected(column):
    return column.in_(("requested", "confirmation_pending", "confirmed", "no_show"))


# What a page writes, per entity, besides dealer_id and created_at (the same for the whole page).
# Columns left out are NULL on insert and never touched by an update (Boxes owns them: welcome and
# courtesy calls, a manual delivery's author, a caller's confirmation).
COLUMNS = {
    "customers": ("dms_id", "name", "phone_mobile", "phone_home", "phone_work", "email", "contact_opt_out",
                  "dms_updated_at"),
    "vehicles": ("dms_id", "customer_id", "vin", "plate", "brand", "model", "version", "model_year", "mileage",
                 "sold_on", "dms_updated_at"),
    "deliveries": ("dms_id", "vehicle_id", "customer_id", "delivered_at", "salesperson", "dms_updated_at"),
    "repair_orders": ("dms_id", "vehicle_id", "customer_id", "number", "opened_at", "promised_at", "delivered_at",
                      "status", "mileage", "advisor", "dms_updated_at"),
    "appointments": ("dms_id", "vehicle_id", "customer_id", "scheduled_at", "service_type", "advisor", "status",
                     "source", "arrived_at", "repair_order_id", "version", "comment", "dms_updated_at"),
}

UPDATES = {
    "customers": ["name", "phone_mobile", "phone_home", "phone_work", "email", "dms_updated_at"],
    "vehicles": ["customer_id", "vin", "plate", "brand", "model", "version", "model_year", "mileage", "sold_on",
                 "dms_updated_at"],
    "deliveries": ["vehicle_id", "customer_id", "delivered_at", "salesperson", "dms_updated_at"],
    # A delivery is never undone by the DMS: a manual "unit delivered" (and its author) stays until the
    # DMS reports its own delivery time.
    "repair_orders": {
        "number": lambda x, t: x.number, "vehicle_id": lambda x, t: x.vehicle_id,
        "customer_id": lambda x, t: x.customer_id, "opened_at": lambda x, t: x.opened_at,
        "promised_at": lambda x, t: x.promised_at,
        "delivered_at": lambda x, t: case((x.delivered_at.is_(None), t.c.delivered_at), else_=x.delivered_at),
        "status": lambda x, t: case((and_(x.delivered_at.is_(None), t.c.delivered_at.is_not(None)), t.c.status),
                                    else_=x.status),
        "mileage": lambda x, t: x.mileage, "advisor": lambda x, t: x.advisor,
        "dms_updated_at": lambda x, t: x.dms_updated_at,
    },
    # Arrival and a caller's confirmation are facts Boxes keeps: an older-fashioned DMS status does not undo
    # them. The version bump makes an open board form on this appointment stale (409, never a silent overwrite).
    "appointments": {
        "vehicle_id": lambda x, t: x.vehicle_id, "customer_id": lambda x, t: x.customer_id,
        "scheduled_at": lambda x, t: x.scheduled_at, "service_type": lambda x, t: x.service_type,
        "advisor": lambda x, t: x.advisor,
        "status": lambda x, t: case(
            (and_(t.c.arrived_at.is_not(None), _expected(x.status)), t.c.status),
            (and_(t.c.confirmed_at.is_not(None), x.status.in_(("requested", "confirmation_pending"))), "confirmed"),
            else_=x.status),
        "source": lambda x, t: x.source,
        "arrived_at": lambda x, t: case((x.arrived_at.is_(None), t.c.arrived_at), else_=x.arrived_at),
        "repair_order_id": lambda x, t: case((x.repair_order_id.is_(None), t.c.repair_order_id),
                                             else_=x.repair_order_id),
        "version": lambda x, t: t.c.version + 1,
        "dms_updated_at": lambda x, t: x.dms_updated_at,
    },
}



def guard(entity: str):
    """When a stored row takes the feed's record: a newer version; or the *same* version whose DMS
    content differs from what Boxes holds. The DMS is the system of record for what it owns — a
    record it changed without moving its timestamp (or data Boxes got elsewhere, a demo) would
    otherwise never be corrected, since the cursor moves on. "Differs" means the update would
    change a column (the ``UPDATES`` expressions, so a fact Boxes owns — a caller's confirmation, a
    manual delivery — is compared as kept); the same content again is "unchanged". An older
    version never overwrites a newer one."""
    update = UPDATES[entity]
    compared = [name for name in update if name not in ("dms_updated_at", "version")]

    def guard(excluded, table):
        def value(name):
            return update[name](excluded, table) if isinstance(update, dict) else excluded[name]

        differs = or_(*[value(name).is_distinct_from(table.c[name]) for name in compared])
        return or_(table.c.dms_updated_at.is_(None), excluded.dms_updated_at > table.c.dms_updated_at,
                   and_(excluded.dms_updated_at == table.c.dms_updated_at, differs))

    return guard

