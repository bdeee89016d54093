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
functions; these views only parse and render. Each action is a ``row_action``: its URL, form, title,
confirmation and the call of its service; what every action does around that is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from boxes.board import appointments, bp, completed, deliveries, in_process, opportunities
from boxes.board.badges import BOARD_ROLES, badges
from boxes.board.client import client_history
from boxes.board.contact import SUBJECTS, CallInput, current_version, subject_origin
from boxes.board.contact import register_call as register_call_service
from boxes.board.forms import (
    CallForm,
    ConfirmForm,
    CourtesyCallForm,
    DiscardForm,
    OpportunityForm,
    ReplanForm,
    SoldForm,
    UnitDeliveredForm,
)
from boxes.board.lists import (
    TEMPLATE,
    ListView,
    list_numbers,
    list_view_of,
    page_context,
    row_in_list,
    windows,
)
from boxes.errors import ActionError, Conflict
from boxes.forms import ActionForm, field_errors
from boxes.models import Appointment, Customer, Delivery, Opportunity, RepairOrder, Vehicle
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


def _owned_or_404(model, row_id: int):
    """The dealer's row, or 404 (another dealer's id simply does not exist here)."""
    return get_owned(db(), model, g.dealer.id, row_id)


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


@dataclass
class Panel:
    """One row action: on which list, for which row, and what its form shows (title, the row's label, the
    version seen, choices); ``initial``: the form's values when it opens."""

    view: ListView
    subject: str
    action: str
    row_id: int
    context: dict
    initial: dict = field(default_factory=dict)


def _panel(subject: str, row, action: str, title: str, *, version: int | None = None,
           default_list: str | None = None, initial=None, **context) -> Panel:
    """The panel of ``action`` on ``row``; its form posts back to this URL. ``version``: the row's, for the
    actions that change a row several callers edit (checked when the form comes back)."""
    return Panel(view=_list_view(subject, default_list), subject=subject, action=action, row_id=row.id,
                 initial=initial or {},
                 context=dict(panel_title=title, version=version,
                              subject_label=_label_for(row.customer_id, getattr(row, "vehicle_id", None)),
                              post_url=url_for(request.endpoint, **request.view_args), **context))


def _act(panel: Panel, form_class: type[ActionForm], service, message: str):
    """GET: the form. POST: the form parsed (a value that is not even one: 422, no service called), then
    ``service(form)`` with typed values; its ``ActionError`` → 422 with the field messages, ``Conflict`` →
    409 with the fresh row and version, ``NotFound`` → 404; done → the panel's confirmation and the row,
    numbers and buttons redrawn."""
    view, subject, action, row_id = panel.view, panel.subject, panel.action, panel.row_id
    if request.method == "GET":
        return _respond(view, action, form=panel.initial, **panel.context)
    form = form_class()
    try:
        if not form.validate():
            raise ActionError(field_errors(form))
        service(form)
    except ActionError as exc:
        db().rollback()
        return _respond(view, action, status=422, form=request.form.to_dict(), errors=exc.errors, **panel.context)
    except Conflict:
        db().rollback()
        fresh = current_version(db(), subject, row_id)
        return _respond(view, action, status=409, subject=subject, row_id=row_id, conflict=True,
                        form=request.form.to_dict() | {"version": fresh}, **(panel.context | {"version": fresh}))
    return _done(view, subject, row_id, message)


def row_action(rule: str, form_class: type[ActionForm], *, title, done, versioned: bool | str = False,
               default_list: str | None = None, initial=None, choices=None):
    """Registers the decorated function as the row action at ``rule``, ``/<subject>/<int:…_id>/<action>``
    (the subject a URL argument for the actions every list has), for the board's roles, GET and POST, under
    the function's name (the endpoint ``board.<name>`` templates and tests use). The function is only the
    change, with the form's typed values: ``change(row, form)``, or ``change(row, form, subject)`` when the
    URL names the subject; the rest is the same for every action: the row (404 for another dealer's id),
    its ``Panel``, then ``_act``.

    ``title``: the panel's title (the button's label); ``done``: the confirmation. ``versioned``: the form
    carries the row's version, checked when it comes back (True, or the one subject it does that for).
    ``default_list``: the row's own list, when the request names none. ``initial(row)``: the form's values
    when it opens; ``choices(row)``: what else the form shows (reasons, assignees)."""
    action = rule.rsplit("/", 1)[1]
    fixed_subject = None if rule.startswith("/<") else rule.split("/")[1]

    def register(change):
        def view(subject: str = fixed_subject, **row_ids: int):
            (row_id,) = row_ids.values()
            row = _owned_or_404(SUBJECTS[subject][0], row_id)
            version = row.version if versioned is True or versioned == subject else None
            panel = _panel(subject, row, action, str(title), version=version, default_list=default_list,
                           initial=initial(row) if initial else None, **(choices(row) if choices else {}))
            service = (lambda f: change(row, f)) if fixed_subject else (lambda f: change(row, f, subject))
            return _act(panel, form_class, service, str(done))

        bp.add_url_rule(rule, change.__name__, requires_role(*BOARD_ROLES)(view), methods=["GET", "POST"])
        return change

    return register


