"""Step 3 of the campaign manager: create the campaign and process its units into opportunities.

``create_campaign`` validates the form, writes the campaign and its work list (``CampaignUnit``,
one row per selected unit, with the caller it goes to) in one transaction. ``process`` (run by the
RQ job ``jobs.campaigns.process_campaign``) walks the work list in batches; each batch inserts its
opportunities with one INSERT … SELECT and advances ``units_processed`` in the same transaction,
so a crash loses at most an uncommitted batch and a re-run resumes there. A unit that already has
an open opportunity of the campaign is skipped (and the partial unique index
``uq_opportunity_open_campaign_vehicle`` refuses one anyway): re-running never duplicates.
``recover`` (the cron sweep) relies on that: a campaign whose job died is simply run again.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, case, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.board.campaigns import active_campaigns_condition
from boxes.board.common import Page, get_owned, list_query, paginate
from boxes.db import utcnow
from boxes.errors import ActionError
from boxes.models import Campaign, CampaignUnit, Customer, Dealer, Membership, Opportunity, User, Vehicle
from boxes.models.campaigns import CAMPAIGN_KINDS
from boxes.textmatch import fold, folded

ASSIGNMENTS = ("one", "round_robin")
MAX_NAME = 200
MAX_NOTE = 2000
BATCH = 10_000
OPEN_CAMPAIGN_UNIT = text("status = 'open' AND campaign_id IS NOT NULL AND vehicle_id IS NOT NULL")
_EVERY_UNIT = _l("This search has no criteria: confirm that the selection may be every unit of the dealer.")
# Campaign opportunities are due at this local hour of the due date.
DUE_HOUR = time(9, 0)


def callers(session: Session, dealer: Dealer) -> list[User]:
    """The dealer's active callers, in a stable order (round-robin goes through them in turn)."""
    return list(session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.dealer_id == dealer.id, Membership.role == "caller", User.active.is_(True))
        .order_by(User.name, User.id).distinct()
    ))


def _assignable_ids(session: Session, dealer: Dealer) -> set[int]:
    return set(session.scalars(select(Membership.user_id).join(User, User.id == Membership.user_id).where(
        Membership.dealer_id == dealer.id, User.active.is_(True))))


def open_campaigns_condition(dealer: Dealer):
    """A campaign is open while it is not fully processed (draft, processing, failed) or one of its
    opportunities is still open (as the board's campaign badge counts it)."""
    return or_(Campaign.status != "done", active_campaigns_condition(dealer))


def open_campaigns(session: Session, dealer: Dealer) -> list[Campaign]:
    """The campaigns units can be added to, newest first."""
    return list(session.scalars(select(Campaign).where(Campaign.dealer_id == dealer.id,
                                                       open_campaigns_condition(dealer))
                                .order_by(Campaign.created_at.desc(), Campaign.id.desc())))


def _same_name(name: str) -> str:
    return " ".join(name.split())


def open_campaign_named(session: Session, dealer: Dealer, name: str) -> Campaign | None:
    """The dealer's open campaign of that name, capitals, accents and spaces aside."""
    return session.scalars(select(Campaign).where(
        Campaign.dealer_id == dealer.id, folded(Campaign.name) == fold(_same_name(name)),
        open_campaigns_condition(dealer)).limit(1)).first()


def _lock_dealer_campaigns(session: Session, dealer: Dealer) -> None:
    """Campaigns of one dealer are created one at a time (PostgreSQL: a lock on the dealer's row
    until commit; SQLite writes one transaction at a time anyway), so two creators typing the same
    name at the same moment cannot both pass the check."""
    session.execute(select(Dealer.id).where(Dealer.id == dealer.id).with_for_update())


