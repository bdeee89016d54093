"""The OEM integration log (seed 001's "Consulta de Logs"): search by lead id and by the dealer's local days,
failed calls only, paging, one call in detail with its JSON pretty-printed and every byte escaped, the dead
letters, pruning after the retention, other dealers' rows never shown; and, on PostgreSQL, a lead's search
walks ix_oem_call_log_dealer_lead_created."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy import text as sql

from boxes.db import utcnow
from boxes.models import AuditLog, OemCallLog, OemConnector, OemStatusEvent
from boxes.oem import log
from tests import factories
from tests.html import every, one, parse, text

LEAD_A = "006WD0000000001YAA"
LEAD_B = "006WD0000000002YAA"


def _url(dealer, path="", **query):
    from urllib.parse import urlencode

    return f"/d/{dealer.code}/admin/integrations/oem/log{path}" + (f"?{urlencode(query)}" if query else "")


def _call(db, dealer, created_at, **kw) -> OemCallLog:
    values = dict(direction="out", kind="status", method="PATCH", url="https://oem.example/services/data/x",
                  request_body='{"Trigger__c": "CRE"}', status_code=200, response='{"success": true}',
                  duration_ms=42, attempt=1, failed=False) | kw
    row = OemCallLog(dealer_id=dealer.id, created_at=created_at, **values)
    db.add(row)
    db.commit()
    return row


def _shown(response) -> list[int]:
    return [int(tr["id"].removeprefix("call-")) for tr in every(response, "#oem-log tbody tr[id]")]


@pytest.fixture
def admin(client, dealers, login_as):
    ar = dealers[0]
    login_as("admin", ar)
    return ar


def test_search_by_lead_failed_only_and_newest_first(client, db, admin):
    ar = admin
    now = utcnow()
    a1 = _call(db, ar, now - timedelta(minutes=30), lead_id=LEAD_A, trigger="CRE", stage="Experiencing",
               substage="InProgressPhone", event_id="bx-1")
    a2 = _call(db, ar, now - timedelta(minutes=10), lead_id=LEAD_A, status_code=500, failed=True,
               error="status: HTTP 500")
    b1 = _call(db, ar, now - timedelta(minutes=20), lead_id=LEAD_B)
    token = _call(db, ar, now - timedelta(minutes=5), kind="token", method="POST", lead_id=None)
    assert _shown(client.get(_url(ar))) == [token.id, a2.id, b1.id, a1.id]
    lead = client.get(_url(ar, lead=LEAD_A))
    assert _shown(lead) == [a2.id, a1.id]
    row = one(lead, f"#call-{a1.id}")
    assert "CRE" in text(row) and "Experiencing / InProgressPhone" in text(row) and "bx-1" in text(row)
    assert "PATCH https://oem.example/services/data/x" in text(row) and "42 ms" in text(row)
    assert one(lead, f"#call-{a2.id}")["data-failed"] == "true"
    assert _shown(client.get(_url(ar, lead=LEAD_A, failed="1"))) == [a2.id]
    assert _shown(client.get(_url(ar, failed="1"))) == [a2.id]
    # Exact: a part of an id finds nothing; an id too long to be one is said so.
    assert _shown(client.get(_url(ar, lead=LEAD_A[:10]))) == []
    too_long = client.get(_url(ar, lead=LEAD_A + "X" * 30))
    assert every(too_long, '[data-error="lead"]') and not every(too_long, "#oem-log")
    # The board's link to one lead, as htmx swaps the list.
    fragment = client.get(_url(ar, lead=LEAD_B), headers={"HX-Request": "true"})
    assert _shown(fragment) == [b1.id] and not every(fragment, "html")


def test_search_by_the_dealers_local_days(client, db, admin):
    ar = admin  # Buenos Aires, UTC-3: the local 10 March is 03:00Z on the 10th to 03:00Z on the 11th
    tz = ZoneInfo(ar.time_zone)
    day = datetime(2025, 3, 10, tzinfo=tz)
    before = _call(db, ar, datetime(2025, 3, 10, 2, 59, tzinfo=UTC), lead_id=LEAD_A)
    first = _call(db, ar, day.astimezone(UTC), lead_id=LEAD_A)
    last = _call(db, ar, datetime(2025, 3, 11, 2, 59, tzinfo=UTC), lead_id=LEAD_A)
    after = _call(db, ar, datetime(2025, 3, 11, 3, 0, tzinfo=UTC), lead_id=LEAD_A)
    assert _shown(client.get(_url(ar, start="2025-03-10", end="2025-03-10"))) == [last.id, first.id]
    assert _shown(client.get(_url(ar, start="2025-03-11"))) == [after.id]
    assert _shown(client.get(_url(ar, end="2025-03-09"))) == [before.id]
    assert _shown(client.get(_url(ar, lead=LEAD_A, start="2025-03-10", end="2025-03-11"))) == [after.id, last.id,
                                                                                               first.id]
    backwards = client.get(_url(ar, start="2025-03-11", end="2025-03-10"))
    assert every(backwards, '[data-error="end"]')
    assert every(client.get(_url(ar, start="31/02/2025")), '[data-error="start"]')


def test_pages_of_the_log(client, db, admin, app):
    ar = admin
    now = utcnow()
    per_page = app.config["BOXES"].page_size
    ids = [_call(db, ar, now - timedelta(seconds=i), lead_id=LEAD_A).id for i in range(per_page + 3)]
    first = client.get(_url(ar, lead=LEAD_A))
    assert _shown(first) == ids[:per_page]
    next_link = one(first, "nav[aria-label] a.btn")
    assert "lead=" + LEAD_A in next_link["href"] and "page=2" in next_link["href"]
    assert _shown(client.get(next_link["href"])) == ids[per_page:]


def test_the_whole_log_counts_up_to_a_limit(db, dealers, monkeypatch):
    ar = dealers[0]
    now = utcnow()
    for i in range(7):
        _call(db, ar, now - timedelta(seconds=i))
    monkeypatch.setattr(log, "MAX_COUNTED", 5)
    found = log.search(db, ar, log.LogSearch(), page=1, per_page=3)
    assert found.capped and found.page.total == 5 and len(found.page.rows) == 3
    assert not log.search(db, ar, log.LogSearch(lead="nothing"), page=1, per_page=3).capped


def test_detail_pretty_prints_and_escapes_everything(client, db, admin):
    ar = admin
    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    body = json.dumps({"Lead__c": LEAD_A, "Comment__c": hostile, "Substage__c": "InProgressPhone"})
    row = _call(db, ar, utcnow(), lead_id=LEAD_A, request_body=body, response=f"<html>{hostile}</html>",
                status_code=502, failed=True, error=f"status: {hostile}")
    page = client.get(_url(ar, f"/{row.id}"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert hostile not in html and "&lt;script&gt;" in html
    soup = parse(page)
    assert not [s for s in soup.find_all("script") if "alert" in s.get_text()]
    assert not soup.find_all("img")
    request = one(page, "#call-request").get_text()
    assert json.loads(request) == json.loads(body)
    assert '\n  "Comment__c": ' in request  # indented for reading
    assert one(page, "#call-response").get_text() == f"<html>{hostile}</html>"  # no JSON: as it came
    assert text(one(page, "#call-status")) == "502" and hostile in one(page, "#call-error").get_text()
    assert _shown(page) == [row.id]  # a direct load shows the list beside the call
    fragment = client.get(_url(ar, f"/{row.id}"), headers={"HX-Request": "true"})
    assert every(fragment, "#call-request") and not every(fragment, "#oem-log")
    # A lead received: what the OEM sent, no answer.
    received = _call(db, ar, utcnow(), direction="in", kind="lead", lead_id=LEAD_B, method="", url="",
                     request_body='{"Id": "006WD0000000002YAA", "LastName": "Pérez"}', status_code=None,
                     response="", duration_ms=None)
    page = client.get(_url(ar, f"/{received.id}"))
    assert '"LastName": "Pérez"' in one(page, "#call-request").get_text() and not every(page, "#call-response")


def test_other_dealers_rows_are_404_and_never_listed(client, db, dealers, admin):
    ar, br = dealers
    theirs = _call(db, br, utcnow(), lead_id=LEAD_A, request_body='{"Bravo": "secret"}')
    mine = _call(db, ar, utcnow() - timedelta(minutes=1), lead_id=LEAD_A)
    db.add(OemStatusEvent(dealer_id=br.id, event_id="bx-bravo", lead_id=LEAD_A, trigger="CRE", stage="Experiencing",
                          occurred_at=utcnow(), status="dead", last_error="Bravo error"))
    db.commit()
    assert client.get(_url(ar, f"/{theirs.id}")).status_code == 404
    assert client.get(_url(br, f"/{mine.id}")).status_code == 404
    page = client.get(_url(ar, lead=LEAD_A))
    assert _shown(page) == [mine.id] and "Bravo" not in page.get_data(as_text=True)


def test_dead_letters_are_listed_with_their_last_error(client, db, admin):
    ar = admin
    now = utcnow()
    for i, (lead, status) in enumerate([(LEAD_A, "dead"), (LEAD_B, "dead"), (LEAD_A, "sent"), (LEAD_A, "pending")]):
        db.add(OemStatusEvent(dealer_id=ar.id, event_id=f"bx-{i}", lead_id=lead, trigger="VPE", stage="NotConverted",
                              substage="Price", occurred_at=now, status=status, attempts=8,
                              last_error=f"status: HTTP 400 INVALID_CROSS_REFERENCE_KEY {i}"))
    db.commit()
    dead = every(client.get(_url(ar)), "#oem-dead-events tbody tr[id]")
    assert len(dead) == 2  # in the order they would go again
    assert "INVALID_CROSS_REFERENCE_KEY 0" in text(dead[0]) and "NotConverted / Price" in text(dead[0])
    assert "INVALID_CROSS_REFERENCE_KEY 1" in text(dead[1])
    one_lead = every(client.get(_url(ar, lead=LEAD_A)), "#oem-dead-events tbody tr[id]")
    assert len(one_lead) == 1 and "bx-0" in text(one_lead[0])


def test_resend_puts_a_dead_event_back_in_line_and_queues_the_relay(client, db, dealers, login_as, redis):
    from rq import Queue

    from boxes.models import User
    from tests.conftest import csrf_token_of

    ar = dealers[0]
    dead = OemStatusEvent(dealer_id=ar.id, event_id="bx-dead", lead_id=LEAD_A, trigger="ACO", stage="Converted",
                          substage="ServiceScheduled", occurred_at=utcnow(), status="dead", attempts=8,
                          last_error="status: HTTP 500")
    db.add(dead)
    db.commit()
    login_as("manager", ar)  # managers read the log; only admins resend
    assert not one(client.get(_url(ar)), f"#dead-{dead.id}").find("button")
    login_as("admin", ar)
    page = client.get(_url(ar))
    form = one(page, f"#dead-{dead.id} form")
    answer = client.post(form["action"], data={"csrf_token": csrf_token_of(client, _url(ar))})
    assert answer.status_code == 303 and f"lead={LEAD_A}" in answer.headers["Location"]
    db.refresh(dead)
    assert (dead.status, dead.attempts, dead.next_attempt_at) == ("pending", 0, None)
    audit = db.scalar(select(AuditLog).where(AuditLog.action == "oem_event.resend"))
    assert audit.entity_id == dead.id and db.get(User, audit.user_id).email
    assert [job.args for job in Queue("oem", connection=redis).jobs] == [(ar.id,)]
    again = client.post(form["action"], data={"csrf_token": csrf_token_of(client, _url(ar))}, follow_redirects=True)
    assert again.status_code == 200 and one(again, ".alert-warning")  # a second click: said, nothing changed
    db.refresh(dead)
    assert dead.status == "pending" and len(Queue("oem", connection=redis).jobs) == 1


def test_prune_keeps_each_dealers_retention(db, dealers):
    ar, br = dealers
    now = utcnow()
    db.add(OemConnector(dealer_id=ar.id, settings={}, secrets={}, retention_days=30))
    db.commit()
    old_a = _call(db, ar, now - timedelta(days=31))
    kept_a = _call(db, ar, now - timedelta(days=29))
    old_b = _call(db, br, now - timedelta(days=181))  # no connector: the default 180 days
    kept_b = _call(db, br, now - timedelta(days=179))
    assert log.prune_all(db, now) == {ar.id: 1, br.id: 1}
    left = set(db.scalars(select(OemCallLog.id)))
    assert left == {kept_a.id, kept_b.id} and not {old_a.id, old_b.id} & left
    audits = db.scalars(select(AuditLog).where(AuditLog.action == "oem_log.pruned").order_by(AuditLog.id)).all()
    assert [(a.dealer_id, a.data["deleted"]) for a in audits] == [(ar.id, 1), (br.id, 1)]
    assert log.prune(db, ar, now) == 0
    assert len(db.scalars(select(AuditLog).where(AuditLog.action == "oem_log.pruned")).all()) == 2


def test_a_leads_search_walks_its_index_on_postgresql(pg_db):
    """With many leads' calls in the table, the search of one lead's (its count and its page) reads
    ix_oem_call_log_dealer_lead_created, not the table."""
    ar, br = factories.dealer_ar(pg_db), factories.dealer_br(pg_db)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [{"dealer_id": (ar.id, br.id)[i % 2], "created_at": start + timedelta(seconds=i), "direction": "out",
             "kind": "status", "lead_id": f"006WD{i % 4000:013d}", "method": "PATCH", "url": "u", "request_body": "",
             "response": "", "attempt": 1, "failed": i % 7 == 0, "error": ""} for i in range(40_000)]
    pg_db.execute(insert(OemCallLog), rows)
    pg_db.commit()
    pg_db.execute(sql("ANALYZE oem_call_log"))
    lead = "006WD0000000000042"
    found = log.search(pg_db, ar, log.LogSearch(lead=lead), page=1, per_page=50)
    assert found.page.total == 10 and [r.lead_id for r in found.page.rows] == [lead] * 10
    plans = []
    for failed_only in (False, True):
        count, query = log.statements(ar, log.LogSearch(lead=lead, failed_only=failed_only))
        for statement in (count, query.page.params(page_limit=50, page_offset=0)):
            compiled = statement.compile(pg_db.get_bind(), compile_kwargs={"literal_binds": True})
            plans.append("\n".join(pg_db.execute(sql(f"EXPLAIN {compiled}")).scalars()))
    for plan in plans:
        assert "ix_oem_call_log_dealer_lead_created" in plan, plan
        assert "Seq Scan on oem_call_log" not in plan, plan