def _due_tomorrow(_row) -> dict:
    """The due date the form proposes: tomorrow at ten, the dealer's time."""
    return {"due_at": _local_input(opportunities.default_due(g.dealer, windows()))}


def _first_due(row) -> dict:
    """A new opportunity's proposed due date: a delivery's first service, any other row's tomorrow at ten."""
    if isinstance(row, Delivery):
        return {"due_at": _local_input(deliveries.first_service_due(g.dealer, row.delivered_at))}
    return _due_tomorrow(row)


def _assignees(_row) -> dict:
    return {"assignees": opportunities.assignees(db(), g.dealer)}


def _discard_reasons(_row) -> dict:
    return {"reasons": opportunities.discard_reasons(db(), g.dealer)}


# --- everywhere: register call, create opportunity, view client ------------------------------

@row_action(f"/<{SUBJECT_PATTERN}:subject>/<int:subject_id>/call", CallForm, title=_l("Register call"),
            done=_l("Call registered."), versioned="opportunities")
def register_call(row, f: CallForm, subject: str):
    register_call_service(db(), g.dealer, current_user, subject, row.id, _call_input(f))


def _call_input(f: CallForm) -> CallInput:
    return CallInput(channel=f.channel.data, outcome=f.outcome.data, comment=f.comment.data,
                     next_contact_at=f.next_contact_at.data, version=f.version.data)


@row_action(f"/<{SUBJECT_PATTERN}:subject>/<int:subject_id>/opportunity", OpportunityForm,
            title=_l("Create opportunity"), done=_l("Opportunity created."), initial=_first_due, choices=_assignees)
def create_opportunity(row, f: OpportunityForm, subject: str):
    opportunities.create_opportunity(
        db(), g.dealer, current_user, origin=subject_origin(subject, row), due_at=f.due_at.data, note=f.note.data,
        customer_id=row.customer_id, vehicle_id=getattr(row, "vehicle_id", None),
        assigned_user_id=f.assigned_user_id.data)


@bp.get("/customers/<int:customer_id>")
@requires_role(*BOARD_ROLES)
def client_view(customer_id: int):
    history = client_history(db(), g.dealer, customer_id)
    return _respond(_list_view(None), "client", history=history, panel_title=_("Client history"))


# --- 2 New opportunities: discard, replan, appointment sold ----------------------------------

@row_action("/opportunities/<int:opportunity_id>/discard", DiscardForm, title=_l("Discard"),
            done=_l("Opportunity discarded."), versioned=True, choices=_discard_reasons)
def discard(opp: Opportunity, f: DiscardForm):
    opportunities.discard(db(), g.dealer, current_user, opp.id, reason_id=f.reason_id.data, comment=f.comment.data,
                          version=f.version.data)


@row_action("/opportunities/<int:opportunity_id>/replan", ReplanForm, title=_l("Replan"),
            done=_l("Opportunity replanned."), versioned=True, initial=_due_tomorrow)
def replan(opp: Opportunity, f: ReplanForm):
    opportunities.replan(db(), g.dealer, current_user, opp.id, due_at=f.due_at.data, comment=f.comment.data,
                         version=f.version.data)


@row_action("/opportunities/<int:opportunity_id>/sold", SoldForm, title=_l("Appointment sold"),
            done=_l("Appointment sold registered."), versioned=True)
def mark_sold(opp: Opportunity, f: SoldForm):
    opportunities.mark_sold(db(), g.dealer, current_user, opp.id, appointment_at=f.appointment_at.data,
                            comment=f.comment.data, version=f.version.data)


# --- 3 Upcoming appointments: confirm, recovery opportunity ------------------------------------

@row_action("/appointments/<int:appointment_id>/confirm", ConfirmForm, title=_l("Confirm appointment"),
            done=_l("Appointment confirmed."), versioned=True)
def confirm_appointment(appt: Appointment, f: ConfirmForm):
    appointments.confirm(db(), g.dealer, current_user, appt.id, comment=f.comment.data, version=f.version.data)


@row_action("/appointments/<int:appointment_id>/recovery", OpportunityForm, title=_l("Recovery opportunity"),
            done=_l("Recovery opportunity created."), initial=_due_tomorrow, choices=_assignees)
def recovery_opportunity(appt: Appointment, f: OpportunityForm):
    appointments.create_recovery_opportunity(db(), g.dealer, current_user, appt.id, due_at=f.due_at.data,
                                             note=f.note.data, assigned_user_id=f.assigned_user_id.data)


# --- 4 In process: unit delivered; 5 Services completed: courtesy call -----------------------

@row_action("/repair-orders/<int:repair_order_id>/delivered", UnitDeliveredForm, title=_l("Unit delivered"),
            done=_l("Unit delivered: it moved to Services completed."), default_list="in_process")
def unit_delivered(ro: RepairOrder, f: UnitDeliveredForm):
    in_process.mark_unit_delivered(db(), g.dealer, current_user, ro.id)


@row_action("/repair-orders/<int:repair_order_id>/courtesy", CourtesyCallForm, title=_l("Courtesy call"),
            done=_l("Courtesy call registered."), default_list="completed")
def courtesy_call(ro: RepairOrder, f: CourtesyCallForm):
    completed.register_courtesy_call(db(), g.dealer, current_user, ro.id, _call_input(f), f.satisfaction.data)