def create_campaign(session: Session, dealer: Dealer, actor: User, *, name: str, kind: str, due_date,
                    assignment: str, assigned_user_id=None, note: str = "", vehicle_ids,
                    every_unit_confirmed: bool | None = None) -> Campaign:
    """``every_unit_confirmed``: None when the units come from a search with criteria; from a search
    without any (it matches every unit of the dealer) the creator must have confirmed (True)."""
    errors: dict = {}
    # Bounded and stripped (boxes.inputs), inner spaces collapsed so the open-name check and the
    # stored name agree.
    name = _same_name(inputs.text(name, "name", errors, max_len=MAX_NAME, required=_l("Enter the campaign's name."),
                                  too_long_message=_l("The name is too long (at most %(n)d characters).",
                                                      n=MAX_NAME)))
    _lock_dealer_campaigns(session, dealer)
    if name and (existing := open_campaign_named(session, dealer, name)) is not None:
        errors["name"] = _l("The open campaign “%(name)s” already has this name: add the units to it, or choose "
                            "another name.", name=existing.name)
    if every_unit_confirmed is False:
        errors["confirm_all"] = _EVERY_UNIT
    if kind not in CAMPAIGN_KINDS:
        errors["kind"] = _l("Choose the kind of campaign.")
    tz = ZoneInfo(dealer.time_zone)
    due_at = None
    # Bounded (boxes.inputs): the job writes this date into every opportunity it creates.
    due_date = inputs.day(due_date.isoformat() if isinstance(due_date, date) else due_date, "due_date", errors)
    if due_date is None:
        errors.setdefault("due_date", _l("Enter the due date."))
    else:
        due_at = datetime.combine(due_date, DUE_HOUR, tzinfo=tz)
        if due_date < utcnow().astimezone(tz).date():
            errors["due_date"] = _l("The due date cannot be in the past.")
    note = inputs.text(note, "note", errors, max_len=MAX_NOTE, too_long_message=_l(
        "The note is too long (at most %(n)d characters).", n=MAX_NOTE))
    rota = _rota(session, dealer, assignment, assigned_user_id, errors)
    ids = sorted({int(i) for i in vehicle_ids or ()})
    postgres = session.get_bind().dialect.name == "postgresql"
    if ids and not postgres:
        ids = list(session.scalars(select(Vehicle.id).where(
            Vehicle.dealer_id == dealer.id,
            Vehicle.id.in_(bindparam("ids", ids, expanding=True, literal_execute=True))).order_by(Vehicle.id)))
    if ids and postgres and errors:  # on success the insert below checks ownership itself
        owned = session.scalar(text("SELECT count(*) FROM vehicle WHERE dealer_id = :d AND id = ANY(CAST(:ids AS "
                                    "integer[]))"), {"d": dealer.id, "ids": ids})
        ids = ids if owned else []
    if not ids:
        errors["selection"] = _l("Select at least one unit.")
    if errors:
        raise ActionError(errors)

    campaign = Campaign(dealer_id=dealer.id, name=name, kind=kind, due_at=due_at.astimezone(ZoneInfo("UTC")),
                        note=(note or "").strip(), status="draft", units_total=len(ids), units_processed=0,
                        created_by_id=actor.id, assignment=assignment,
                        assigned_user_id=rota[0] if assignment == "one" else None, opportunities_created=0)
    session.add(campaign)
    session.flush()
    if postgres:
        # One statement: keep the dealer's own vehicles, number them, deal them out to the callers.
        campaign.units_total = session.execute(text(
            "INSERT INTO campaign_unit (dealer_id, campaign_id, position, vehicle_id, assigned_user_id) "
            "SELECT :dealer, :campaign, n - 1, id, (CAST(:rota AS integer[]))[((n - 1) % :size) + 1] FROM ("
            "  SELECT v.id, row_number() OVER (ORDER BY v.id) AS n FROM vehicle v"
            "  WHERE v.dealer_id = :dealer AND v.id = ANY(CAST(:ids AS integer[]))) AS owned"),
            {"dealer": dealer.id, "campaign": campaign.id, "rota": rota, "size": len(rota), "ids": ids}).rowcount
        if not campaign.units_total:
            session.rollback()
            raise ActionError.field("selection", _l("Select at least one unit."))
    else:
        rows = [{"dealer_id": dealer.id, "campaign_id": campaign.id, "position": i, "vehicle_id": vid,
                 "assigned_user_id": rota[i % len(rota)]} for i, vid in enumerate(ids)]
        for start in range(0, len(rows), 10_000):
            session.execute(insert(CampaignUnit), rows[start:start + 10_000])
    record(session, dealer_id=dealer.id, user_id=actor.id, action="campaign.create", entity="campaign",
           entity_id=campaign.id, data={"name": name, "kind": kind, "units": campaign.units_total,
                                        "assignment": assignment, "due_at": campaign.due_at.isoformat()})
    session.commit()
    return campaign


