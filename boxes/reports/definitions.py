"""The reports: for each board step, the rows behind its charts (one statement), its columns, its
main pie column and its KPIs. Every figure is a count over those same rows, so a chart and its grid
can never disagree. Definitions of every KPI: ``docs/kpis.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import aliased

from boxes.board.windows import BoardWindows
from boxes.models import (
    Activity,
    Appointment,
    Campaign,
    Customer,
    Delivery,
    DiscardReason,
    OemLead,
    Opportunity,
    RepairOrder,
    User,
    Vehicle,
)
from boxes.models.oem import LEAD_DISPOSITION_LABELS, LEAD_DISPOSITIONS, LEAD_TYPE_LABELS
from boxes.models.opportunities import ACTIVITY_KIND_LABELS, CHANNEL_LABELS, ORIGIN_LABELS, OUTCOME_LABELS
from boxes.models.workshop import APPOINTMENT_STATUS_LABELS, ARRIVED
from boxes.oem.api import LOST_SALE_REASONS
from boxes.oem.board import FIRST_CONTACT_LABELS, first_contact_state
from boxes.reports.ranges import DateRange

TEXT, CATEGORY, DATETIME, NUMBER = "text", "category", "datetime", "number"

YES_NO = {"yes": _l("Yes"), "no": _l("No")}
# Beside "Open", "Sold" (translated as plurals: counts and categories of opportunities); the board's
# "Discarded" is one opportunity's state.
DISCARDED = lazy_pgettext("opportunities", "Discarded")


@dataclass(frozen=True)
class Column:
    key: str
    label: object
    kind: str = TEXT
    labels: dict | None = None  # category code → label

    def display(self, value) -> str:
        if value is None:
            return ""
        if self.labels is not None:
            return str(self.labels.get(value, value))
        return value


@dataclass(frozen=True)
class Kpi:
    key: str
    label: object
    numerator: str  # "column=value[|value]" counted over the rows
    denominator: str | None = None  # same form, or "*" for every row; None: a plain count
    mean_of: str | None = None  # a column whose numeric mean is the KPI


@dataclass
class Report:
    key: str
    title: object
    description: object
    columns: list[Column]
    pie: str  # the main chart's column
    kpis: list[Kpi] = field(default_factory=list)
    default_sort: str = ""

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)


def _of(model, value, key):
    """A label from the row's customer, vehicle, campaign... (``value`` of the ``model`` row whose id
    is ``key``) as a correlated sub-select, not a join: a statement that does not show it (the counts
    behind a pie and the KPIs) never reads that table and can be served by the report's own index
    alone; shown, it costs one index lookup per row."""
    return select(value).where(model.id == key).correlate_except(model).scalar_subquery()


def _customer(key):
    return _of(Customer, Customer.name, key)


def _vehicle(key):
    return _of(Vehicle, func.trim(Vehicle.brand + literal(" ") + Vehicle.model + literal(" ") + Vehicle.version), key)


def _done_or_pending(called_at):
    """A call's column (welcome, courtesy): "done" once it was made, else "pending"."""
    return case((called_at.is_not(None), literal("done")), else_=literal("pending"))


def _yes_no(condition):
    return case((condition, literal("yes")), else_=literal("no"))


def _rows(model, dealer, rng: DateRange, dated, *conds, **columns) -> Select:
    """A report's rows: the dealer's ``model`` rows whose instant ``dated`` falls in the range (and that meet
    ``conds``), as their id and ``columns``, each labelled with its keyword (the report's column key)."""
    return (
        select(model.id.label("id"), *(value.label(key) for key, value in columns.items()))
        .select_from(model)
        .where(model.dealer_id == dealer.id, *conds, dated >= rng.start, dated < rng.end)
    )


