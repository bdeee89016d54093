"""Is this an address we may write to? (A syntax check: the SMTP server has the last word.)"""

from __future__ import annotations

import re

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^{_LOCAL}@{_LABEL}(?:\.{_LABEL})+$")


def address_problem(address: str | None) -> str | None:
    """None when the address looks deliverable, else the reason code (no_address, invalid_address)."""
    address = (address or "").strip()
    if not address:
        return "no_address"
    if len(address) > 254 or not _ADDRESS.match(address):
        return "invalid_address"
    return None
