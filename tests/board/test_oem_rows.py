"""An OEM lead's row on New opportunities (issue 14, items 3, 4 and 8): its type, the OEM's text and its id;
red, in words too, once the first-contact deadline passed without a first contact; its id a link to the
lead's integration log for those who may read it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from boxes.db import utcnow
from boxes.oem import board as oem_board
from tests import factories

# The new strings are not translated yet (the .po files are merged later): the pages are read in English.
from tests.html import every, one, text


@pytest.fixture
def leads(db, dealers):
    """Dealer A's leads on the board: a service lead past its deadline, never contacted (in the queue); an
    after-sales lead as late but contacted; one still within its deadline; and a plain opportunity."""
    ar, br = dealers
    ana = factories.user(db, role="caller", dealer=ar, name="Ana Caller")
    now = utcnow()
    overdue = factories.oem_lead(db, ar, text="Cliente pide revisión de 10.000 km", lead_id="00Q000000000000AAA",
                                 received_at=now - timedelta(hours=30), first_contact_due=now - timedelta(hours=6),
                                 name="Olga Overdue")
    contacted = factories.oem_lead(db, ar, lead_type="AfterSales", text="Quiere cotizar alfombras",
                                   received_at=now - timedelta(hours=30), first_contact_due=now - timedelta(hours=6),
                                   first_contact_at=now - timedelta(hours=2), assigned_user_id=ana.id,
                                   name="Carla Contacted")
    in_time = factories.oem_lead(db, ar, text="Ruido en el freno", received_at=now - timedelta(hours=1),
                                 first_contact_due=now + timedelta(hours=23), assigned_user_id=ana.id,
                                 name="Tina InTime")
    plain = factories.opportunity(db, ar, now + timedelta(hours=2), name="Pablo Plain", note="Llamar por el service")
    factories.oem_lead(db, br, text="Bravo lead text", received_at=now - timedelta(hours=30),
                       first_contact_due=now - timedelta(hours=6), name="Bravo Lead")
    return ar, {"overdue": overdue, "contacted": contacted, "in_time": in_time}, plain


def _row(html, lead):
    return one(html, f"#opportunity-{lead.opportunity_id}")


def test_a_lead_row_shows_its_type_text_and_id_and_the_overdue_mark_in_words(client, login_as, leads):
    ar, rows, plain = leads
    login_as("caller", ar, locale="en")
    html = client.get(f"/d/{ar.code}/board/opportunities").get_data(as_text=True)

    overdue = _row(html, rows["overdue"])
    assert "table-danger" in overdue["class"] and overdue["data-first-contact"] == "overdue"
    assert "First contact overdue" in text(overdue.select_one("td.due"))  # not the colour alone
    assert text(overdue.select_one("[data-lead-type]")) == "Service · 00Q000000000000AAA"
    assert text(overdue.select_one("[data-lead-holder]")) == "In the distribution queue"
    assert "Cliente pide revisión de 10.000 km" in text(overdue)
    assert not overdue.select("[data-lead-log]")  # a caller does not read the integration log

    for key in ("contacted", "in_time"):  # contacted (late or not), or still within the deadline
        row = _row(html, rows[key])
        assert "table-danger" not in row["class"] and not row.has_attr("data-first-contact")
        assert "First contact overdue" not in text(row)
        assert text(row.select_one("[data-lead-holder]")) == "Ana Caller"
    assert text(_row(html, rows["contacted"]).select_one("[data-lead-type]")).startswith("After-sales · 00Q")
    # The OEM's text once, even when it is the opportunity's note (as the import writes it).
    assert text(_row(html, rows["in_time"])).count("Ruido en el freno") == 1
    assert not every(one(html, f"#opportunity-{plain.id}"), "[data-lead-type], [data-lead-holder]")
    assert "Bravo lead text" not in html
    assert len(every(html, "[data-first-contact=overdue]")) == 1


def test_a_first_call_takes_the_overdue_mark_off_the_row_it_sends_back(client, db, login_as, leads):
    from tests.conftest import csrf_token_of

    ar, rows, _ = leads
    login_as("caller", ar, locale="en")
    token = csrf_token_of(client, f"/d/{ar.code}/board/opportunities")
    opp_id = rows["overdue"].opportunity_id
    response = client.post(f"/d/{ar.code}/opportunities/{opp_id}/call", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "channel": "phone", "outcome": "no_answer"})
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    row = one(response, f"#opportunity-{opp_id}")
    assert "table-danger" not in row["class"] and "First contact overdue" not in text(row)
    db.expire_all()
    assert db.get(type(rows["overdue"]), rows["overdue"].id).first_contact_at is not None


def test_overdue_is_past_the_deadline_without_a_first_contact():
    now = utcnow()
    assert oem_board.first_contact_overdue(now - timedelta(seconds=1), None, now)
    assert not oem_board.first_contact_overdue(now, None, now)  # due this instant: not yet past
    assert not oem_board.first_contact_overdue(now - timedelta(hours=1), now - timedelta(hours=2), now)
    assert not oem_board.first_contact_overdue(None, None, now)  # no deadline (not a board lead)


def test_a_discarded_leads_row_is_never_red(client, db, login_as, leads):
    from sqlalchemy import select

    from boxes.models import DiscardReason
    from boxes.settings.discard_reasons import seed_defaults
    from tests.conftest import csrf_token_of

    ar, rows, _ = leads
    seed_defaults(db, ar)
    db.commit()
    price = db.scalar(select(DiscardReason).where(DiscardReason.dealer_id == ar.id, DiscardReason.code == "price"))
    login_as("caller", ar, locale="en")
    token = csrf_token_of(client, f"/d/{ar.code}/board/opportunities")
    opp_id = rows["overdue"].opportunity_id
    response = client.post(f"/d/{ar.code}/opportunities/{opp_id}/discard", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "reason_id": price.id})
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    row = one(response, f"#opportunity-{opp_id}")
    assert row["data-status"] == "discarded" and "table-danger" not in row["class"]
    assert not row.has_attr("data-first-contact")


def test_the_lead_id_links_to_its_integration_log_for_those_who_read_the_log(client, login_as, leads):
    ar, rows, _ = leads
    lead_id = rows["overdue"].lead_id
    for role in ("admin", "manager"):  # boxes.oem.log.LOG_ROLES, admins always
        login_as(role, ar, locale="en")
        html = client.get(f"/d/{ar.code}/board/opportunities").get_data(as_text=True)
        link = one(_row(html, rows["overdue"]), "[data-lead-log]")
        assert link["href"] == f"/d/{ar.code}/admin/integrations/oem/log?lead={lead_id}", role
        assert text(link) == lead_id and link["title"]
        assert client.get(link["href"]).status_code == 200  # the log itself opens for them
    login_as("caller", ar, locale="en")
    html = client.get(f"/d/{ar.code}/board/opportunities").get_data(as_text=True)
    assert not every(html, "[data-lead-log]")
    assert text(one(_row(html, rows["overdue"]), "[data-lead-id]")) == lead_id
