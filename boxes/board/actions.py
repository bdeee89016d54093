"""Row actions of buttons 1–5, on the board blueprint.

Every action URL answers GET with its form and POST with the change. An action is made on a list
(button, filters, page: ``lists.ListView``), which the request names — the form's ``list`` field,
else htmx's ``HX-Current-URL`` (list navigation pushes the list's URL) — else the row's own list.
For htmx a GET answers the action panel alone; a change answers the panel, the row as it is now
drawn as a row of *that* list (its columns and actions; marked when it left the list), that list's
numbers (pager total, opportunity groups, sub-view tabs) and the button bar with that list's
button active, all out of band. Loaded directly, the same URL renders the whole board on that list
with the panel open. Bad input → 422 with the form and field messages; a row changed by someone
else → 409 with the fresh row; another dealer's id → 404. The rules are in the service
functions; these views only parse and render.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from boxes import inputs
from boxes.board import appointments, bp, completed, deliveries, in_process, opportunities
from boxes.board.badges import badges
from boxes.board.client import client_history
from boxes.board.contact import SUBJECTS, CallInput, subject_origin
from boxes.board.contact import register_call as register_call_service
from boxes.board.lists import (
    BOARD_ROLES,
    TEMPLATE,
    ListView,
    list_numbers,
    list_view_of,
    page_context,
    row_in_list,
    windows,
)
from boxes.errors import ActionError, Conflict, NotFound
from boxes.models import Appointment, Customer, Membership, Opportunity, RepairOrder, User, Vehicle
from boxes.owned import get_owned
from boxes.web import db, is_fragment_request, render_blocks, render_page, requires_role

# The lists that show each kind of row (the first is the row's own list, when the request names none).
SUBJECT_LISTS = {"deliveries": ("deliveries",), "opportunities": ("opportunities",),
                 "appointments": ("appointments",), "repair-orders": ("in_process", "completed")}
ALL_LISTS = tuple(button for lists in SUBJECT_LISTS.values() for button in lists)
SUBJECT_PATTERN = "any(deliveries, opportunities, appointments, 'repair-orders')"


def _row(subject: str, row_id: int):
    s, dealer = db(), g.dealer
    if subject == "deliveries":
        return deliveries.one(s, dealer, row_id)
    if subject == "opportunities":
        return opportunities.one(s, dealer, windows(), row_id)
    if subject == "appointments":
        return appointments.one(s, dealer, row_id)
    return in_process.one(s, dealer, row_id)


def _list_view(subject: str | None, default: str | None = None) -> ListView:
    """The list the caller is acting on: the form's ``list`` (the list the form was opened from),
    else the page's URL (htmx's ``HX-Current-URL``), if it is a list that shows this kind of row;
    else ``default``, the row's own list. View client has no row: any list."""
    allowed = SUBJECT_LISTS[subject] if subject else ALL_LISTS
    for url in (request.values.get("list"), request.headers.get("HX-Current-URL")):
        view = list_view_of(url)
        if view is not None and view.button in allowed:
            return view
    return ListView(default or allowed[0])


def _local_input(instant: datetime | None) -> str:
    if instant is None:
        return ""
    return instant.astimezone(ZoneInfo(g.dealer.time_zone)).strftime("%Y-%m-%dT%H:%M")


def _parse_local(name: str, errors: dict) -> datetime | None:
    """A datetime-local field, in the dealer's time zone → UTC, bounded (``boxes.inputs``: a year-9999
    date would overflow here and in every later job). Empty → None. Whether it must be in the future
    is the service's rule."""
    return inputs.local_instant(request.form.get(name), name, errors, ZoneInfo(g.dealer.time_zone))


def _tomorrow_at_ten() -> datetime:
    tz = ZoneInfo(g.dealer.time_zone)
    day = windows().today + timedelta(days=1)
    return datetime.combine(day, time(10, 0), tzinfo=tz)


def _subject_label(customer: Customer | None, vehicle: Vehicle | None) -> str:
    parts = []
    if customer is not None:
        parts.append(customer.name)
    if vehicle is not None:
        parts.append(" ".join(p for p in (vehicle.model, vehicle.version, vehicle.plate) if p))
    return " · ".join(parts)


def _label_for(customer_id, vehicle_id) -> str:
    customer = db().get(Customer, customer_id) if customer_id else None
    vehicle = db().get(Vehicle, vehicle_id) if vehicle_id else None
    return _subject_label(customer, vehicle)


