"""The distribution queue (boxes/oem/queue.py, its page boxes/oem/queue_views.py): the OEM leads in nobody's
hands, handed out by a manager to one caller or round-robin, nobody past the cap; version-checked, audited,
and nothing of another dealer's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from boxes.db import utcnow
from boxes.errors import ActionError, Conflict, NotFound
from boxes.models import AuditLog, OemConnector, OemLead, Opportunity, User
from boxes.oem import queue
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every, one, text


@pytest.fixture
def world(db, dealers):
    """Dealer A: callers Ana (holds one open lead) and Beto, an inactive caller and a manager; a cap of 2; four
    queued leads received an hour apart (the oldest first), a lead Ana holds, a closed one and a plain
    opportunity. Dealer B: a queued lead and a caller."""
    ar, br = dealers
    db.add(OemConnector(dealer_id=ar.id, open_leads_cap=2))
    db.commit()
    ana = factories.user(db, role="caller", dealer=ar, name="Ana Caller")
    beto = factories.user(db, role="caller", dealer=ar, name="Beto Caller")
    gone = factories.user(db, role="caller", dealer=ar, name="Gone Caller")
    gone.active = False
    manager = factories.user(db, role="manager", dealer=ar, name="Mara Manager")
    now = utcnow()
    queued = [factories.oem_lead(db, ar, lead_type=("Service", "AfterSales")[i % 2], text=f"Lead text {i}",
                                 received_at=now - timedelta(hours=10 - i), name=f"Queued {i}") for i in range(4)]
    held = factories.oem_lead(db, ar, received_at=now - timedelta(hours=20), assigned_user_id=ana.id, name="Held")
    closed = factories.oem_lead(db, ar, received_at=now - timedelta(hours=30), status="sold", name="Closed")
    plain = factories.opportunity(db, ar, now + timedelta(hours=1), name="Plain")
    b_lead = factories.oem_lead(db, br, text="Bravo lead", received_at=now - timedelta(hours=40), name="Bravo Queued")
    b_caller = factories.user(db, role="caller", dealer=br, name="Bravo Caller")
    return dict(ar=ar, br=br, ana=ana, beto=beto, gone=gone, manager=manager, queued=queued, held=held,
                closed=closed, plain=plain, b_lead=b_lead, b_caller=b_caller)


def _opp(db, lead) -> Opportunity:
    return db.get(Opportunity, lead.opportunity_id)


def _seen(db, *leads) -> list[tuple[int, int]]:
    """What a manager ticks: each lead's opportunity and the version the page showed."""
    return [(_opp(db, lead).id, _opp(db, lead).version) for lead in leads]


def _holders(db, leads) -> list[int | None]:
    db.expire_all()
    out = []
    for lead in leads:
        opp, row = _opp(db, lead), db.get(OemLead, lead.id)
        assert opp.assigned_user_id == row.assigned_user_id  # the opportunity and its lead agree
        out.append(opp.assigned_user_id)
    return out


def test_the_queue_is_the_dealers_open_leads_in_nobodys_hands_oldest_first(db, world):
    page = queue.queue(db, world["ar"])
    assert [row.Opportunity.id for row in page.rows] == [lead.opportunity_id for lead in world["queued"]]
    assert page.total == 4
    first = page.rows[0]
    assert (first.lead_type, first.lead_text, first.customer) == ("Service", "Lead text 0", "Queued 0")
    assert first.lead_received_at == world["queued"][0].received_at
    assert first.lead_due == world["queued"][0].first_contact_due
    assert [(c.name, c.holds) for c in queue.caller_loads(db, world["ar"])] == [("Ana Caller", 1), ("Beto Caller", 0)]
    assert queue.open_leads_cap(db, world["ar"]) == 2 and queue.open_leads_cap(db, world["br"]) == queue.DEFAULT_CAP


def test_round_robin_starts_with_the_least_busy_and_stops_at_the_cap(db, world):
    ar, ana, beto, leads = world["ar"], world["ana"], world["beto"], world["queued"]
    done = queue.distribute(db, ar, world["manager"], _seen(db, *leads), how="round_robin")
    # Beto (0) first, then Ana (1): Beto, Ana, Beto; Ana and Beto are both at 2, the cap: the newest stays.
    assert _holders(db, leads) == [beto.id, ana.id, beto.id, None]
    assert [(c.name, c.given) for c in done.given] == [("Ana Caller", 1), ("Beto Caller", 2)]
    assert (done.total, done.left, done.cap) == (3, 1, 2)
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "oem_lead.distribute").order_by(AuditLog.id)).all()
    assert [(a.entity_id, a.user_id, a.data["assigned_user_id"], a.data["how"]) for a in audit] == [
        (leads[0].opportunity_id, world["manager"].id, beto.id, "round_robin"),
        (leads[1].opportunity_id, world["manager"].id, ana.id, "round_robin"),
        (leads[2].opportunity_id, world["manager"].id, beto.id, "round_robin")]
    assert audit[0].data["lead_id"] == leads[0].lead_id
    assert [row.Opportunity.id for row in queue.queue(db, ar).rows] == [leads[3].opportunity_id]
    # Everybody full: the lead stays, and the manager is told.
    again = queue.distribute(db, ar, world["manager"], _seen(db, leads[3]), how="round_robin")
    assert (again.total, again.left) == (0, 1) and _holders(db, leads)[3] is None


