"""Tenant isolation: logged in at dealer A, nothing of dealer B is reachable through any route.

The crawler walks the app's URL map, so every new route is covered the day it is added: a route
with an argument it cannot fill from dealer B's rows fails here until ``ID_ARGS`` learns it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from boxes.board.contact import SUBJECTS
from boxes.db import utcnow
from boxes.models import (
    Activity,
    Appointment,
    Campaign,
    Customer,
    Delivery,
    DiscardReason,
    DmsConnector,
    Invitation,
    Membership,
    OemCallLog,
    OemConnector,
    OemStatusEvent,
    Opportunity,
    OutboundMessage,
    QuarantinedRecord,
    RepairOrder,
    SyncCursor,
    SyncRun,
    User,
    Vehicle,
)
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every

# URL argument → the model whose dealer-B id fills it.
ID_ARGS = {
    "opportunity_id": Opportunity,
    "appointment_id": Appointment,
    "delivery_id": Delivery,
    "repair_order_id": RepairOrder,
    "customer_id": Customer,
    "vehicle_id": Vehicle,
    "campaign_id": Campaign,
    "activity_id": Activity,
    "reason_id": DiscardReason,
    "user_id": User,
    "message_id": OutboundMessage,
    "run_id": SyncRun,
    "record_id": QuarantinedRecord,
    "invitation_id": Invitation,
    "call_id": OemCallLog,
    "event_id": OemStatusEvent,
}
# One lead id at both dealers: a search for it at dealer A shows A's calls only.
OEM_LEAD = "006WD0000000001YAA"
# Query strings that open every filter and sub-view of a list.
QUERY_VARIANTS = {
    "board.deliveries_list": ["welcome=pending", "welcome=done", "welcome=all"],
    "board.appointments_list": [f"view={v}" for v in ("to_confirm", "confirmed", "not_arrived", "no_shows",
                                                      "arrivals")],
    "board.in_process_list": [f"opened={v}" for v in ("all", "today", "yesterday", "week", "older")],
    "board.completed_list": ["courtesy=pending", "courtesy=done", "courtesy=all"],
    "reports.index": [f"report={r}&preset=last_30_days" for r in ("deliveries", "opportunities", "appointments",
                                                                   "in_process", "completed", "campaigns", "callers",
                                                                   "leads")],
    "reports.grid_view": [f"report={r}&preset=last_30_days&pie={p}" for r, p in (
        ("deliveries", "customer"), ("opportunities", "campaign"), ("appointments", "vehicle"),
        ("in_process", "customer"), ("completed", "satisfaction"), ("campaigns", "campaign"), ("callers", "caller"),
        ("leads", "text"))],
    "reports.export": [f"report={r}&preset=last_30_days" for r in ("opportunities", "campaigns", "callers", "leads")],
    "lead_queue.index": ["", "page=2"],
    "campaigns.new": ["", "search=0123456789abcdef"],
    "oem.log_index": ["", f"lead={OEM_LEAD}", "failed=1", "start=2020-01-01&end=2030-12-31"],
}
SKIP_ENDPOINTS = {"static", "assets.plotly_js", "favicon"}


def populate(db, dealer, tag: str):
    from boxes.settings.discard_reasons import seed_defaults

    now = utcnow()
    seed_defaults(db, dealer)
    caller = factories.user(db, role="caller", dealer=dealer, name=f"{tag} Caller User",
                            email=f"{tag.lower()}@test.example")
    names = [f"{tag} Caller User", f"{tag.lower()}@test.example"]
    # OEM leads: one in the distribution queue past its first-contact deadline, one a caller holds, one for Sales.
    leads = [factories.oem_lead(db, dealer, text=f"{tag} queued lead text", name=f"{tag} Queued Lead",
                                received_at=now - timedelta(days=2), first_contact_due=now - timedelta(days=1)),
             factories.oem_lead(db, dealer, lead_type="AfterSales", text=f"{tag} held lead text",
                                name=f"{tag} Held Lead", assigned_user_id=caller.id),
             factories.oem_lead(db, dealer, lead_type="NewVehicle", text=f"{tag} sales lead text")]
    names += [f"{tag} queued lead text", f"{tag} Queued Lead", f"{tag} held lead text", f"{tag} Held Lead",
              f"{tag} sales lead text", *(lead.lead_id for lead in leads)]
    for i in range(2):
        d = factories.delivery(db, dealer, now - timedelta(days=2), name=f"{tag} Delivery {i}")
        o = factories.opportunity(db, dealer, now + timedelta(days=1), name=f"{tag} Opportunity {i}")
        a = factories.appointment(db, dealer, now + timedelta(days=1), status="requested", name=f"{tag} Appt {i}")
        db.add(OutboundMessage(dealer_id=dealer.id, appointment_id=a.id, kind="reminder", scheduled_for=a.scheduled_at,
                               to_address=f"{tag.lower()}-mail-{i}@test.example", subject=f"{tag} Subject {i}",
                               status="sent", body_text=f"{tag} secret body {i}",
                               body_html=f"<p>{tag} secret body {i}</p>"))
        db.commit()
        factories.appointment(db, dealer, now - timedelta(days=2), status="no_show", name=f"{tag} NoShow {i}")
        factories.appointment(db, dealer, now.replace(hour=12), status="confirmed", name=f"{tag} Confirmed {i}")
        r = factories.repair_order(db, dealer, now - timedelta(hours=1), name=f"{tag} InProcess {i}")
        factories.repair_order(db, dealer, now - timedelta(days=3), delivered_at=now - timedelta(days=1),
                               status="delivered", name=f"{tag} Completed {i}")
        c = factories.campaign(db, dealer, name=f"{tag} Campaign {i}")
        factories.opportunity(db, dealer, now + timedelta(days=2), origin="campaign", campaign_id=c.id,
                              name=f"{tag} CampaignOpp {i}")
        factories.activity(db, dealer, now - timedelta(minutes=5), comment=f"{tag} secret note {i}",
                           customer_id=d.customer_id)
        names += [f"{tag} Delivery {i}", f"{tag} Opportunity {i}", f"{tag} Appt {i}", f"{tag} InProcess {i}",
                  f"{tag} Completed {i}", f"{tag} Campaign {i}", f"{tag} secret note {i}",
                  f"{tag} Subject {i}", f"{tag} secret body {i}", f"{tag.lower()}-mail-{i}@test.example"]
        del o, a, r
    # A pending invitation of this dealer, to an account of its own (no membership anywhere yet).
    invitee = User(email=f"{tag.lower()}-invitee@test.example", name=f"{tag} Invitee", password_hash="x")
    db.add(invitee)
    db.flush()
    db.add(Invitation(dealer_id=dealer.id, user_id=invitee.id, roles=["caller"]))
    names += [f"{tag} Invitee", f"{tag.lower()}-invitee@test.example"]
    run = SyncRun(dealer_id=dealer.id, entity="repair_orders", status="failed", error=f"{tag} sync error")
    db.add(run)
    db.flush()
    db.add(QuarantinedRecord(dealer_id=dealer.id, entity="repair_orders", dms_id=f"{tag}-RO-Q", sync_run_id=run.id,
                             payload={"dms_id": f"{tag}-RO-Q"}, reason=f"{tag} quarantine reason", kind="invalid"))
    # The connector admin features: the connector's settings and the cursors are the dealer's own.
    db.add(DmsConnector(dealer_id=dealer.id, kind="files", settings={"inbox": f"{tag.lower()}-exports"},
                        secrets={}))
    for entity in ("customers", "vehicles"):
        db.add(SyncCursor(dealer_id=dealer.id, entity=entity, cursor=f"{tag}-cursor-{entity}"))
    # The OEM integration: its connector (stopped by a refusal of the credentials), its log and a dead letter.
    db.add(OemConnector(dealer_id=dealer.id, enabled=False, settings={
        "base_url": f"https://{tag.lower()}-oem.example", "client_id": f"{tag}-oem-client",
        "dealer_code": f"{tag}-OEM-CODE"}, secrets={"client_secret": f"{tag}-oem-secret"}, session_state={
        "token": None, "stopped": f"{tag} oem refusal", "stopped_code": "invalid_grant", "stopped_for": "x"},
        last_import_at=now, last_import_error=f"{tag} oem import error"))
    for failed in (False, True):
        db.add(OemCallLog(dealer_id=dealer.id, created_at=now - timedelta(minutes=1), direction="out",
                          kind="status", lead_id=OEM_LEAD, event_id=f"{tag}-oem-event-{failed}", trigger="CRE",
                          stage="Experiencing", substage="InProgressPhone", method="PATCH",
                          url=f"https://{tag.lower()}-oem.example/status", request_body=f'{{"{tag}": "oem body"}}',
                          status_code=500 if failed else 200, response=f'{{"{tag}": "oem answer"}}',
                          duration_ms=12, failed=failed, error=f"{tag} oem call error" if failed else ""))
    db.add(OemCallLog(dealer_id=dealer.id, created_at=now, direction="in", kind="lead", lead_id=OEM_LEAD,
                      request_body=f'{{"LastName": "{tag} Lead Person"}}'))
    db.add(OemStatusEvent(dealer_id=dealer.id, event_id=f"{tag}-oem-dead", lead_id=OEM_LEAD, trigger="VPE",
                          stage="NotConverted", substage="Price", occurred_at=now, status="dead", attempts=8,
                          last_error=f"{tag} oem dead error"))
    db.commit()
    names += [f"{tag} sync error", f"{tag} quarantine reason", f"{tag}-RO-Q", f"{tag.lower()}-exports",
              f"{tag}-cursor-customers", f"{tag}-cursor-vehicles", f"{tag.lower()}-oem.example", f"{tag}-oem-client",
              f"{tag}-OEM-CODE", f"{tag}-oem-secret", f"{tag} oem refusal", f"{tag} oem import error",
              f"{tag}-oem-event", f'"{tag}": "oem', f"{tag} oem call error", f"{tag} Lead Person",
              f"{tag}-oem-dead", f"{tag} oem dead error"]
    return names


@pytest.fixture
def two_dealers(db, dealers):
    ar, br = dealers
    populate(db, ar, "Alfa")
    b_names = populate(db, br, "Bravo")
    b_markers = set(b_names) | {br.code, br.name}
    for model in (Vehicle,):
        for v in db.scalars(select(model).where(model.dealer_id == br.id)):
            b_markers |= {v.vin, v.plate}
    return ar, br, b_markers


def _b_id(db, br, arg: str) -> int:
    model = ID_ARGS[arg]
    if model is User:  # users belong to dealers through memberships
        found = db.scalar(select(Membership.user_id).where(Membership.dealer_id == br.id).limit(1))
    else:
        found = db.scalar(select(model.id).where(model.dealer_id == br.id).limit(1))
    assert found is not None, f"no dealer-B row of {model.__name__} to fill {arg}"
    return found


def _routes(app, method: str):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS or method not in rule.methods:
            continue
        yield rule


def _fill(db, rule, dealer_code, br) -> list[str]:
    """Every URL of the rule with dealer B's ids (one per subject kind for subject routes)."""
    subjects = [None]
    if "subject" in rule.arguments:
        subjects = list(SUBJECTS)
    paths = []
    for subject in subjects:
        values = {}
        for arg in rule.arguments:
            if arg == "dealer_code":
                values[arg] = dealer_code
            elif arg == "subject":
                values[arg] = subject
            elif arg == "subject_id":
                model = SUBJECTS[subject][0]
                values[arg] = db.scalar(select(model.id).where(model.dealer_id == br.id).limit(1))
            elif arg in ID_ARGS:
                values[arg] = _b_id(db, br, arg)
            elif arg == "entity":  # a DMS entity (a cursor to reset): the same names at every dealer
                values[arg] = "customers"
            else:  # pragma: no cover - a new route argument must be taught to this test
                pytest.fail(f"route {rule.rule} has argument {arg!r} the isolation crawler cannot fill")
        paths.append(rule.build(values, append_unknown=False)[1])
    return paths


