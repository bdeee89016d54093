"""Service-level tests of every board action: its effect, its errors (nothing changes) and its audit row.
They run on whichever database the suite runs on (SQLite, or PostgreSQL in CI's second pass)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from boxes.board import appointments, completed, in_process, opportunities
from boxes.board.contact import CallInput, register_call
from boxes.board.deliveries import first_service_due
from boxes.db import utcnow
from boxes.errors import ActionError, Conflict, NotFound
from boxes.models import Activity, AuditLog, Customer, Delivery, DiscardReason, Opportunity, RepairOrder
from boxes.settings import discard_reasons
from tests import factories
from tests.factories import utc


@pytest.fixture
def ar(dealers):
    return dealers[0]


@pytest.fixture
def caller(db, ar):
    return factories.user(db, role="caller", dealer=ar, name="Carla Caller")


@pytest.fixture
def reasons(db, dealers):
    for dealer in dealers:
        discard_reasons.seed_defaults(db, dealer)
    db.commit()
    return {r.code: r for r in db.scalars(select(DiscardReason).where(DiscardReason.dealer_id == dealers[0].id))}


def audit(db, action):
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def count(db, model):
    return db.scalar(select(func.count()).select_from(model))


# --- register call ---------------------------------------------------------------------------

def test_welcome_call_contacted_completes_the_delivery(db, ar, caller):
    d = factories.delivery(db, ar, utcnow() - timedelta(days=2))
    activity = register_call(db, ar, caller, "deliveries", d.id, CallInput("phone", "contacted", "Todo bien"))
    db.refresh(d)
    assert d.welcome_call_at is not None
    assert (activity.kind, activity.subject_type, activity.user_id) == ("welcome_call", "delivery", caller.id)
    [row] = audit(db, "welcome_call.register")
    assert row.entity_id == d.id and row.user_id == caller.id and row.data["outcome"] == "contacted"


def test_no_answer_keeps_the_welcome_call_pending(db, ar, caller):
    d = factories.delivery(db, ar, utcnow() - timedelta(days=2))
    register_call(db, ar, caller, "deliveries", d.id, CallInput("phone", "no_answer"))
    db.refresh(d)
    assert d.welcome_call_at is None


def test_do_not_contact_sets_the_customer_opt_out(db, ar, caller):
    d = factories.delivery(db, ar, utcnow() - timedelta(days=2))
    register_call(db, ar, caller, "deliveries", d.id, CallInput("phone", "do_not_contact", "No llamar más"))
    assert db.get(Customer, d.customer_id).contact_opt_out is True
    assert len(audit(db, "customer.opt_out")) == 1


def test_next_contact_creates_an_opportunity_on_other_rows(db, ar, caller):
    ro = factories.repair_order(db, ar, utcnow() - timedelta(hours=3))
    when = utcnow() + timedelta(days=3)
    register_call(db, ar, caller, "repair-orders", ro.id, CallInput("whatsapp", "call_back_later", "Llamar el jueves",
                                                                     next_contact_at=when))
    opp = db.scalar(select(Opportunity))
    assert (opp.origin, opp.vehicle_id, opp.assigned_user_id, opp.status) == ("in_process", ro.vehicle_id, caller.id,
                                                                              "open")
    assert abs((opp.due_at - when).total_seconds()) < 1


def test_next_contact_on_an_opportunity_replans_it(db, ar, caller):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(hours=2))
    when = utcnow() + timedelta(days=5)
    register_call(db, ar, caller, "opportunities", opp.id, CallInput("phone", "no_answer", next_contact_at=when,
                                                                     version=opp.version))
    db.refresh(opp)
    assert abs((opp.due_at - when).total_seconds()) < 1
    assert count(db, Opportunity) == 1


@pytest.mark.parametrize(("data", "field"), [
    (CallInput("fax", "contacted"), "channel"),
    (CallInput("phone", ""), "outcome"),
    (CallInput("phone", "contacted", "x" * 2001), "comment"),
    (CallInput("phone", "contacted", next_contact_at=utc(2020, 1, 1)), "next_contact_at"),
])
def test_bad_call_input_changes_nothing(db, ar, caller, data, field):
    d = factories.delivery(db, ar, utcnow() - timedelta(days=2))
    with pytest.raises(ActionError) as exc:
        register_call(db, ar, caller, "deliveries", d.id, data)
    assert field in exc.value.errors
    db.rollback()
    assert count(db, Activity) == 0 and count(db, AuditLog) == 0


def test_call_on_another_dealers_row_is_not_found(db, dealers, caller):
    ar, br = dealers
    d = factories.delivery(db, br, utcnow() - timedelta(days=2))
    with pytest.raises(NotFound):
        register_call(db, ar, caller, "deliveries", d.id, CallInput("phone", "contacted"))


# --- create opportunity ----------------------------------------------------------------------

def test_first_service_due_is_delivery_plus_interval_at_ten_local(ar):
    # Delivered 2026-08-31 22:00 local (01:00 UTC next day): six months later is 2027-02-28 (no 31st).
    due = first_service_due(ar, utc(2026, 9, 1, 1, 0))
    assert due == utc(2027, 2, 28, 13, 0)


def test_create_opportunity(db, ar, caller):
    c, v = factories.car(db, ar)
    due = utcnow() + timedelta(days=10)
    opp = opportunities.create_opportunity(db, ar, caller, origin="delivery", due_at=due, note="Primer service",
                                           customer_id=c.id, vehicle_id=v.id)
    assert (opp.status, opp.assigned_user_id, opp.created_by_id) == ("open", caller.id, caller.id)
    assert audit(db, "opportunity.create")[0].entity_id == opp.id


def test_create_opportunity_errors(db, dealers, caller):
    ar, br = dealers
    c, v = factories.car(db, ar)
    outsider = factories.user(db, role="caller", dealer=br)
    with pytest.raises(ActionError) as exc:
        opportunities.create_opportunity(db, ar, caller, origin="delivery", due_at=utcnow() - timedelta(minutes=1),
                                         customer_id=c.id, vehicle_id=v.id, assigned_user_id=outsider.id)
    assert set(exc.value.errors) == {"due_at", "assigned_user_id"}
    db.rollback()
    assert count(db, Opportunity) == 0


# --- discard, replan, appointment sold --------------------------------------------------------

def test_discard_with_reason(db, ar, caller, reasons):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(days=1))
    opportunities.discard(db, ar, caller, opp.id, reason_id=reasons["price"].id, comment="Caro",
                          version=opp.version)
    db.refresh(opp)
    assert (opp.status, opp.discard_reason_id, opp.discard_comment, opp.closed_by_id) == (
        "discarded", reasons["price"].id, "Caro", caller.id)
    assert audit(db, "opportunity.discard")[0].data["reason"] == "price"


def test_discard_errors(db, dealers, caller, reasons):
    ar, br = dealers
    opp = factories.opportunity(db, ar, utcnow() + timedelta(days=1))
    other_dealers_reason = db.scalar(select(DiscardReason).where(DiscardReason.dealer_id == br.id))
    for reason_id, field in ((None, "reason_id"), ("", "reason_id"), (other_dealers_reason.id, "reason_id"),
                             (99999, "reason_id"), ("abc", "reason_id")):
        with pytest.raises(ActionError) as exc:
            opportunities.discard(db, ar, caller, opp.id, reason_id=reason_id, version=opp.version)
        assert field in exc.value.errors
        db.rollback()
    discard_reasons.set_active(db, ar, caller, reasons["distance"].id, False)
    with pytest.raises(ActionError):
        opportunities.discard(db, ar, caller, opp.id, reason_id=reasons["distance"].id, version=opp.version)
    db.rollback()
    db.refresh(opp)
    assert opp.status == "open" and not audit(db, "opportunity.discard")


def test_oem_lead_needs_a_reason_with_oem_mapping(db, ar, caller, reasons):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(days=1), origin="oem_lead", oem_lead_id="00Q123")
    custom = discard_reasons.add(db, ar, caller, label_es="Sin stock", label_pt_br="Sem estoque",
                                 label_en="Out of stock")
    with pytest.raises(ActionError) as exc:
        opportunities.discard(db, ar, caller, opp.id, reason_id=custom.id, version=opp.version)
    assert "reason_id" in exc.value.errors
    db.rollback()
    opportunities.discard(db, ar, caller, opp.id, reason_id=reasons["sold_car"].id, version=opp.version)


def test_closed_opportunity_cannot_be_acted_on(db, ar, caller, reasons):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(days=1), status="sold")
    for action in (lambda: opportunities.discard(db, ar, caller, opp.id, reason_id=reasons["price"].id),
                   lambda: opportunities.replan(db, ar, caller, opp.id, due_at=utcnow() + timedelta(days=2)),
                   lambda: opportunities.mark_sold(db, ar, caller, opp.id, appointment_at=utcnow() + timedelta(1))):
        with pytest.raises(ActionError) as exc:
            action()
        assert "status" in exc.value.errors
        db.rollback()


def test_replan(db, ar, caller):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(hours=1))
    new = utcnow() + timedelta(days=4)
    with pytest.raises(ActionError):
        opportunities.replan(db, ar, caller, opp.id, due_at=utcnow() - timedelta(minutes=5), version=opp.version)
    db.rollback()
    opportunities.replan(db, ar, caller, opp.id, due_at=new, comment="Pidió la semana próxima", version=opp.version)
    db.refresh(opp)
    assert abs((opp.due_at - new).total_seconds()) < 1 and opp.status == "open" and opp.version == 2
    assert audit(db, "opportunity.replan")[0].data["comment"] == "Pidió la semana próxima"


def test_mark_sold(db, ar, caller):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(hours=1))
    with pytest.raises(ActionError):
        opportunities.mark_sold(db, ar, caller, opp.id, appointment_at=utcnow() - timedelta(days=2),
                                version=opp.version)
    db.rollback()
    when = utcnow() + timedelta(days=2)
    opportunities.mark_sold(db, ar, caller, opp.id, appointment_at=when, version=opp.version)
    db.refresh(opp)
    assert opp.status == "sold" and abs((opp.sold_appointment_at - when).total_seconds()) < 1
    assert opp.closed_by_id == caller.id and audit(db, "opportunity.sold")


def test_stale_version_is_a_conflict_and_the_first_write_stands(db, ar, caller, reasons):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(hours=1))
    seen = opp.version
    opportunities.replan(db, ar, caller, opp.id, due_at=utcnow() + timedelta(days=3), version=seen)
    with pytest.raises(Conflict):
        opportunities.discard(db, ar, caller, opp.id, reason_id=reasons["price"].id, version=seen)
    db.rollback()
    db.refresh(opp)
    assert opp.status == "open" and opp.version == seen + 1


# --- appointments ----------------------------------------------------------------------------

def test_confirm_appointment(db, ar, caller):
    appt = factories.appointment(db, ar, utcnow() + timedelta(days=1), status="requested")
    appointments.confirm(db, ar, caller, appt.id, comment="Confirma por WhatsApp", version=appt.version)
    db.refresh(appt)
    assert (appt.status, appt.confirmed_by_id, appt.comment) == ("confirmed", caller.id, "Confirma por WhatsApp")
    with pytest.raises(ActionError):
        appointments.confirm(db, ar, caller, appt.id, version=appt.version)
    assert audit(db, "appointment.confirm")


def test_recovery_opportunity_from_a_no_show(db, ar, caller):
    missed = factories.appointment(db, ar, utcnow() - timedelta(days=2), status="confirmed")
    future = factories.appointment(db, ar, utcnow() + timedelta(days=2), status="confirmed")
    due = utcnow() + timedelta(days=1)
    opp = appointments.create_recovery_opportunity(db, ar, caller, missed.id, due_at=due, note="Reagendar")
    assert (opp.origin, opp.vehicle_id) == ("no_show", missed.vehicle_id)
    with pytest.raises(ActionError):  # one open recovery opportunity per vehicle
        appointments.create_recovery_opportunity(db, ar, caller, missed.id, due_at=due)
    db.rollback()
    with pytest.raises(ActionError):  # not a no-show
        appointments.create_recovery_opportunity(db, ar, caller, future.id, due_at=due)


# --- in process, completed -------------------------------------------------------------------

def test_unit_delivered_moves_the_car_to_completed(db, ar, caller):
    ro = factories.repair_order(db, ar, utcnow() - timedelta(days=1))
    in_process.mark_unit_delivered(db, ar, caller, ro.id)
    db.refresh(ro)
    assert ro.delivered_at is not None and ro.delivered_manually_by_id == caller.id and ro.status == "delivered"
    with pytest.raises(ActionError):
        in_process.mark_unit_delivered(db, ar, caller, ro.id)
    assert audit(db, "repair_order.delivered")[0].data == {"number": ro.number, "manual": True}


def test_courtesy_call(db, ar, caller):
    ro = factories.repair_order(db, ar, utcnow() - timedelta(days=3), delivered_at=utcnow() - timedelta(days=1),
                                status="delivered")
    with pytest.raises(ActionError) as exc:
        completed.register_courtesy_call(db, ar, caller, ro.id, CallInput("phone", "contacted"), None)
    assert "satisfaction" in exc.value.errors
    db.rollback()
    with pytest.raises(ActionError):
        completed.register_courtesy_call(db, ar, caller, ro.id, CallInput("phone", "contacted"), "7")
    db.rollback()
    assert count(db, Activity) == 0
    act = completed.register_courtesy_call(db, ar, caller, ro.id, CallInput("phone", "contacted", "Conforme"), "5")
    db.refresh(ro)
    assert (act.kind, act.satisfaction) == ("courtesy_call", 5) and ro.courtesy_call_at is not None
    open_ro = factories.repair_order(db, ar, utcnow() - timedelta(days=1))
    with pytest.raises(ActionError):
        completed.register_courtesy_call(db, ar, caller, open_ro.id, CallInput("phone", "contacted"), "4")


def test_models_keep_one_row_per_action(db, ar, caller):
    """Delivery rows are never duplicated by actions (no hidden inserts)."""
    d = factories.delivery(db, ar, utcnow() - timedelta(days=2))
    register_call(db, ar, caller, "deliveries", d.id, CallInput("phone", "contacted"))
    assert count(db, Delivery) == 1 and count(db, RepairOrder) == 0