def test_round_robin_takes_turns_when_there_is_room(db, world):
    ar, ana, beto, leads = world["ar"], world["ana"], world["beto"], world["queued"]
    db.scalar(select(OemConnector).where(OemConnector.dealer_id == ar.id)).open_leads_cap = 10
    db.commit()
    queue.distribute(db, ar, world["manager"], _seen(db, *leads), how="round_robin")
    assert _holders(db, leads) == [beto.id, ana.id, beto.id, ana.id]


def test_assign_to_one_caller_up_to_the_cap(db, world):
    ar, ana, leads = world["ar"], world["ana"], world["queued"]
    done = queue.distribute(db, ar, world["manager"], _seen(db, leads[2], leads[0], leads[1]), how="assign",
                            user_id=ana.id)
    assert _holders(db, leads) == [ana.id, None, None, None]  # the oldest chosen first; Ana holds 2 now
    assert (done.total, done.left) == (1, 2)
    done = queue.distribute(db, ar, world["manager"], _seen(db, leads[3]), how="assign", user_id=world["beto"].id)
    assert _holders(db, leads)[3] == world["beto"].id and done.left == 0


@pytest.mark.parametrize("who", ["gone", "manager", "b_caller", None, "nobody"])
def test_only_an_active_caller_of_the_dealer_is_assigned_leads(db, world, who):
    user_id = {"nobody": 999_999, None: None}.get(who) or (world[who].id if who else None)
    with pytest.raises(ActionError) as refused:
        queue.distribute(db, world["ar"], world["manager"], _seen(db, world["queued"][0]), how="assign",
                         user_id=user_id)
    assert set(refused.value.errors) == {"user_id"}
    db.rollback()
    assert _holders(db, world["queued"]) == [None] * 4


def test_what_cannot_be_handed_out(db, world):
    ar, manager, leads = world["ar"], world["manager"], world["queued"]
    with pytest.raises(ActionError) as refused:
        queue.distribute(db, ar, manager, [], how="round_robin")
    assert set(refused.value.errors) == {"selection"}
    db.rollback()
    with pytest.raises(ActionError) as refused:
        queue.distribute(db, ar, manager, _seen(db, leads[0]), how="everyone")
    assert set(refused.value.errors) == {"how"}
    db.rollback()
    for taken in ("held", "closed"):  # not (or no longer) in the queue, although the version is the one seen
        with pytest.raises(ActionError):
            queue.distribute(db, ar, manager, _seen(db, leads[0], world[taken]), how="round_robin")
        db.rollback()
    # Another dealer's lead, a plain opportunity, an id of nothing: not found, whatever else is sent.
    for other in ([(_opp(db, world["b_lead"]).id, 1)], [(world["plain"].id, world["plain"].version)], [(0, 1)]):
        with pytest.raises(NotFound):
            queue.distribute(db, ar, manager, _seen(db, leads[0]) + other, how="everyone")
        db.rollback()
    for who in ("gone", "b_caller"):  # no caller of the dealer left to share among
        db.get(User, world[who].id).active = False
    for caller in ("ana", "beto"):
        db.get(User, world[caller].id).active = False
    db.commit()
    with pytest.raises(ActionError) as refused:
        queue.distribute(db, ar, manager, _seen(db, leads[0]), how="round_robin")
    assert set(refused.value.errors) == {"how"}
    db.rollback()
    assert _holders(db, leads) == [None] * 4
    assert db.scalar(select(AuditLog.id).where(AuditLog.action == "oem_lead.distribute")) is None


def test_a_lead_changed_since_the_page_was_shown_is_a_conflict_and_nothing_is_handed_out(db, world):
    ar, leads = world["ar"], world["queued"]
    seen = _seen(db, *leads[:2])
    opp = _opp(db, leads[1])
    opp.note = "replanned by a caller meanwhile"
    db.commit()
    with pytest.raises(Conflict):
        queue.distribute(db, ar, world["manager"], seen, how="round_robin")
    db.rollback()
    assert _holders(db, leads) == [None] * 4


def test_two_managers_distributing_the_same_lead_one_gets_a_conflict(db, world):
    """The version the second manager saw is gone once the first one handed the lead out."""
    ar, leads = world["ar"], world["queued"]
    seen = _seen(db, leads[0])
    queue.distribute(db, ar, world["manager"], seen, how="assign", user_id=world["ana"].id)
    with pytest.raises(Conflict):
        queue.distribute(db, ar, world["manager"], seen, how="assign", user_id=world["beto"].id)
    db.rollback()
    assert _holders(db, leads)[0] == world["ana"].id


# --- the page -------------------------------------------------------------------------------------------

