"""The board shell: six buttons with counts, each list as a full page and as an htmx fragment."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from boxes.db import utcnow
from tests import factories
from tests.html import every, one, parse, text

LISTS = [
    ("/board/deliveries", "deliveries"),
    ("/board/opportunities", "opportunities"),
    ("/board/appointments", "appointments"),
    ("/board/in-process", "in_process"),
    ("/board/completed", "completed"),
    ("/reports", "reports"),
    ("/campaigns", "campaigns"),
]


def badge_counts(html: str) -> dict[str, str]:
    """Each button's count as its badge shows it."""
    return {badge["data-badge"]: text(badge) for badge in every(html, "[data-badge]") if text(badge).isdigit()}


def group_counts(html: str) -> dict[str, int]:
    """The count each opportunity group's heading ends with ("Vencidas: 3")."""
    return {group["data-group-count"]: int(re.search(r": (\d+)$", text(group)).group(1))
            for group in every(html, "[data-group-count]")}


@pytest.fixture
def dataset(db, dealers):
    ar, _ = dealers
    factories.one_row_per_list(db, ar, ("Juan Delivery", "Ana Opportunity", "Luis Appointment", "Marta InProcess",
                                        "Pedro Completed"))
    return ar


def test_login_required(client, dealers):
    response = client.get("/d/AR01/board/deliveries")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(("path", "button"), LISTS)