def test_crawler_get_routes_show_nothing_of_other_dealer(app, client, db, login_as, two_dealers):
    ar, br, b_markers = two_dealers
    login_as("admin", ar)
    visited = 0
    for rule in _routes(app, "GET"):
        for path in _fill(db, rule, ar.code, br):
            for query in QUERY_VARIANTS.get(rule.endpoint, [""]):
                url = f"{path}?{query}" if query else path
                for headers in ({}, {"HX-Request": "true"}):
                    response = client.get(url, headers=headers, follow_redirects=True)
                    assert response.status_code in (200, 404), f"{url}: {response.status_code}"
                    if set(rule.arguments) & (set(ID_ARGS) | {"subject_id"}):
                        # Every id here is dealer B's: it must not exist for dealer A.
                        assert response.status_code == 404, f"{url} answered {response.status_code}"
                    body = response.get_data(as_text=True)
                    leaked = sorted(m for m in b_markers if m and m in body)
                    assert not leaked, f"{url} shows dealer B's {leaked}"
                    visited += 1
    assert visited > 20


def test_crawler_other_dealer_code_is_404(app, client, db, login_as, two_dealers):
    ar, br, _ = two_dealers
    login_as("admin", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    checked = 0
    for method in ("GET", "POST"):
        for rule in _routes(app, method):
            if "dealer_code" not in rule.arguments:
                continue
            for path in _fill(db, rule, br.code, br):
                response = client.open(path, method=method, headers={"X-CSRFToken": token})
                assert response.status_code == 404, f"{method} {path}: {response.status_code}"
                checked += 1
    assert checked >= 8


def test_crawler_posts_with_other_dealers_ids_are_404(app, client, db, login_as, two_dealers):
    """Every state-changing route that takes a row id answers 404 for dealer B's ids."""
    ar, br, _ = two_dealers
    login_as("admin", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    checked = 0
    for rule in _routes(app, "POST"):
        if not set(rule.arguments) & (set(ID_ARGS) | {"subject_id"}):
            continue
        for path in _fill(db, rule, ar.code, br):
            response = client.post(path, headers={"X-CSRFToken": token, "HX-Request": "true"}, data={})
            assert response.status_code == 404, f"POST {path}: {response.status_code}"
            checked += 1
    assert checked >= 10


def test_lead_queue_hands_out_nothing_of_other_dealers(client, db, login_as, two_dealers):
    """Dealer A's manager posting dealer B's leads (alone or among A's own) to A's distribution queue, to A's
    caller or B's: 404, and no lead of either dealer changes hands."""
    ar, br, _ = two_dealers
    login_as("manager", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/leads/queue")

    def queued(dealer):
        db.expire_all()
        return [(o.id, o.version) for o in db.scalars(select(Opportunity).where(
            Opportunity.dealer_id == dealer.id, Opportunity.oem_lead_id.is_not(None),
            Opportunity.assigned_user_id.is_(None)).order_by(Opportunity.id))]

    a_queue, b_queue = queued(ar), queued(br)
    assert a_queue and b_queue
    a_caller, b_caller = (db.scalar(select(Membership.user_id).where(Membership.dealer_id == d.id,
                                                                     Membership.role == "caller")) for d in (ar, br))
    b_leads = [f"{i}:{v}" for i, v in b_queue]
    for leads in (b_leads, [f"{a_queue[0][0]}:{a_queue[0][1]}", *b_leads]):
        for how, user in (("round_robin", ""), ("assign", a_caller), ("assign", b_caller)):
            response = client.post(f"/d/{ar.code}/leads/queue", data={"csrf_token": token, "leads": leads,
                                                                       "how": how, "user_id": user})
            assert response.status_code == 404, (leads, how, user, response.status_code)
    assert (queued(ar), queued(br)) == (a_queue, b_queue)


def test_crawler_connector_actions_touch_only_the_own_dealer(app, client, db, login_as, two_dealers):
    """Every connector action posted at dealer A (save, sync now, retry, reset a cursor) leaves
    dealer B's connector, cursors and quarantine as they were."""
    ar, br, _ = two_dealers
    login_as("admin", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")

    def b_state():
        db.expire_all()
        return (db.scalar(select(DmsConnector.settings).where(DmsConnector.dealer_id == br.id)),
                sorted(db.execute(select(SyncCursor.entity, SyncCursor.cursor).where(SyncCursor.dealer_id == br.id))),
                db.scalar(select(QuarantinedRecord.resolved_at).where(QuarantinedRecord.dealer_id == br.id)))

    before = b_state()
    posted = 0
    for rule in _routes(app, "POST"):
        if not rule.endpoint.startswith("integrations.") or set(rule.arguments) & set(ID_ARGS):
            continue
        for path in _fill(db, rule, ar.code, br):
            response = client.post(path, headers={"X-CSRFToken": token}, data={
                "kind": "files", "inbox": "alfa-exports", "tolerance_days": "0", "reset_cursors": "1"})
            assert response.status_code in (303, 422), f"POST {path}: {response.status_code}"
            posted += 1
    assert posted >= 4
    assert b_state() == before
    assert db.scalar(select(SyncCursor.cursor).where(SyncCursor.dealer_id == ar.id,
                                                     SyncCursor.entity == "customers")) is None


def test_crawler_oem_actions_touch_only_the_own_dealer(app, client, db, login_as, two_dealers):
    """Every OEM action posted at dealer A (the connector, where the leads go, "Try again", "Resend") leaves
    dealer B's OEM connector and status events as they were, even with B's dealer code, its users and its
    event ids typed in."""
    ar, br, _ = two_dealers
    login_as("admin", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    b_user = db.scalar(select(Membership.user_id).where(Membership.dealer_id == br.id).limit(1))

    def b_state():
        db.expire_all()
        row = db.scalar(select(OemConnector).where(OemConnector.dealer_id == br.id))
        events = db.execute(select(OemStatusEvent.id, OemStatusEvent.status, OemStatusEvent.attempts)
                            .where(OemStatusEvent.dealer_id == br.id).order_by(OemStatusEvent.id)).all()
        return (row.enabled, row.settings, row.secrets, row.session_state, row.distribution, row.parts_user_id,
                row.retention_days, events)

    before = b_state()
    posted = 0
    for rule in _routes(app, "POST"):
        if not rule.endpoint.startswith("oem."):
            continue
        for path in _fill(db, rule, ar.code, br):
            for data in ({"base_url": "https://bravo-oem.example", "client_id": "Bravo-oem-client",
                          "dealer_code": "Bravo-OEM-CODE", "client_secret": "taken", "enabled": "1"},
                         {"base_url": "https://alfa-oem.example", "client_id": "Alfa-oem-client",
                          "dealer_code": "Alfa-OEM-CODE", "retention_days": "7", "service_mode": "direct",
                          "service_user_id": str(b_user), "parts_mode": "queue", "after_sales_mode": "queue"}):
                response = client.post(path, headers={"X-CSRFToken": token}, data=data)
                # An id in the URL is dealer B's (``_fill``): it does not exist at A.
                expected = (404,) if set(rule.arguments) & set(ID_ARGS) else (303, 422)
                assert response.status_code in expected, f"POST {path}: {response.status_code}"
                posted += 1
    assert posted >= 6
    assert b_state() == before
    a_row = db.scalar(select(OemConnector).where(OemConnector.dealer_id == ar.id))
    assert a_row.session_state["stopped"] == "", "Try again forgot A's own refusal"


def test_connector_settings_reach_nothing_of_other_dealers_nor_boxes_own_database(client, db, login_as, two_dealers,
                                                                                  config, database_url):
    """Whatever dealer A's admin types into a connector setting, it names none of dealer B's
    folders, B's DMS database or feed, nor Boxes' own database: each is a 422 next to the field,
    nothing is stored, B's files stay where they are."""
    import json

    ar, br, _ = two_dealers
    login_as("admin", ar)
    root = config.connectors_root
    b_exports = root / br.code / "bravo-exports"
    b_exports.mkdir(parents=True)
    (b_exports / "customers.csv").write_text("Id;Nombre;Mod\nB1;Bravo Cliente;01/03/2025 10:00\n")
    b_db = root / br.code / "dms.db"
    b_db.write_bytes(b"")
    (root / ar.code).mkdir(parents=True)
    (root / ar.code / "to-b").symlink_to(root / br.code)
    b_row = db.scalar(select(DmsConnector).where(DmsConnector.dealer_id == br.id))
    b_row.kind, b_row.settings = "http", {"base_url": "https://dms.bravo.example/feed/v1/BR01"}
    db.commit()
    a_row = db.scalar(select(DmsConnector).where(DmsConnector.dealer_id == ar.id))
    a_before = (a_row.kind, dict(a_row.settings), dict(a_row.secrets))

    queries = json.dumps({"customers": "SELECT 1 AS dms_id, :cursor AS dms_updated_at"})
    columns = json.dumps({"customers": {"dms_id": "Id", "name": "Nombre", "dms_updated_at": "Mod"}})
    attempts = [
        ("inbox", {"kind": "files", "inbox": str(b_exports), "columns": columns}),
        ("inbox", {"kind": "files", "inbox": f"../{br.code}/bravo-exports", "columns": columns}),
        ("inbox", {"kind": "files", "inbox": "to-b/bravo-exports", "columns": columns}),
        ("archive", {"kind": "files", "inbox": "alfa-exports", "archive": str(b_exports)}),
        ("rejected", {"kind": "files", "inbox": "alfa-exports", "rejected": f"../{br.code}"}),
        ("url", {"kind": "sql", "url": f"sqlite:///{b_db}", "queries": queries}),
        ("url", {"kind": "sql", "url": f"sqlite:///../{br.code}/dms.db", "queries": queries}),
        ("url", {"kind": "sql", "url": "sqlite:///to-b/dms.db", "queries": queries}),
        ("url", {"kind": "sql", "url": database_url, "queries": queries}),
        ("base_url", {"kind": "http", "base_url": "https://dms.bravo.example/feed/v1/BR01"}),
        ("base_url", {"kind": "simulator", "base_url": "https://DMS.bravo.example:443/feed/v1/BR01/"}),
    ]
    token = csrf_token_of(client, f"/d/{ar.code}/admin/integrations/dms")
    for field, form in attempts:
        response = client.post(f"/d/{ar.code}/admin/integrations/dms",
                               data={"csrf_token": token, "tolerance_days": "0", "reset_cursors": "1", **form})
        assert response.status_code == 422, form
        assert every(response, f'[data-error="{field}"]'), form
        db.expire_all()
        a_row = db.scalar(select(DmsConnector).where(DmsConnector.dealer_id == ar.id))
        assert (a_row.kind, a_row.settings, a_row.secrets) == a_before, form
    assert sorted(p.name for p in b_exports.iterdir()) == ["customers.csv"]


def test_tenant_guard_filters_even_unfiltered_queries(db, dealers):
    """The session guard adds dealer_id to ORM selects that forgot it."""
    ar, br = dealers
    factories.customer(db, ar, name="Cliente A")
    factories.customer(db, br, name="Cliente B")
    db.info["dealer_id"] = ar.id
    try:
        names = set(db.scalars(select(Customer.name)))
    finally:
        db.info.pop("dealer_id")
    assert names == {"Cliente A"}
    assert len(set(db.scalars(select(Customer.name)))) == 2


def test_non_member_gets_404_not_403(client, login_as, dealers):
    ar, br = dealers
    login_as("caller", ar)
    assert client.get(f"/d/{br.code}/board/deliveries").status_code == 404
    assert client.get("/d/NOPE/board/deliveries").status_code == 404


# Every operation of the admin's users page, with what an attacker would send.
ADMIN_USER_OPERATIONS = [
    {"operation": "roles", "roles": ["caller", "manager", "campaigns", "admin"]},
    {"operation": "password", "password": "taken-over-password"},
    {"operation": "deactivate"},
    {"operation": "reactivate"},
    {},
]


def _account(db, user_id: int) -> tuple:
    db.expire_all()
    user = db.get(User, user_id)
    return (user.password_hash, user.active, user.email, user.name, user.locale, user.group_admin,
            sorted((m.dealer_id, m.role) for m in user.memberships))


def test_crawler_admin_membership_operations_never_reach_other_dealers(app, client, db, login_as, two_dealers):
    """As dealer A's admin: every membership operation on dealer B's users is a 404; adding a B user
    by email is an invitation that gives nobody anything until the user accepts; a user of both
    dealers keeps their password, account and sessions at B whatever A's admin does."""
    ar, br, b_markers = two_dealers
    login_as("admin", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/admin/users")
    shared = factories.user(db, role="manager", dealer=br, email="shared@test.example", name="Shared Person")
    db.add(Membership(user_id=shared.id, dealer_id=ar.id, role="caller"))
    db.commit()
    b_only = [uid for uid in db.scalars(select(Membership.user_id).where(Membership.dealer_id == br.id).distinct())
              if uid != shared.id]
    b_only += list(db.scalars(select(Invitation.user_id).where(Invitation.dealer_id == br.id)))
    before = {uid: _account(db, uid) for uid in [*b_only, shared.id]}
    # The shared user at work at B, in their own browser.
    theirs = app.test_client()
    login_as("manager", br, user=db.get(User, shared.id), on=theirs)
    assert theirs.get(f"/d/{br.code}/board/deliveries").status_code == 200

    admin_routes = [rule for rule in app.url_map.iter_rules()
                    if rule.endpoint.startswith("admin.") and "POST" in rule.methods and "user_id" in rule.arguments]
    assert admin_routes
    checked = 0
    for rule in admin_routes:
        for uid in b_only:
            path = rule.build({"dealer_code": ar.code, "user_id": uid}, append_unknown=False)[1]
            for data in ADMIN_USER_OPERATIONS:
                response = client.post(path, data={"csrf_token": token, **data})
                assert response.status_code == 404, f"POST {path} {data}: {response.status_code}"
                checked += 1
    assert checked >= len(b_only) * len(ADMIN_USER_OPERATIONS)

    # Adding B's users by email: an invitation (or a refusal), never a membership.
    for uid in b_only:
        email = before[uid][2]
        response = client.post(f"/d/{ar.code}/admin/users", data={
            "csrf_token": token, "email": email, "name": "Taken Over", "password": "taken-over-password",
            "roles": ["admin"]})
        assert response.status_code in (303, 422), f"adding {email}: {response.status_code}"
        assert db.scalar(select(Membership.id).where(Membership.user_id == uid, Membership.dealer_id == ar.id)) is None
        for data in ADMIN_USER_OPERATIONS:  # still not A's to manage
            assert client.post(f"/d/{ar.code}/admin/users/{uid}",
                               data={"csrf_token": token, **data}).status_code == 404
    page = client.get(f"/d/{ar.code}/admin/users").get_data(as_text=True)
    typed = {before[uid][2] for uid in b_only}  # the emails A's admin typed are all it shows of them
    leaked = sorted(m for m in b_markers - typed if m and m in page)
    assert not leaked, f"the users page shows dealer B's {leaked}"
    # An invited B user logged in somewhere is still a stranger at A until they accept.
    invited = app.test_client()
    login_as("caller", br, user=db.get(User, b_only[0]), on=invited)
    assert invited.get(f"/d/{ar.code}/board/deliveries").status_code == 404

    # The shared user: A's admin can change A's roles, cannot reset the password, and removing them
    # from A leaves B untouched.
    refused = client.post(f"/d/{ar.code}/admin/users/{shared.id}",
                          data={"csrf_token": token, "operation": "password", "password": "taken-over-password"})
    assert refused.status_code == 422
    assert client.post(f"/d/{ar.code}/admin/users/{shared.id}",
                       data={"csrf_token": token, "operation": "deactivate"}).status_code == 303
    assert theirs.get(f"/d/{br.code}/board/deliveries").status_code == 200
    assert theirs.get(f"/d/{ar.code}/board/deliveries").status_code == 404

    after = {uid: _account(db, uid) for uid in before}
    for uid in b_only:
        assert after[uid] == before[uid], f"user {uid} of dealer B changed"
    password, active, *_rest, memberships = after[shared.id]
    assert (password, active) == before[shared.id][:2]
    assert memberships == [(br.id, "manager")]
