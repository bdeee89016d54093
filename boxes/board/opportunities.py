"""Button 2, New opportunities: open, due from 15 days ago to 15 days ahead, in three groups."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, Select, bindparam, select
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.board.statements import DEALER, WINDOWS, board_parameters, count_of, last_note, one_row
from boxes.board.windows import BoardWindows
from boxes.db import utcnow
from boxes.errors import ActionError
from boxes.models import Campaign, Customer, Dealer, DiscardReason, Membership, Opportunity, User, Vehicle
from boxes.models.opportunities import OPPORTUNITY_ORIGINS
from boxes.oem import triggers
from boxes.oem.board import LEAD_COLUMNS, lead_join
from boxes.owned import check_version, commit_or_conflict, get_owned
from boxes.paging import ListQuery, Page, in_list, list_query, paginate

MAX_NOTE = 2000


def in_window(dealer: Dealer, w: BoardWindows) -> list:
    return [
        Opportunity.dealer_id == dealer.id,
        Opportunity.status == "open",
        Opportunity.due_at >= w.opportunities_from,
        Opportunity.due_at < w.opportunities_until,
    ]


def _filters(dealer, w, origin: str | None, by_campaign: bool) -> list:
    """The window, plus the origin filter, plus the campaign filter (its id is the ``campaign_id``
    parameter)."""
    conds = in_window(dealer, w)
    if origin is not None:
        conds.append(Opportunity.origin == origin)
    if by_campaign:
        conds.append(Opportunity.campaign_id == bindparam("campaign_id", type_=Integer))
    return conds


def _shape(origin: str | None, campaign_id: int | None) -> tuple[str | None, bool]:
    """The filter choices that shape the list's statements (``_list`` and co. are cached on them):
    the origin (an unknown one is no filter) and whether a campaign is chosen (which one is the
    ``campaign_id`` parameter)."""
    return (origin if origin in OPPORTUNITY_ORIGINS else None, campaign_id is not None)


ORDER = (Opportunity.due_at, Opportunity.id)


@cache
def _list(origin: str | None, by_campaign: bool) -> ListQuery:
    return list_query(select(Opportunity.id).where(*_filters(DEALER, WINDOWS, origin, by_campaign)), _rows(DEALER),
                      ORDER)


def opportunities(session: Session, dealer: Dealer, w: BoardWindows, *, origin: str | None = None,
                  campaign_id: int | None = None, page: int = 1, per_page: int = 50,
                  total: int | None = None) -> Page:
    """``total``: the list's count when the caller has it already (the sum of ``group_counts``)."""
    return paginate(session, _list(*_shape(origin, campaign_id)), page, per_page, total=total,
                    params=board_parameters(dealer, w, campaign_id=campaign_id))


def contains(session: Session, dealer: Dealer, w: BoardWindows, opportunity_id: int, *, origin: str | None = None,
             campaign_id: int | None = None) -> bool:
    return in_list(session, _list(*_shape(origin, campaign_id)), board_parameters(dealer, w, campaign_id=campaign_id),
                   opportunity_id)


def _rows(dealer: Dealer):
    """A row of the list: the opportunity, its customer, vehicle, last note and campaign, and an OEM lead's
    type, text, deadline and holder (``boxes.oem.board``: a join only a lead's opportunity pays for)."""
    return lead_join(
        select(
            Opportunity,
            Customer,
            Vehicle,
            last_note(dealer.id, Opportunity.customer_id).label("last_note"),
            Campaign.name.label("campaign_name"),
            *LEAD_COLUMNS,
        )
        .outerjoin(Customer, Customer.id == Opportunity.customer_id)
        .outerjoin(Vehicle, Vehicle.id == Opportunity.vehicle_id)
        .outerjoin(Campaign, Campaign.id == Opportunity.campaign_id)
    )


GROUPS = ("overdue", "today", "upcoming")