def test_each_list_full_page_and_fragment(client, login_as, dataset, path, button):
    login_as("admin", dataset)
    full = client.get(f"/d/{dataset.code}{path}")
    assert full.status_code == 200
    html = full.get_data(as_text=True)
    assert one(html, "html") and one(html, "#board-buttons") and one(html, "#board-list")
    assert every(html, f'[data-button="{button}"]')
    assert "HX-Request" in full.headers["Vary"]

    fragment = client.get(f"/d/{dataset.code}{path}", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert not every(body, "html")
    # The list does not wait for the counts: it brings a loader that fetches the button bar at once,
    # with this button active.
    assert not every(body, "#board-buttons")
    loader = one(body, "div[hidden][data-badges-loader]")
    assert (loader["hx-trigger"], loader["hx-target"], loader["hx-swap"]) == ("load", "#board-buttons", "outerHTML")
    bar = client.get(loader["hx-get"], headers={"HX-Request": "true"}).get_data(as_text=True)
    assert parse(bar).contents[0] == one(bar, "nav#board-buttons")  # the bar itself, nothing before it
    assert one(bar, f'.board-button.active[data-button="{button}"]')
    assert badge_counts(bar)
    # A history-restore request gets the whole page back.
    restore = client.get(f"/d/{dataset.code}{path}",
                         headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert one(restore, "html")


def test_rows_show_customer_vehicle_and_phone_links(client, login_as, dataset):
    login_as("caller", dataset)
    html = client.get(f"/d/{dataset.code}/board/deliveries").get_data(as_text=True)
    assert "Juan Delivery" in html
    assert every(html, 'a[href="tel:+5491155550101"]')
    assert "https://wa.me/5491155550101?text=" in html
    assert "Onix" in html and "8AGTEST" in html


def test_unparseable_phone_shown_without_links(client, login_as, db, dealers):
    ar, _ = dealers
    factories.delivery(db, ar, utcnow() - timedelta(days=1), name="Sin Telefono", phone_mobile="llamar a la oficina")
    login_as("caller", ar)
    html = client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    assert "llamar a la oficina" in html
    assert "tel:llamar" not in html


def test_badges_show_counts(client, login_as, dataset):
    login_as("admin", dataset)
    html = client.get(f"/d/{dataset.code}/badges").get_data(as_text=True)
    assert badge_counts(html) == {"deliveries": "1", "opportunities": "1", "appointments": "1", "in_process": "1",
                      "completed": "1", "reports": "0", "campaigns": "0"}


def test_roles_limit_buttons(client, login_as, dataset):
    login_as("caller", dataset)
    html = client.get(f"/d/{dataset.code}/board/deliveries").get_data(as_text=True)
    assert not every(html, '[data-button="reports"]')
    assert client.get(f"/d/{dataset.code}/reports").status_code == 403


def test_pagination(client, login_as, db, dealers, app):
    ar, _ = dealers
    app.config["BOXES"].page_size = 3
    now = utcnow()
    for i in range(7):
        factories.opportunity(db, ar, now + timedelta(hours=i + 1), name=f"Paged {i}")
    login_as("caller", ar)
    page1 = client.get(f"/d/{ar.code}/board/opportunities").get_data(as_text=True)
    page3 = client.get(f"/d/{ar.code}/board/opportunities?page=3").get_data(as_text=True)
    assert "Paged 0" in page1 and "Paged 3" not in page1
    assert "Paged 6" in page3 and "Paged 0" not in page3
    assert every(page1, '[rel="next"]') and not every(page3, '[rel="next"]')
    # A page past the end shows the last page, not an empty list, with the groups of the whole list.
    past = client.get(f"/d/{ar.code}/board/opportunities?page=99").get_data(as_text=True)

    def groups(html: str) -> int:
        return sum(group_counts(html).values())

    assert "Paged 6" in past and groups(past) == groups(page1) == groups(page3) == 7
    # An empty list: no rows, every group at zero.
    empty = client.get(f"/d/{ar.code}/board/opportunities?origin=oem_lead").get_data(as_text=True)
    assert "Paged" not in empty and groups(empty) == 0 and len(group_counts(empty)) == 3


@pytest.mark.parametrize(("path", "button"), LISTS)
def test_query_count_does_not_grow_with_rows(client, login_as, db, dealers, app, path, button):
    ar, _ = dealers
    engine = app.extensions["boxes.engine"]
    login_as("admin", ar)

    def count_queries() -> int:
        statements = []

        def before(conn, cursor, statement, params, context, executemany):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", before)
        try:
            assert client.get(f"/d/{ar.code}{path}").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", before)
        return len(statements)

    def add_rows(n: int):
        now = utcnow()
        for i in range(n):
            factories.delivery(db, ar, now - timedelta(days=1, minutes=i))
            factories.opportunity(db, ar, now + timedelta(hours=i + 1))
            factories.appointment(db, ar, now + timedelta(days=1, minutes=i))
            factories.repair_order(db, ar, now - timedelta(hours=3, minutes=i))
            factories.repair_order(db, ar, now - timedelta(days=2), delivered_at=now - timedelta(hours=5))
            factories.activity(db, ar, now - timedelta(minutes=i), comment="hola")
            camp = factories.campaign(db, ar)
            factories.opportunity(db, ar, now + timedelta(days=2), origin="campaign", campaign_id=camp.id)

    count_queries()  # the first visit records the dealer as the user's last (once, not per page)
    add_rows(1)
    few = count_queries()
    add_rows(12)
    many = count_queries()
    assert many == few, f"{path}: {few} queries with 1 row, {many} with 13"


def test_campaign_filter_lists_this_dealers_campaigns_and_filters_by_one(client, login_as, db, dealers):
    """"Op. Campaña": the dealer's campaigns, newest first, never another dealer's; choosing one lists
    only its opportunities, and the groups count only those."""
    ar, br = dealers
    now = utcnow()
    recall = factories.campaign(db, ar, name="Recall airbag", created_at=now - timedelta(days=20))
    service = factories.campaign(db, ar, name="Service campaign", created_at=now - timedelta(days=2))
    factories.campaign(db, br, name="Campanha do Brasil")
    factories.opportunity(db, ar, now + timedelta(days=1), origin="campaign", campaign_id=recall.id, name="Rita Recall")
    factories.opportunity(db, ar, now - timedelta(days=1), origin="campaign", campaign_id=service.id,
                          name="Sara Service")
    factories.opportunity(db, ar, now + timedelta(days=2), name="Manuel Manual")
    login_as("caller", ar)
    html = client.get(f"/d/{ar.code}/board/opportunities").get_data(as_text=True)
    options = [(option["value"], text(option)) for option in every(html, "#campaign-filter option[value]")
               if option["value"].isdigit()]
    assert options == [(str(service.id), "Service campaign"), (str(recall.id), "Recall airbag")]
    assert "Campanha do Brasil" not in html
    filtered = client.get(f"/d/{ar.code}/board/opportunities?campaign={recall.id}").get_data(as_text=True)
    assert "Rita Recall" in filtered and "Sara Service" not in filtered and "Manuel Manual" not in filtered
    assert group_counts(filtered)["overdue"] == 0 and group_counts(filtered)["upcoming"] == 1


def test_whatsapp_greeting_is_plain_text_in_the_link(client, login_as, db, dealers):
    """The prefilled message names the customer and the dealer as typed: an "&" is %26 in the link,
    never the HTML entity "&amp;" quoted into the customer's WhatsApp."""
    ar, _ = dealers
    factories.delivery(db, ar, utcnow() - timedelta(days=1), name="Pérez & Hijos", phone_mobile="+54 9 11 5555-0199")
    login_as("caller", ar, locale="es")
    html = client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    link = one(html, 'a[href^="https://wa.me/5491155550199?text="]')["href"]
    assert "P%C3%A9rez%20%26%20Hijos" in link and "amp" not in link
    assert "Autos%20del%20Plata" in link


def test_row_markup_for_a_kind_the_page_did_not_render_is_refused(app):
    """A row's buttons come from markup rendered once per page; a kind missing there would leave an
    empty cell, so it fails instead."""
    with app.test_request_context("/"):
        template = app.jinja_env.from_string("{{ ACTIONS.missing | for_row(7) }}")
        with pytest.raises(ValueError, match="no row markup"):
            template.render(ACTIONS={})
        once = app.jinja_env.from_string("{% macro b() %}<a href='/x/{{ ROW_ID }}'>{% endmacro %}"
                                         "{{ b() | for_row(7) }}")
        assert once.render() == "<a href='/x/7'>"
