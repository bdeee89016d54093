"""An OEM lead's opportunity as the board, the distribution queue and the reports show it (issue 14, items
3, 4 and 9): the lead joined to its opportunity, the first-contact deadline, the link to its log.

- ``lead_join`` / ``LEAD_COLUMNS``: the opportunity's ``OemLead`` (and the user holding it) as a LEFT JOIN
  on ``(dealer_id, lead_id)``, the lead's unique key: an index lookup for a lead's opportunity, nothing
  for any other (its ``oem_lead_id`` is NULL, which matches no row).
- The deadline: ``first_contact_due`` is the lead's arrival plus the dealer's
  ``OemConnector.first_contact_hours``; ``first_contact_at`` the first call registered on its opportunity
  (``boxes.oem.triggers.call_registered``). An open lead past its deadline without a first contact is
  *overdue* (its board row red, with the words); the reports count each lead contacted within the
  deadline, late, or not yet.
- ``log_url``: the lead's integration log (Integrations → OEM's log), for the users who may read it.
"""

from __future__ import annotations

from datetime import datetime

from flask import g, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, literal
from sqlalchemy.orm import aliased

from boxes.models import OemLead, Opportunity, User
from boxes.oem.log import LOG_ROLES

# The user an OEM lead is assigned to (None: the distribution queue); aliased, for the statements that
# join other users too.
LeadHolder = aliased(User, name="lead_holder")

# What a row of an OEM lead's opportunity reads of its lead, by the names the templates use; NULL on any
# other opportunity's row.
LEAD_COLUMNS = (
    OemLead.lead_type.label("lead_type"),
    OemLead.text.label("lead_text"),
    OemLead.received_at.label("lead_received_at"),
    OemLead.first_contact_due.label("lead_due"),
    OemLead.first_contact_at.label("lead_contacted_at"),
    LeadHolder.name.label("lead_holder"),
)


def lead_join(rows):
    """``rows`` (a statement selecting from ``Opportunity``) with the opportunity's lead and its holder
    LEFT JOINed (``LEAD_COLUMNS``)."""
    return (rows.outerjoin(OemLead, and_(OemLead.dealer_id == Opportunity.dealer_id,
                                         OemLead.lead_id == Opportunity.oem_lead_id))
            .outerjoin(LeadHolder, LeadHolder.id == OemLead.assigned_user_id))


def first_contact_overdue(due: datetime | None, contacted_at: datetime | None, now: datetime) -> bool:
    """A lead past its first-contact deadline that nobody has contacted yet."""
    return due is not None and contacted_at is None and due < now


FIRST_CONTACT_STATES = ("on_time", "late", "not_yet", "no_deadline")
FIRST_CONTACT_LABELS = {"on_time": _l("Within the deadline"), "late": _l("Late"), "not_yet": _l("Not yet"),
                        "no_deadline": _l("No deadline")}


def first_contact_state(due, contacted_at):
    """SQL: a lead's first contact against its deadline, one of ``FIRST_CONTACT_STATES``: "on_time", "late",
    "not_yet"; "no_deadline" for a lead without one (a vehicle lead for Sales, a quarantined one)."""
    return case((due.is_(None), literal("no_deadline")), (contacted_at.is_(None), literal("not_yet")),
                (contacted_at <= due, literal("on_time")), else_=literal("late"))


# The integration log of one lead (``?lead=<lead id>``): Integrations → OEM's log (``boxes.oem.views``).
LOG_ENDPOINT = "oem.log_index"


def log_url(lead_id: str) -> str | None:
    """The lead's integration log, for the users who may read it (``boxes.oem.log.LOG_ROLES``, admins
    always: as the log's page checks); None for the others."""
    roles = g.get("roles", frozenset())
    if "admin" not in roles and not roles.intersection(LOG_ROLES):
        return None
    return url_for(LOG_ENDPOINT, lead=lead_id)