def _rota(session: Session, dealer: Dealer, assignment: str, assigned_user_id, errors: dict) -> list[int]:
    """The users the units go to, in turn: one user, or the dealer's active callers."""
    if assignment == "one":
        uid = inputs.row_id(assigned_user_id)
        if uid is None or uid not in _assignable_ids(session, dealer):
            errors["assigned_user_id"] = _l("Choose a user of this dealer.")
            return []
        return [uid]
    if assignment == "round_robin":
        rota = [u.id for u in callers(session, dealer)]
        if not rota:
            errors["assignment"] = _l("This dealer has no active callers to share the units among.")
        return rota
    errors["assignment"] = _l("Choose how to assign the units.")
    return []


def add_units(session: Session, dealer: Dealer, actor: User, campaign_id, vehicle_ids,
              every_unit_confirmed: bool | None = None) -> Campaign:
    """Add units to an open campaign of the dealer: appended to its work list, assigned as the
    campaign assigns (its one user, or the callers in turn from where the list stopped), processed
    by the same job. A unit that already has an open opportunity of the campaign gets no second one
    (the job skips it). The caller enqueues the job. ``every_unit_confirmed``: as ``create_campaign``."""
    campaign = get_owned(session, Campaign, dealer.id, inputs.row_id(campaign_id), lock=True)
    _lock_dealer_campaigns(session, dealer)
    errors: dict = {}
    if session.scalar(select(Campaign.id).where(Campaign.id == campaign.id, open_campaigns_condition(dealer))) is None:
        errors["campaign_id"] = _l("This campaign is closed: every opportunity of it is sold or discarded.")
    if every_unit_confirmed is False:
        errors["confirm_all"] = _EVERY_UNIT
    rota = _rota(session, dealer, campaign.assignment, campaign.assigned_user_id, errors)
    wanted = sorted({int(i) for i in vehicle_ids or ()})
    ids = []
    for start in range(0, len(wanted), 10_000):  # only the dealer's own vehicles
        ids += session.scalars(select(Vehicle.id).where(Vehicle.dealer_id == dealer.id, Vehicle.id.in_(
            bindparam("ids", wanted[start:start + 10_000], expanding=True, literal_execute=True)))).all()
    if not ids:
        errors["selection"] = _l("Select at least one unit.")
    if errors:
        raise ActionError(errors)
    first = campaign.units_total
    rows = [{"dealer_id": dealer.id, "campaign_id": campaign.id, "position": first + i, "vehicle_id": vid,
             "assigned_user_id": rota[(first + i) % len(rota)]} for i, vid in enumerate(sorted(ids))]
    for start in range(0, len(rows), 10_000):
        session.execute(insert(CampaignUnit), rows[start:start + 10_000])
    campaign.units_total = first + len(rows)
    campaign.status = "draft"
    campaign.finished_at = None
    record(session, dealer_id=dealer.id, user_id=actor.id, action="campaign.add_units", entity="campaign",
           entity_id=campaign.id, data={"units": len(rows), "units_total": campaign.units_total})
    session.commit()
    return campaign


def mark_queued(session: Session, dealer: Dealer, actor: User | None, campaign: Campaign, job_id: str) -> None:
    campaign.job_id = job_id
    if campaign.status != "done" or campaign.units_processed < campaign.units_total:
        campaign.status = "processing"
        # A person started it (again): the sweep may resume it MAX_RECOVERIES times more.
        campaign.recoveries = 0
        campaign.failure = ""
    record(session, dealer_id=dealer.id, user_id=actor.id if actor else None, action="campaign.enqueue",
           entity="campaign", entity_id=campaign.id, data={"job_id": job_id})
    session.commit()