def deliveries_rows(dealer, rng: DateRange, w: BoardWindows, locale: str) -> Select:
    act = aliased(Activity)
    on_delivery = [act.dealer_id == dealer.id, act.subject_type == "delivery", act.subject_id == Delivery.id]
    result = case(
        (exists().where(*on_delivery, act.outcome == "contacted"), literal("contacted")),
        (exists().where(*on_delivery), literal("not_reached")),
        else_=literal("no_call"),
    )
    return _rows(
        Delivery, dealer, rng, Delivery.delivered_at,
        delivered_at=Delivery.delivered_at,
        customer=_customer(Delivery.customer_id),
        vehicle=_vehicle(Delivery.vehicle_id),
        plate=_of(Vehicle, Vehicle.plate, Delivery.vehicle_id),
        salesperson=Delivery.salesperson,
        welcome_call=_done_or_pending(Delivery.welcome_call_at),
        result=result,
    )


def _reason_label(locale: str):
    return {"es": DiscardReason.label_es, "pt_BR": DiscardReason.label_pt_br}.get(locale, DiscardReason.label_en)


def opportunities_rows(dealer, rng: DateRange, w: BoardWindows, locale: str) -> Select:
    state = case(
        (and_(Opportunity.status == "open", Opportunity.due_at < w.today_start), literal("overdue")),
        else_=Opportunity.status,
    )
    return _rows(
        Opportunity, dealer, rng, Opportunity.created_at,
        created_at=Opportunity.created_at,
        due_at=Opportunity.due_at,
        customer=_customer(Opportunity.customer_id),
        vehicle=_vehicle(Opportunity.vehicle_id),
        origin=Opportunity.origin,
        campaign=_of(Campaign, Campaign.name, Opportunity.campaign_id),
        state=state,
        discard_reason=_of(DiscardReason, _reason_label(locale), Opportunity.discard_reason_id),
        assigned_to=_of(User, User.name, Opportunity.assigned_user_id),
    )


def appointments_rows(dealer, rng: DateRange, w: BoardWindows, locale: str) -> Select:
    arrived = or_(Appointment.arrived_at.is_not(None), Appointment.status.in_(ARRIVED))
    result = case(
        (arrived, literal("arrived")),
        (Appointment.status == "cancelled", literal("cancelled")),
        (or_(Appointment.status == "no_show", Appointment.scheduled_at < w.today_start), literal("no_show")),
        (Appointment.status == "confirmed", literal("confirmed")),
        else_=literal("pending"),
    )
    return _rows(
        Appointment, dealer, rng, Appointment.scheduled_at,
        scheduled_at=Appointment.scheduled_at,
        customer=_customer(Appointment.customer_id),
        vehicle=_vehicle(Appointment.vehicle_id),
        service_type=Appointment.service_type,
        source=Appointment.source,
        confirmed=_yes_no(Appointment.confirmed_at.is_not(None)),
        result=result,
    )


def in_process_rows(dealer, rng: DateRange, w: BoardWindows, locale: str) -> Select:
    age = case(
        (RepairOrder.opened_at >= w.today_start, literal("today")),
        (RepairOrder.opened_at >= w.yesterday_start, literal("yesterday")),
        (RepairOrder.opened_at >= w.week_start, literal("week")),
        else_=literal("older"),
    )
    return _rows(
        RepairOrder, dealer, rng, RepairOrder.opened_at, RepairOrder.delivered_at.is_(None),
        opened_at=RepairOrder.opened_at,
        number=RepairOrder.number,
        customer=_customer(RepairOrder.customer_id),
        vehicle=_vehicle(RepairOrder.vehicle_id),
        advisor=RepairOrder.advisor,
        age=age,
    )