URL = "/d/{}/leads/queue"


def _ticked(db, *leads) -> list[str]:
    return [f"{opp_id}:{version}" for opp_id, version in _seen(db, *leads)]


def test_the_page_is_a_managers(client, db, world, login_as):
    ar = world["ar"]
    login_as("caller", ar, user=world["ana"])
    assert client.get(URL.format(ar.code)).status_code == 403
    assert not every(client.get(f"/d/{ar.code}/board/opportunities"), "#lead-queue-link")
    login_as("manager", ar, locale="en")
    board = client.get(f"/d/{ar.code}/board/opportunities")
    assert one(board, "#lead-queue-link")["href"] == URL.format(ar.code)
    html = client.get(URL.format(ar.code)).get_data(as_text=True)
    rows = every(html, "#lead-queue tr[data-row]")
    assert [r["id"] for r in rows] == [f"queued-{lead.opportunity_id}" for lead in world["queued"]]
    assert "Lead text 0" in text(rows[0]) and "After-sales" in text(rows[1]) and "Queued 0" in text(rows[0])
    assert one(rows[0], "input[name=leads]")["value"] == _ticked(db, world["queued"][0])[0]
    assert [o.get_text(strip=True) for o in every(html, "#queue-user option")][1:] == ["Ana Caller (1/2)",
                                                                                       "Beto Caller (0/2)"]
    assert "Bravo" not in html and "Held" not in html and "Plain" not in html
    fragment = client.get(URL.format(ar.code) + "?page=1", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and not every(fragment, "html") and one(fragment, "#lead-queue")


def test_an_overdue_lead_is_red_in_the_queue_too(client, db, world, login_as):
    ar, lead = world["ar"], world["queued"][0]
    db.get(OemLead, lead.id).first_contact_due = utcnow() - timedelta(minutes=1)
    db.commit()
    login_as("manager", ar, locale="en")
    row = one(client.get(URL.format(ar.code)), f"#queued-{lead.opportunity_id}")
    assert "table-danger" in row["class"] and "First contact overdue" in text(row)


def test_distributing_from_the_page(client, db, world, login_as):
    ar, leads = world["ar"], world["queued"]
    login_as("manager", ar, locale="en")
    token = csrf_token_of(client, URL.format(ar.code))
    data = {"csrf_token": token, "leads": _ticked(db, *leads), "how": "round_robin"}
    assert client.post(URL.format(ar.code), data={**data, "csrf_token": "forged"}).status_code == 400
    response = client.post(URL.format(ar.code), data=data)
    assert response.status_code == 303 and response.headers["Location"].endswith(URL.format(ar.code))
    page = client.get(URL.format(ar.code)).get_data(as_text=True)
    told = text(one(page, ".alert"))
    assert "3 leads handed out: Ana Caller (1), Beto Caller (2)." in told
    assert "1 lead stayed in the queue: no caller has room under the cap of 2 open OEM leads." in told
    assert _holders(db, leads) == [world["beto"].id, world["ana"].id, world["beto"].id, None]
    assert [r["id"] for r in every(page, "#lead-queue tr[data-row]")] == [f"queued-{leads[3].opportunity_id}"]


def test_the_page_answers_422_409_and_404(client, db, world, login_as):
    ar, leads = world["ar"], world["queued"]
    login_as("manager", ar, locale="en")
    token = csrf_token_of(client, URL.format(ar.code))
    ticked = _ticked(db, *leads[:2])
    # No caller chosen: 422 beside the caller's field, the leads still ticked.
    refused = client.post(URL.format(ar.code), data={"csrf_token": token, "leads": ticked, "how": "assign"})
    assert refused.status_code == 422 and one(refused, '[data-error="user_id"]')
    assert [i["value"] for i in every(refused, "input[name=leads][checked]")] == ticked
    refused = client.post(URL.format(ar.code), data={"csrf_token": token, "how": "round_robin"})
    assert refused.status_code == 422 and one(refused, '[data-error="selection"]')
    # Changed meanwhile: 409, the queue as it is now, nothing handed out.
    _opp(db, leads[0]).note = "changed"
    db.commit()
    stale = client.post(URL.format(ar.code), data={"csrf_token": token, "leads": ticked, "how": "round_robin"})
    assert stale.status_code == 409 and one(stale, "#queue-conflict")
    # The lead that changed shows its new version, unticked; the other one stays ticked.
    assert [i["value"] for i in every(stale, "input[name=leads][checked]")] == ticked[1:]
    # Another dealer's lead, or no id at all: 404.
    b_opp = _opp(db, world["b_lead"])
    for forged in (f"{b_opp.id}:{b_opp.version}", "x:1", f"{world['plain'].id}:{world['plain'].version}"):
        response = client.post(URL.format(ar.code), data={"csrf_token": token, "leads": [ticked[1], forged],
                                                          "how": "assign", "user_id": world["ana"].id})
        assert response.status_code == 404, forged
    assert _holders(db, leads) == [None] * 4
    assert _holders(db, [world["b_lead"]]) == [None]
