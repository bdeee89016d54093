"""The campaign manager's services: search, selection, campaign creation and processing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from boxes.campaigns import search, service
from boxes.campaigns.selection import Searches
from boxes.db import utcnow
from boxes.errors import ActionError, NotFound
from boxes.identifiers import with_check_digit
from boxes.models import AuditLog, Campaign, CampaignUnit, Opportunity
from tests import factories

VIN_A = "1HGCM82633A004352"


def _units(db, dealer, n, **kw):
    out = []
    for i in range(n):
        c = factories.customer(db, dealer, name=f"Dueño {i}")
        out.append(factories.vehicle(db, dealer, c, **{k: (v(i) if callable(v) else v) for k, v in kw.items()}))
    return out


def _tomorrow(dealer) -> date:
    return utcnow().astimezone(ZoneInfo(dealer.time_zone)).date() + timedelta(days=1)


def test_search_by_criteria(db, dealers):
    ar, br = dealers
    onix = _units(db, ar, 3, model="Onix", model_year=lambda i: 2019 + i, sold_on=lambda i: date(2020 + i, 5, 1))
    cruze = _units(db, ar, 2, model="Cruze", model_year=2021)
    _units(db, br, 2, model="Onix", plate=lambda i: f"ABC1D2{i}")
    ids = lambda c: set(search.matching_ids(db, ar, c))  # noqa: E731
    assert ids(search.Criteria(model="onix")) == {v.id for v in onix}
    assert ids(search.Criteria(year_from=2020, year_to=2021)) == {onix[1].id, onix[2].id} | {v.id for v in cruze}
    assert ids(search.Criteria(model="Onix", sold_from="2021-01-01", sold_to="2021-12-31")) == {onix[1].id}
    # Last service before a date: no repair order opened on or after it.
    factories.repair_order(db, ar, datetime(2026, 1, 10, 12, tzinfo=ZoneInfo("UTC")), vehicle_id=onix[0].id,
                           customer_id=onix[0].customer_id)
    factories.repair_order(db, ar, datetime(2025, 1, 10, 12, tzinfo=ZoneInfo("UTC")), vehicle_id=onix[1].id,
                           customer_id=onix[1].customer_id)
    assert ids(search.Criteria(model="Onix", serviced_before="2025-06-01")) == {onix[1].id, onix[2].id}
    # With / without an open opportunity.
    factories.opportunity(db, ar, utcnow() + timedelta(days=3), customer_id=onix[2].customer_id,
                          vehicle_id=onix[2].id)
    assert ids(search.Criteria(model="Onix", open_opportunity="with")) == {onix[2].id}
    assert ids(search.Criteria(model="Onix", open_opportunity="without")) == {onix[0].id, onix[1].id}
    assert search.count(db, ar, search.Criteria()) == 5


def test_pasted_plates_list_invalid_and_not_found(db, dealers):
    ar, br = dealers
    cars = _units(db, ar, 3, plate=lambda i: ["AB123CD", "ABC123", "AA999ZZ"][i])
    _units(db, br, 1, plate="AC555DD")
    text = "ab 123 cd\nABC-123, abc123; ZZ999ZZ\nAC555DD\nABC1D23\nnot-a-plate"
    ids, report = search.resolve_list(db, ar, "plate", text)
    assert set(ids) == {cars[0].id, cars[1].id}
    assert report.found == 2 and report.duplicates == 1
    assert report.not_found == ["ZZ999ZZ", "AC555DD"]  # another dealer's plate is not found here
    assert dict(report.invalid) == {"ABC1D23": "other_country", "NOTAPLATE": "format"}


def test_pasted_brazilian_plate_finds_its_mercosur_twin(db, dealers):
    _, br = dealers
    car = _units(db, br, 1, plate="ABC1C34")[0]
    ids, report = search.resolve_list(db, br, "plate", "abc-1234")
    assert ids == [car.id] and report.not_found == []


def test_pasted_vins_with_warning(db, dealers):
    ar, _ = dealers
    car = _units(db, ar, 1, vin=VIN_A)[0]
    # A Brazilian VIN whose check digit does not match: valid, the mismatch only a warning. (Built
    # wrong on purpose: a factory VIN's check digit matches or not depending on its counter.)
    good = with_check_digit("8AGTEST0000012345")
    br_style = _units(db, ar, 1, vin=good[:8] + ("1" if good[8] != "1" else "2") + good[9:])[0]
    ids, report = search.resolve_list(db, ar, "vin", f"{VIN_A.lower()}\n{br_style.vin}\n1HGCM82633AO04352\n9BWZZZ")
    assert set(ids) == {car.id, br_style.id}
    assert [e for e, _ in report.warnings] == [br_style.vin]
    assert dict(report.invalid) == {"1HGCM82633AO04352": "forbidden_letter", "9BWZZZ": "length"}


def test_selection_survives_and_is_per_user(redis):
    a, b = Searches(redis, 1, 10), Searches(redis, 1, 11)
    sid = a.save(search.Criteria(model="Onix"), None)
    a.select(sid, [1, 2, 3])
    a.select(sid, [2], on=False)
    assert a.selected(sid) == {1, 3} and a.selected_count(sid) == 2
    assert a.load(sid)[0].model == "Onix"
    assert b.load(sid) is None and b.selected(sid) == set()
    assert a.load("../x") is None


def _create(db, dealer, actor, units, **kw):
    args = dict(name="Recall airbag", kind="recall", due_date=_tomorrow(dealer).isoformat(), assignment="round_robin",
                note="Cambiar el airbag", vehicle_ids=[u.id for u in units])
    args.update(kw)
    return service.create_campaign(db, dealer, actor, **args)


def _two_callers(db, dealer):
    """Two callers of the dealer, in the order a round-robin campaign deals them its opportunities (by name)."""
    return (factories.user(db, role="caller", dealer=dealer, name="A caller"),
            factories.user(db, role="caller", dealer=dealer, name="B caller"))


def _opportunities_of(db, campaign) -> list[Opportunity]:
    """The campaign's opportunities, in the order of their vehicles."""
    return db.scalars(select(Opportunity).where(Opportunity.campaign_id == campaign.id)
                      .order_by(Opportunity.vehicle_id)).all()