def _group_counts(origin: str | None, by_campaign: bool) -> list:
    """Overdue / today / upcoming as three index range counts (not a CASE per opportunity)."""
    d, bw = DEALER, WINDOWS
    return [
        count_of(Opportunity, *_filters(d, bw, origin, by_campaign), Opportunity.due_at < bw.today_start)
        .label("overdue"),
        count_of(Opportunity, *_filters(d, bw, origin, by_campaign), Opportunity.due_at >= bw.today_start,
                 Opportunity.due_at < bw.tomorrow_start).label("today"),
        count_of(Opportunity, *_filters(d, bw, origin, by_campaign), Opportunity.due_at >= bw.tomorrow_start)
        .label("upcoming"),
    ]


@cache
def _groups(origin: str | None, by_campaign: bool) -> Select:
    return select(*_group_counts(origin, by_campaign))


def group_counts(session: Session, dealer: Dealer, w: BoardWindows, *, origin: str | None = None,
                 campaign_id: int | None = None) -> dict[str, int]:
    """Overdue / today / upcoming counts in one statement."""
    stmt = _groups(*_shape(origin, campaign_id))
    return dict(zip(GROUPS, session.execute(stmt, board_parameters(dealer, w, campaign_id=campaign_id)).one(),
                    strict=True))


@cache
def _list_and_groups(origin: str | None, by_campaign: bool) -> ListQuery:
    return list_query(select(Opportunity.id).where(*_filters(DEALER, WINDOWS, origin, by_campaign)),
                      _rows(DEALER).add_columns(*_group_counts(origin, by_campaign)), ORDER)


def opportunities_and_groups(session: Session, dealer: Dealer, w: BoardWindows, *, origin: str | None = None,
                             campaign_id: int | None = None, page: int = 1,
                             per_page: int = 50) -> tuple[Page, dict[str, int]]:
    """The list's page and its group counts in one round trip: the counts are uncorrelated
    sub-selects of the page's statement, computed once by the database and carried on each row.
    The groups add up to the list's total. An empty page (no opportunity, or a page past the end)
    asks the counts on their own, then the last page."""
    query = _list_and_groups(*_shape(origin, campaign_id))
    params = board_parameters(dealer, w, campaign_id=campaign_id)
    page = max(1, page)
    rows = session.execute(query.page, {**params, "page_limit": per_page, "page_offset": (page - 1) * per_page}).all()
    if rows:
        groups = {name: rows[0]._mapping[name] for name in GROUPS}
        return Page(rows=rows, page=page, per_page=per_page, total=sum(groups.values())), groups
    groups = group_counts(session, dealer, w, origin=origin, campaign_id=campaign_id)
    return paginate(session, query, page, per_page, params=params, total=sum(groups.values())), groups


@cache
def _campaign_choices() -> Select:
    return select(Campaign.id, Campaign.name).where(Campaign.dealer_id == DEALER.id).order_by(
        Campaign.created_at.desc())


def campaigns_with_open_opportunities(session: Session, dealer: Dealer) -> list[tuple[int, str]]:
    """For the "Op. Campaña" filter."""
    return list(session.execute(_campaign_choices(), {"dealer_id": dealer.id}).all())


# --- actions ------------------------------------------------------------------------------------

def _open_opportunity(session: Session, dealer: Dealer, opportunity_id, version) -> Opportunity:
    opp = get_owned(session, Opportunity, dealer.id, opportunity_id)
    check_version(opp, version)
    if opp.status != "open":
        raise ActionError.field("status", _l("This opportunity is already closed."))
    return opp


def _assignable(session: Session, dealer: Dealer, user_id) -> int | None:
    if user_id in (None, ""):
        return None
    user_id = inputs.row_id(user_id)
    if user_id is None:
        raise ActionError.field("assigned_user_id", _l("Choose a user of this dealer."))
    member = session.scalar(select(Membership.id).join(User, User.id == Membership.user_id).where(
        Membership.dealer_id == dealer.id, Membership.user_id == user_id, User.active.is_(True)).limit(1))
    if member is None:
        raise ActionError.field("assigned_user_id", _l("Choose a user of this dealer."))
    return user_id


