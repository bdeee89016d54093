"""The OEM lead import (boxes/oem/importer.py) against ``boxes oem-simulator`` run as a separate HTTP
server process on loopback: the watermark and its overlap, the upsert by lead id, customer matching,
quarantine, dispositions, distribution, and the OEM's failures.

The simulator lives for the module; each test has an empty database, so its first read takes every
lead the simulator holds, and each test asserts on the leads it made (or on the simulator's truth)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from boxes.board.opportunities import mark_sold, replan
from boxes.db import utcnow
from boxes.models import AuditLog, Customer, OemCallLog, OemConnector, OemLead, OemStatusEvent, Opportunity, User
from boxes.oem.api import LEAD_TYPES, floor_minute, parse_instant
from boxes.oem.client import RateLimited, Transient
from boxes.oem.importer import import_leads
from tests import factories
from tests.oem_helpers import OemSimulator, connect

pytestmark = pytest.mark.usefixtures("clean_faults")
# A lead nobody can be reached through (what the generator's "no contact" leads look like).
UNREACHABLE = {"MobilePhone": "0", "Phone": None, "Email": "sem email", "Tax_Id__c": None, "Vehicle_VIN__c": None,
               "Vehicle_Plate__c": None}


@pytest.fixture(scope="module")
def sim():
    with OemSimulator(backlog=6) as s:
        yield s


def _row(db, dealer, lead_id: str) -> OemLead | None:
    db.expire_all()
    return db.scalar(select(OemLead).where(OemLead.dealer_id == dealer.id, OemLead.lead_id == lead_id))


def _opportunities(db, dealer, lead_id: str) -> list[Opportunity]:
    return db.scalars(select(Opportunity).where(Opportunity.dealer_id == dealer.id,
                                                Opportunity.oem_lead_id == lead_id)).all()


def _lead(sim, code="AR01", lead_type="Service", contact="new", **fields) -> dict:
    return sim.create_lead(code, fields, type=lead_type, contact=contact)


def _received(db, dealer, lead_id: str) -> list[OemCallLog]:
    return db.scalars(select(OemCallLog).where(OemCallLog.dealer_id == dealer.id, OemCallLog.direction == "in",
                                               OemCallLog.lead_id == lead_id).order_by(OemCallLog.id)).all()


# ------------------------------------------------------------------------------- upsert, watermark

def test_importing_twice_stores_each_lead_once_and_makes_no_second_opportunity(db, dealers, sim, redis):
    ar = dealers[0]
    sim.advance(minutes=30, leads=12)
    connect(db, ar, sim, page_size=4)  # several pages, each stored with its watermark
    seq = sim.last_call()
    first = import_leads(db, ar, redis)
    truth = sim.truth("AR01")["leads"]
    ours = {k: v for k, v in truth.items() if v["Dealer_Code__c"] == "AR01" and v["LeadType__c"] in LEAD_TYPES}
    assert first.pages >= 3 and first.error == "" and not first.stopped
    db.expire_all()
    rows = {r.lead_id: r for r in db.scalars(select(OemLead).where(OemLead.dealer_id == ar.id))}
    assert set(rows) == set(ours)
    for lead_id, lead in ours.items():
        row = rows[lead_id]
        kind = lead["LeadType__c"]
        expected = {"Service": "opportunity", "AfterSales": "opportunity", "Parts": "parts"}.get(kind, "sales")
        assert row.disposition in (expected, "quarantined"), (kind, row.disposition, row.reason)
        assert (row.disposition == "opportunity") == (row.opportunity_id is not None)
    assert first.opportunities == sum(r.disposition == "opportunity" for r in rows.values()) > 0
    assert first.sales + first.parts + first.quarantined + first.opportunities == len(ours)
    # Every HTTP call and every lead received is in the integration log.
    out = db.scalars(select(OemCallLog).where(OemCallLog.dealer_id == ar.id, OemCallLog.direction == "out")
                     .order_by(OemCallLog.id)).all()
    assert [(c.kind, c.status_code) for c in out] == [(e, s) for e, s, _ in sim.calls(seq)]
    assert {c.lead_id for c in db.scalars(select(OemCallLog).where(OemCallLog.direction == "in"))} >= set(ours)
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "oem.leads_imported")) \
        == first.pages

    counts = (db.scalar(select(func.count()).select_from(OemLead)),
              db.scalar(select(func.count()).select_from(Opportunity)),
              db.scalar(select(func.count()).select_from(Customer)))
    again = import_leads(db, ar, redis)
    assert (again.opportunities, again.parts, again.sales, again.quarantined, again.updated,
            again.customers_created) == (0, 0, 0, 0, 0, 0)
    db.expire_all()
    assert (db.scalar(select(func.count()).select_from(OemLead)),
            db.scalar(select(func.count()).select_from(Opportunity)),
            db.scalar(select(func.count()).select_from(Customer))) == counts
    per_lead = db.execute(select(Opportunity.oem_lead_id, func.count()).group_by(Opportunity.oem_lead_id)).all()
    assert all(n == 1 for _, n in per_lead)


def test_a_lead_changed_in_the_same_second_as_the_read_is_not_missed(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    before = _lead(sim, Description="Quiere turno para el service de 10.000 km")
    also = _lead(sim)
    import_leads(db, ar, redis)
    connector = db.scalar(select(OemConnector).where(OemConnector.dealer_id == ar.id))
    now = parse_instant(sim.truth("AR01")["now"])
    assert connector.watermark == floor_minute(now)  # the read's minute: it is read again next time
    # In the second the read ran (the simulated clock has not moved): one lead changes, one is made.
    sim.change_lead(before["Id"], Description="Ahora también pide alineación")
    made = _lead(sim)
    assert parse_instant(sim.truth("AR01")["now"]) == now
    second = import_leads(db, ar, redis)
    assert _row(db, ar, before["Id"]).text == "Ahora también pide alineación"
    assert _row(db, ar, made["Id"]).disposition == "opportunity"
    assert (second.updated, second.opportunities) == (1, 1)
    # The rest of that minute came again and was absorbed.
    assert second.unchanged >= 1 and second.received == second.unchanged + 2
    assert len(_opportunities(db, ar, also["Id"])) == 1


def test_a_newer_version_updates_the_oem_text_but_never_the_callers_work(db, dealers, sim, redis):
    ar = dealers[0]
    caller = factories.user(db, role="caller", dealer=ar)
    connect(db, ar, sim)
    worked, planned, untouched = (_lead(sim, Description=f"Texto {n}") for n in range(3))
    import_leads(db, ar, redis)
    sold = _opportunities(db, ar, worked["Id"])[0]
    mark_sold(db, ar, caller, sold.id, appointment_at=utcnow() + timedelta(days=3), comment="Turno el jueves",
              version=sold.version)
    opp = _opportunities(db, ar, planned["Id"])[0]
    opp.assigned_user_id = caller.id  # a manager gave it to a caller
    db.commit()
    due = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    replan(db, ar, caller, opp.id, due_at=due, comment="Llamar el lunes", version=opp.version)

    for lead in (worked, planned, untouched):
        sim.change_lead(lead["Id"], Description=f"{lead['Description']} (actualizado)")
    result = import_leads(db, ar, redis)
    assert result.updated == 3 and result.opportunities == 0
    db.expire_all()
    sold, planned_opp, fresh = (_opportunities(db, ar, lead["Id"])[0] for lead in (worked, planned, untouched))
    assert (sold.status, sold.note) == ("sold", "Turno el jueves")  # never reopened
    assert (planned_opp.status, planned_opp.due_at, planned_opp.assigned_user_id, planned_opp.note) == (
        "open", due, caller.id, "Llamar el lunes")
    assert fresh.note == "[Service] Texto 2 (actualizado)"
    assert all(_row(db, ar, lead["Id"]).text.endswith("(actualizado)") for lead in (worked, planned, untouched))


def test_an_older_or_equal_version_is_ignored(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    lead = _lead(sim, Description="Primera versión")
    import_leads(db, ar, redis)
    row = _row(db, ar, lead["Id"])
    row.modified_at = row.modified_at + timedelta(hours=1)  # Boxes holds a newer version than the OEM serves
    db.commit()
    sim.change_lead(lead["Id"], Description="Otra versión")
    result = import_leads(db, ar, redis)
    assert _row(db, ar, lead["Id"]).text == "Primera versión"
    assert result.updated == 0 and _opportunities(db, ar, lead["Id"])[0].note == "[Service] Primera versión"


def test_a_read_that_fails_after_its_first_page_resumes_from_that_page(db, dealers, sim, redis):
    ar = dealers[0]
    sim.advance(minutes=20, leads=9)
    connect(db, ar, sim, page_size=3)
    sim.faults(locator_ttl=0)  # the second page's query has expired by the time it is asked for
    with pytest.raises(Transient):
        import_leads(db, ar, redis)
    db.expire_all()
    connector = db.scalar(select(OemConnector).where(OemConnector.dealer_id == ar.id))
    stored = db.scalars(select(OemLead).where(OemLead.dealer_id == ar.id)).all()
    assert len(stored) == 3  # the first page, committed with its watermark
    assert connector.watermark == floor_minute(max(r.modified_at for r in stored))
    assert "expired" in connector.last_import_error
    sim.faults()
    done = import_leads(db, ar, redis)
    assert done.error == ""
    truth = sim.truth("AR01")["leads"]
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(OemLead)) == len(
        [v for v in truth.values() if v["Dealer_Code__c"] == "AR01"])
    per_lead = db.execute(select(Opportunity.oem_lead_id, func.count()).group_by(Opportunity.oem_lead_id)).all()
    assert all(n == 1 for _, n in per_lead)


# ------------------------------------------------------------------------------- the customer

def test_the_customer_is_found_by_phone_written_another_way(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    known = factories.customer(db, ar, phone_mobile="", phone_home="011 15-4321-7788", email="otro@mail.example")
    lead = _lead(sim, MobilePhone="+5491143217788", Phone=None, Email="nadie@mail.example", Tax_Id__c=None)
    import_leads(db, ar, redis)
    row = _row(db, ar, lead["Id"])
    assert (row.disposition, row.customer_id) == ("opportunity", known.id)
    assert _opportunities(db, ar, lead["Id"])[0].customer_id == known.id


def test_the_customer_is_found_by_email_whatever_its_case(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    known = factories.customer(db, ar, phone_mobile="", email="Ana.Perez@Mail.Example")
    lead = _lead(sim, MobilePhone=None, Phone=None, Email="ana.perez@mail.example", Tax_Id__c=None)
    import_leads(db, ar, redis)
    assert _row(db, ar, lead["Id"]).customer_id == known.id


def test_the_customer_is_found_by_tax_id_digits(db, dealers, sim, redis):
    br = dealers[1]
    connect(db, br, sim)
    known = factories.customer(db, br, phone_mobile="", email="", tax_id="11144477735")
    lead = _lead(sim, "BR01", MobilePhone=None, Phone=None, Email="novo@mail.example", Tax_Id__c="111.444.777-35")
    import_leads(db, br, redis)
    assert _row(db, br, lead["Id"]).customer_id == known.id


def test_the_customer_is_found_by_the_cars_vin_or_plate_and_the_car_goes_on_the_opportunity(db, dealers, sim,
                                                                                               redis):
    ar, br = dealers
    connect(db, ar, sim)
    connect(db, br, sim)
    owner, car = factories.car(db, ar)
    by_vin = _lead(sim, **{**UNREACHABLE, "Vehicle_VIN__c": car.vin.lower()})
    br_owner = factories.customer(db, br, phone_mobile="", email="")
    br_car = factories.vehicle(db, br, br_owner, plate="ABC1234")
    by_plate = _lead(sim, "BR01", **{**UNREACHABLE, "Vehicle_Plate__c": "abc-1c34"})  # its Mercosur plate
    import_leads(db, ar, redis)
    import_leads(db, br, redis)
    assert (_row(db, ar, by_vin["Id"]).customer_id, _opportunities(db, ar, by_vin["Id"])[0].vehicle_id) == (
        owner.id, car.id)
    assert (_row(db, br, by_plate["Id"]).customer_id, _opportunities(db, br, by_plate["Id"])[0].vehicle_id) == (
        br_owner.id, br_car.id)


def test_the_phone_is_tried_before_the_email(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    by_phone = factories.customer(db, ar, phone_mobile="+54 9 11 4000-1122", email="")
    factories.customer(db, ar, phone_mobile="", email="doble@mail.example")
    lead = _lead(sim, MobilePhone="011 15-4000-1122", Phone=None, Email="doble@mail.example")
    import_leads(db, ar, redis)
    assert _row(db, ar, lead["Id"]).customer_id == by_phone.id


def test_an_unknown_person_becomes_a_customer_to_complete_and_the_next_lead_finds_it(db, dealers, sim, redis):
    br = dealers[1]
    connect(db, br, sim)
    first = _lead(sim, "BR01", FirstName="Marta", LastName="Souza", MobilePhone="(11) 97777-1234", Phone="1234",
                  Email="marta.souza@mail.example", Tax_Id__c="529.982.247-25")
    result = import_leads(db, br, redis)
    customer = db.get(Customer, _row(db, br, first["Id"]).customer_id)
    assert (customer.dms_id, customer.name, customer.to_complete) == (f"oem:{first['Id']}", "Marta Souza", True)
    assert (customer.phone_mobile, customer.phone_home, customer.email, customer.tax_id) == (
        "+5511977771234", "", "marta.souza@mail.example", "52998224725")
    assert result.customers_created >= 1
    assert db.scalar(select(AuditLog).where(AuditLog.action == "customer.create_from_oem_lead",
                                            AuditLog.entity_id == customer.id)) is not None
    # Her next lead has only her tax id: the same customer, no second one.
    second = _lead(sim, "BR01", lead_type="AfterSales", **{**UNREACHABLE, "Tax_Id__c": "52998224725"})
    import_leads(db, br, redis)
    assert _row(db, br, second["Id"]).customer_id == customer.id
    assert db.scalar(select(func.count()).select_from(Customer).where(Customer.tax_id == "52998224725")) == 1


# ------------------------------------------------------------------------------- quarantine

def test_a_lead_without_a_usable_contact_is_quarantined_with_its_reason_until_the_oem_fixes_it(db, dealers, sim,
                                                                                               redis):
    ar = dealers[0]
    connect(db, ar, sim)
    lead = _lead(sim, **{**UNREACHABLE, "Vehicle_VIN__c": "9BGKS48B0KG123456"})
    result = import_leads(db, ar, redis)
    row = _row(db, ar, lead["Id"])
    assert row.disposition == "quarantined" and row.opportunity_id is None and row.customer_id is None
    assert row.reason == ("no usable contact: MobilePhone '0' is not a phone number of AR; Email 'sem email' is "
                          "not an e-mail address; no customer of the dealer has its tax id, VIN or plate")
    assert result.quarantined >= 1
    log = _received(db, ar, lead["Id"])
    assert log[-1].failed and log[-1].error == row.reason
    assert not _opportunities(db, ar, lead["Id"])

    import_leads(db, ar, redis)  # the same version again: still quarantined, nothing new
    assert _row(db, ar, lead["Id"]).disposition == "quarantined"
    sim.change_lead(lead["Id"], MobilePhone="+54 9 11 6000-3344")  # the OEM's user completes it
    import_leads(db, ar, redis)
    row = _row(db, ar, lead["Id"])
    assert (row.disposition, row.reason) == ("opportunity", "") and len(_opportunities(db, ar, lead["Id"])) == 1


def test_an_unknown_lead_type_is_quarantined_and_another_dealers_lead_is_refused(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    odd = _lead(sim, LeadType__c="Consortium")
    foreign = _lead(sim, Dealer_Code__c="AR99")
    result = import_leads(db, ar, redis)
    row = _row(db, ar, odd["Id"])
    assert (row.disposition, row.lead_type) == ("quarantined", "Consortium")
    assert row.reason.startswith("unknown lead type 'Consortium' (Boxes takes Service, AfterSales")
    assert _row(db, ar, foreign["Id"]) is None and result.refused >= 1
    refused = _received(db, ar, foreign["Id"])[-1]
    assert refused.failed and refused.error == ("refused: Dealer_Code__c 'AR99' is not this dealer's code at the "
                                                "OEM (AR01)")


def test_malformed_leads_are_logged_quarantined_when_they_carry_an_id_and_taken_once_fixed(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    sim.faults(malformed_rate=1.0)  # every lead served broken once; the OEM fixes each right after
    broken = sim.truth("AR01")["malformed"]
    result = import_leads(db, ar, redis)
    served = sim.truth("AR01")["malformed"][len(broken):]
    assert result.malformed == len(served) > 0 and result.opportunities == 0
    errors = db.scalars(select(OemCallLog.error).where(OemCallLog.direction == "in", OemCallLog.failed)).all()
    assert len(errors) == len(served) and all(e.startswith("malformed: ") for e in errors)
    with_id = {m["lead_id"] for m in served if m["kind"] in ("bad_stamp", "no_type", "wrong_type")}
    quarantined = {r.lead_id: r.reason for r in db.scalars(select(OemLead).where(OemLead.dealer_id == ar.id))}
    assert set(quarantined) == with_id
    assert any("MobilePhone" in reason for reason in quarantined.values())
    sim.faults()
    import_leads(db, ar, redis)
    db.expire_all()
    assert not db.scalars(select(OemLead).where(OemLead.reason.like("malformed%"))).all()


# ------------------------------------------------------------------------------- dispositions

def test_parts_leads_go_to_the_parts_user_and_stay_visible_without_one(db, dealers, sim, redis):
    ar, br = dealers
    parts_user = factories.user(db, role="caller", dealer=ar)
    connect(db, ar, sim, connector={"parts_user_id": parts_user.id, "first_contact_hours": 4})
    connect(db, br, sim)
    with_user = _lead(sim, lead_type="Parts")
    without = _lead(sim, "BR01", lead_type="Parts")
    started = utcnow().replace(microsecond=0)
    assert import_leads(db, ar, redis).parts >= 1
    import_leads(db, br, redis)
    row = _row(db, ar, with_user["Id"])
    assert (row.disposition, row.assigned_user_id, row.opportunity_id) == ("parts", parts_user.id, None)
    assert started + timedelta(hours=4) <= row.first_contact_due <= utcnow() + timedelta(hours=4)
    row = _row(db, br, without["Id"])
    assert (row.disposition, row.assigned_user_id) == ("parts", None) and row.customer_id is not None
    assert not _opportunities(db, ar, with_user["Id"]) and not _opportunities(db, br, without["Id"])


def test_vehicle_leads_are_recorded_for_sales_never_dropped(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    new, used = _lead(sim, lead_type="NewVehicle"), _lead(sim, lead_type="UsedVehicle", contact="none")
    customers = db.scalar(select(func.count()).select_from(Customer))
    import_leads(db, ar, redis)
    for lead in (new, used):
        row = _row(db, ar, lead["Id"])
        assert (row.disposition, row.opportunity_id, row.text) == ("sales", None, lead["Description"])
        assert _received(db, ar, lead["Id"]) and not _opportunities(db, ar, lead["Id"])
    db.expire_all()
    made = db.scalars(select(Customer.dms_id).where(Customer.to_complete.is_(True))).all()
    assert f"oem:{new['Id']}" not in made and f"oem:{used['Id']}" not in made
    assert db.scalar(select(func.count()).select_from(Customer)) >= customers


def test_a_lead_taken_owes_the_oem_new_then_assigned_once_and_the_relay_is_queued(db, dealers, sim, redis):
    from rq.job import Job

    from jobs.oem_relay import job_id

    ar = dealers[0]
    connect(db, ar, sim)
    taken = [_lead(sim), _lead(sim, lead_type="Parts")]
    untaken = [_lead(sim, lead_type="NewVehicle"), _lead(sim, **UNREACHABLE)]
    import_leads(db, ar, redis)
    events = db.scalars(select(OemStatusEvent).where(OemStatusEvent.dealer_id == ar.id)
                        .order_by(OemStatusEvent.id)).all()
    for lead in taken:
        assert [(e.trigger, e.stage, e.status) for e in events if e.lead_id == lead["Id"]] == [
            ("NEW", "New", "pending"), ("ATR", "Assigned", "pending")]
    assert not [e for e in events if e.lead_id in {lead["Id"] for lead in untaken}]
    assert Job.fetch(job_id(ar.id), connection=redis).args == (ar.id,)
    sim.change_lead(taken[0]["Id"], Description="otra cosa")
    import_leads(db, ar, redis)  # a newer version, and the overlap: no event again
    assert db.scalar(select(func.count()).select_from(OemStatusEvent)) == len(events)


# ------------------------------------------------------------------------------- distribution

def test_direct_distribution_assigns_an_active_user_else_the_lead_goes_to_the_queue(db, dealers, sim, redis):
    ar, br = dealers
    caller = factories.user(db, role="caller", dealer=ar)
    gone = factories.user(db, role="caller", dealer=ar)
    manager = factories.user(db, role="manager", dealer=ar)
    elsewhere = factories.user(db, role="caller", dealer=br)
    db.get(User, gone.id).active = False
    db.commit()
    connector = connect(db, ar, sim, connector={
        "first_contact_hours": 6,
        "distribution": {"Service": {"mode": "direct", "user_id": caller.id}, "AfterSales": {"mode": "queue"}}})
    service, after_sales = _lead(sim), _lead(sim, lead_type="AfterSales")
    import_leads(db, ar, redis)
    for lead, assignee in ((service, caller.id), (after_sales, None)):
        row = _row(db, ar, lead["Id"])
        opp = _opportunities(db, ar, lead["Id"])[0]
        assert (row.assigned_user_id, opp.assigned_user_id) == (assignee, assignee)
        assert (opp.origin, opp.status, opp.oem_lead_id) == ("oem_lead", "open", lead["Id"])
        assert opp.note == f"[{lead['LeadType__c']}] {lead['Description']}"
        assert abs(row.first_contact_due - row.received_at - timedelta(hours=6)) < timedelta(seconds=1)
        assert abs(opp.due_at - row.received_at) < timedelta(seconds=1)
    # Any active user of the dealer Integrations → OEM offers (a manager too); a user who left, or
    # another dealer's: the queue.
    for user, assignee in ((manager, manager.id), (gone, None), (elsewhere, None)):
        connector.distribution = {"Service": {"mode": "direct", "user_id": user.id}}
        db.commit()
        lead = _lead(sim)
        import_leads(db, ar, redis)
        assert _row(db, ar, lead["Id"]).assigned_user_id == assignee


# ------------------------------------------------------------------------------- the OEM's failures

def test_refused_credentials_stop_the_import_with_their_message_and_are_not_asked_again(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim, client_secret="wrong-secret")
    seq = sim.last_call()
    result = import_leads(db, ar, redis)
    assert result.stopped and "refused the credentials (invalid_client" in result.error
    connector = db.scalar(select(OemConnector).where(OemConnector.dealer_id == ar.id))
    assert connector.last_import_error == result.error and connector.last_import_at is not None
    assert sim.calls(seq) == [("token", 400, None)]
    again = import_leads(db, ar, redis)  # the next cron run: stopped at once, the OEM is not asked
    assert again.stopped and sim.calls(seq) == [("token", 400, None)]
    stops = db.scalars(select(AuditLog).where(AuditLog.action == "oem.import_stopped")).all()
    assert len(stops) == 1 and "wrong-secret" not in str(stops[0].data)
    log = db.scalars(select(OemCallLog).where(OemCallLog.kind == "token")).all()
    assert [c.status_code for c in log] == [400] and log[0].failed


def test_a_wrong_setting_stops_the_import_with_its_field(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim, page_size=0)
    result = import_leads(db, ar, redis)
    assert result.stopped and "page_size" in result.error


def test_an_address_off_the_operators_allow_list_stops_the_import_without_calling_it(db, dealers, sim, redis,
                                                                                      config):
    ar = dealers[0]
    connect(db, ar, sim)
    seq = sim.last_call()
    result = import_leads(db, ar, redis, config=replace(config, connector_allowed_hosts=("crm.example.com",)))
    assert result.stopped and result.error.startswith("a setting of the OEM connector is wrong")
    assert sim.calls(seq) == []
    assert import_leads(db, ar, redis, config=config).error == ""  # the operator allows it: it reads


@pytest.mark.parametrize("fault", ["rate_limit", "unavailable"])
def test_429_and_503_slow_the_import_down_and_raise_for_a_later_retry(db, dealers, sim, redis, fault):
    ar = dealers[0]
    connect(db, ar, sim)
    sim.faults(next=[f"{fault}@leads"], retry_after=60)
    with pytest.raises(RateLimited) as raised:
        import_leads(db, ar, redis)
    assert raised.value.retry_after >= 59
    db.expire_all()
    connector = db.scalar(select(OemConnector).where(OemConnector.dealer_id == ar.id))
    assert "slow down" in connector.last_import_error
    status = 429 if fault == "rate_limit" else 503
    assert [c.status_code for c in db.scalars(select(OemCallLog).where(OemCallLog.kind == "leads"))] == [status]
    # The next run within the minute waits its turn instead of calling the OEM again.
    seq = sim.last_call()
    with pytest.raises(RateLimited):
        import_leads(db, ar, redis)
    assert sim.calls(seq) == []


def test_an_oem_that_keeps_failing_is_raised_after_the_clients_retries_with_its_message(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    sim.faults(error_rate=1.0)
    with pytest.raises(Transient):
        import_leads(db, ar, redis)
    db.expire_all()
    connector = db.scalar(select(OemConnector).where(OemConnector.dealer_id == ar.id))
    assert "HTTP 500" in connector.last_import_error and connector.watermark is None
    sim.faults()
    assert import_leads(db, ar, redis).error == ""
    db.expire_all()
    assert connector.last_import_error == "" and connector.watermark is not None


def test_a_disabled_or_missing_connector_reads_nothing(db, dealers, sim, redis):
    ar = dealers[0]
    assert import_leads(db, ar, redis).skipped
    connector = connect(db, ar, sim)
    connector.enabled = False
    db.commit()
    seq = sim.last_call()
    assert import_leads(db, ar, redis).skipped and sim.calls(seq) == []


def test_the_board_shows_the_imported_lead(client, db, dealers, sim, redis, login_as):
    ar = dealers[0]
    connect(db, ar, sim)
    lead = _lead(sim, Description="Consulta por un ruido en el tren delantero")
    import_leads(db, ar, redis)
    login_as("caller", ar)
    page = client.get("/d/AR01/board/opportunities").get_data(as_text=True)
    assert "[Service] Consulta por un ruido en el tren delantero" in page
    assert datetime.now(UTC) - _row(db, ar, lead["Id"]).received_at < timedelta(minutes=5)