def test_create_validates_and_writes_nothing_on_error(db, dealers):
    ar, br = dealers
    actor = factories.user(db, role="campaigns", dealer=ar)
    units = _units(db, ar, 2)
    other = _units(db, br, 1)
    yesterday = (_tomorrow(ar) - timedelta(days=2)).isoformat()
    with pytest.raises(ActionError) as exc:
        _create(db, ar, actor, [], name=" ", kind="nope", due_date=yesterday, assignment="round_robin", note="x" * 2001)
    assert set(exc.value.errors) == {"name", "kind", "due_date", "note", "assignment", "selection"}
    db.rollback()
    with pytest.raises(ActionError) as exc:
        _create(db, ar, actor, other, assignment="one", assigned_user_id="999", due_date="31/12/2030")
    assert set(exc.value.errors) == {"assigned_user_id", "selection", "due_date"}  # B's units are not A's
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Campaign)) == 0
    assert db.scalar(select(func.count()).select_from(CampaignUnit)) == 0
    del units


def test_process_round_robin_once_per_unit_and_rerun(db, dealers):
    ar, _ = dealers
    actor = factories.user(db, role="campaigns", dealer=ar)
    c1, c2 = _two_callers(db, ar)
    units = _units(db, ar, 7)
    campaign = _create(db, ar, actor, units)
    assert campaign.units_total == 7 and campaign.status == "draft"
    done = service.process(db, campaign.id, batch=3)
    assert (done.status, done.units_processed, done.opportunities_created) == ("done", 7, 7)
    opps = _opportunities_of(db, campaign)
    assert [o.vehicle_id for o in opps] == [u.id for u in units]
    assert [o.assigned_user_id for o in opps] == [c1.id, c2.id] * 3 + [c1.id]
    assert all(o.origin == "campaign" and o.status == "open" and o.note == "Cambiar el airbag" for o in opps)
    assert all(o.customer_id == u.customer_id for o, u in zip(opps, units, strict=True))
    local_due = opps[0].due_at.astimezone(ZoneInfo(ar.time_zone))
    assert (local_due.date(), local_due.hour) == (_tomorrow(ar), 9)
    # Re-running changes nothing.
    campaign.status, campaign.units_processed = "processing", 0
    db.commit()
    again = service.process(db, campaign.id, batch=2)
    assert again.opportunities_created == 7
    assert db.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.campaign_id == campaign.id)) == 7
    actions = set(db.scalars(select(AuditLog.action).where(AuditLog.entity == "campaign")))
    assert {"campaign.create", "campaign.processed"} <= actions


