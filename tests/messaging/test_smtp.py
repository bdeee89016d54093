"""A dealer's own SMTP server: login with the stored (write-only) password, and a server that
refuses the recipient (5xx: final at once, no retry, the row says why)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from boxes.db import utcnow
from boxes.mailsink import free_port
from boxes.messaging import outbox
from boxes.models import AuditLog, MailSettings, OutboundMessage
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every
from tests.messaging_fixtures import *  # noqa: F403
from tests.messaging_fixtures import send_now

# The test server takes a login over plain text on loopback; aiosmtpd warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


class _Server:
    """A strict SMTP server: AUTH required, one user, refuses recipients at refused.example."""

    def __init__(self):
        self.received: list = []
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope)
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
            if auth_data.login == b"dealer-user" and auth_data.password == b"p4ss-w0rd":
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def strict_smtp():
    handler = _Server()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), server_hostname="strict",
                            authenticator=handler.authenticate, auth_required=True, auth_require_tls=False)
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


def _settings(db, dealer, port, **kw):
    db.add(MailSettings(dealer_id=dealer.id, use_own_smtp=True, smtp_host="127.0.0.1", smtp_port=port,
                        smtp_security="none", sender="avisos@dealer.example", **kw))
    db.commit()


def test_dealer_smtp_server_with_login(app, db, dealers, smtp, strict_smtp):
    ar, _ = dealers
    _settings(db, ar, strict_smtp.port, smtp_username="dealer-user", smtp_password="p4ss-w0rd")
    appt = factories.appointment(db, ar, utcnow() + timedelta(days=2), status="requested")
    message = outbox.request_message(db, ar, appt, kind="reminder", origin="manual", actor=None).message
    assert send_now(app, message) == "sent"
    assert strict_smtp.logins == [("dealer-user", "p4ss-w0rd")]
    [envelope] = strict_smtp.received
    assert envelope.mail_from == "avisos@dealer.example"
    assert smtp.messages() == []  # not the installation's server
    db.expire_all()
    row = db.get(OutboundMessage, message.id)
    assert row.message_id.endswith("@dealer.example>")
    # The password is nowhere but in its column.
    assert all("p4ss-w0rd" not in str(a.data) for a in db.scalars(select(AuditLog)))


def test_wrong_password_is_retried_then_fails_with_the_reason(app, db, dealers, strict_smtp):
    ar, _ = dealers
    _settings(db, ar, strict_smtp.port, smtp_username="dealer-user", smtp_password="wrong")
    appt = factories.appointment(db, ar, utcnow() + timedelta(days=2), status="requested")
    message = outbox.request_message(db, ar, appt, kind="reminder", origin="manual", actor=None).message
    from boxes.messaging.sending import TemporaryFailure

    # An admin may fix the password: a failed login is retried like any SMTP failure...
    with pytest.raises(TemporaryFailure):
        send_now(app, message, retries_left=2)
    db.expire_all()
    row = db.get(OutboundMessage, message.id)
    assert (row.status, row.reason, row.attempts) == ("queued", "smtp_error", 1)
    assert "535" in row.error or "Authentication" in row.error
    assert "wrong" not in row.error
    # ...until the last retry.
    assert send_now(app, message, retries_left=0) == "failed:smtp_error"
    db.expire_all()
    row = db.get(OutboundMessage, message.id)
    assert (row.status, row.reason, row.attempts) == ("failed", "smtp_error", 2)


def test_refused_recipient_fails_at_once(app, db, client, login_as, dealers, strict_smtp):
    ar, _ = dealers
    _settings(db, ar, strict_smtp.port, smtp_username="dealer-user", smtp_password="p4ss-w0rd")
    appt = factories.appointment(db, ar, utcnow() + timedelta(days=2), status="requested")
    from boxes.models import Customer

    db.get(Customer, appt.customer_id).email = "nobody@refused.example"
    db.commit()
    message = outbox.request_message(db, ar, appt, kind="reminder", origin="manual", actor=None).message
    assert send_now(app, message, retries_left=3) == "failed:rejected"
    db.expire_all()
    row = db.get(OutboundMessage, message.id)
    assert (row.status, row.reason, row.attempts) == ("failed", "rejected", 1)
    assert "550" in row.error
    assert strict_smtp.received == []
    login_as("caller", ar)
    cell = client.get(f"/d/{ar.code}/appointments/{appt.id}/reminder", headers={"HX-Request": "true"})
    assert cell.status_code == 286
    body = cell.get_data(as_text=True)
    assert every(body, '[data-reminder-status="failed"]') and "El servidor de correo rechazó el mensaje." in body
    assert "Reintentar" in body  # the caller may try again (e.g. after fixing the address)


@pytest.fixture
def banner_service():
    """A service on loopback that is not SMTP: it greets like an SSH server and hangs up."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def _failed_error(app, db, dealer, port) -> str:
    db.query(MailSettings).delete()
    _settings(db, dealer, port, smtp_username="dealer-user", smtp_password="wrong")
    appt = factories.appointment(db, dealer, utcnow() + timedelta(days=2), status="requested")
    message = outbox.request_message(db, dealer, appt, kind="reminder", origin="manual", actor=None).message
    assert send_now(app, message, retries_left=0) == "failed:smtp_error"
    db.expire_all()
    return db.get(OutboundMessage, message.id).error


