"""Jinja filters: dates, times and numbers per locale in the dealer's time zone, phones and contacts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel import Locale
from babel.dates import DateTimeFormat, get_date_format, get_datetime_format, get_time_format, parse_pattern
from flask import Flask, g, has_app_context
from flask_babel import format_decimal, get_locale, get_timezone, get_translations
from jinja2 import pass_eval_context
from markupsafe import Markup, escape

# ------------------------------------------------------------------------------ dates and times
#
# A board page shows ~100 instants. Flask-Babel's format_datetime costs ~40 µs each (it resolves
# the locale and zone, looks the CLDR pattern up, and formats field by field through Babel's
# DateTimeFormat). Here each (locale, width) pattern is compiled once into a list of field getters:
# plain arithmetic for the numeric fields, tables computed once by Babel itself for names (months,
# weekdays, am/pm), and Babel's own DateTimeFormat for any other field. The output is Babel's,
# character for character (tests/test_formatting.py compares them over a sweep of instants).

_WIDTHS = ("full", "long", "medium", "short")
_FIELD = re.compile(r"%\((\w+)\)s")


def _numeric(attr: str, width: int, transform=None) -> Callable:
    def get(value):
        number = getattr(value, attr)
        if transform is not None:
            number = transform(number)
        return f"{number:0{width}d}"
    return get


def _year(width: int) -> Callable:
    if width == 2:
        return lambda value: f"{value.year:04d}"[-2:]
    return lambda value: f"{value.year:0{width}d}"


def _table(name: str, locale: Locale, samples: dict, key: Callable) -> Callable:
    """A field that depends only on ``key(value)``: Babel formats each sample once."""
    names = {k: DateTimeFormat(sample, locale)[name] for k, sample in samples.items()}
    return lambda value: names[key(value)]


_MONTHS = {m: dt.datetime(2024, m, 1, 12) for m in range(1, 13)}
_WEEKDAYS = {d: dt.datetime(2024, 1, 1 + d, 12) for d in range(7)}  # 2024-01-01 is a Monday
_PERIODS = {False: dt.datetime(2024, 1, 1, 1), True: dt.datetime(2024, 1, 1, 13)}


def _getter(name: str, locale: Locale) -> Callable:
    char, width = name[0], len(name)
    if char == "d" and width <= 2:
        return _numeric("day", width)
    if char in "ML" and width <= 2:
        return _numeric("month", width)
    if char == "y":
        return _year(width)
    if char == "H" and width <= 2:
        return _numeric("hour", width)
    if char == "h" and width <= 2:
        return _numeric("hour", width, lambda h: h % 12 or 12)
    if char == "m" and width <= 2:
        return _numeric("minute", width)
    if char == "s" and width <= 2:
        return _numeric("second", width)
    if char in "ML":
        return _table(name, locale, _MONTHS, lambda v: v.month)
    if char in "Eec" and (char == "E" or width >= 3):
        return _table(name, locale, _WEEKDAYS, lambda v: v.weekday())
    if char == "a":
        return _table(name, locale, _PERIODS, lambda v: v.hour >= 12)
    return lambda value: DateTimeFormat(value, locale)[name]


@lru_cache(maxsize=256)
def _compiled(pattern: str, locale: Locale) -> Callable:
    """``pattern`` (CLDR syntax) as a function of a date, time or datetime already in local time."""
    parsed = parse_pattern(pattern)
    fields = [(name, _getter(name, locale)) for name in dict.fromkeys(_FIELD.findall(parsed.format))]
    template = parsed.format
    return lambda value: template % {name: get(value) for name, get in fields}


@lru_cache(maxsize=64)
def _formatter(kind: str, width: str, locale: Locale) -> Callable:
    """Babel's format_datetime / format_date / format_time for a named width, compiled."""
    if kind == "date":
        return _compiled(get_date_format(width, locale).pattern, locale)
    if kind == "time":
        return _compiled(get_time_format(width, locale).pattern, locale)
    # The date and time patterns put in the locale's combining pattern ("{1}, {0}", "{1} 'às' {0}")
    # make one pattern: one pass per value instead of two and two replacements.
    return _compiled(get_datetime_format(width, locale=locale).replace("{0}", get_time_format(width, locale).pattern)
                     .replace("{1}", get_date_format(width, locale).pattern), locale)