def test_unit_with_open_opportunity_of_the_campaign_is_skipped(db, dealers):
    ar, _ = dealers
    actor = factories.user(db, role="campaigns", dealer=ar)
    units = _units(db, ar, 3)
    campaign = _create(db, ar, actor, units, assignment="one", assigned_user_id=str(actor.id))
    factories.opportunity(db, ar, utcnow() + timedelta(days=2), origin="campaign", campaign_id=campaign.id,
                          customer_id=units[1].customer_id, vehicle_id=units[1].id)
    service.process(db, campaign.id)
    counts = dict(db.execute(select(Opportunity.vehicle_id, func.count()).where(
        Opportunity.campaign_id == campaign.id).group_by(Opportunity.vehicle_id)).all())
    assert counts == {u.id: 1 for u in units}
    assert db.get(Campaign, campaign.id).opportunities_created == 2


def test_database_refuses_a_duplicate_open_campaign_opportunity(db, dealers):
    ar, _ = dealers
    camp = factories.campaign(db, ar)
    car = _units(db, ar, 1)[0]
    due = utcnow() + timedelta(days=2)
    factories.opportunity(db, ar, due, origin="campaign", campaign_id=camp.id, customer_id=car.customer_id,
                          vehicle_id=car.id)
    with pytest.raises(IntegrityError):
        factories.opportunity(db, ar, due, origin="campaign", campaign_id=camp.id, customer_id=car.customer_id,
                              vehicle_id=car.id)
    db.rollback()
    # A closed one does not block a new open one.
    factories.opportunity(db, ar, due, origin="campaign", campaign_id=camp.id, customer_id=car.customer_id,
                          vehicle_id=car.id, status="sold")


def test_resume_after_partial_run(db, dealers):
    """A crash after some batches committed: the re-run resumes, each unit exactly once."""
    ar, _ = dealers
    actor = factories.user(db, role="campaigns", dealer=ar)
    units = _units(db, ar, 5)
    campaign = _create(db, ar, actor, units, assignment="one", assigned_user_id=str(actor.id))
    calls = []

    def crash(done, total):
        calls.append(done)
        if done >= 2:
            raise RuntimeError("worker died")

    with pytest.raises(RuntimeError):
        service.process(db, campaign.id, batch=2, progress=crash)
    db.rollback()
    assert db.get(Campaign, campaign.id).units_processed == 2
    service.process(db, campaign.id, batch=2)
    vehicle_ids = db.scalars(select(Opportunity.vehicle_id).where(Opportunity.campaign_id == campaign.id)).all()
    assert sorted(vehicle_ids) == sorted(u.id for u in units)


def test_campaign_list_counts(db, dealers):
    ar, _ = dealers
    actor = factories.user(db, role="campaigns", dealer=ar)
    campaign = _create(db, ar, actor, _units(db, ar, 3), assignment="one", assigned_user_id=str(actor.id))
    service.process(db, campaign.id)
    opp = db.scalars(select(Opportunity).where(Opportunity.campaign_id == campaign.id)).first()
    opp.status = "sold"
    db.commit()
    row = service.campaigns(db, ar).rows[0]
    assert (row.total, row.open, row.sold, row.discarded) == (3, 2, 1, 0)


def test_search_text_criteria_ignore_case_and_accents(db, dealers):
    ar, _ = dealers
    citroen = _units(db, ar, 1, brand="Citroën", model="Ë-C4", version="Feel Pack")[0]
    _units(db, ar, 1, brand="Chevrolet", model="Onix")
    for typed in ("citroen", "CITROËN", "citroën", "Citroen"):
        assert search.matching_ids(db, ar, search.Criteria(brand=typed)) == [citroen.id]
    assert search.matching_ids(db, ar, search.Criteria(model="e-c4", version="PACK")) == [citroen.id]


def test_an_open_campaign_name_is_unique_per_dealer(db, dealers):
    """Processing the same units again under the same name made a second campaign and a second open
    opportunity per car. Now the name of an open campaign is taken (case, accents and spaces aside);
    another dealer, or a campaign whose opportunities are all closed, does not hold it."""
    ar, br = dealers
    actor = factories.user(db, role="campaigns", dealer=ar)
    units = _units(db, ar, 2)
    first = _create(db, ar, actor, units, name="Recall airbag", assignment="one", assigned_user_id=str(actor.id))
    service.process(db, first.id)
    for again in ("Recall airbag", " recall  AIRBÁG "):
        with pytest.raises(ActionError) as exc:
            _create(db, ar, actor, units, name=again, assignment="one", assigned_user_id=str(actor.id))
        assert set(exc.value.errors) == {"name"}
        db.rollback()
    assert db.scalar(select(func.count()).select_from(Campaign).where(Campaign.dealer_id == ar.id)) == 1
    b_actor = factories.user(db, role="campaigns", dealer=br)
    _create(db, br, b_actor, _units(db, br, 1, plate="ABC1D23"), name="Recall airbag", assignment="one",
            assigned_user_id=str(b_actor.id))  # another dealer's name
    for opp in db.scalars(select(Opportunity).where(Opportunity.campaign_id == first.id)):
        opp.status = "sold"
    db.commit()
    again = _create(db, ar, actor, units, name="Recall airbag", assignment="one", assigned_user_id=str(actor.id))
    assert again.id != first.id  # every opportunity of the first one is closed: the name is free