def _assignees() -> list[tuple[int, str]]:
    return list(db().execute(
        select(User.id, User.name).join(Membership, Membership.user_id == User.id)
        .where(Membership.dealer_id == g.dealer.id, User.active.is_(True)).distinct().order_by(User.name)))


def _owned_or_404(model, row_id: int):
    """The dealer's row, or 404 (another dealer's id simply does not exist here)."""
    try:
        return get_owned(db(), model, g.dealer.id, row_id)
    except NotFound:
        abort(404)


def _respond(view: ListView, action: str, *, status: int = 200, subject: str | None = None,
             row_id: int | None = None, **ctx):
    """htmx: the panel; after a change (``row_id``) also the row, the list's numbers and the button
    bar, out of band, all for the caller's list. A direct load: the whole board on that list."""
    w = windows()
    ctx.setdefault("form", {})
    ctx.setdefault("errors", {})
    # ``url_with`` builds the list's own links (tabs, pager), not the action URL's.
    ctx.update(action=action, list_url=view.url, url_with=view.url_with)
    if not is_fragment_request():
        return render_page(TEMPLATE, [], **page_context(view.button, w, view.args, **ctx)), status
    # Screen readers hear the outcome of a POST (done, or what to correct), never a form opening.
    if request.method == "POST" and "announce" not in ctx:
        ctx["announce"] = ctx.get("message") or " ".join(str(e) for e in ctx["errors"].values())
    if row_id is None:  # a form, its field errors, a client's history: nothing else changed
        return render_blocks(TEMPLATE, ["panel", "announce"], button=view.button, windows=w, **ctx), status
    html = render_blocks(TEMPLATE, ["panel", "row_oob", "numbers_oob", "badges_oob", "announce"], oob=True,
                         button=view.button, windows=w, badges=badges(db(), g.dealer, w),
                         row_item=_row(subject, row_id), row_left=not row_in_list(view, w, row_id),
                         **list_numbers(view, w), **ctx)
    return html, status


def _done(view: ListView, subject: str, row_id: int, message: str):
    if is_fragment_request():
        return _respond(view, "done", subject=subject, row_id=row_id, message=message, panel_title=_("Saved"))
    flash(message, "success")
    return redirect(view.url, code=303)


def _run(view: ListView, subject: str, action: str, row_id: int, render_form: dict, service, message: str,
         parse_errors: dict | None = None):
    """POST: call the service; map its errors to 422 / 409 / 404. ``parse_errors`` (fields the view
    could not even parse, e.g. a date) are answered exactly like the service's own field errors,
    and the service is not called."""
    try:
        if parse_errors:
            raise ActionError(parse_errors)
        service()
    except NotFound:
        abort(404)
    except ActionError as exc:
        db().rollback()
        return _respond(view, action, status=422, form=request.form.to_dict(), errors=exc.errors, **render_form)
    except Conflict:
        db().rollback()
        fresh = _fresh_version(subject, row_id)
        return _respond(view, action, status=409, subject=subject, row_id=row_id, conflict=True,
                        form=request.form.to_dict() | {"version": fresh}, **(render_form | {"version": fresh}))
    return _done(view, subject, row_id, message)


def _fresh_version(subject: str, row_id: int) -> int | None:
    db().expire_all()
    model = Opportunity if subject == "opportunities" else Appointment if subject == "appointments" else None
    if model is None:
        return None
    row = db().get(model, row_id)
    return row.version if row is not None else None


# --- everywhere: register call, create opportunity, view client ------------------------------

@bp.route(f"/<{SUBJECT_PATTERN}:subject>/<int:subject_id>/call", methods=["GET", "POST"])
@requires_role(*BOARD_ROLES)
def register_call(subject: str, subject_id: int):
    row = _owned_or_404(SUBJECTS[subject][0], subject_id)
    view = _list_view(subject)
    version = getattr(row, "version", None) if subject == "opportunities" else None
    render_form = dict(panel_title=_("Register call"), version=version,
                       subject_label=_label_for(row.customer_id, getattr(row, "vehicle_id", None)),
                       post_url=url_for("board.register_call", subject=subject, subject_id=subject_id))
    if request.method == "GET":
        return _respond(view, "call", **render_form)
    errors: dict = {}
    data = CallInput(channel=request.form.get("channel", ""), outcome=request.form.get("outcome", ""),
                     comment=request.form.get("comment", ""), next_contact_at=_parse_local("next_contact_at", errors),
                     version=request.form.get("version"))

    def service():
        register_call_service(db(), g.dealer, current_user, subject, subject_id, data)

    return _run(view, subject, "call", subject_id, render_form, service, _("Call registered."), parse_errors=errors)