def completed_rows(dealer, rng: DateRange, w: BoardWindows, locale: str) -> Select:
    last_score = (
        select(Activity.satisfaction)
        .where(Activity.dealer_id == dealer.id, Activity.subject_type == "repair_order",
               Activity.subject_id == RepairOrder.id, Activity.satisfaction.is_not(None))
        .order_by(Activity.created_at.desc(), Activity.id.desc()).limit(1)
        .correlate_except(Activity).scalar_subquery()
    )
    return _rows(
        RepairOrder, dealer, rng, RepairOrder.delivered_at,
        delivered_at=RepairOrder.delivered_at,
        number=RepairOrder.number,
        customer=_customer(RepairOrder.customer_id),
        vehicle=_vehicle(RepairOrder.vehicle_id),
        advisor=RepairOrder.advisor,
        courtesy_call=_done_or_pending(RepairOrder.courtesy_call_at),
        satisfaction=last_score,
    )


def campaigns_rows(dealer, rng: DateRange, w: BoardWindows, locale: str) -> Select:
    contacted = exists().where(Activity.dealer_id == dealer.id, Activity.subject_type == "opportunity",
                               Activity.subject_id == Opportunity.id, Activity.outcome == "contacted")
    shown = or_(Opportunity.credited_at.is_not(None), exists().where(
        Appointment.dealer_id == dealer.id, Appointment.id == Opportunity.matched_appointment_id,
        or_(Appointment.arrived_at.is_not(None), Appointment.status.in_(ARRIVED))))
    return _rows(
        Opportunity, dealer, rng, Opportunity.created_at, Opportunity.campaign_id.is_not(None),
        campaign=_of(Campaign, Campaign.name, Opportunity.campaign_id),
        created_at=Opportunity.created_at,
        customer=_customer(Opportunity.customer_id),
        vehicle=_vehicle(Opportunity.vehicle_id),
        vin=_of(Vehicle, Vehicle.vin, Opportunity.vehicle_id),
        result=Opportunity.status,
        contacted=_yes_no(contacted),
        shown=_yes_no(shown),
    )


def callers_rows(dealer, rng: DateRange, w: BoardWindows, locale: str) -> Select:
    return _rows(
        Activity, dealer, rng, Activity.created_at, Activity.kind != "note",
        created_at=Activity.created_at,
        caller=func.coalesce(_of(User, User.name, Activity.user_id), literal("")),
        kind=Activity.kind,
        channel=Activity.channel,
        outcome=Activity.outcome,
        customer=_customer(Activity.customer_id),
    )


def leads_rows(dealer, rng: DateRange, w: BoardWindows, locale: str) -> Select:
    """The OEM leads received in the range, whatever became of them: the first contact against the deadline,
    the result of a board lead's opportunity (sold: converted, ACO/NFF; discarded: lost, with the OEM's
    reason the dealer's discard reason maps to) and the caller holding it. The opportunity is joined (its
    state is read by several KPIs: once per row, not once per KPI)."""
    return _rows(
        # Every disposition, named: the range is then a range scan of each disposition's part of
        # ix_oem_lead_dealer_disposition_received, not a walk of all the dealer's leads.
        OemLead, dealer, rng, OemLead.received_at, OemLead.disposition.in_(LEAD_DISPOSITIONS),
        received_at=OemLead.received_at,
        lead_id=OemLead.lead_id,
        lead_type=OemLead.lead_type,
        disposition=OemLead.disposition,
        customer=_customer(OemLead.customer_id),
        text=OemLead.text,
        first_contact_due=OemLead.first_contact_due,
        first_contact=first_contact_state(OemLead.first_contact_due, OemLead.first_contact_at),
        result=case({"open": literal("open"), "sold": literal("converted"), "discarded": literal("lost")},
                    value=Opportunity.status, else_=literal("off_board")),
        lost_reason=_of(DiscardReason, DiscardReason.oem_reason, Opportunity.discard_reason_id),
        caller=func.coalesce(_of(User, User.name, OemLead.assigned_user_id), literal("")),
    ).outerjoin(Opportunity, Opportunity.id == OemLead.opportunity_id)


CUSTOMER = Column("customer", _l("Customer"))
VEHICLE = Column("vehicle", _l("Vehicle"))

