"""Every UI string is translated into es and pt_BR; dates and numbers follow the locale."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from babel.messages.pofile import read_po
from babel.support import Translations
from flask_babel import force_locale, format_datetime, format_decimal
from flask_babel.speaklater import LazyString

from boxes.board import badges
from boxes.config import ROOT
from boxes.models import campaigns, integration, messaging, oem, opportunities, tenancy, workshop
from boxes.oem import api as oem_api

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
    assert not sorted(extracted - known, key=str), f"run `make extract-messages` and translate for {locale}"


@pytest.mark.parametrize("locale", ["es", "pt_BR"])
def test_every_string_is_translated(locale):
    # A plural message's translation is a tuple of forms: ("", "") is truthy, and untranslated.
    untranslated = [m.id for m in _catalog(locale) if m.id and (
        not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
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


# Each list of values and its labels, side by side where the values are defined.
LABELLED = {
    "origins": (opportunities.OPPORTUNITY_ORIGINS, opportunities.ORIGIN_LABELS),
    "opportunity statuses": (opportunities.OPPORTUNITY_STATUSES, opportunities.OPPORTUNITY_STATUS_LABELS),
    "channels": (opportunities.ACTIVITY_CHANNELS, opportunities.CHANNEL_LABELS),
    "outcomes": (opportunities.ACTIVITY_OUTCOMES, opportunities.OUTCOME_LABELS),
    "activity kinds": (opportunities.ACTIVITY_KINDS, opportunities.ACTIVITY_KIND_LABELS),
    "appointment statuses": (workshop.APPOINTMENT_STATUSES, workshop.APPOINTMENT_STATUS_LABELS),
    "locales": (tenancy.LOCALES, tenancy.LOCALE_LABELS),
    "roles": (tenancy.ROLES, tenancy.ROLE_LABELS),
    "campaign kinds": (campaigns.CAMPAIGN_KINDS, campaigns.CAMPAIGN_KIND_LABELS),
    "campaign statuses": (campaigns.CAMPAIGN_STATUSES, campaigns.CAMPAIGN_STATUS_LABELS),
    "campaign failures": (campaigns.CAMPAIGN_FAILURES, campaigns.CAMPAIGN_FAILURE_LABELS),
    "board buttons": (badges.BUTTONS, badges.BUTTON_LABELS),
    "message kinds": (messaging.MESSAGE_KINDS, messaging.MESSAGE_KIND_LABELS),
    "message origins": (messaging.MESSAGE_ORIGINS, messaging.MESSAGE_ORIGIN_LABELS),
    "message reasons": (messaging.MESSAGE_REASONS, messaging.MESSAGE_REASON_LABELS),
    "smtp security": (messaging.SMTP_SECURITY, messaging.SMTP_SECURITY_LABELS),
    "dms entities": (integration.DMS_ENTITIES, integration.DMS_ENTITY_LABELS),
    "sync statuses": (integration.SYNC_STATUSES, integration.SYNC_STATUS_LABELS),
    "connector kinds": (integration.CONNECTOR_KINDS, integration.CONNECTOR_KIND_LABELS),
    "oem lead types": (tuple(oem_api.LEAD_TYPES), oem.LEAD_TYPE_LABELS),
    "oem distribution modes": (oem.DISTRIBUTION_MODES, oem.DISTRIBUTION_MODE_LABELS),
    "oem event statuses": (oem.EVENT_STATUSES, oem.EVENT_STATUS_LABELS),
    "oem call kinds": (oem.CALL_KINDS, oem.CALL_KIND_LABELS),
    "oem lost-sale reasons": (oem_api.LOST_SALE_REASONS, oem.LOST_SALE_REASON_LABELS),
}


@pytest.mark.parametrize("name", LABELLED)
def test_every_value_has_a_label_in_every_locale(name):
    """Every value has a label (in the values' order: menus list them so), and every translatable
    label is in each compiled catalog. A plain string is a name (WhatsApp, a language's own name)."""
    values, labels = LABELLED[name]
    assert tuple(labels) == values
    for locale in tenancy.LOCALES:
        compiled = Translations.load(str(TRANSLATIONS), [locale])._catalog
        for value, label in labels.items():
            if isinstance(label, LazyString):
                *context, message = label._args  # lazy_gettext(message) or lazy_pgettext(context, message)
                key = "\x04".join([*context, message])
                assert compiled.get(key), f"{name}: {value!r} ({message!r}) has no label in {locale}"
            else:
                assert isinstance(label, str) and label, f"{name}: {value!r}"


def test_every_button_has_its_roles():
    assert tuple(badges.BUTTON_ROLES) == badges.BUTTONS
    assert all(set(roles) <= set(tenancy.ROLES) for roles in badges.BUTTON_ROLES.values())
