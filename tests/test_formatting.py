"""The compiled date and time filters print exactly what Babel prints, in every locale and zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import flask_babel
import pytest
from flask import g

from boxes.formatting import format_instant

ZONES = ("America/Argentina/Buenos_Aires", "America/Sao_Paulo", "UTC")
LOCALES = ("es", "pt_BR", "en")


def instants():
    """Every hour-and-a-bit across 2018 (Brazil still had daylight saving time) and across
    today's year: all hours, minutes, weekdays, months, am and pm, both sides of midnight."""
    for start in (datetime(2018, 1, 1, tzinfo=UTC), datetime.now(UTC).replace(month=1, day=1)):
        value = start
        while value < start + timedelta(days=366):
            yield value
            value += timedelta(hours=7, minutes=13, seconds=29)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("zone", ZONES)
def test_compiled_filters_match_babel(app, locale, zone):
    with app.test_request_context("/"):
        g.dealer = SimpleNamespace(locale=locale, time_zone=zone)
        checked = 0
        for value in instants():
            local_day = flask_babel.to_user_timezone(value).date()
            for width in ("short", "medium", "long", "full"):
                if width in ("long", "full") and checked % 17:  # zone names: a sample is enough
                    continue
                assert format_instant(value, width, "datetime") == flask_babel.format_datetime(value, width)
                assert format_instant(value, width, "time") == flask_babel.format_time(value, width)
                assert format_instant(value, width, "date") == flask_babel.format_date(local_day, width)
                assert format_instant(local_day, width, "date") == flask_babel.format_date(local_day, width)
            # Patterns of our own, field by field (weekday and month names, 12-hour clock, period).
            pattern = "EEEE EEE e c d dd M MM MMM MMMM y yy yyyy H HH h hh m mm s ss a"
            assert format_instant(value, pattern, "datetime") == flask_babel.format_datetime(value, pattern)
            assert format_instant(value, "h:mm:ss a", "time") == flask_babel.format_time(value, "h:mm:ss a")
            assert format_instant(local_day, "EEEE d MMMM y", "date") == flask_babel.format_date(local_day,
                                                                                                "EEEE d MMMM y")
            checked += 1
        assert checked > 2000


def test_filters_in_templates_use_the_dealers_zone_and_locale(app):
    render = app.jinja_env.from_string("{{ v | datetime }} · {{ v | date }} · {{ v | time }} · {{ d | date }}"
                                       " · {{ none | datetime }}|")
    value = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)  # still the 28th in Buenos Aires (UTC-3)
    with app.test_request_context("/"):
        g.dealer = SimpleNamespace(locale="es", time_zone="America/Argentina/Buenos_Aires")
        assert render.render(v=value, d=date(2026, 12, 1), none=None) == (
            "28/11/26, 23:30 · 28/11/26 · 23:30 · 1/12/26 · |")
    with app.test_request_context("/"):
        g.dealer = SimpleNamespace(locale="en", time_zone="America/Sao_Paulo")
        assert render.render(v=value, d=date(2026, 12, 1), none=None) == (
            "11/28/26, 11:30\u202fPM · 11/28/26 · 11:30\u202fPM · 12/1/26 · |")