def create_opportunity(session: Session, dealer: Dealer, actor: User, *, origin: str, due_at: datetime | None,
                       note: str = "", customer_id: int | None = None, vehicle_id: int | None = None,
                       assigned_user_id=None, campaign_id: int | None = None) -> Opportunity:
    errors = {}
    if origin not in OPPORTUNITY_ORIGINS:
        errors["origin"] = _l("Unknown origin.")
    if due_at is None:
        errors["due_at"] = _l("Enter the date and time to call.")
    elif due_at <= utcnow():
        errors["due_at"] = _l("The date and time must be in the future.")
    inputs.text(note, "note", errors, max_len=MAX_NOTE, too_long_message=_l(
        "The note is too long (at most %(n)d characters).", n=MAX_NOTE))
    if customer_id is None and vehicle_id is None:
        errors["customer_id"] = _l("Choose the customer or the vehicle.")
    try:
        assigned = _assignable(session, dealer, assigned_user_id) or actor.id
    except ActionError as exc:
        errors.update(exc.errors)
    if errors:
        raise ActionError(errors)
    if customer_id is not None:
        get_owned(session, Customer, dealer.id, customer_id)
    if vehicle_id is not None:
        vehicle = get_owned(session, Vehicle, dealer.id, vehicle_id)
        customer_id = customer_id or vehicle.customer_id
    opp = Opportunity(dealer_id=dealer.id, origin=origin, customer_id=customer_id, vehicle_id=vehicle_id,
                      due_at=due_at, note=(note or "").strip(), assigned_user_id=assigned, created_by_id=actor.id,
                      campaign_id=campaign_id)
    session.add(opp)
    session.flush()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="opportunity.create", entity="opportunity",
           entity_id=opp.id, data={"origin": origin, "due_at": due_at.isoformat(), "assigned_user_id": assigned})
    session.commit()
    return opp


def discard(session: Session, dealer: Dealer, actor: User, opportunity_id, *, reason_id, comment: str = "",
            version=None) -> Opportunity:
    opp = _open_opportunity(session, dealer, opportunity_id, version)
    reason = None
    if reason_id not in (None, ""):
        reason_id = inputs.row_id(reason_id)
        if reason_id is not None:
            reason = session.scalar(select(DiscardReason).where(
                DiscardReason.id == reason_id, DiscardReason.dealer_id == dealer.id,
                DiscardReason.active.is_(True)))
        if reason is None:
            raise ActionError.field("reason_id", _l("Choose a reason from the list."))
    else:
        raise ActionError.field("reason_id", _l("Choose why the customer declined."))
    if opp.oem_lead_id and not reason.oem_reason:
        raise ActionError.field("reason_id", _l("This is an OEM lead: choose a reason that has an OEM equivalent."))
    _check_comment(comment)
    opp.discard_reason_id = reason.id
    opp.discard_comment = (comment or "").strip()
    triggers.discarded(session, opp, oem_reason=reason.oem_reason or "", comment=opp.discard_comment)
    return _close(session, dealer, actor, opp, "discarded", "opportunity.discard",
                  {"reason": reason.code, "comment": opp.discard_comment})


def _close(session: Session, dealer: Dealer, actor: User, opp: Opportunity, status: str, action: str,
           data: dict) -> Opportunity:
    """An open opportunity closed (discarded, sold) by ``actor`` now, saved with its audit row."""
    opp.status = status
    opp.closed_at = utcnow()
    opp.closed_by_id = actor.id
    return _save(session, dealer, actor, opp, action, data)