@bp.route(f"/<{SUBJECT_PATTERN}:subject>/<int:subject_id>/opportunity", methods=["GET", "POST"])
@requires_role(*BOARD_ROLES)
def create_opportunity(subject: str, subject_id: int):
    row = _owned_or_404(SUBJECTS[subject][0], subject_id)
    view = _list_view(subject)
    vehicle_id = getattr(row, "vehicle_id", None)
    default_due = (deliveries.first_service_due(g.dealer, row.delivered_at) if subject == "deliveries"
                   else _tomorrow_at_ten())
    render_form = dict(panel_title=_("Create opportunity"), assignees=_assignees(),
                       subject_label=_label_for(row.customer_id, vehicle_id),
                       post_url=url_for("board.create_opportunity", subject=subject, subject_id=subject_id))
    if request.method == "GET":
        return _respond(view, "opportunity", form={"due_at": _local_input(default_due)}, **render_form)
    errors: dict = {}
    due_at = _parse_local("due_at", errors)

    def service():
        opportunities.create_opportunity(
            db(), g.dealer, current_user, origin=subject_origin(subject, row), due_at=due_at,
            note=request.form.get("note", ""), customer_id=row.customer_id, vehicle_id=vehicle_id,
            assigned_user_id=request.form.get("assigned_user_id"))

    return _run(view, subject, "opportunity", subject_id, render_form, service, _("Opportunity created."),
                parse_errors=errors)


@bp.get("/customers/<int:customer_id>")
@requires_role(*BOARD_ROLES)
def client_view(customer_id: int):
    try:
        history = client_history(db(), g.dealer, customer_id)
    except NotFound:
        abort(404)
    return _respond(_list_view(None), "client", history=history, panel_title=_("Client history"))


# --- 2 New opportunities: discard, replan, appointment sold ----------------------------------

def _opportunity_form(opp: Opportunity, endpoint: str, title: str, **extra) -> dict:
    return dict(panel_title=title, version=opp.version, subject_label=_label_for(opp.customer_id, opp.vehicle_id),
                post_url=url_for(endpoint, opportunity_id=opp.id), **extra)


@bp.route("/opportunities/<int:opportunity_id>/discard", methods=["GET", "POST"])
@requires_role(*BOARD_ROLES)
def discard(opportunity_id: int):
    opp = _owned_or_404(Opportunity, opportunity_id)
    view = _list_view("opportunities")
    render_form = _opportunity_form(opp, "board.discard", _("Discard"),
                                    reasons=opportunities.discard_reasons(db(), g.dealer))
    if request.method == "GET":
        return _respond(view, "discard", **render_form)
    return _run(view, "opportunities", "discard", opportunity_id, render_form, lambda: opportunities.discard(
        db(), g.dealer, current_user, opportunity_id, reason_id=request.form.get("reason_id"),
        comment=request.form.get("comment", ""), version=request.form.get("version")), _("Opportunity discarded."))


@bp.route("/opportunities/<int:opportunity_id>/replan", methods=["GET", "POST"])
@requires_role(*BOARD_ROLES)
def replan(opportunity_id: int):
    opp = _owned_or_404(Opportunity, opportunity_id)
    view = _list_view("opportunities")
    render_form = _opportunity_form(opp, "board.replan", _("Replan"))
    if request.method == "GET":
        return _respond(view, "replan", form={"due_at": _local_input(_tomorrow_at_ten())}, **render_form)
    errors: dict = {}
    due_at = _parse_local("due_at", errors)

    def service():
        opportunities.replan(db(), g.dealer, current_user, opportunity_id, due_at=due_at,
                             comment=request.form.get("comment", ""), version=request.form.get("version"))

    return _run(view, "opportunities", "replan", opportunity_id, render_form, service, _("Opportunity replanned."),
                parse_errors=errors)


