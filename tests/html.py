"""Reading rendered HTML in tests through a parser (BeautifulSoup on the stdlib "html.parser").

Tests ask for elements by CSS selector, as a reader of the page would point at them, instead of
matching markup with regular expressions that break when an attribute moves or a line wraps.
``one`` fails with the selector and what the page holds when the element is missing or repeated.

CSS selectors do not look inside ``<template>`` (its content is a separate fragment), but htmx
responses wrap their out-of-band table rows in one (a ``<tr>`` cannot stand alone): ``one`` and
``every`` search the content of each template too, as htmx swaps it in. Attribute values are
strings as written (``class="a b"``, ``sandbox=""``), not BeautifulSoup's lists; selectors still
match one class of several.
"""

from __future__ import annotations

from bs4 import BeautifulSoup, Tag


def parse(page) -> BeautifulSoup:
    """The document of a response (anything with ``get_data``) or of an HTML string."""
    markup = page.get_data(as_text=True) if hasattr(page, "get_data") else page
    return _soup(markup)


def _soup(markup: str) -> BeautifulSoup:
    return BeautifulSoup(markup, "html.parser", multi_valued_attributes=None)


def _select(root: Tag, selector: str) -> list[Tag]:
    found = root.select(selector)
    for template in root.find_all("template"):
        if template.find_parent("template") is not None:
            continue  # searched with its outer template's content
        found += _select(_soup(template.decode_contents()), selector)
    return found


def one(where, selector: str) -> Tag:
    """The single element ``selector`` matches in a document, element, response or HTML string."""
    root = where if isinstance(where, Tag) else parse(where)
    found = _select(root, selector)
    assert len(found) == 1, f"{len(found)} elements match {selector!r} (expected one) in:\n{str(root)[:600]}"
    return found[0]


def every(where, selector: str) -> list[Tag]:
    """All elements ``selector`` matches, in document order (possibly none)."""
    return _select(where if isinstance(where, Tag) else parse(where), selector)


def text(element: Tag) -> str:
    """The element's text as a reader sees it: runs of whitespace collapsed to one space (inline
    markup adds none: "<a>x</a>." reads "x.")."""
    return " ".join(element.get_text().split())


def field_value(where, name: str) -> str:
    """The value a form field named ``name`` submits: an input's value, a textarea's text, a
    select's selected option."""
    field = one(where, f'[name="{name}"]')
    if field.name == "textarea":
        return field.get_text()
    if field.name == "select":
        chosen = field.select_one("option[selected]") or field.select_one("option")
        return chosen.get("value", chosen.get_text()) if chosen else ""
    return field.get("value", "")


def own_text(element: Tag) -> str:
    """The text directly inside the element, not in its children (a cell's value beside its badge)."""
    return " ".join(" ".join(element.find_all(string=True, recursive=False)).split())
