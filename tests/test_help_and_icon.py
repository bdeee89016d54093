"""What every page carries besides its content: the support contact a stuck user looks for (the
dealer's, else the installation's) and the favicon browsers ask for."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from boxes.auth import sessions
from boxes.config import Config
from boxes.formatting import contact_links
from boxes.models import Membership
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every, one, text


def footer(response):
    """The page's support-contact footer (None when the page has none)."""
    found = every(response, "footer#support-contact")
    return found[0] if found else None


@pytest.fixture
def ar(db, dealers):
    ar = dealers[0]
    ar.support_contact = "Mesa de ayuda: soporte@autosdelplata.example"
    db.commit()
    return ar


# --- the support contact ------------------------------------------------------------------------

def test_every_dealer_page_shows_the_dealers_support_contact_as_a_link(client, ar, login_as):
    login_as("admin", ar)
    for path in ("board/opportunities", "board/deliveries", "reports", "campaigns", "settings/",
                 "admin/users", "admin/integrations/dms", "admin/outbox", "admin/mail"):
        shown = footer(client.get(f"/d/{ar.code}/{path}"))
        assert shown is not None, f"/{path} has no support contact"
        link = one(shown, 'a[href="mailto:soporte@autosdelplata.example"]')
        assert link.previous_sibling.endswith("Mesa de ayuda: "), path


def test_error_pages_show_the_support_contact_of_the_users_dealer(client, ar, dealers, login_as):
    br = dealers[1]
    br.support_contact = "Suporte: suporte@paulista.example"
    login_as("caller", ar)
    client.get(f"/d/{ar.code}/board/opportunities")  # the session's dealer
    forbidden = client.get(f"/d/{ar.code}/settings/")
    missing_row = client.get(f"/d/{ar.code}/opportunities/999999/discard")
    missing_page = client.get("/no-such-page")
    other_dealer = client.get(f"/d/{br.code}/board/opportunities")  # not a member: 404, and nothing of B
    for response, code in ((forbidden, 403), (missing_row, 404), (missing_page, 404), (other_dealer, 404)):
        assert response.status_code == code
        assert "soporte@autosdelplata.example" in text(footer(response)), response.request.path
        assert "paulista" not in response.get_data(as_text=True)


def test_without_a_dealer_the_installations_contact_or_nothing(app, client, db, dealers, login_as):
    ar, _ = dealers  # no support contact of its own
    assert footer(client.get("/login")) is None, "no contact anywhere: no empty footer"
    app.config["BOXES"].support_contact = "Boxes <help> https://soporte.boxes.example/ayuda."
    login_page = footer(client.get("/login"))
    # "<help>" is text the user reads, not markup; only the address became a link.
    assert text(login_page) == "¿Necesitás ayuda? Boxes <help> https://soporte.boxes.example/ayuda."
    link = one(login_page, "a")
    assert (link["href"], link["rel"], text(link)) == ("https://soporte.boxes.example/ayuda", "noopener",
                                                      "https://soporte.boxes.example/ayuda")
    nobody = factories.user(db, role="caller", dealer=ar)
    db.execute(delete(Membership).where(Membership.user_id == nobody.id))
    db.commit()
    sessions.start(db, nobody, sessions.Lifetimes.of(app.config["BOXES"]))  # a real login, as the login page makes
    with client.session_transaction() as session:
        session["_user_id"] = nobody.get_id()
    no_dealer = client.get("/")
    assert no_dealer.status_code == 403 and "soporte.boxes.example" in text(footer(no_dealer))
    # A dealer without its own contact falls back to the installation's.
    login_as("caller", ar)
    assert "soporte.boxes.example" in text(footer(client.get(f"/d/{ar.code}/board/opportunities")))


def test_the_contact_edited_in_settings_is_what_users_see(client, ar, login_as):
    login_as("manager", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/settings/")
    data = {"csrf_token": token, "first_service_months": "6", "first_service_km": "10000",
            "workshop_address": "Av. Libertador 1234", "phone": "", "email": "",
            "support_contact": "Lucía (sistemas) 11 4321-0000, lucia@autosdelplata.example",
            "works_0": "1", "open_0": "09:00", "close_0": "17:00"}
    assert client.post(f"/d/{ar.code}/settings/dealer", data=data).status_code == 303
    shown = footer(client.get(f"/d/{ar.code}/board/deliveries"))
    assert text(shown) == "¿Necesitás ayuda? Lucía (sistemas) 11 4321-0000, lucia@autosdelplata.example"
    assert [(a["href"], text(a)) for a in every(shown, "a")] == [
        ("mailto:lucia@autosdelplata.example", "lucia@autosdelplata.example")]


def test_contact_links_escape_everything_but_the_links():
    assert contact_links('<script>x</script> a"b@c.example') == (
        '&lt;script&gt;x&lt;/script&gt; a&#34;<a href="mailto:b@c.example">b@c.example</a>')
    assert contact_links("") == ""


def test_support_contact_setting_is_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BOXES_SUPPORT_CONTACT", "Mesa de ayuda del grupo: 0800-555-0100")
    config = Config.from_env(instance_dir=tmp_path, secret_key="x")
    assert config.support_contact == "Mesa de ayuda del grupo: 0800-555-0100"


# --- the favicon --------------------------------------------------------------------------------

def test_favicon_is_served_and_linked_from_every_page(client, ar, login_as):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert icon.data[:4] == b"\x00\x00\x01\x00", "an ICO file"
    for path in ("/login", f"/d/{ar.code}/board/opportunities", "/no-such-page"):
        if path != "/login":
            login_as("caller", ar)
        html = client.get(path).get_data(as_text=True)
        assert client.get(one(html, 'link[rel="icon"]')["href"]).data == icon.data, f"{path} links no icon"
