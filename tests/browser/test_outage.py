"""Chromium while Redis is down: htmx swaps the "temporarily unavailable" notice in at the top of the
form that was sent (what was typed stays), and the board keeps working."""

from __future__ import annotations

import dataclasses
import re

import pytest

from boxes import create_app
from tests import factories
from tests.browser.login import log_in
from tests.conftest import serving
from tests.test_outage import UNAVAILABLE_ES, own_redis, redis_dir  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture
def outage_server(config, clean_db, own_redis):  # noqa: F811
    app = create_app(dataclasses.replace(config, redis_url=own_redis[0].url))
    with serving(app) as url:
        yield url
    app.extensions["boxes.engine"].dispose()


def test_the_unavailable_notice_appears_in_the_form_and_the_board_keeps_working(browser, outage_server, own_redis,  # noqa: F811
                                                                               db, dealers):
    ar, _ = dealers
    for i in range(2):
        factories.vehicle(db, ar, factories.customer(db, ar, name=f"Titular {i}"), model="Tracker")
    factories.user(db, role="campaigns", dealer=ar, email="creator@test.example")

    page = browser.new_page()
    log_in(page, outage_server, "creator@test.example", landing=r"/board/")
    page.goto(f"{outage_server}/d/{ar.code}/campaigns/new")
    page.fill("#f-model", "Tracker")
    page.click("#search-units")
    page.wait_for_selector("#process-form")

    own_redis[0].stop()
    page.fill("#p-name", "Recall Tracker")
    page.click("#process-units")
    notice = page.wait_for_selector("#process-form [data-unavailable]")
    assert UNAVAILABLE_ES in notice.inner_text()
    assert page.input_value("#p-name") == "Recall Tracker"  # the form kept what was typed

    page.click('a[data-button="opportunities"]')
    page.wait_for_url(re.compile(r"/board/opportunities"))
    assert page.locator("[data-unavailable]").count() == 0
