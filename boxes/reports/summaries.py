"""Per-caller and per-campaign tables shown under their reports."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from boxes.models import Activity, Dealer, Opportunity, User
from boxes.reports.grid import Grid
from boxes.reports.ranges import DateRange


def callers(session: Session, dealer: Dealer, rng: DateRange) -> list[dict]:
    """Per caller: calls, contacts, opportunities sold (closed as sold by them in the range) and
    appointment credit (their sold appointments whose car arrived, credited in the range)."""
    table: dict[int | None, dict] = {}

    def row(user_id):
        return table.setdefault(user_id, dict(user_id=user_id, calls=0, contacted=0, sold=0, credited=0))

    calls = select(Activity.user_id, func.count(), func.count(case((Activity.outcome == "contacted", 1)))).where(
        Activity.dealer_id == dealer.id, Activity.kind != "note", Activity.created_at >= rng.start,
        Activity.created_at < rng.end).group_by(Activity.user_id)
    for uid, n, contacted in session.execute(calls):
        row(uid).update(calls=n, contacted=contacted)
    sold = select(Opportunity.closed_by_id, func.count()).where(
        Opportunity.dealer_id == dealer.id, Opportunity.status == "sold", Opportunity.closed_at >= rng.start,
        Opportunity.closed_at < rng.end).group_by(Opportunity.closed_by_id)
    for uid, n in session.execute(sold):
        row(uid)["sold"] = n
    credited = select(Opportunity.credited_user_id, func.count()).where(
        Opportunity.dealer_id == dealer.id, Opportunity.credited_user_id.is_not(None),
        Opportunity.credited_at >= rng.start, Opportunity.credited_at < rng.end).group_by(Opportunity.credited_user_id)
    for uid, n in session.execute(credited):
        row(uid)["credited"] = n
    ids = [i for i in table if i is not None]
    names = {i: n for i, n in session.execute(select(User.id, User.name).where(User.id.in_(ids)))} if ids else {}
    out = []
    for uid, r in table.items():
        r["name"] = names.get(uid, "")
        r["contact_rate"] = r["contacted"] / r["calls"] if r["calls"] else None
        out.append(r)
    return sorted(out, key=lambda r: (-r["calls"], r["name"]))


def _per(session: Session, grid: Grid, key: str, total: str, counted: dict[str, tuple[str, str]]) -> list[dict]:
    """Per value of the report's column ``key``, over the grid's filtered rows: its rows (as ``total``), and
    for each name in ``counted`` its rows whose column has the value, ``{name: (column, value)}``."""
    sub = grid.sub
    stmt = (
        select(sub.c[key], func.count(), *(func.count(case((sub.c[column] == value, 1)))
                                           for column, value in counted.values()))
        .where(*grid.conditions()).group_by(sub.c[key]).order_by(sub.c[key])
    )
    return [dict(zip((key, total, *counted), row, strict=True)) for row in session.execute(stmt)]


def campaigns(session: Session, grid: Grid) -> list[dict]:
    """Per campaign over the report's rows: units, contacted, sold, shown, discarded."""
    return _per(session, grid, "campaign", "units", {"contacted": ("contacted", "yes"), "sold": ("result", "sold"),
                                                     "shown": ("shown", "yes"), "discarded": ("result", "discarded")})


def leads(session: Session, grid: Grid) -> list[dict]:
    """Per caller (the lead's holder; "" in nobody's hands) over the leads report's rows: leads, first contact
    within the deadline, late, not yet, converted, lost."""
    return _per(session, grid, "caller", "leads", {
        "on_time": ("first_contact", "on_time"), "late": ("first_contact", "late"),
        "not_yet": ("first_contact", "not_yet"), "converted": ("result", "converted"), "lost": ("result", "lost")})
