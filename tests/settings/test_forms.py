"""Settings' forms (boxes.settings.forms): numbers as people write them, times of day, texts a database can hold."""

from __future__ import annotations

from datetime import time

from werkzeug.datastructures import MultiDict

from boxes.forms import NOT_A_NUMBER, field_errors
from boxes.inputs import UNSTORABLE
from boxes.settings.forms import DealerSettingsForm


def _post(app, **values):
    with app.test_request_context("/", method="POST", data=MultiDict(values)):
        form = DealerSettingsForm()
        return form, form.validate(), field_errors(form)


def test_numbers_with_thousands_separators_and_times_of_day(app):
    form, ok, _ = _post(app, first_service_months=" 12 ", first_service_km="10.000", works_0="1", open_0="08:30",
                        close_0="18:00", open_1="09:00", close_1="13:00")
    assert ok and (form.first_service_months.data, form.first_service_km.data) == (12, 10000)
    hours = form.working_hours()
    assert hours[0] == (time(8, 30), time(18, 0)) and hours[1] is None  # not ticked: closed, whatever its times
    form, ok, _ = _post(app, first_service_km="diez mil", works_2="1", open_2="25:00", close_2="8")
    assert ok and form.first_service_km.data == NOT_A_NUMBER and form.working_hours()[2] == (None, None)


def test_a_text_no_database_can_hold_is_refused_on_its_field(app):
    _, ok, errors = _post(app, workshop_address="Av. Siempre Viva\x00 742", works_0="1", open_0="08:00\x00")
    assert not ok and errors == {"workshop_address": UNSTORABLE}
