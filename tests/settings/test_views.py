"""Settings over HTTP: who may open them, the discard-reason catalog (a reason in use is deactivated,
never deleted) and the dealer's own settings (422 with field messages)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from boxes.db import utcnow
from boxes.models import DiscardReason
from boxes.settings.discard_reasons import seed_defaults
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every


@pytest.fixture
def ar(db, dealers):
    seed_defaults(db, dealers[0])
    db.commit()
    return dealers[0]


def test_campaign_creators_may_work_the_board_but_not_settings(client, db, ar, login_as):
    d = factories.delivery(db, ar, utcnow() - timedelta(days=1))
    login_as("campaigns", ar)
    assert client.get(f"/d/{ar.code}/deliveries/{d.id}/call").status_code == 200
    assert client.get(f"/d/{ar.code}/settings/").status_code == 403


def test_manager_edits_the_discard_catalog(client, db, ar, login_as):
    login_as("manager", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/settings/")
    response = client.post(f"/d/{ar.code}/settings/discard-reasons", data={
        "csrf_token": token, "label_es": "Sin turno disponible", "label_pt_br": "Sem horário", "label_en": "No slot"})
    assert response.status_code == 303
    reason = db.scalar(select(DiscardReason).where(DiscardReason.label_en == "No slot"))
    client.post(f"/d/{ar.code}/settings/discard-reasons/{reason.id}", data={
        "csrf_token": token, "operation": "rename", "label_es": "Sin turnos", "label_pt_br": "Sem horário",
        "label_en": "No slot"})
    db.expire_all()
    assert db.get(DiscardReason, reason.id).label_es == "Sin turnos"
    # A reason in use cannot be deleted: 422 with the reason why; deactivating works.
    price = db.scalar(select(DiscardReason).where(DiscardReason.code == "price"))
    factories.opportunity(db, ar, utcnow(), status="discarded", discard_reason_id=price.id)
    refused = client.post(f"/d/{ar.code}/settings/discard-reasons/{price.id}",
                          data={"csrf_token": token, "operation": "delete"})
    assert refused.status_code == 422 and "desactivalo" in refused.get_data(as_text=True)
    client.post(f"/d/{ar.code}/settings/discard-reasons/{price.id}", data={"csrf_token": token,
                                                                         "operation": "deactivate"})
    db.expire_all()
    assert db.get(DiscardReason, price.id).active is False
    assert db.get(DiscardReason, price.id) is not None


def test_the_oem_reason_is_one_of_the_oems_list_or_none(client, db, ar, login_as):
    """Seed 001's "Motivo no CRM": a choice among the OEM's fixed lost-sale reasons, checked by the service;
    a value stored before the list was enforced is shown as it is, to be replaced."""
    from boxes.oem.api import LOST_SALE_REASONS

    login_as("manager", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/settings/")
    add = {"csrf_token": token, "label_es": "Compró en otro lado", "label_pt_br": "Comprou em outro lugar",
           "label_en": "Bought elsewhere"}
    refused = client.post(f"/d/{ar.code}/settings/discard-reasons", data={**add, "oem_reason": "Cheaper"})
    assert refused.status_code == 422 and every(refused, '[data-error="new_oem_reason"]')
    assert client.post(f"/d/{ar.code}/settings/discard-reasons",
                       data={**add, "oem_reason": "BoughtElsewhere"}).status_code == 303
    reason = db.scalar(select(DiscardReason).where(DiscardReason.label_en == "Bought elsewhere"))
    assert reason.oem_reason == "BoughtElsewhere"
    rename = {**add, "operation": "rename", "label_es": "Compró en otra concesionaria"}
    refused = client.post(f"/d/{ar.code}/settings/discard-reasons/{reason.id}", data={**rename, "oem_reason": "x"})
    assert refused.status_code == 422 and every(refused, f'[data-error="reason_{reason.id}_oem_reason"]')
    assert client.post(f"/d/{ar.code}/settings/discard-reasons/{reason.id}",
                       data={**rename, "oem_reason": ""}).status_code == 303
    db.expire_all()
    assert db.get(DiscardReason, reason.id).oem_reason is None

    reason.oem_reason = "precio alto"  # typed before the OEM's list was enforced
    db.commit()
    page = client.get(f"/d/{ar.code}/settings/")
    choices = every(page, f"#reason-{reason.id} select[name=oem_reason] option")
    assert [o["value"] for o in choices] == ["", *LOST_SALE_REASONS, "precio alto"]
    assert [o["value"] for o in choices if o.has_attr("selected")] == ["precio alto"]
    price = db.scalar(select(DiscardReason).where(DiscardReason.code == "price"))
    assert [o["value"] for o in every(page, f"#reason-{price.id} select[name=oem_reason] option[selected]")] == [
        "Price"]


def test_manager_updates_dealer_settings(client, db, ar, login_as):
    login_as("manager", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/settings/")
    data = {"csrf_token": token, "first_service_months": "12", "first_service_km": "15.000",
            "workshop_address": "Av. Siempreviva 742", "phone": "+54 11 5555-0000", "email": "taller@x.example",
            "support_contact": "", "works_0": "1", "open_0": "09:00", "close_0": "17:00"}
    assert client.post(f"/d/{ar.code}/settings/dealer", data=data).status_code == 303
    db.expire_all()
    dealer = db.get(type(ar), ar.id)
    assert (dealer.first_service_months, dealer.first_service_km) == (12, 15000)
    assert dealer.working_hours == {"0": ["09:00", "17:00"]}
    bad = client.post(f"/d/{ar.code}/settings/dealer", data={**data, "open_0": "18:00", "workshop_address": ""})
    assert bad.status_code == 422
    assert every(bad, '[data-error="hours_0"]')
    assert every(bad, '[data-error="workshop_address"]')


def test_caller_cannot_open_settings_or_users(client, ar, login_as):
    login_as("caller", ar)
    assert client.get(f"/d/{ar.code}/settings/").status_code == 403
    assert client.get(f"/d/{ar.code}/admin/users").status_code == 403