def test_a_dealers_own_server_cannot_be_used_to_map_the_network(app, db, dealers, strict_smtp, banner_service):
    """The outbox shows the dealer why a message failed; with the address typed by the dealer's admin, a closed
    port and a service that is not SMTP answered differently ("Connection refused", "SMTPConnectError: SSH-2.0…"):
    a port scanner. Until the server has greeted as SMTP, one message; after, its own replies."""
    ar, _ = dealers
    closed = _failed_error(app, db, ar, free_port())
    not_smtp = _failed_error(app, db, ar, banner_service)
    assert closed == not_smtp == "ServerUnreachable: the mail server could not be reached (details in the server log)"
    assert "SSH" not in not_smtp
    # A real SMTP server that refuses the login: its reply is what the admin needs to fix the password.
    assert "535" in _failed_error(app, db, ar, strict_smtp.port)


def test_the_operators_allow_list_bounds_a_dealers_own_server(app, config, client, db, dealers, login_as,
                                                             strict_smtp):
    """BOXES_CONNECTOR_ALLOWED_HOSTS bounds every address a dealer's admin types: the DMS connector's and the
    SMTP server's. Refused at save time with the field's message, and before connecting for a row saved earlier."""
    ar, _ = dealers
    config.connector_allowed_hosts = ("10.20.0.0/16", "smtp.dealer.example:587")
    login_as("admin", ar)
    url = f"/d/{ar.code}/admin/mail"
    token = csrf_token_of(client, url)
    form = {"csrf_token": token, "use_own_smtp": "1", "smtp_host": "127.0.0.1", "smtp_port": str(strict_smtp.port),
            "smtp_security": "none", "reminder_days_before": "1", "reminder_hour": "10"}
    refused = client.post(url, data=form)
    assert refused.status_code == 422
    assert "El operador no permite conexiones a esta dirección." in refused.get_data(as_text=True)
    assert db.scalar(select(MailSettings.id)) is None
    assert client.post(url, data={**form, "smtp_host": "smtp.dealer.example", "smtp_port": "587",
                                  "smtp_security": "starttls"}).status_code == 303

    # A row saved before the operator set the list: nothing connects, the message fails at once and says why.
    db.query(MailSettings).delete()
    _settings(db, ar, strict_smtp.port, smtp_username="dealer-user", smtp_password="p4ss-w0rd")
    appt = factories.appointment(db, ar, utcnow() + timedelta(days=2), status="requested")
    message = outbox.request_message(db, ar, appt, kind="reminder", origin="manual", actor=None).message
    assert send_now(app, message, retries_left=3) == "failed:smtp_error"
    assert strict_smtp.logins == [] and strict_smtp.received == []
    db.expire_all()
    row = db.get(OutboundMessage, message.id)
    assert (row.status, row.attempts) == ("failed", 1) and "BOXES_CONNECTOR_ALLOWED_HOSTS" in row.error