def test_add_units_to_an_existing_campaign(db, dealers):
    ar, br = dealers
    actor = factories.user(db, role="campaigns", dealer=ar)
    c1, c2 = _two_callers(db, ar)
    units = _units(db, ar, 5)
    campaign = _create(db, ar, actor, units[:3])
    service.process(db, campaign.id)
    # Two new units and one already in the campaign: only the new ones get an opportunity.
    added = service.add_units(db, ar, actor, campaign.id, [u.id for u in units[2:]])
    assert added.id == campaign.id and added.units_total == 6 and added.status == "draft"
    done = service.process(db, campaign.id)
    assert (done.units_processed, done.opportunities_created) == (6, 5)
    opps = _opportunities_of(db, campaign)
    assert [o.vehicle_id for o in opps] == [u.id for u in units]
    assert {o.assigned_user_id for o in opps} == {c1.id, c2.id}  # round-robin goes on
    assert all(o.due_at == campaign.due_at and o.note == "Cambiar el airbag" for o in opps)
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "campaign.add_units")) == 1
    with pytest.raises(ActionError) as exc:  # nothing selected
        service.add_units(db, ar, actor, campaign.id, [])
    assert set(exc.value.errors) == {"selection"}
    db.rollback()
    with pytest.raises(NotFound):  # another dealer's campaign
        service.add_units(db, br, factories.user(db, role="campaigns", dealer=br), campaign.id,
                          [_units(db, br, 1, plate="ABC1D24")[0].id])
    db.rollback()
    with pytest.raises(ActionError) as exc:  # another dealer's units are not this dealer's
        service.add_units(db, ar, actor, campaign.id, [_units(db, br, 1, plate="ABC1D25")[0].id])
    assert set(exc.value.errors) == {"selection"}


def test_search_shows_the_campaign_of_an_open_opportunity(db, dealers):
    ar, _ = dealers
    actor = factories.user(db, role="campaigns", dealer=ar)
    units = _units(db, ar, 2, model="Cruze")
    campaign = _create(db, ar, actor, units[:1], name="Nota técnica 12", assignment="one",
                       assigned_user_id=str(actor.id))
    service.process(db, campaign.id)
    rows = {row.Vehicle.id: row for row in search.page(db, ar, search.Criteria(model="cruze"), page=1, per_page=10)}
    assert rows[units[0].id].campaign == "Nota técnica 12" and rows[units[1].id].campaign is None


def test_every_unit_of_the_dealer_needs_a_confirmation(db, dealers):
    ar, _ = dealers
    actor = factories.user(db, role="campaigns", dealer=ar)
    units = _units(db, ar, 3)
    assert search.Criteria().is_empty() and not search.Criteria(model="x").is_empty()
    assert not search.Criteria(vehicle_ids=[]).is_empty() and not search.Criteria(open_opportunity="with").is_empty()
    one = dict(assignment="one", assigned_user_id=str(actor.id))
    with pytest.raises(ActionError) as exc:
        _create(db, ar, actor, units, every_unit_confirmed=False, **one)
    assert set(exc.value.errors) == {"confirm_all"}
    db.rollback()
    assert _create(db, ar, actor, units, every_unit_confirmed=True, **one).units_total == 3


def test_a_campaign_lists_its_own_opportunities_whatever_their_due_date(db, dealers):
    ar, _ = dealers
    actor = factories.user(db, role="campaigns", dealer=ar)
    units = _units(db, ar, 3)
    far = (_tomorrow(ar) + timedelta(days=60)).isoformat()
    campaign = _create(db, ar, actor, units, due_date=far, assignment="one", assigned_user_id=str(actor.id))
    service.process(db, campaign.id)
    page = service.campaign_opportunities(db, ar, campaign, page=1, per_page=2)
    assert page.total == 3 and len(page.rows) == 2
    assert {row.Opportunity.campaign_id for row in page.rows} == {campaign.id}
