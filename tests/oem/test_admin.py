"""Integrations → OEM, the admins' page: the connector's settings with the client secret write-only, bounded
by the operator's allow-list and the other dealers' codes; the token's validity in the dealer's time
zone; the OEM's refusal of the credentials with "Try again" (against ``boxes oem-simulator``); enabling
refused while a discard reason has no OEM reason; where each kind of lead goes; audit rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from boxes.db import utcnow
from boxes.models import AuditLog, DiscardReason, OemConnector, User
from boxes.oem.client import AuthStopped, SessionState, Token
from boxes.oem.connection import connection_of, open_client
from boxes.settings.discard_reasons import seed_defaults
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every, one, text
from tests.oem_helpers import OemSimulator

SECRET = "oem-s3cr3t-never-shown"
OEM = "https://oem.example.com"


def _url(dealer, path=""):
    return f"/d/{dealer.code}/admin/integrations/oem{path}"


def _connector(db, dealer) -> OemConnector | None:
    db.expire_all()
    return db.scalar(select(OemConnector).where(OemConnector.dealer_id == dealer.id))


def _error(response, field: str) -> str:
    found = every(response, f'[data-error="{field}"]')
    return text(found[0]) if found else ""


def _save(client, dealer, token, **fields):
    data = {"csrf_token": token, "base_url": OEM, "client_id": "boxes-ar", "dealer_code": "AR-BA01", **fields}
    return client.post(_url(dealer), data={k: v for k, v in data.items() if v is not None})


@pytest.fixture
def admin_page(client, dealers, login_as):
    ar = dealers[0]
    login_as("admin", ar)
    return ar, csrf_token_of(client, _url(ar))


def test_admins_manage_it_managers_read_the_log_callers_neither(client, dealers, login_as):
    ar = dealers[0]
    login_as("caller", ar)
    assert client.get(_url(ar)).status_code == 403
    assert client.get(_url(ar, "/log")).status_code == 403
    login_as("manager", ar)
    assert client.get(_url(ar)).status_code == 403
    assert client.get(_url(ar, "/log")).status_code == 200
    login_as("admin", ar)
    page = client.get(_url(ar))
    assert page.status_code == 200
    nav = one(page, "#integrations-nav")
    assert one(nav, "[aria-current=page]")["href"] == _url(ar)
    assert every(nav, f'a[href="/d/{ar.code}/admin/integrations/dms"]')
    dms = client.get(f"/d/{ar.code}/admin/integrations/dms")
    assert every(one(dms, "#integrations-nav"), f'a[href="{_url(ar)}"]')


def test_settings_are_validated_saved_and_the_secret_is_write_only(client, db, admin_page):
    ar, token = admin_page
    bad = _save(client, ar, token, base_url="ftp://oem", client_id="", dealer_code="", page_size="abc",
                timeout_seconds="0", token_refresh_margin="99999")
    assert bad.status_code == 422
    for field in ("base_url", "client_id", "dealer_code", "page_size", "timeout_seconds", "token_refresh_margin"):
        assert _error(bad, field), field
    assert one(bad, "#f-base_url")["value"] == "ftp://oem"  # what was typed comes back
    assert _connector(db, ar) is None

    ok = _save(client, ar, token, client_secret=SECRET, page_size="500", timeout_seconds="20")
    assert ok.status_code == 303
    row = _connector(db, ar)
    assert row.secrets == {"client_secret": SECRET} and not row.enabled
    assert row.settings == {"base_url": OEM, "client_id": "boxes-ar", "dealer_code": "AR-BA01", "page_size": 500,
                            "timeout_seconds": 20}
    # What the jobs build the client from.
    connection = connection_of(row)
    assert (connection.base_url, connection.dealer_code, connection.page_size, connection.timeout) == (
        OEM, "AR-BA01", 500, 20.0)
    page = client.get(_url(ar))
    assert SECRET not in page.get_data(as_text=True)
    assert one(page, "#s-client_secret")["value"] == ""
    assert one(page, "#f-dealer_code")["value"] == "AR-BA01"

    # A refused form with a secret typed never sends the secret back.
    refused = _save(client, ar, token, client_secret="typed-then-refused", page_size="0")
    assert refused.status_code == 422 and "typed-then-refused" not in refused.get_data(as_text=True)
    # Left empty, the stored secret stays; "remove" clears it.
    assert _save(client, ar, token, page_size="200").status_code == 303
    assert _connector(db, ar).secrets == {"client_secret": SECRET}
    assert _save(client, ar, token, clear="client_secret").status_code == 303
    assert _connector(db, ar).secrets == {}
    # Enabling needs the secret.
    no_secret = _save(client, ar, token, enabled="1")
    assert no_secret.status_code == 422 and _error(no_secret, "client_secret")
    audits = db.scalars(select(AuditLog).where(AuditLog.action == "oem_connector.saved")).all()
    assert len(audits) == 3 and all(SECRET not in str(a.data) for a in audits)
    assert audits[0].data["secrets_set"] == ["client_secret"]


def test_the_address_is_bounded_by_the_operators_allow_list_and_no_other_dealers_code(client, db, dealers, admin_page,
                                                                                      config):
    ar, token = admin_page
    br = dealers[1]
    config.connector_allowed_hosts = ("oem.example.com", "10.20.0.0/16")
    for address in ("http://127.0.0.1:9", "http://localhost", "https://[::1]", "http://2130706433",
                    "https://oem.example.com.evil.example"):
        refused = _save(client, ar, token, base_url=address, client_secret=SECRET)
        assert refused.status_code == 422, address
        assert "no permite" in _error(refused, "base_url"), address  # the DMS connector's message, translated
    assert _connector(db, ar) is None
    assert _save(client, ar, token, base_url="https://oem.example.com/", client_secret=SECRET).status_code == 303
    assert _save(client, ar, token, base_url="http://10.20.3.4:8443", client_secret=SECRET).status_code == 303

    # Dealer B reads AR-BA01's leads at this OEM already: A's admin cannot read them too.
    config.connector_allowed_hosts = ()
    db.add(OemConnector(dealer_id=br.id, settings={"base_url": "https://OEM.example.com:443/",
                                                   "dealer_code": "BR-SP01"}, secrets={}))
    db.commit()
    taken = _save(client, ar, token, dealer_code="br-sp01")
    assert taken.status_code == 422 and _error(taken, "dealer_code")
    assert _connector(db, ar).settings["dealer_code"] == "AR-BA01"
    # The same code at another OEM is another dealer's business.
    assert _save(client, ar, token, base_url="https://other-oem.example", dealer_code="BR-SP01").status_code == 303


def test_token_validity_in_the_dealers_time_zone_and_new_credentials_forget_it(client, db, admin_page):
    ar, token = admin_page
    assert one(client.get(_url(ar)), "#oem-token")["data-state"] == "none"
    _save(client, ar, token, client_secret=SECRET)
    row = _connector(db, ar)
    issued = utcnow()
    expires = datetime(2099, 3, 10, 15, 30, tzinfo=UTC)  # 12:30 in Buenos Aires
    row.session_state = SessionState(Token("t0k3n", OEM, issued, expires)).to_dict()
    row.watermark = utcnow() - timedelta(minutes=5)
    db.commit()
    shown = one(client.get(_url(ar)), "#oem-token")
    assert shown["data-state"] == "valid"
    assert "12:30" in text(shown) and "15:30" not in text(shown) and "t0k3n" not in text(shown)
    # Same credentials (another page size): the token and the watermark stay.
    _save(client, ar, token, page_size="300")
    row = _connector(db, ar)
    assert row.session_state["token"]["access_token"] == "t0k3n" and row.watermark is not None
    # Another client id: a new token; another dealer code: the lead read starts again.
    _save(client, ar, token, client_id="boxes-ar-2")
    row = _connector(db, ar)
    assert row.session_state == {} and row.watermark is not None
    _save(client, ar, token, client_id="boxes-ar-2", dealer_code="AR-BA02")
    assert _connector(db, ar).watermark is None
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "oem_connector.saved")
                       .order_by(AuditLog.id.desc())).first()
    assert audit.data["read_restarted"] is True and audit.data["new_credentials"] is False


def test_refused_credentials_stop_the_integration_until_try_again_or_new_ones(client, db, admin_page, redis):
    ar, token = admin_page
    with OemSimulator(backlog=1) as sim:
        sim.faults()
        assert _save(client, ar, token, base_url=sim.base, client_id="boxes", client_secret="simulator",
                     dealer_code="AR01").status_code == 303
        row = _connector(db, ar)
        with open_client(row, redis) as oem:  # as the import job opens it
            assert oem.token() is None
            list(oem.read_leads())
        db.commit()
        assert one(client.get(_url(ar)), "#oem-token")["data-state"] == "valid"
        assert not every(client.get(_url(ar)), "#oem-stopped")

        # The OEM disables the integration user: the next call is refused and stops everything.
        sim.faults(token_error="invalid_grant")
        sim.expire_tokens()
        row = _connector(db, ar)
        row.session_state = {}
        with open_client(row, redis) as oem, pytest.raises(AuthStopped):
            list(oem.read_leads())
        db.commit()
        page = client.get(_url(ar))
        stopped = one(page, "#oem-stopped")
        assert "invalid_grant" in text(stopped)
        assert one(stopped, "form")["action"] == _url(ar, "/try-again")
        with open_client(_connector(db, ar), redis) as oem, pytest.raises(AuthStopped):
            list(oem.read_leads())  # never asked again with the same credentials
        calls = sim.stats()

        # The OEM enables the user again; the admin tries again: the refusal is forgotten, a token comes.
        sim.faults()
        assert client.post(_url(ar, "/try-again"), data={"csrf_token": token}).status_code == 303
        row = _connector(db, ar)
        assert SessionState.from_dict(row.session_state).stopped == ""
        assert not every(client.get(_url(ar)), "#oem-stopped")
        with open_client(row, redis) as oem:
            list(oem.read_leads())
            assert oem.token() is not None
        db.commit()
        assert sim.stats() != calls
        assert db.scalar(select(AuditLog).where(AuditLog.action == "oem_connector.resumed")).data == {
            "code": "invalid_grant"}
        # Nothing stopped: "Try again" changes nothing and writes nothing.
        assert client.post(_url(ar, "/try-again"), data={"csrf_token": token}).status_code == 303
        assert len(db.scalars(select(AuditLog).where(AuditLog.action == "oem_connector.resumed")).all()) == 1

    # Saving new credentials also clears a refusal.
    row = _connector(db, ar)
    row.session_state = SessionState(None, "the OEM refused the credentials (invalid_client)", "invalid_client",
                                     "fingerprint").to_dict()
    db.commit()
    assert every(client.get(_url(ar)), "#oem-stopped")
    assert _save(client, ar, token, base_url=sim.base, client_id="boxes", dealer_code="AR01",
                 client_secret="a-new-secret").status_code == 303
    assert _connector(db, ar).session_state == {}
    assert not every(client.get(_url(ar)), "#oem-stopped")


def test_try_again_without_a_connector_is_404(client, admin_page):
    ar, token = admin_page
    assert client.post(_url(ar, "/try-again"), data={"csrf_token": token}).status_code == 404


def test_enabling_is_refused_while_an_active_discard_reason_has_no_oem_reason(client, db, admin_page):
    ar, token = admin_page
    seed_defaults(db, ar)  # "Datos incorrectos" has no OEM reason
    db.add(DiscardReason(dealer_id=ar.id, code="legacy", label_es="Viejo motivo", label_pt_br="Motivo antigo",
                         label_en="Old reason", oem_reason="precio bajo", position=9))
    db.commit()
    refused = _save(client, ar, token, client_secret=SECRET, enabled="1")
    assert refused.status_code == 422
    message = _error(refused, "enabled")
    assert "“Datos incorrectos”" in message and "“Viejo motivo”" in message and "Precio" not in message
    assert one(refused, "#enabled").has_attr("checked")  # as typed
    assert _connector(db, ar) is None

    for reason in db.scalars(select(DiscardReason).where(DiscardReason.code.in_(("wrong_data", "legacy")))):
        if reason.code == "wrong_data":
            reason.active = False  # deactivated: no caller chooses it any more
        else:
            reason.oem_reason = "Price"
    db.commit()
    assert _save(client, ar, token, client_secret=SECRET, enabled="1").status_code == 303
    assert _connector(db, ar).enabled
    # A reason activated later without its OEM reason: the page says OEM leads cannot use it.
    db.scalar(select(DiscardReason).where(DiscardReason.code == "wrong_data")).active = True
    db.commit()
    assert "Datos incorrectos" in text(one(client.get(_url(ar)), "#oem-unmapped"))


def test_where_the_leads_go_is_validated(client, db, dealers, admin_page):
    ar, token = admin_page
    br = dealers[1]
    caller = factories.user(db, role="caller", dealer=ar, name="Carla Caller")
    parts = factories.user(db, role="caller", dealer=ar, name="Pedro Parts")
    gone = factories.user(db, role="caller", dealer=ar, name="Ida Inactive")
    gone.active = False
    stranger = factories.user(db, role="caller", dealer=br, name="Otto Other")
    db.commit()

    def post(**fields):
        data = {"csrf_token": token, "service_mode": "queue", "after_sales_mode": "queue", "parts_mode": "queue",
                "first_contact_hours": "24", "open_leads_cap": "25", "retention_days": "180", **fields}
        return client.post(_url(ar, "/leads"), data=data)

    page = client.get(_url(ar))
    names = [text(o) for o in every(page, "select[name=service_user_id] option")]
    assert "Carla Caller" in names and "Ida Inactive" not in names and "Otto Other" not in names
    for fields, field in [({"service_mode": "direct"}, "service_user_id"),
                          ({"service_mode": "direct", "service_user_id": str(stranger.id)}, "service_user_id"),
                          ({"after_sales_mode": "direct", "after_sales_user_id": str(gone.id)}, "after_sales_user_id"),
                          ({"parts_mode": "direct", "parts_user_id": "abc"}, "parts_user_id"),
                          ({"parts_mode": "somewhere"}, "parts_mode"),
                          ({"first_contact_hours": "0"}, "first_contact_hours"),
                          ({"open_leads_cap": "100000"}, "open_leads_cap"),
                          ({"retention_days": "3"}, "retention_days"),
                          ({"retention_days": "many"}, "retention_days")]:
        refused = post(**fields)
        assert refused.status_code == 422 and _error(refused, field), fields
    assert _connector(db, ar) is None

    assert post(service_mode="direct", service_user_id=str(caller.id), after_sales_user_id=str(caller.id),
                parts_mode="direct", parts_user_id=str(parts.id), first_contact_hours="48",
                open_leads_cap="10", retention_days="").status_code == 303
    row = _connector(db, ar)
    assert row.distribution == {"Service": {"mode": "direct", "user_id": caller.id},
                                "AfterSales": {"mode": "queue", "user_id": None},  # a user without "direct": none
                                "Parts": {"mode": "direct", "user_id": parts.id}}
    assert (row.parts_user_id, row.first_contact_hours, row.open_leads_cap, row.retention_days) == (
        parts.id, 48, 10, 180)
    assert not row.enabled and row.settings == {}  # the connector's own settings are another form
    page = client.get(_url(ar))
    assert one(page, "select[name=parts_user_id] option[selected]")["value"] == str(parts.id)
    audit = db.scalar(select(AuditLog).where(AuditLog.action == "oem_distribution.saved"))
    assert audit.data["distribution"]["Parts"] == {"mode": "direct", "user_id": parts.id}

    # The parts user leaves: the page says so, and saving asks for another.
    db.get(User, parts.id).active = False
    db.commit()
    page = client.get(_url(ar))
    assert "ya no está activo" in text(one(page, "select[name=parts_user_id] option[selected]"))
    assert post(parts_mode="direct", parts_user_id=str(parts.id)).status_code == 422
    assert post(parts_mode="queue").status_code == 303
    assert _connector(db, ar).parts_user_id is None


def test_import_now_queues_the_dealers_import_once_enabled(client, db, admin_page, redis):
    from rq.job import Job

    from jobs.oem_import import job_id

    ar, token = admin_page
    refused = client.post(_url(ar, "/import"), data={"csrf_token": token})
    assert refused.status_code == 422 and _error(refused, "import")  # no connector enabled yet
    db.add(OemConnector(dealer_id=ar.id, enabled=True, settings={"base_url": OEM, "client_id": "boxes-ar",
                                                                  "dealer_code": "AR-BA01"}))
    db.commit()
    queued = client.post(_url(ar, "/import"), data={"csrf_token": token}, follow_redirects=True)
    assert queued.status_code == 200 and one(queued, ".alert-success")
    job = Job.fetch(job_id(ar.id), connection=redis)
    assert job.args == (ar.id, "manual")
    again = client.post(_url(ar, "/import"), data={"csrf_token": token}, follow_redirects=True)
    assert one(again, ".alert-success")  # "already queued": still one job
    assert db.scalar(select(AuditLog.data).where(AuditLog.action == "oem_import.requested")
                     .order_by(AuditLog.id.desc()).limit(1)) == {"outcome": "waiting"}
