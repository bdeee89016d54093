"""The live count badges of the board: every button's count in one SQL statement.

Each count uses the same conditions as its list (imported from the button's module), so a badge
can never disagree with the list it opens. The two buttons whose lists live elsewhere have their
badge's conditions here: Reports (``boxes/reports``) counts the contacts registered today, the
campaign manager (``boxes/campaigns``) counts the campaigns that still have an open opportunity.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from boxes.board import appointments, completed, deliveries, in_process, opportunities
from boxes.board.statements import DEALER, WINDOWS, board_parameters, count_of
from boxes.board.windows import BoardWindows
from boxes.models import Activity, Appointment, Campaign, Dealer, Delivery, Opportunity, RepairOrder

BUTTONS = ("deliveries", "opportunities", "appointments", "in_process", "completed", "reports", "campaigns")
BUTTON_LABELS = {"deliveries": _l("Deliveries"), "opportunities": _l("New opportunities"),
                 "appointments": _l("Upcoming appointments"), "in_process": _l("In process"),
                 "completed": _l("Services completed"), "reports": _l("Reports"), "campaigns": _l("Campaign manager")}
# The roles that see each button and open its pages (an admin sees them all): the five lists are
# every board user's, with the row actions and reminders on them.
BOARD_ROLES = ("caller", "manager", "campaigns")
BUTTON_ROLES = {"deliveries": BOARD_ROLES, "opportunities": BOARD_ROLES, "appointments": BOARD_ROLES,
                "in_process": BOARD_ROLES, "completed": BOARD_ROLES, "reports": ("manager",),
                "campaigns": ("campaigns", "manager")}


@dataclass(frozen=True)
class Badges:
    deliveries: int  # welcome calls pending
    opportunities: int  # open, due in the ±15-day window
    appointments: int  # to confirm
    in_process: int  # open ROs
    completed: int  # courtesy calls pending
    reports: int  # contacts registered today
    campaigns: int  # campaigns with open opportunities

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in BUTTONS}


def contacts_today(dealer: Dealer, w: BoardWindows) -> list:
    """Button 6, Reports: the contacts (activities) registered today."""
    return [Activity.dealer_id == dealer.id, Activity.created_at >= w.today_start,
            Activity.created_at < w.tomorrow_start]


@cache
def _contacts_today() -> Select:
    return select(func.count()).select_from(Activity).where(*contacts_today(DEALER, WINDOWS))


def count_contacts_today(session: Session, dealer: Dealer, w: BoardWindows) -> int:
    """Contacts registered today (the Reports button's badge, also shown on the Reports page)."""
    return session.scalar(_contacts_today(), board_parameters(dealer, w)) or 0


def active_campaigns_condition(dealer: Dealer):
    """The campaign manager's button: a campaign is active (counts on its badge) while one of its
    opportunities is still open."""
    return Campaign.id.in_(
        select(Opportunity.campaign_id).where(
            Opportunity.dealer_id == dealer.id, Opportunity.status == "open", Opportunity.campaign_id.is_not(None)
        )
    )


@cache
def _badges() -> Select:
    d, w = DEALER, WINDOWS
    return select(
        count_of(Delivery, *deliveries.in_window(d, w), deliveries.pending_welcome_call()),
        count_of(Opportunity, *opportunities.in_window(d, w)),
        count_of(Appointment, appointments.sub_view_condition("to_confirm", d, w)),
        count_of(RepairOrder, *in_process.open_orders(d)),
        count_of(RepairOrder, *completed.in_window(d, w), completed.pending_courtesy_call()),
        count_of(Activity, *contacts_today(d, w)),
        count_of(Campaign, Campaign.dealer_id == d.id, active_campaigns_condition(d)),
    )


def badges(session: Session, dealer: Dealer, w: BoardWindows) -> Badges:
    return Badges(*session.execute(_badges(), board_parameters(dealer, w)).one())