_ZONES: dict = {}  # the request's zone as Flask-Babel gives it (pytz) → the same zone in zoneinfo


def _fast_zone(zone):
    """The zone as ``zoneinfo.ZoneInfo``: its C implementation converts an instant ~5 times faster
    than pytz (3 µs an instant). The rest of the app (the board's windows, actions, messaging)
    already reads zones through zoneinfo, so shown times now follow the same rules as the
    windows: the system's IANA database (or the ``tzdata`` package) rather than pytz's own copy.
    The two agree for every zone of Argentina and Brazil; a zone zoneinfo cannot find stays pytz's."""
    fast = _ZONES.get(zone)
    if fast is None:
        try:
            fast = ZoneInfo(getattr(zone, "zone", None) or str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            fast = zone
        _ZONES[zone] = fast
    return fast


def locale_and_zone() -> tuple:
    """The request's locale and time zone, as Flask-Babel resolved them. A page formats ~100 values;
    once resolved they sit on Flask-Babel's context (``force_locale`` included), read here in one
    step instead of two full lookups per value."""
    ctx = g.get("_flask_babel") if has_app_context() else None
    locale = getattr(ctx, "babel_locale", None)
    zone = getattr(ctx, "babel_tzinfo", None)
    if locale is None or zone is None:
        return get_locale(), get_timezone()
    return locale, zone


def format_instant(value, width: str = "short", kind: str = "datetime") -> str:
    """``kind`` is datetime, date or time; ``value`` an aware datetime (shown in the dealer's time
    zone), or a date for dates. Named widths are compiled; any other pattern goes to Babel."""
    if not value:
        return ""
    locale, zone = locale_and_zone()
    if isinstance(value, dt.datetime):
        value = (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).astimezone(_fast_zone(zone))
    if width in _WIDTHS:
        return _formatter(kind, width, locale)(value)
    return _compiled(width, locale)(value)


@dataclass(frozen=True)
class Phone:
    raw: str
    e164: str | None

    @property
    def tel_href(self) -> str | None:
        return f"tel:{self.e164}" if self.e164 else None


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


# ------------------------------------------------------------------------------------ gettext
#
# A board page calls ``_()`` hundreds of times (the labels of every row). Jinja's i18n extension
# wraps each call twice (an alias that resolves ``gettext``, then a wrapper that makes Markup and
# %-formats it) and Flask-Babel resolves the catalog again each time: ~15 µs a label. The compiled
# catalogs never change while the process runs, so each (locale, message) is looked up once per
# process, and the label without variables is kept ready as Markup.

_TRANSLATED: dict = {}  # Locale → {message: (text, Markup already %-formatted, or None if it has %)}


def _entry(message: str) -> tuple:
    locale = locale_and_zone()[0] if has_app_context() else None
    table = _TRANSLATED.get(locale)
    if table is None:
        table = _TRANSLATED.setdefault(locale, {})
    entry = table.get(message)
    if entry is None:
        text = get_translations().ugettext(message) if locale is not None else message
        try:  # our own catalogs are markup-safe, as Jinja's i18n extension assumes
            ready = Markup(text) % {}  # noqa: S704
        except (TypeError, ValueError, KeyError):  # needs variables
            ready = None
        entry = table[message] = (text, ready)
    return entry


def cached_gettext(message: str) -> str:
    """gettext memoised per process and locale (``force_locale`` while rendering an email switches
    the locale, and with it the table)."""
    return _entry(message)[0]


_ = cached_gettext  # this module's own strings, found by the message extractor


@pass_eval_context
def template_gettext(eval_ctx, message: str, **variables) -> str:
    """Jinja's ``_()`` and ``gettext()``, with the semantics of the i18n extension's "newstyle"
    gettext: the message is always a %-format (``%%`` for a percent sign), its variables are
    escaped when the template autoescapes."""
    text, ready = _entry(message)
    if eval_ctx.autoescape:
        if ready is not None and not variables:
            return ready
        return Markup(text) % variables  # noqa: S704 - the variables are escaped by Markup's %
    return text % variables


_LABELS: dict = {}  # (Locale, id of a module's label mapping) → that mapping translated


def translated(labels: dict) -> dict:
    """A module's ``{value: lazy label}`` mapping (``boxes.models``) with its labels translated, once
    per process and locale: a list shows one per row, and a lazy label translates again each time it
    is printed. Only for mappings defined once at module level (they are told apart by their id)."""
    key = (locale_and_zone()[0], id(labels))
    found = _LABELS.get(key)
    if found is None:
        found = _LABELS[key] = {value: str(label) for value, label in labels.items()}
    return found


class PhoneLink(NamedTuple):
    """A phone as a board row shows it: as typed, with its call and WhatsApp links when it is a
    valid number of the dealer's country (both None otherwise). A tuple: the template unpacks it."""

    raw: str
    tel_href: str | None
    whatsapp_href: str | None


def phone_links(customer) -> list[PhoneLink]:
    """The customer's phones with their links, for the current dealer and locale.

    A board page shows ~70 phones: the number is normalized once per process
    (``normalize_phone``), the greeting translated and quoted once per locale and dealer
    (``_greeting_parts``), and the customer's name quoted once per customer. The WhatsApp message
    is plain text in the link, never HTML-escaped ("Autos & Cía" stays "&")."""
    phones = customer.phones
    if not phones:
        return []
    dealer = g.dealer
    links, name = [], None
    for raw in phones:
        p = normalize_phone(raw, dealer.country)
        if p.e164 is None:
            links.append(PhoneLink(raw, None, None))
            continue
        if name is None:
            name = quote(customer.name or "", safe="").join(_greeting_parts(dealer.name))
        links.append(PhoneLink(raw, p.tel_href, f"https://wa.me/{p.e164.lstrip('+')}?text={name}"))
    return links


def _greeting_parts(dealer: str) -> list[str]:
    """The WhatsApp greeting, URL-quoted, split around the customer's name."""
    key = (locale_and_zone()[0], dealer)
    parts = _GREETINGS.get(key)
    if parts is None:
        greeting = _("Hello %(name)s, we are writing from the after-sales department of %(dealer)s.")
        # quote() works character by character: quote(a + b) == quote(a) + quote(b).
        parts = _GREETINGS[key] = quote(greeting % {"name": "\0", "dealer": dealer}, safe="").split("%00")
    return parts


_GREETINGS: dict = {}  # (locale, dealer name) → the quoted greeting around the customer's name


# ------------------------------------------------------------------------------ contacts

_CONTACT_LINK = re.compile(r"(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)|(?P<url>https?://[^\s<>\"']+)")


def contact_links(text: str) -> Markup:
    """A free-text contact ("Mesa de ayuda: soporte@example.com, https://ayuda.example.com") with its
    email and web addresses as links, so a stuck user reaches the help desk in one click."""
    parts, last = [], 0
    for found in _CONTACT_LINK.finditer(text or ""):
        if found["email"]:
            link = Markup('<a href="mailto:{0}">{0}</a>').format(found["email"])
            end = found.end()
        else:
            url = found["url"].rstrip(".,;:)")  # the sentence's punctuation, not the address's
            link = Markup('<a href="{0}" rel="noopener">{0}</a>').format(url)
            end = found.start() + len(url)
        parts += [escape(text[last:found.start()]), link]
        last = end
    parts.append(escape((text or "")[last:]))
    return Markup("").join(parts)


def init_app(app: Flask) -> None:
    app.jinja_env.install_gettext_callables(
        gettext=cached_gettext,
        ngettext=lambda s, p, n: get_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: get_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: get_translations().unpgettext(c, s, p, n),
    )
    # One call instead of the extension's two wrappers (same semantics, see template_gettext).
    app.jinja_env.globals.update(_=template_gettext, gettext=template_gettext)
    app.jinja_env.filters.update(
        datetime=lambda v, fmt="short": format_instant(v, fmt, "datetime"),
        date=lambda v, fmt="short": format_instant(v, fmt, "date"),
        time=lambda v, fmt="short": format_instant(v, fmt, "time"),
        number=lambda v: format_decimal(v) if v is not None else "",
        contact_links=contact_links,
        translated=translated,
    )
    app.jinja_env.globals.update(
        phone_links=phone_links,
        current_locale=lambda: str(get_locale() or "es"),
        html_lang=lambda: str(get_locale() or "es").replace("_", "-"),
    )