def _save(session: Session, dealer: Dealer, actor: User, opp: Opportunity, action: str, data: dict) -> Opportunity:
    """A caller's change of an open opportunity, with its audit row; committed unless someone else changed
    it meanwhile (``Conflict``)."""
    record(session, dealer_id=dealer.id, user_id=actor.id, action=action, entity="opportunity", entity_id=opp.id,
           data=data)
    commit_or_conflict(session)
    return opp


def _comment_as_note(opp: Opportunity, comment: str) -> None:
    """A replan's or a sale's comment becomes the opportunity's note (none keeps the note)."""
    if comment:
        opp.note = (comment or "").strip()[:MAX_NOTE]


def _check_comment(comment: str) -> str:
    """A comment as stored: too long or unstorable is refused, never cut."""
    errors: dict = {}
    comment = inputs.text(comment, "comment", errors, max_len=MAX_NOTE, too_long_message=_l(
        "The comment is too long (at most %(n)d characters).", n=MAX_NOTE))
    if errors:
        raise ActionError(errors)
    return comment


def replan(session: Session, dealer: Dealer, actor: User, opportunity_id, *, due_at: datetime | None,
           comment: str = "", version=None) -> Opportunity:
    opp = _open_opportunity(session, dealer, opportunity_id, version)
    if due_at is None:
        raise ActionError.field("due_at", _l("Enter the new date and time."))
    if due_at <= utcnow():
        raise ActionError.field("due_at", _l("The new date and time must be in the future."))
    comment = _check_comment(comment)
    previous = opp.due_at
    opp.due_at = due_at
    _comment_as_note(opp, comment)
    return _save(session, dealer, actor, opp, "opportunity.replan",
                 {"from": previous.isoformat(), "to": due_at.isoformat(), "comment": comment})


def mark_sold(session: Session, dealer: Dealer, actor: User, opportunity_id, *, appointment_at: datetime | None,
              comment: str = "", version=None) -> Opportunity:
    """Appointment sold: closed as sold; the DMS appointment at that time is matched by the sync."""
    opp = _open_opportunity(session, dealer, opportunity_id, version)
    if appointment_at is None:
        raise ActionError.field("appointment_at", _l("Enter the date and time of the appointment given in the DMS."))
    w = BoardWindows.at(dealer.time_zone)
    if appointment_at < w.today_start:
        raise ActionError.field("appointment_at", _l("The appointment cannot be in the past."))
    comment = _check_comment(comment)
    opp.sold_appointment_at = appointment_at
    _comment_as_note(opp, comment)
    triggers.appointment_sold(session, opp)
    return _close(session, dealer, actor, opp, "sold", "opportunity.sold",
                  {"appointment_at": appointment_at.isoformat()})


def one(session: Session, dealer: Dealer, w: BoardWindows, opportunity_id: int):
    """The list row of one opportunity, in whatever state (for the row an action returns)."""
    return one_row(session, _rows(dealer), Opportunity, dealer, opportunity_id)


def discard_reasons(session: Session, dealer: Dealer) -> list[DiscardReason]:
    return list(session.scalars(select(DiscardReason).where(
        DiscardReason.dealer_id == dealer.id, DiscardReason.active.is_(True)).order_by(
        DiscardReason.position, DiscardReason.id)))


def default_due(dealer: Dealer, w: BoardWindows) -> datetime:
    """When a new or replanned opportunity is proposed for: tomorrow at ten, the dealer's time (the caller
    changes it; morning calls reach most customers)."""
    return datetime.combine(w.today + timedelta(days=1), time(10, 0), tzinfo=ZoneInfo(dealer.time_zone))


def assignees(session: Session, dealer: Dealer) -> list[tuple[int, str]]:
    """Whom an opportunity can be assigned to: the dealer's active users (the form's choices; the same rule
    as ``_assignable``)."""
    return list(session.execute(
        select(User.id, User.name).join(Membership, Membership.user_id == User.id)
        .where(Membership.dealer_id == dealer.id, User.active.is_(True)).distinct().order_by(User.name)))
