"""Every UI string is translated into es and pt_BR; dates and numbers follow the locale."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale, format_datetime, format_decimal

from boxes.config import ROOT

TRANSLATIONS = ROOT / "boxes" / "translations"


def _catalog(locale: str):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "-k", "lazy_pgettext:1c,2", "--no-location", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    with open(pot, "rb") as f:
        return {(m.context, m.id) for m in read_po(f) if m.id}


@pytest.mark.parametrize("locale", ["es", "pt_BR", "en"])
def test_catalog_has_every_string_of_the_code(extracted, locale):
    catalog = _catalog(locale)
    known = {(m.context, m.id) for m in catalog if m.id}
    assert not sorted(extracted - known), f"run `make extract-messages` and translate for {locale}"


@pytest.mark.parametrize("locale", ["es", "pt_BR"])
def test_every_string_is_translated(locale):
    untranslated = [m.id for m in _catalog(locale) if m.id and not m.string]
    fuzzy = [m.id for m in _catalog(locale) if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []


def test_dates_and_numbers_per_locale(app):
    instant = datetime(2026, 3, 9, 15, 30, tzinfo=UTC)
    with app.test_request_context():
        with force_locale("es"):
            assert format_decimal(12345.5) == "12.345,5"
            assert "9/3/26" in format_datetime(instant, "short")
        with force_locale("pt_BR"):
            assert format_decimal(12345.5) == "12.345,5"
            assert "09/03/2026" in format_datetime(instant, "short")
        with force_locale("en"):
            assert format_decimal(12345.5) == "12,345.5"
            assert "3/9/26" in format_datetime(instant, "short")
