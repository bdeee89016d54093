"""What every spreadsheet Boxes writes (CSV or XLSX) goes through.

Cells carry text that users and the DMS typed (customer, campaign and user names, discard-reason
labels): a cell that starts with ``=``, ``+``, ``-`` or ``@`` is a formula to Excel and LibreOffice
when the file is opened (a CSV cell, or an XLSX cell openpyxl writes as a formula), and a leading tab
or carriage return hides one. ``safe_cell`` puts a quote in front of such text, as OWASP advises for
CSV injection: it is shown, not run. Numbers and dates stay what they are.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """``value`` as a spreadsheet cell that can never be a formula: text that starts like one gets a
    leading ``'``; anything that is not text (numbers, dates, None) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
