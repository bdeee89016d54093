"""The board's action forms (boxes.board.forms): what the edge makes of what a browser, or an attacker, posts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import g
from werkzeug.datastructures import MultiDict

from boxes.board.forms import CourtesyCallForm, DiscardForm, ReplanForm
from boxes.forms import NO_ROW, field_errors


@pytest.fixture
def posted(app, dealers):
    ar, _ = dealers  # America/Argentina/Buenos_Aires, UTC−3

    def post(form_class, **values):
        with app.test_request_context("/", method="POST", data=MultiDict(values)):
            g.dealer = ar
            form = form_class()
            return form, form.validate(), field_errors(form)
    return post


def test_ids_and_versions_become_numbers_or_no_row(posted):
    form, ok, _ = posted(DiscardForm, reason_id=" 12 ", version="3", comment="  sin interés  ")
    assert ok and (form.reason_id.data, form.version.data, form.comment.data) == (12, 3, "sin interés")
    # Not an id at all: the service answers it as an unknown id ("choose from the list", a conflict).
    for raw in ("abc", "99999999999", "-1", "1_000", "١٢"):
        form, ok, _ = posted(DiscardForm, reason_id=raw, version=raw)
        assert ok and form.reason_id.data == NO_ROW and form.version.data == NO_ROW, raw
    form, ok, _ = posted(DiscardForm)
    assert ok and form.reason_id.data is None and form.version.data is None


def test_local_dates_are_the_dealers_wall_clock_and_bounded(posted):
    form, ok, _ = posted(ReplanForm, due_at="2027-03-01T10:00")
    assert ok and form.due_at.data == datetime(2027, 3, 1, 13, 0, tzinfo=UTC)
    for raw in ("9999-12-31T23:59", "mañana", "2027-02-30T10:00", "1900-01-01T00:00"):
        form, ok, errors = posted(ReplanForm, due_at=raw)
        assert not ok and form.due_at.data is None and set(errors) == {"due_at"}, raw
    form, ok, _ = posted(ReplanForm, due_at="")
    assert ok and form.due_at.data is None  # "enter the new date" is the service's rule


def test_a_satisfaction_that_is_not_a_number_is_out_of_every_range(posted):
    form, ok, _ = posted(CourtesyCallForm, channel="phone", outcome="contacted", satisfaction="5")
    assert ok and form.satisfaction.data == 5
    form, ok, _ = posted(CourtesyCallForm, satisfaction="cinco")
    assert ok and form.satisfaction.data == NO_ROW
