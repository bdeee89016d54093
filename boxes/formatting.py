"""Jinja filters: dates, times and numbers per locale in the dealer's time zone, and phones."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

import phonenumbers
from flask import Flask, g, has_app_context
from flask_babel import (
    format_date,
    format_datetime,
    format_decimal,
    format_time,
    get_locale,
    get_translations,
    to_user_timezone,
)


@dataclass(frozen=True)
class Phone:
    raw: str
    e164: str | None

    @property
    def tel_href(self) -> str | None:
        return f"tel:{self.e164}" if self.e164 else None

    def whatsapp_href(self, message: str) -> str | None:
        if not self.e164:
            return None
        return f"https://wa.me/{self.e164.lstrip('+')}?text={quote(message)}"


@lru_cache(maxsize=4096)
def normalize_phone(raw: str, country: str) -> Phone:
    """E.164 for the dealer's country; an unparseable number stays as typed, without links.
    Cached: a board page shows ~70 phones and parsing is the costliest part of a row."""
    try:
        parsed = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        return Phone(raw, None)
    if not phonenumbers.is_valid_number(parsed):
        return Phone(raw, None)
    return Phone(raw, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def cached_gettext(message: str) -> str:
    """Jinja's ``_()``: Flask-Babel's lookup, memoised per request and locale.

    A board page calls ``_()`` hundreds of times (labels of every row) and each Flask-Babel lookup
    resolves the locale and the catalog again. The memo lives on the app context (``g``) and is
    dropped when the locale changes (``force_locale`` while rendering an email)."""
    if not has_app_context():
        return message
    locale = get_locale()
    memo = g.get("_boxes_gettext")
    if memo is None or memo[0] is not locale:
        memo = (locale, {})
        g._boxes_gettext = memo
    table = memo[1]
    try:
        return table[message]
    except KeyError:
        table[message] = translated = get_translations().ugettext(message)
        return translated


def init_app(app: Flask) -> None:
    app.jinja_env.install_gettext_callables(
        gettext=cached_gettext,
        ngettext=lambda s, p, n: get_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: get_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: get_translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.filters.update(
        datetime=lambda v, fmt="short": format_datetime(v, fmt) if v else "",
        date=lambda v, fmt="short": format_date(to_user_timezone(v) if hasattr(v, "hour") else v, fmt)
        if v
        else "",
        time=lambda v, fmt="short": format_time(v, fmt) if v else "",
        number=lambda v: format_decimal(v) if v is not None else "",
        local_input=lambda v: to_user_timezone(v).strftime("%Y-%m-%dT%H:%M") if v else "",
    )
    app.jinja_env.globals.update(
        phone=normalize_phone,
        current_locale=lambda: str(get_locale() or "es"),
        html_lang=lambda: str(get_locale() or "es").replace("_", "-"),
    )
