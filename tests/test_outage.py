"""The web while Redis is down, on a real Redis server of its own that the tests stop, freeze
(SIGSTOP, a hung Redis) or fill (maxmemory): the board keeps working; what needs Redis answers a
clear, localized "temporarily unavailable" 503 with Retry-After at once — never a bare 500 after
seconds of retries — and nothing is half-written."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import tempfile
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from boxes import create_app
from boxes.campaigns import service
from boxes.db import utcnow
from boxes.embedded import start_redis
from boxes.models import AuditLog, Campaign, DmsConnector, Opportunity, OutboundMessage
from jobs.campaigns import enqueue_campaign
from tests import factories
from tests.campaigns.test_job import _worker
from tests.conftest import csrf_token_of
from tests.html import every, one

HX = {"HX-Request": "true"}
UNAVAILABLE_ES = "Boxes no puede hacer esto ahora: uno de sus servicios se está reiniciando."


@pytest.fixture
def redis_dir():
    # Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer than that.
    path = Path(tempfile.mkdtemp(prefix="bx-"))
    yield path / "redis"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_redis(redis_dir):
    """A Redis server for this test alone: stopping or filling it touches no other test."""
    servers = [start_redis(redis_dir)]
    yield servers
    for server in servers:
        if server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
def web(config, clean_db, own_redis):
    """The app on that Redis, and a test client of it."""
    app = create_app(dataclasses.replace(config, redis_url=own_redis[0].url))
    yield app.test_client()
    app.extensions["boxes.engine"].dispose()


def _search(web, dealer, token):
    return web.post(f"/d/{dealer.code}/campaigns/new", data={"open_opportunity": "any", "model": "Cronos"},
                    headers={**HX, "X-CSRFToken": token})


def _assert_unavailable(response, *, fragment: bool):
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body[:500]
    assert response.headers["Retry-After"] == "30"
    assert UNAVAILABLE_ES in body and every(body, "[data-unavailable]")
    assert (not every(body, "html")) is fragment
    if fragment:  # put at the top of the target, which keeps what it shows (a form keeps its input)
        assert response.headers["HX-Reswap"] == "afterbegin"


def test_board_works_while_redis_is_down_and_what_needs_it_is_a_clear_503(web, db, dealers, login_as, own_redis):
    ar, _ = dealers
    delivery = factories.delivery(db, ar, utcnow() - timedelta(days=1), name="Lucía Bienvenida")
    factories.opportunity(db, ar, utcnow() + timedelta(hours=2))
    appointment = factories.appointment(db, ar, utcnow() + timedelta(days=2), status="requested")
    failed = factories.campaign(db, ar, status="failed", units_total=3, units_processed=1,
                                due_at=utcnow() + timedelta(days=3))
    db.add(DmsConnector(dealer_id=ar.id, kind="simulator", settings={"base_url": "http://127.0.0.1:9/feed/v1/AR01"},
                        secrets={}))
    db.commit()
    admin = login_as("admin", ar, on=web)
    token = csrf_token_of(web, f"/d/{ar.code}/board/deliveries")
    own_redis[0].stop()

    # The board: every list, the badges, a row action; the campaign list and a campaign's page.
    for path in ("/board/deliveries", "/board/opportunities", "/board/appointments", "/board/in-process",
                 "/board/completed", "/badges", "/campaigns", f"/campaigns/{failed.id}", "/admin/integrations/dms"):
        assert web.get(f"/d/{ar.code}{path}").status_code == 200, path
        assert web.get(f"/d/{ar.code}{path}", headers=HX).status_code == 200, path
    response = web.post(f"/d/{ar.code}/deliveries/{delivery.id}/call", headers={**HX, "X-CSRFToken": token},
                        data={"channel": "phone", "outcome": "contacted", "comment": "Sin Redis"})
    assert response.status_code == 200 and one(response, "#action-done")

    # What needs Redis: the campaign manager's search (htmx and direct), "Sync now", "Run again".
    _assert_unavailable(_search(web, ar, token), fragment=True)
    _assert_unavailable(web.get(f"/d/{ar.code}/campaigns/new?search=0123456789abcdef"), fragment=False)
    _assert_unavailable(web.post(f"/d/{ar.code}/admin/integrations/dms/sync", data={"csrf_token": token}),
                        fragment=False)
    _assert_unavailable(web.post(f"/d/{ar.code}/campaigns/{failed.id}/run", headers={**HX, "X-CSRFToken": token}),
                        fragment=True)
    db.expire_all()
    assert db.get(Campaign, failed.id).status == "failed"
    assert db.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action.in_(("dms_sync.requested", "campaign.enqueue")))) == 0

    # A reminder is saved as queued: the mail sweep sends it once Redis is back.
    response = web.post(f"/d/{ar.code}/appointments/{appointment.id}/reminder", headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 200 and every(response, '[data-reminder-status="queued"]')
    assert db.scalar(select(OutboundMessage.status).where(OutboundMessage.appointment_id == appointment.id)) == "queued"

    # Logging in is refused (the failed-login throttle lives in Redis: no unthrottled password guessing).
    web.post("/logout", data={"csrf_token": token})
    login_page = csrf_token_of(web, "/login")
    response = web.post("/login", data={"csrf_token": login_page, "email": admin.email, "password": "wrong"})
    _assert_unavailable(response, fragment=False)
    assert web.get(f"/d/{ar.code}/board/deliveries").status_code == 302  # still logged out


def test_a_hung_redis_is_given_up_quickly_and_then_not_asked_until_it_answers(web, db, dealers, login_as,
                                                                              own_redis, redis_dir):
    ar, _ = dealers
    factories.vehicle(db, ar, factories.customer(db, ar), model="Cronos")
    login_as("campaigns", ar, on=web)
    token = csrf_token_of(web, f"/d/{ar.code}/campaigns")
    assert _search(web, ar, token).status_code == 200

    # Frozen: it accepts connections and never answers.
    os.kill(own_redis[0].process.pid, signal.SIGSTOP)
    _assert_unavailable(_search(web, ar, token), fragment=True)
    os.kill(own_redis[0].process.pid, signal.SIGCONT)
    own_redis[0].stop()

    # A new server on the same socket: requests do not ask it while the failure is fresh ...
    own_redis.append(start_redis(redis_dir))
    monitor = own_redis[1].client()
    connections = monitor.info("stats")["total_connections_received"]
    _assert_unavailable(_search(web, ar, token), fragment=True)
    assert monitor.info("stats")["total_connections_received"] == connections
    # ... until a health check finds it answering again.
    assert web.get("/healthz").json == {"status": "ok", "database": "ok", "redis": "ok"}
    assert _search(web, ar, token).status_code == 200
    monitor.close()


def test_a_campaign_saved_while_redis_refuses_its_job_is_started_by_the_sweep(web, db, dealers, login_as, own_redis,
                                                                             database_url):
    ar, _ = dealers
    cars = [factories.vehicle(db, ar, factories.customer(db, ar), model="Cronos") for _ in range(3)]
    user = login_as("campaigns", ar, on=web)
    token = csrf_token_of(web, f"/d/{ar.code}/campaigns")
    search_id = re.search(r"search=([0-9a-f]+)", _search(web, ar, token).headers["HX-Push-Url"]).group(1)
    base = f"/d/{ar.code}/campaigns/new"
    assert web.post(f"{base}/select-all?search={search_id}", headers={**HX, "X-CSRFToken": token}).status_code == 200

    # Reads still work, writes are refused (maxmemory reached, noeviction): the job cannot be queued.
    redis = own_redis[0].client()
    redis.config_set("maxmemory", "1")
    due = (utcnow().astimezone(ZoneInfo(ar.time_zone)) + timedelta(days=2)).date().isoformat()
    response = web.post(f"{base}/process?search={search_id}",
                        data={"name": "Recall airbag", "kind": "recall", "due_date": due, "assignment": "one",
                              "assigned_user_id": str(user.id)}, headers={**HX, "X-CSRFToken": token})
    # Saved, not refused: a 503 would invite saving it twice. The page says it starts by itself.
    assert response.status_code == 204
    page = web.get(response.headers["HX-Redirect"]).get_data(as_text=True)
    assert "La campaña se guardó. Empieza sola en unos minutos" in page
    campaign = db.scalar(select(Campaign))
    assert (campaign.status, campaign.job_id) == ("draft", None)
    assert web.get(f"{response.headers['HX-Redirect']}/progress", headers=HX).status_code == 200  # still polling

    redis.config_set("maxmemory", "0")
    sweep = lambda now: service.recover(db, redis, lambda cid, jid: enqueue_campaign(redis, cid, jid), now=now)  # noqa: E731
    assert sweep(utcnow()) == {"resumed": [], "failed": []}  # its view may still be queueing it
    assert sweep(utcnow() + service.START_GRACE + timedelta(seconds=1)) == {"resumed": [campaign.id], "failed": []}
    assert _worker(own_redis[0].url, database_url).wait(timeout=60) == 0
    db.expire_all()
    assert db.get(Campaign, campaign.id).status == "done"
    assert sorted(db.scalars(select(Opportunity.vehicle_id).where(Opportunity.campaign_id == campaign.id))) == sorted(
        c.id for c in cars)
    redis.close()
