"""The reminder cell on "to confirm" (button, polling, 286, 422), the admin Outbox and the mail
settings page (write-only password, localized 422, audit)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from boxes.db import utcnow
from boxes.messaging import outbox
from boxes.models import AuditLog, Customer, MailSettings, OutboundMessage
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every, one, text
from tests.messaging_fixtures import *  # noqa: F403
from tests.messaging_fixtures import (
    HX,
    appointment_to_confirm,
    caller_on_appointments,
    click_reminder,
    reminder_url,
    send_now,
)


def test_to_confirm_rows_have_the_reminder_button_and_status(app, client, db, dealers, login_as, smtp):
    ar, _ = dealers
    fresh = appointment_to_confirm(db, ar, name="Fresca Nueva")
    done = appointment_to_confirm(db, ar, name="Ya Enviado")
    send_now(app, outbox.request_message(db, ar, done, kind="reminder", origin="manual", actor=None).message)
    login_as("caller", ar)
    page = client.get(f"/d/{ar.code}/board/appointments?view=to_confirm").get_data(as_text=True)
    fresh_cell = one(page, f"#reminder-{fresh.id}")
    assert fresh_cell["data-reminder-status"] == "none"
    assert one(fresh_cell, f'[hx-post="/d/{ar.code}/appointments/{fresh.id}/reminder"]')
    assert "Enviar recordatorio por email" in text(fresh_cell)
    done_cell = one(page, f"#reminder-{done.id}")
    assert done_cell["data-reminder-status"] == "sent" and "Enviado" in text(done_cell)
    assert not done_cell.has_attr("hx-trigger") and not every(done_cell, "[hx-post], [hx-trigger]")
    # The confirmed list has no reminder cell.
    confirmed = appointment_to_confirm(db, ar, status="confirmed")
    page = client.get(f"/d/{ar.code}/board/appointments?view=confirmed").get_data(as_text=True)
    assert not every(page, f"#reminder-{confirmed.id}")


def test_no_retry_offered_when_the_reason_it_was_not_sent_still_holds(app, client, db, dealers, login_as, smtp):
    ar, _ = dealers
    appt = appointment_to_confirm(db, ar, email="", name="Sin Email")
    token = caller_on_appointments(client, login_as, ar)
    url = reminder_url(ar, appt)
    # Before any reminder: the row says why there is none to send, and offers no button.
    page = client.get(f"/d/{ar.code}/board/appointments?view=to_confirm").get_data(as_text=True)
    cell = one(page, f"#reminder-{appt.id}")
    assert "El cliente no tiene email." in text(cell) and not every(cell, "[data-send-reminder]")
    # A stale page's click: skipped with its reason, and still no "try again" (it can only fail again).
    body = click_reminder(client, url, token).get_data(as_text=True)
    assert "El cliente no tiene email." in text(one(body, '[data-reminder-status="skipped"]'))
    assert not every(body, "[data-send-reminder]")
    page = client.get(f"/d/{ar.code}/board/appointments?view=to_confirm").get_data(as_text=True)
    cell = one(page, f"#reminder-{appt.id}")
    assert cell["data-reminder-status"] == "skipped" and not every(cell, "[data-send-reminder]")
    # The DMS brings the customer's email: now trying again can work, and is offered.
    customer = db.get(Customer, appt.customer_id)
    customer.email = "ahora@mail.example"
    db.commit()
    body = client.get(url, headers=HX).get_data(as_text=True)
    assert "Reintentar" in text(one(body, "[data-send-reminder]"))


def test_queued_cell_polls_until_final(app, client, db, dealers, login_as, smtp):
    ar, _ = dealers
    appt = appointment_to_confirm(db, ar)
    token = caller_on_appointments(client, login_as, ar)
    url = reminder_url(ar, appt)
    response = click_reminder(client, url, token)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    cell = one(body, '[data-reminder-status="queued"]')
    assert (cell["hx-trigger"], cell["hx-get"]) == ("every 2s", url)
    assert client.get(url, headers=HX).status_code == 200  # still queued: keep polling

    message = db.scalar(select(OutboundMessage).where(OutboundMessage.appointment_id == appt.id))
    assert send_now(app, message) == "sent"
    response = client.get(url, headers=HX)
    assert response.status_code == 286
    assert one(response, '[data-reminder-status="sent"]') and not every(response, "[hx-trigger]")
    # Loaded directly (no htmx), the URL sends the user to the list.
    assert client.get(url).status_code == 302


def test_reminder_refused_for_confirmed_or_past_appointments(client, db, dealers, login_as, smtp):
    ar, _ = dealers
    confirmed = appointment_to_confirm(db, ar, status="confirmed")
    past = factories.appointment(db, ar, utcnow() - timedelta(hours=1), status="requested")
    token = caller_on_appointments(client, login_as, ar)
    for appt in (confirmed, past):
        response = click_reminder(client, reminder_url(ar, appt), token)
        assert response.status_code == 422
        assert "Los recordatorios son para turnos futuros todavía sin confirmar." in response.get_data(as_text=True)
    assert db.scalar(select(OutboundMessage.id)) is None


def test_reminder_needs_csrf_and_a_board_role(client, db, dealers, login_as, smtp):
    ar, _ = dealers
    appt = appointment_to_confirm(db, ar)
    login_as("caller", ar)
    assert client.post(reminder_url(ar, appt), headers=HX).status_code == 400
    # Without htmx the form post redirects back to the list.
    token = csrf_token_of(client, f"/d/{ar.code}/board/appointments")
    response = client.post(reminder_url(ar, appt), data={"csrf_token": token})
    assert response.status_code == 303
    assert db.scalar(select(OutboundMessage.status)) == "queued"


def test_outbox_lists_every_message_with_preview(app, client, db, dealers, login_as, smtp):
    ar, _ = dealers
    sent = appointment_to_confirm(db, ar, name="Rita <b>Enviada</b>")
    skipped = appointment_to_confirm(db, ar, name="Omar Optout")
    from boxes.models import Customer

    db.get(Customer, skipped.customer_id).contact_opt_out = True
    db.commit()
    m_sent = outbox.request_message(db, ar, sent, kind="reminder", origin="manual", actor=None).message
    send_now(app, m_sent)
    m_skipped = outbox.request_message(db, ar, skipped, kind="reminder", origin="automatic", actor=None).message
    failed = OutboundMessage(dealer_id=ar.id, appointment_id=appointment_to_confirm(db, ar).id, kind="reminder",
                             scheduled_for=utcnow() + timedelta(days=2), status="failed", attempts=4,
                             reason="smtp_error", error="SMTPServerDisconnected: Connection unexpectedly closed")
    db.add(failed)
    db.commit()

    login_as("caller", ar)
    assert client.get(f"/d/{ar.code}/admin/outbox").status_code == 403
    login_as("admin", ar)
    page = client.get(f"/d/{ar.code}/admin/outbox").get_data(as_text=True)
    for m in (m_sent, m_skipped, failed):
        assert one(page, f"#message-{m.id}")
    assert "SMTPServerDisconnected" in page and "El cliente pidió no ser contactado." in page
    assert text(one(page, f"#message-{failed.id} .attempts")) == "4"
    only_failed = client.get(f"/d/{ar.code}/admin/outbox?status=failed", headers=HX).get_data(as_text=True)
    assert one(only_failed, f"#message-{failed.id}") and not every(only_failed, f"#message-{m_sent.id}")
    assert not every(only_failed, "html")  # the list block alone

    preview = client.get(f"/d/{ar.code}/admin/outbox/{m_sent.id}", headers=HX).get_data(as_text=True)
    body_url = f"/d/{ar.code}/admin/outbox/{m_sent.id}/body"
    assert one(preview, f'[src="{body_url}"]')["sandbox"] == ""
    # The stored HTML body, in a frame with a policy of its own: styled as sent, no script, framed
    # only by our pages.
    body = client.get(body_url)
    assert "Rita &lt;b&gt;Enviada" in body.get_data(as_text=True)
    policy = body.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "frame-ancestors 'self'" in policy
    assert "script-src" not in policy and body.headers["Cache-Control"] == "no-store"
    assert "Recordatorio: tu turno de servicio" in preview
    full = client.get(f"/d/{ar.code}/admin/outbox/{m_skipped.id}")
    assert full.status_code == 200
    assert "Todavía no enviado" in full.get_data(as_text=True)


def test_mail_settings_write_only_password_and_validation(client, db, dealers, login_as, smtp):
    ar, _ = dealers
    login_as("admin", ar)
    url = f"/d/{ar.code}/admin/mail"
    page = client.get(url).get_data(as_text=True)
    assert "buzón local" in page  # embedded mode: the local sink
    token = csrf_token_of(client, url)
    bad = client.post(url, data={"csrf_token": token, "use_own_smtp": "1", "smtp_host": "", "smtp_port": "99999",
                                 "smtp_password": "s3cret-Pass", "reminder_days_before": "1", "reminder_hour": "25"})
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert "Ingresá un puerto de 1 a 65535." in body and "Ingresá una hora de 0 a 23." in body
    assert "Ingresá el nombre o la dirección del servidor SMTP." in body
    assert "s3cret-Pass" not in body
    assert db.scalar(select(MailSettings.id)) is None

    good = {"csrf_token": token, "use_own_smtp": "1", "smtp_host": "smtp.dealer.example", "smtp_port": "587",
            "smtp_security": "starttls", "smtp_username": "boxes", "smtp_password": "s3cret-Pass",
            "sender": "taller@dealer.example", "auto_reminders": "1", "reminder_days_before": "2",
            "reminder_hour": "9", "daily_cap": "500", "rate_per_minute": ""}
    assert client.post(url, data=good).status_code == 303
    db.expire_all()
    stored = db.scalar(select(MailSettings).where(MailSettings.dealer_id == ar.id))
    assert stored.smtp_password == "s3cret-Pass" and stored.reminder_days_before == 2 and stored.rate_per_minute is None
    page = client.get(url).get_data(as_text=True)
    assert "s3cret-Pass" not in page and "smtp.dealer.example" in page
    password = one(page, '[name="smtp_password"]')
    assert (password["type"], password["autocomplete"], password["value"]) == ("password", "new-password", "")

    # Saving again with an empty password keeps it; "remove" clears it.
    assert client.post(url, data={**good, "smtp_password": ""}).status_code == 303
    db.expire_all()
    assert db.scalar(select(MailSettings.smtp_password)) == "s3cret-Pass"
    assert client.post(url, data={**good, "smtp_password": "", "clear_password": "1"}).status_code == 303
    db.expire_all()
    assert db.scalar(select(MailSettings.smtp_password)) == ""

    audits = list(db.scalars(select(AuditLog).where(AuditLog.action == "mail_settings.update")))
    assert len(audits) == 3
    assert all("s3cret-Pass" not in str(a.data) for a in audits)
    assert [a.data["password_changed"] for a in audits] == [True, False, True]

    login_as("manager", ar)
    assert client.get(url).status_code == 403
