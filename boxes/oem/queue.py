"""The distribution queue (seed 001's "Distribuição de Contatos"; issue 14, item 4): the OEM leads a dealer
sends "to the distribution queue" arrive on the board in nobody's hands, and a manager hands them out —
to one caller, or round-robin across the dealer's active callers.

- The queue: the dealer's open opportunities of OEM leads assigned to nobody, the oldest lead first.
- The cap: a caller holds at most ``OemConnector.open_leads_cap`` open OEM leads (what they already hold
  counts); the leads no caller has room for stay in the queue, and the manager is told how many.
- ``distribute`` is one transaction: every lead chosen is still the version the manager saw
  (``check_version``; a lead assigned or changed meanwhile is a ``Conflict`` and nothing is assigned),
  each assignment is audited, the opportunity and its ``OemLead`` name the same holder. Distributions of a
  dealer run one at a time (its connector's row is locked on PostgreSQL), so two managers cannot both
  fill a caller past the cap.

The Assigned status (ATR) went to the OEM when the lead was imported ("in someone's hands: a user or the
queue", ``boxes.oem.triggers.lead_imported``): handing a lead out sends nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.board.statements import DEALER
from boxes.campaigns.service import callers
from boxes.errors import ActionError, NotFound
from boxes.models import Customer, Dealer, OemConnector, OemLead, Opportunity, User, Vehicle
from boxes.oem.board import LEAD_COLUMNS, lead_join
from boxes.owned import check_version, commit_or_conflict
from boxes.paging import ListQuery, Page, list_query, paginate

HOW = ("assign", "round_robin")  # to the chosen caller, or in turn across the active callers
DEFAULT_CAP = OemConnector.open_leads_cap.default.arg  # a dealer without a connector row (yet)


def open_leads(dealer) -> list:
    """The dealer's open opportunities of OEM leads (origin "oem_lead": a range of
    ``ix_opportunity_dealer_status_origin_due``, the open ones only — not every lead the dealer ever had)."""
    return [Opportunity.dealer_id == dealer.id, Opportunity.status == "open", Opportunity.origin == "oem_lead",
            Opportunity.oem_lead_id.is_not(None)]


def queued(dealer) -> list:
    """In the queue: an open OEM lead assigned to nobody."""
    return [*open_leads(dealer), Opportunity.assigned_user_id.is_(None)]


ORDER = (OemLead.received_at, Opportunity.id)  # the oldest lead first


def _with_lead(stmt):
    return stmt.join(OemLead, and_(OemLead.dealer_id == Opportunity.dealer_id,
                                   OemLead.lead_id == Opportunity.oem_lead_id))


@cache
def _list() -> ListQuery:
    rows = lead_join(select(Opportunity, Customer.name.label("customer"), Vehicle, *LEAD_COLUMNS)
                     .outerjoin(Customer, Customer.id == Opportunity.customer_id)
                     .outerjoin(Vehicle, Vehicle.id == Opportunity.vehicle_id))
    return list_query(_with_lead(select(Opportunity.id)).where(*queued(DEALER)), rows, ORDER)


def queue(session: Session, dealer: Dealer, *, page: int = 1, per_page: int = 50) -> Page:
    """A page of the queue, the oldest lead first: each row its ``Opportunity``, ``customer`` (name),
    ``Vehicle`` and the lead's columns (``boxes.oem.board.LEAD_COLUMNS``)."""
    return paginate(session, _list(), page, per_page, params={"dealer_id": dealer.id})


@dataclass
class CallerLoad:
    """An active caller and the open OEM leads they hold."""

    id: int
    name: str
    holds: int
    given: int = 0  # by the distribution being made


def caller_loads(session: Session, dealer: Dealer) -> list[CallerLoad]:
    """The dealer's active callers (``campaigns.service.callers``: by name) with the open OEM leads each holds."""
    people = callers(session, dealer)
    held = dict(session.execute(
        select(Opportunity.assigned_user_id, func.count()).where(
            *open_leads(dealer), Opportunity.assigned_user_id.in_([u.id for u in people]))
        .group_by(Opportunity.assigned_user_id)).all()) if people else {}
    return [CallerLoad(u.id, u.name, held.get(u.id, 0)) for u in people]