@bp.route("/opportunities/<int:opportunity_id>/sold", methods=["GET", "POST"])
@requires_role(*BOARD_ROLES)
def mark_sold(opportunity_id: int):
    opp = _owned_or_404(Opportunity, opportunity_id)
    view = _list_view("opportunities")
    render_form = _opportunity_form(opp, "board.mark_sold", _("Appointment sold"))
    if request.method == "GET":
        return _respond(view, "sold", **render_form)
    errors: dict = {}
    appointment_at = _parse_local("appointment_at", errors)

    def service():
        opportunities.mark_sold(db(), g.dealer, current_user, opportunity_id, appointment_at=appointment_at,
                                comment=request.form.get("comment", ""), version=request.form.get("version"))

    return _run(view, "opportunities", "sold", opportunity_id, render_form, service,
                _("Appointment sold registered."), parse_errors=errors)


# --- 3 Upcoming appointments: confirm, recovery opportunity ------------------------------------

@bp.route("/appointments/<int:appointment_id>/confirm", methods=["GET", "POST"])
@requires_role(*BOARD_ROLES)
def confirm_appointment(appointment_id: int):
    appt = _owned_or_404(Appointment, appointment_id)
    view = _list_view("appointments")
    render_form = dict(panel_title=_("Confirm appointment"), version=appt.version,
                       subject_label=_label_for(appt.customer_id, appt.vehicle_id),
                       post_url=url_for("board.confirm_appointment", appointment_id=appointment_id))
    if request.method == "GET":
        return _respond(view, "confirm", **render_form)
    return _run(view, "appointments", "confirm", appointment_id, render_form, lambda: appointments.confirm(
        db(), g.dealer, current_user, appointment_id, comment=request.form.get("comment", ""),
        version=request.form.get("version")), _("Appointment confirmed."))


@bp.route("/appointments/<int:appointment_id>/recovery", methods=["GET", "POST"])
@requires_role(*BOARD_ROLES)
def recovery_opportunity(appointment_id: int):
    appt = _owned_or_404(Appointment, appointment_id)
    view = _list_view("appointments")
    render_form = dict(panel_title=_("Recovery opportunity"), assignees=_assignees(),
                       subject_label=_label_for(appt.customer_id, appt.vehicle_id),
                       post_url=url_for("board.recovery_opportunity", appointment_id=appointment_id))
    if request.method == "GET":
        return _respond(view, "recovery", form={"due_at": _local_input(_tomorrow_at_ten())}, **render_form)
    errors: dict = {}
    due_at = _parse_local("due_at", errors)

    def service():
        appointments.create_recovery_opportunity(db(), g.dealer, current_user, appointment_id, due_at=due_at,
                                                 note=request.form.get("note", ""),
                                                 assigned_user_id=request.form.get("assigned_user_id"))

    return _run(view, "appointments", "recovery", appointment_id, render_form, service,
                _("Recovery opportunity created."), parse_errors=errors)


# --- 4 In process: unit delivered; 5 Services completed: courtesy call -----------------------

@bp.route("/repair-orders/<int:repair_order_id>/delivered", methods=["GET", "POST"])
@requires_role(*BOARD_ROLES)
def unit_delivered(repair_order_id: int):
    ro = _owned_or_404(RepairOrder, repair_order_id)
    view = _list_view("repair-orders", "in_process")
    render_form = dict(panel_title=_("Unit delivered"), subject_label=_label_for(ro.customer_id, ro.vehicle_id),
                       post_url=url_for("board.unit_delivered", repair_order_id=repair_order_id))
    if request.method == "GET":
        return _respond(view, "delivered", **render_form)
    return _run(view, "repair-orders", "delivered", repair_order_id, render_form,
                lambda: in_process.mark_unit_delivered(db(), g.dealer, current_user, repair_order_id),
                _("Unit delivered: it moved to Services completed."))


@bp.route("/repair-orders/<int:repair_order_id>/courtesy", methods=["GET", "POST"])
@requires_role(*BOARD_ROLES)
def courtesy_call(repair_order_id: int):
    ro = _owned_or_404(RepairOrder, repair_order_id)
    view = _list_view("repair-orders", "completed")
    render_form = dict(panel_title=_("Courtesy call"), subject_label=_label_for(ro.customer_id, ro.vehicle_id),
                       post_url=url_for("board.courtesy_call", repair_order_id=repair_order_id))
    if request.method == "GET":
        return _respond(view, "courtesy", **render_form)
    data = CallInput(channel=request.form.get("channel", ""), outcome=request.form.get("outcome", ""),
                     comment=request.form.get("comment", ""))
    return _run(view, "repair-orders", "courtesy", repair_order_id, render_form,
                lambda: completed.register_courtesy_call(db(), g.dealer, current_user, repair_order_id, data,
                                                         request.form.get("satisfaction")),
                _("Courtesy call registered."))