def process(session: Session, campaign_id: int, *, batch: int = BATCH,
            progress: Callable[[int, int], None] | None = None, pause: float = 0.0) -> Campaign:
    """Create the campaign's opportunities, batch by batch, from where the last run stopped.

    ``pause``: seconds to wait between batches (to spare a busy database during a huge campaign)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id}")
    dealer_id = campaign.dealer_id
    if campaign.status == "done" and campaign.units_processed >= campaign.units_total:
        return campaign  # a stray extra job (see ``recover``): nothing to do, nothing to record
    if campaign.status != "processing":
        campaign.status = "processing"
        session.commit()
    cu = CampaignUnit.__table__
    opp = Opportunity.__table__
    veh = Vehicle.__table__
    columns = ["dealer_id", "origin", "customer_id", "vehicle_id", "due_at", "status", "note", "discard_comment",
               "campaign_id", "assigned_user_id", "created_by_id", "created_at", "version"]
    while campaign.units_processed < campaign.units_total:
        start = campaign.units_processed
        end = min(start + batch, campaign.units_total)
        now = utcnow()
        source = (
            select(
                cu.c.dealer_id, literal("campaign"), veh.c.customer_id, cu.c.vehicle_id,
                literal(campaign.due_at, Opportunity.due_at.type), literal("open"), literal(campaign.note),
                literal(""), cu.c.campaign_id, cu.c.assigned_user_id,
                literal(campaign.created_by_id, Opportunity.created_by_id.type),
                literal(now, Opportunity.created_at.type), literal(1),
            )
            .select_from(cu.join(veh, veh.c.id == cu.c.vehicle_id))
            .where(
                cu.c.dealer_id == dealer_id, cu.c.campaign_id == campaign.id,
                cu.c.position >= start, cu.c.position < end, veh.c.dealer_id == dealer_id,
            )
        )
        # The partial unique index decides: a unit with an open opportunity of the campaign is skipped,
        # whether it was made by an earlier (crashed) run or by anyone else.
        stmt = _insert(session)(opp).from_select(columns, source).on_conflict_do_nothing(
            index_elements=["vehicle_id", "campaign_id"], index_where=OPEN_CAMPAIGN_UNIT)
        created = len(session.execute(stmt.returning(opp.c.id)).all())
        session.execute(update(Campaign.__table__).where(Campaign.__table__.c.id == campaign.id).values(
            units_processed=end, opportunities_created=Campaign.__table__.c.opportunities_created + created))
        session.commit()
        session.refresh(campaign)
        if progress is not None:
            progress(campaign.units_processed, campaign.units_total)
        if pause:
            _time.sleep(pause)
    campaign.status = "done"
    campaign.finished_at = utcnow()
    record(session, dealer_id=dealer_id, user_id=None, action="campaign.processed", entity="campaign",
           entity_id=campaign.id, data={"units": campaign.units_total,
                                        "opportunities_created": campaign.opportunities_created})
    session.commit()
    return campaign


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert


def mark_failed(session: Session, campaign_id: int, error: str) -> None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return
    campaign.status = "failed"
    campaign.failure = "error"
    record(session, dealer_id=campaign.dealer_id, user_id=None, action="campaign.failed", entity="campaign",
           entity_id=campaign.id, data={"error": error[:500]})
    session.commit()


# --- the recovery sweep -------------------------------------------------------------------------

# RQ's worker refreshes a started job's heartbeat every 30 s and gives it up 90 s after the last
# one; older than this, the worker is gone (killed, its machine restarted).
STALE_HEARTBEAT = timedelta(seconds=120)
# A campaign saved while Redis refused its job stays a draft without one; the view that saved it
# may still be enqueueing it, so the sweep waits this long before starting it itself.
START_GRACE = timedelta(minutes=2)
# A campaign whose job keeps dying (it takes its worker down, say) is not restarted forever.
MAX_RECOVERIES = 3
UNFINISHED = ("draft", "processing")


def job_running(redis, job_id: str | None, now: datetime) -> bool:
    """Whether the RQ job is waiting to run or running on a live worker."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    if not job_id:
        return False
    try:
        job = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:  # expired, or Redis lost it
        return False
    status = job.get_status(refresh=False)
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    if status == JobStatus.STARTED:
        beat = job.last_heartbeat or job.started_at
        return beat is not None and now - beat.replace(tzinfo=beat.tzinfo or UTC) < STALE_HEARTBEAT
    return False  # failed, stopped, canceled, or finished without finishing the campaign