def open_leads_cap(session: Session, dealer: Dealer, *, lock: bool = False) -> int:
    """How many open OEM leads a caller may hold at this dealer. ``lock``: the connector's row stays locked
    until the transaction ends (PostgreSQL), so the dealer's distributions run one at a time."""
    stmt = select(OemConnector.open_leads_cap).where(OemConnector.dealer_id == dealer.id)
    cap = session.scalar(stmt.with_for_update() if lock else stmt)
    return DEFAULT_CAP if cap is None else cap


@dataclass
class Distribution:
    """What a distribution did: the callers given leads (``given`` of each, in the callers' order), how many
    leads stayed in the queue (no caller had room under ``cap``)."""

    given: list[CallerLoad] = field(default_factory=list)
    left: int = 0
    cap: int = DEFAULT_CAP

    @property
    def total(self) -> int:
        return sum(c.given for c in self.given)


def _chosen(session: Session, dealer: Dealer,
            selection: Iterable[tuple[int, int | None]]) -> list[tuple[Opportunity, OemLead]]:
    """The chosen opportunities with their leads, each still the version the manager saw, the oldest lead
    first. An id that is not one of this dealer's OEM leads is not found (404); a lead that left the queue
    since is refused."""
    seen: dict[int, int | None] = {}
    for row_id, version in selection:
        seen.setdefault(row_id, version)
    if not seen:
        raise ActionError.field("selection", _l("Select at least one lead."))
    found = session.execute(_with_lead(select(Opportunity, OemLead)).where(
        Opportunity.dealer_id == dealer.id, Opportunity.id.in_(list(seen))).order_by(*ORDER)).all()
    if {opp.id for opp, _ in found} != seen.keys():
        raise NotFound("Opportunity")
    for opp, _ in found:
        check_version(opp, seen[opp.id])
        if opp.status != "open" or opp.assigned_user_id is not None:
            raise ActionError.field("selection", _l("Only the leads in the queue can be handed out."))
    return [(opp, lead) for opp, lead in found]


def distribute(session: Session, dealer: Dealer, actor: User, selection: Iterable[tuple[int, int | None]], *,
               how: str, user_id=None) -> Distribution:
    """Hand the chosen leads (``selection``: opportunity id and the version seen) out, oldest first: ``how``
    "assign" to the active caller ``user_id``, "round_robin" in turn across the active callers, the one
    holding fewest leads first. Nobody is given more than the cap; what does not fit stays in the queue.
    Commits (or raises ``Conflict`` and assigns nothing)."""
    cap = open_leads_cap(session, dealer, lock=True)
    chosen = _chosen(session, dealer, selection)  # first: another dealer's id is a 404 whatever else is sent
    if how not in HOW:
        raise ActionError.field("how", _l("Choose how to hand the leads out."))
    loads = caller_loads(session, dealer)
    if how == "assign":
        wanted = inputs.row_id(user_id) if user_id not in (None, "") else None
        loads = [c for c in loads if c.id == wanted]
        if not loads:
            raise ActionError.field("user_id", _l("Choose an active caller of this dealer."))
    elif not loads:
        raise ActionError.field("how", _l("This dealer has no active callers to hand the leads to."))
    rota = sorted(loads, key=lambda c: c.holds)  # the least busy first; among equals, the callers' order
    done = Distribution(cap=cap)
    turn = 0
    for n, (opp, lead) in enumerate(chosen):
        free = [c for c in rota[turn:] + rota[:turn] if c.holds < cap]
        if not free:
            done.left = len(chosen) - n
            break
        caller = free[0]
        turn = (rota.index(caller) + 1) % len(rota)
        caller.holds += 1
        caller.given += 1
        opp.assigned_user_id = lead.assigned_user_id = caller.id
        record(session, dealer_id=dealer.id, user_id=actor.id, action="oem_lead.distribute", entity="opportunity",
               entity_id=opp.id, data={"lead_id": lead.lead_id, "assigned_user_id": caller.id, "how": how})
    done.given = [c for c in loads if c.given]
    commit_or_conflict(session)
    return done
