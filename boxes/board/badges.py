"""The live count badges of the board: every button's count in one SQL statement.

Each count uses the same conditions as its list (imported from the button's module), so a badge
can never disagree with the list it opens.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.board import activity, appointments, completed, deliveries, in_process, opportunities
from boxes.board.campaigns import active_campaigns_condition
from boxes.board.common import board_parameters, board_statement, count_of
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


def _statement(dealer, w):
    return select(
        count_of(Delivery, *deliveries.in_window(dealer, w), deliveries.pending_welcome_call()),
        count_of(Opportunity, *opportunities.in_window(dealer, w)),
        count_of(Appointment, appointments.sub_view_condition("to_confirm", dealer, w)),
        count_of(RepairOrder, *in_process.open_orders(dealer)),
        count_of(RepairOrder, *completed.in_window(dealer, w), completed.pending_courtesy_call()),
        count_of(Activity, *activity.today(dealer, w)),
        count_of(Campaign, Campaign.dealer_id == dealer.id, active_campaigns_condition(dealer)),
    )


def badges(session: Session, dealer: Dealer, w: BoardWindows) -> Badges:
    stmt = board_statement(("badges",), _statement)
    return Badges(*session.execute(stmt, board_parameters(dealer, w)).one())
