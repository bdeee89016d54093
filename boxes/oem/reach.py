"""Where a dealer's OEM connector may reach: the DMS feed's boundaries (:mod:`boxes.dms.reach`), reused.

- **The operator's allow-list** (``BOXES_CONNECTOR_ALLOWED_HOSTS``): the OEM's address is checked
  exactly as a DMS http feed's is (``Boundaries.check_feed``): a host named on the list, or one
  whose every address is in an allowed network; empty list, any address.
- **No other dealer's leads**: the OEM answers with the leads of the dealer code it is asked for, so
  in a multi-dealer installation one dealer's admin must not type another dealer's code at the same
  OEM (the same address, spelled any way the DMS rule accepts as the same feed).

Used by Integrations → OEM at save time (:func:`boxes.oem.admin.save`); a job that connects can call
:func:`check` on the stored settings and give the client the DMS connector's guarded transport
(``boxes.dms.connectors.http.guarded_transport(boundaries)``), so an address that resolves elsewhere at run
time gets nowhere either.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.dms import reach as dms_reach
from boxes.dms.connectors.boundaries import OTHER_DEALER, Boundaries, OutOfBounds, _feed_key
from boxes.models import Dealer, OemConnector


def boundaries(session: Session, dealer: Dealer, config=None) -> Boundaries:
    """The dealer's boundaries, as every connector of the dealer has them (the operator's settings),
    without the other dealers' DMS sources: those are no OEM's (see :func:`check` for the OEM's)."""
    return replace(dms_reach.boundaries(session, dealer, config), others=())


def other_dealer_codes(session: Session, dealer: Dealer) -> list[tuple[str, str]]:
    """(OEM address, dealer code) of every other dealer's OEM connector. Core columns: these are
    other dealers' rows, read only to compare with (the tenant guard keeps ORM selects to the dealer)."""
    t = OemConnector.__table__
    found = session.execute(select(t.c.settings).where(t.c.dealer_id != dealer.id)).scalars()
    return [(str(s.get("base_url") or ""), str(s.get("dealer_code") or "")) for s in found if s]


def check(session: Session, dealer: Dealer, reach: Boundaries, base_url: str, dealer_code: str = "") -> None:
    """``OutOfBounds`` (its ``field`` names the setting) when the address is not the operator's to
    allow, or another dealer reads this dealer code (when given) at the same OEM."""
    reach.check_feed(base_url, None)
    if not dealer_code:
        return
    mine = (_feed_key(base_url), dealer_code.strip().casefold())
    for other_url, other_code in other_dealer_codes(session, dealer):
        if other_url and (_feed_key(other_url), other_code.strip().casefold()) == mine:
            raise OutOfBounds("dealer_code", OTHER_DEALER, "another dealer reads this dealer code at this OEM")