REPORTS: dict[str, Report] = {r.key: r for r in [
    Report(
        "deliveries", _l("Deliveries and welcome calls"), _l("Vehicles delivered by Sales in the range."),
        [Column("delivered_at", _l("Delivered"), DATETIME), CUSTOMER, VEHICLE, Column("plate", _l("Plate")),
         Column("salesperson", _l("Salesperson")),
         Column("welcome_call", _l("Welcome call"), CATEGORY, {"done": _l("Done"), "pending": _l("Pending")}),
         Column("result", _l("Welcome call result"), CATEGORY,
                {"contacted": _l("Contacted"), "not_reached": _l("Not reached"), "no_call": _l("No call yet")})],
        pie="result",
        kpis=[Kpi("deliveries", _l("Deliveries"), "*"),
              Kpi("contact_rate", _l("Contact rate"), "result=contacted", "*")],
    ),
    Report(
        "opportunities", _l("Opportunities"), _l("Opportunities created in the range, by their state today."),
        [Column("created_at", _l("Created"), DATETIME), Column("due_at", _l("Due"), DATETIME), CUSTOMER, VEHICLE,
         Column("origin", _l("Origin"), CATEGORY, ORIGIN_LABELS), Column("campaign", _l("Campaign")),
         Column("state", _l("State"), CATEGORY, {"open": _l("Open"), "overdue": _l("Overdue"),
                                                 "sold": _l("Sold"), "discarded": DISCARDED}),
         Column("discard_reason", _l("Discard reason")), Column("assigned_to", _l("Assigned to"))],
        pie="state",
        kpis=[Kpi("opportunities", _l("Opportunities"), "*"),
              Kpi("conversion", _l("Opportunity conversion"), "state=sold", "state=sold|discarded"),
              Kpi("discarded", DISCARDED, "state=discarded")],
    ),
    Report(
        "appointments", _l("Appointments"), _l("Appointments scheduled in the range."),
        [Column("scheduled_at", _l("Appointment"), DATETIME), CUSTOMER, VEHICLE,
         Column("service_type", _l("Service")),
         Column("source", _l("Source"), CATEGORY, {"dms": "DMS", "online": _l("Online"), "board": _l("Board")}),
         Column("confirmed", _l("Confirmed by a user"), CATEGORY, YES_NO),
         Column("result", _l("Result"), CATEGORY,
                {**{status: APPOINTMENT_STATUS_LABELS[status]
                    for status in ("arrived", "no_show", "cancelled", "confirmed")},
                 "pending": _l("To confirm")})],
        pie="result",
        kpis=[Kpi("appointments", _l("Appointments"), "*"),
              Kpi("show_rate", _l("Show rate"), "result=arrived", "result=arrived|no_show"),
              Kpi("no_show_rate", _l("No-show rate"), "result=no_show", "result=arrived|no_show"),
              Kpi("cancelled", _l("Cancellations"), "result=cancelled")],
    ),
    Report(
        "in_process", _l("In-process ageing"), _l("Repair orders opened in the range and still open."),
        [Column("opened_at", _l("Opened"), DATETIME), Column("number", _l("RO")), CUSTOMER, VEHICLE,
         Column("advisor", _l("Advisor")),
         Column("age", _l("Age"), CATEGORY, {"today": _l("Today"), "yesterday": _l("Yesterday"),
                                             "week": _l("Up to 1 week"), "older": _l("More than 1 week")})],
        pie="age",
        kpis=[Kpi("open", _l("Open repair orders"), "*"),
              Kpi("older_share", _l("Older than a week"), "age=older", "*")],
    ),
    Report(
        "completed", _l("Services completed and courtesy calls"),
        _l("Vehicles delivered from the workshop in the range."),
        [Column("delivered_at", _l("Delivered"), DATETIME), Column("number", _l("RO")), CUSTOMER, VEHICLE,
         Column("advisor", _l("Advisor")),
         Column("courtesy_call", _l("Courtesy call"), CATEGORY, {"done": _l("Done"), "pending": _l("Pending")}),
         Column("satisfaction", _l("Satisfaction"), NUMBER)],
        pie="satisfaction",
        kpis=[Kpi("completed", _l("Services completed"), "*"),
              Kpi("courtesy_rate", _l("Courtesy calls done"), "courtesy_call=done", "*"),
              Kpi("satisfaction", _l("Satisfaction mean"), "", mean_of="satisfaction")],
    ),
    Report(
        "campaigns", _l("Campaigns"), _l("Campaign opportunities created in the range."),
        [Column("campaign", _l("Campaign")), Column("created_at", _l("Created"), DATETIME), CUSTOMER, VEHICLE,
         Column("vin", _l("VIN")),
         Column("result", _l("Result"), CATEGORY, {"open": _l("Open"), "sold": _l("Sold"),
                                                   "discarded": DISCARDED}),
         Column("contacted", _l("Contacted"), CATEGORY, YES_NO), Column("shown", _l("Shown"), CATEGORY, YES_NO)],
        pie="result",
        kpis=[Kpi("units", _l("Units"), "*"), Kpi("contact_rate", _l("Contact rate"), "contacted=yes", "*"),
              Kpi("conversion", _l("Opportunity conversion"), "result=sold", "result=sold|discarded")],
    ),
    Report(
        "callers", _l("Callers' activity"), _l("Calls and contacts registered in the range, per caller."),
        [Column("created_at", _l("Time"), DATETIME), Column("caller", _l("Caller")),
         Column("kind", _l("Kind"), CATEGORY, ACTIVITY_KIND_LABELS),
         Column("channel", _l("Channel"), CATEGORY, CHANNEL_LABELS),
         Column("outcome", _l("Outcome"), CATEGORY, OUTCOME_LABELS), CUSTOMER],
        pie="outcome",
        kpis=[Kpi("calls", _l("Calls"), "*"), Kpi("contact_rate", _l("Contact rate"), "outcome=contacted", "*")],
    ),
    Report(
        "leads", _l("OEM leads"),
        _l("Leads received from the OEM in the range: first contact against the deadline, converted, lost."),
        [Column("received_at", _l("Received"), DATETIME), Column("lead_id", _l("Lead")),
         Column("lead_type", _l("Lead type"), CATEGORY, LEAD_TYPE_LABELS),
         Column("disposition", _l("Went to"), CATEGORY, LEAD_DISPOSITION_LABELS), CUSTOMER,
         Column("text", _l("OEM text")), Column("first_contact_due", _l("First contact due"), DATETIME),
         Column("first_contact", _l("First contact"), CATEGORY, FIRST_CONTACT_LABELS),
         Column("result", _l("Result"), CATEGORY, {"open": _l("Open"), "converted": _l("Converted"),
                                                   "lost": _l("Lost"), "off_board": _l("Not on the board")}),
         # The OEM's own lost-sale reasons, as the OEM names them.
         Column("lost_reason", _l("OEM reason"), CATEGORY, {r: r for r in LOST_SALE_REASONS}),
         Column("caller", _l("Caller"))],
        pie="lead_type",
        kpis=[Kpi("leads", _l("Leads received"), "*"),
              Kpi("on_time", _l("Contacted within the deadline"), "first_contact=on_time",
                  "first_contact=on_time|late|not_yet"),
              Kpi("conversion", _l("Converted"), "result=converted", "result=open|converted|lost"),
              Kpi("lost", _l("Lost"), "result=lost")],
    ),
]}

ROWS = {
    "deliveries": deliveries_rows,
    "opportunities": opportunities_rows,
    "appointments": appointments_rows,
    "in_process": in_process_rows,
    "completed": completed_rows,
    "campaigns": campaigns_rows,
    "callers": callers_rows,
    "leads": leads_rows,
}
