"""Messaging pages, under /d/<dealer_code>/. Thin: parse, call ``boxes.messaging``, render.

- The reminder cell of an Upcoming appointments → "to confirm" row: POST sends (enqueues) the
  reminder, GET is the cell polled by htmx while the message is on its way; it answers 286 (htmx:
  stop polling) once the state is final.
- Admins: the Outbox (every message: status, attempts, error, preview) and the mail settings.
"""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_htmx.responses import HTMXResponseStopPolling
from flask_login import current_user

from boxes.board.badges import BOARD_ROLES
from boxes.errors import ActionError
from boxes.messaging import content, outbox
from boxes.messaging import settings as mail_settings
from boxes.messaging.forms import MailSettingsForm
from boxes.models.messaging import FINAL_STATUSES, MESSAGE_STATUSES, SMTP_SECURITY
from boxes.paging import clamp_page
from boxes.web import (
    db,
    dealer_blueprint,
    is_fragment_request,
    redis_client,
    render_page,
    requires_role,
    submit_form,
)
from jobs.mail import enqueue_send

bp = dealer_blueprint("messaging", __name__)
# The rule the board's reminder cell follows (templates hold no rules).
bp.add_app_template_global(outbox.reminder_problem, "reminder_problem")

REMINDER_TEMPLATE = "messaging/reminder.html"
OUTBOX_TEMPLATE = "messaging/outbox.html"
SETTINGS_TEMPLATE = "messaging/mail_settings.html"


def _config():
    return current_app.config["BOXES"]


def _cell(state: outbox.ReminderState, status: int = 200, error: str = ""):
    # A click on "Send" (POST) also tells screen readers what became of the reminder; polling does not.
    blocks = ["cell", "announce"] if request.method == "POST" else ["cell"]
    html = render_page(REMINDER_TEMPLATE, blocks, state=state, error=error)
    if status == 200 and (state.status in FINAL_STATUSES or state.status is None):
        return HTMXResponseStopPolling(html)  # nothing more will change: htmx stops polling the cell
    return html, status


@bp.get("/appointments/<int:appointment_id>/reminder")
@requires_role(*BOARD_ROLES)
def reminder_status(appointment_id: int):
    state = outbox.reminder_state(db(), g.dealer, appointment_id)
    if not is_fragment_request():
        return redirect(url_for("board.appointments_list", view="to_confirm"))
    return _cell(state)


@bp.post("/appointments/<int:appointment_id>/reminder")
@requires_role(*BOARD_ROLES)
def send_reminder(appointment_id: int):
    error = ""
    try:
        requested = outbox.request_reminder(db(), g.dealer, current_user, appointment_id)
    except ActionError as exc:
        db().rollback()
        error = str(next(iter(exc.errors.values())))
        requested = None
    if requested is not None and requested.enqueue:
        try:
            enqueue_send(redis_client(), _config(), requested.message)
        except Exception:  # Redis down: the row stays queued and the recovery sweep enqueues it.
            current_app.logger.exception("could not enqueue message %s", requested.message.id)
    if not is_fragment_request():
        if error:
            flash(error, "warning")
        return redirect(url_for("board.appointments_list", view="to_confirm"), code=303)
    state = outbox.reminder_state(db(), g.dealer, appointment_id)
    if error:
        return _cell(state, 422, error)
    # Queued: 200 so htmx swaps the cell in and starts polling; already final: 286.
    return _cell(state)


# --- admin: Outbox and mail settings -----------------------------------------------------------

def _outbox_page(**ctx):
    status = request.args.get("status", "")
    status = status if status in MESSAGE_STATUSES else ""
    page = outbox.outbox(db(), g.dealer, status=status, page=clamp_page(request.args.get("page")),
                         per_page=_config().page_size)
    return dict(page=page, counts=outbox.status_counts(db(), g.dealer), filters={"status": status},
                statuses=MESSAGE_STATUSES, **ctx)


@bp.get("/admin/outbox")
@requires_role("admin")
def outbox_index():
    return render_page(OUTBOX_TEMPLATE, ["list"], **_outbox_page(selected=None))


@bp.get("/admin/outbox/<int:message_id>")
@requires_role("admin")
def outbox_message(message_id: int):
    msg = outbox.message(db(), g.dealer, message_id)
    preview = content.preview(db(), g.dealer, msg)
    if is_fragment_request():
        return render_page(OUTBOX_TEMPLATE, ["preview"], selected=msg, preview=preview)
    return render_page(OUTBOX_TEMPLATE, [], **_outbox_page(selected=msg, preview=preview))


# The email's own HTML (inline styles, as mail clients need) in the preview's sandboxed frame: a
# policy of its own — no script, nothing loaded, framed only by our pages — since the app's strict
# policy would strip the email's styles (a srcdoc frame inherits its parent's policy).
EMAIL_PREVIEW_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"


@bp.get("/admin/outbox/<int:message_id>/body")
@requires_role("admin")
def outbox_message_body(message_id: int):
    msg = outbox.message(db(), g.dealer, message_id)
    preview = content.preview(db(), g.dealer, msg)
    if preview is None:
        abort(404)
    response = current_app.response_class(preview.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMAIL_PREVIEW_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _settings_page(status: int = 200, **ctx):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", None)
    own = mail_settings.stored(db(), g.dealer.id)
    active = mail_settings.effective(db(), g.dealer, _config())
    return render_page(SETTINGS_TEMPLATE, ["content"], own=own, active=active, boxes_config=_config(),
                       securities=SMTP_SECURITY, **ctx), status


@bp.get("/admin/mail")
@requires_role("admin")
def mail_settings_page():
    return _settings_page()


@bp.post("/admin/mail")
@requires_role("admin")
def save_mail_settings():
    return submit_form(MailSettingsForm, lambda f: mail_settings.update(
        db(), g.dealer, current_user, f.typed(), config=_config()),
        again=_settings_page, saved=_("Mail settings saved."), to="messaging.mail_settings_page",
        write_only={"smtp_password"})