def recover(session: Session, redis, enqueue: Callable[[int, str], object], *, now: datetime | None = None) -> dict:
    """The sweep (cron, every minute): a campaign left "processing" by a job that is gone, or a
    draft whose job was never queued, is started again — processing resumes where it stopped and
    never duplicates an opportunity — at most ``MAX_RECOVERIES`` times; after that it is marked
    failed ("stopped") and its page offers "Run again". ``enqueue(campaign_id, job_id)`` queues the
    job. Returns the campaign ids by what was done."""
    now = now or utcnow()
    outcome: dict[str, list[int]] = {"resumed": [], "failed": []}
    stuck = session.execute(select(Campaign.id, Campaign.dealer_id, Campaign.status, Campaign.job_id,
                                   Campaign.recoveries, Campaign.created_at, Campaign.units_processed)
                            .where(Campaign.status.in_(UNFINISHED)).order_by(Campaign.id)).all()
    table = Campaign.__table__
    for row in stuck:
        if row.job_id is None and row.status == "draft" and row.created_at > now - START_GRACE:
            continue
        if job_running(redis, row.job_id, now):
            continue
        # Only if nobody moved it meanwhile (its job finishing, a person's "Run again").
        unchanged = (table.c.id == row.id, table.c.status == row.status,
                     table.c.job_id.is_(None) if row.job_id is None else table.c.job_id == row.job_id)
        if row.recoveries >= MAX_RECOVERIES:
            if session.execute(update(table).where(*unchanged).values(status="failed", failure="stopped")).rowcount:
                record(session, dealer_id=row.dealer_id, user_id=None, action="campaign.failed", entity="campaign",
                       entity_id=row.id, data={"error": "its job stopped and was restarted too often",
                                               "job_id": row.job_id, "recoveries": row.recoveries})
                session.commit()
                outcome["failed"].append(row.id)
            continue
        job_id = f"campaign-{row.id}-recovery-{row.recoveries + 1}"
        if not session.execute(update(table).where(*unchanged).values(
                status="processing", job_id=job_id, recoveries=row.recoveries + 1)).rowcount:
            continue
        record(session, dealer_id=row.dealer_id, user_id=None, action="campaign.resume", entity="campaign",
               entity_id=row.id, data={"previous_job_id": row.job_id, "job_id": job_id,
                                       "units_processed": row.units_processed})
        # Committed before the job exists: if queueing fails now, the next sweep finds no such job.
        session.commit()
        enqueue(row.id, job_id)
        outcome["resumed"].append(row.id)
    return outcome


def get_campaign(session: Session, dealer: Dealer, campaign_id) -> Campaign:
    return get_owned(session, Campaign, dealer.id, campaign_id)


def campaign_opportunities(session: Session, dealer: Dealer, campaign: Campaign, *, page: int = 1,
                           per_page: int = 50) -> Page:
    """Every opportunity of one campaign, whatever its due date (the board only shows ±15 days),
    open ones first by due date, with customer, vehicle and the user it is assigned to."""
    o = Opportunity
    rows = (
        select(o, Customer.name.label("customer"), Vehicle, User.name.label("assigned_to"))
        .outerjoin(Customer, Customer.id == o.customer_id)
        .outerjoin(Vehicle, Vehicle.id == o.vehicle_id)
        .outerjoin(User, User.id == o.assigned_user_id)
    )
    order = (case((o.status == "open", 0), else_=1), o.due_at, o.id)
    query = list_query(select(o.id).where(o.dealer_id == dealer.id, o.campaign_id == campaign.id), rows, order)
    return paginate(session, query, page, per_page)


def campaigns(session: Session, dealer: Dealer, *, page: int = 1, per_page: int = 50) -> Page:
    """The campaign list with its opportunity counts (total, open, sold, discarded) in one query."""
    o = Opportunity
    counts = (
        select(o.campaign_id.label("campaign_id"), func.count().label("total"),
               func.count().filter(o.status == "open").label("open"),
               func.count().filter(o.status == "sold").label("sold"),
               func.count().filter(o.status == "discarded").label("discarded"))
        .where(o.dealer_id == dealer.id, o.campaign_id.is_not(None), o.origin == "campaign")
        .group_by(o.campaign_id).subquery()
    )
    conds = [Campaign.dealer_id == dealer.id]
    rows = (
        select(Campaign, *(func.coalesce(getattr(counts.c, n), 0).label(n)
                           for n in ("total", "open", "sold", "discarded")))
        .outerjoin(counts, counts.c.campaign_id == Campaign.id)
    )
    query = list_query(select(Campaign.id).where(*conds), rows, (Campaign.created_at.desc(), Campaign.id.desc()))
    return paginate(session, query, page, per_page)
