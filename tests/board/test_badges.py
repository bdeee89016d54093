"""Badge windows at fixed instants around local midnight, in both dealers' time zones.

Buenos Aires and São Paulo are both UTC−3 today (no DST), so local midnight is 03:00 UTC. At
02:30 UTC it is still yesterday for both dealers, while a server on UTC already thinks it is
"today": the expectations below are hand-computed for the dealer's clock.
"""

from __future__ import annotations

import pytest
import time_machine

from boxes.board.badges import badges
from boxes.board.opportunities import group_counts
from boxes.board.windows import BoardWindows
from tests import factories
from tests.factories import utc

BEFORE_MIDNIGHT = utc(2026, 3, 10, 2, 30)  # 2026-03-09 23:30 local
AT_MIDNIGHT = utc(2026, 3, 10, 3, 0)  # 2026-03-10 00:00 local


@pytest.fixture(params=["ar", "br"])
def dealer(request, db, dealers):
    return dealers[0] if request.param == "ar" else dealers[1]


def counts(db, dealer, instant):
    with time_machine.travel(instant, tick=False):
        return badges(db, dealer, BoardWindows.at(dealer.time_zone)).as_dict()


def test_windows_are_local_midnights(dealer):
    w = BoardWindows.at(dealer.time_zone, BEFORE_MIDNIGHT)
    assert str(w.today) == "2026-03-09"
    assert w.today_start == utc(2026, 3, 9, 3, 0)
    assert w.deliveries_since == utc(2026, 2, 7, 3, 0)
    assert w.opportunities_from == utc(2026, 2, 22, 3, 0)
    assert w.opportunities_until == utc(2026, 3, 25, 3, 0)
    assert w.completed_since == utc(2026, 2, 22, 3, 0)


def test_deliveries_window_30_days(db, dealer):
    factories.delivery(db, dealer, utc(2026, 2, 7, 3, 0))  # local 02-07 00:00: first instant of the window
    factories.delivery(db, dealer, utc(2026, 2, 7, 2, 59, 59))  # local 02-06 23:59:59: outside
    factories.delivery(db, dealer, utc(2026, 3, 10, 2, 0))  # local 03-09 23:00: today
    factories.delivery(db, dealer, utc(2026, 3, 1), welcome_call_at=utc(2026, 3, 2))  # done: not pending
    assert counts(db, dealer, BEFORE_MIDNIGHT)["deliveries"] == 2
    # At local midnight the window moves one day: 02-07 falls out.
    assert counts(db, dealer, AT_MIDNIGHT)["deliveries"] == 1


def test_opportunities_window_15_days_each_side(db, dealer):
    factories.opportunity(db, dealer, utc(2026, 2, 22, 3, 0))  # exactly 15 days ago, local midnight
    factories.opportunity(db, dealer, utc(2026, 2, 22, 2, 59))  # a minute before: outside
    factories.opportunity(db, dealer, utc(2026, 3, 25, 2, 59))  # local 03-24 23:59: last day (+15)
    factories.opportunity(db, dealer, utc(2026, 3, 25, 3, 0))  # local 03-25 00:00: +16, outside
    factories.opportunity(db, dealer, utc(2026, 3, 10, 1, 0))  # local 03-09 22:00: today
    factories.opportunity(db, dealer, utc(2026, 3, 1), status="discarded")  # closed: never counted
    assert counts(db, dealer, BEFORE_MIDNIGHT)["opportunities"] == 3
    with time_machine.travel(BEFORE_MIDNIGHT, tick=False):
        w = BoardWindows.at(dealer.time_zone)
        assert group_counts(db, dealer, w) == {"overdue": 1, "today": 1, "upcoming": 1}
        # A server on UTC would call 03-10 01:00 UTC "today" too, but 03-09 23:59 local "yesterday":
        assert w.opportunity_group(utc(2026, 3, 9, 2, 59)) == "overdue"
        assert w.opportunity_group(utc(2026, 3, 9, 3, 0)) == "today"
        assert w.opportunity_group(utc(2026, 3, 10, 3, 0)) == "upcoming"
    with time_machine.travel(AT_MIDNIGHT, tick=False):
        w = BoardWindows.at(dealer.time_zone)
        # After midnight: 02-22 is 16 days ago (out), 03-25 00:00 is +15 (in); 22:00 is now yesterday.
        assert group_counts(db, dealer, w) == {"overdue": 1, "today": 0, "upcoming": 2}


def test_appointments_to_confirm_and_completed(db, dealer):
    factories.appointment(db, dealer, utc(2026, 3, 10, 2, 45), status="requested")  # 15 min ahead
    factories.appointment(db, dealer, utc(2026, 3, 10, 2, 15), status="requested")  # already past
    factories.appointment(db, dealer, utc(2026, 3, 12, 13, 0), status="confirmation_pending")
    factories.appointment(db, dealer, utc(2026, 3, 12, 14, 0), status="confirmed")  # confirmed: not "to confirm"
    factories.repair_order(db, dealer, utc(2026, 2, 1), delivered_at=utc(2026, 2, 22, 3, 0), status="delivered")
    factories.repair_order(db, dealer, utc(2026, 2, 1), delivered_at=utc(2026, 2, 22, 2, 59), status="delivered")
    factories.repair_order(db, dealer, utc(2026, 3, 5))  # open: in process
    before = counts(db, dealer, BEFORE_MIDNIGHT)
    assert before["appointments"] == 2
    assert before["completed"] == 1
    assert before["in_process"] == 1
    after = counts(db, dealer, AT_MIDNIGHT)
    assert after["appointments"] == 1  # the 02:45 one is past now
    assert after["completed"] == 0  # 02-22 00:00 local is 16 days ago


def test_reports_badge_counts_todays_contacts(db, dealer):
    factories.activity(db, dealer, utc(2026, 3, 9, 3, 0))  # local 03-09 00:00
    factories.activity(db, dealer, utc(2026, 3, 9, 2, 59))  # local 03-08 23:59
    factories.activity(db, dealer, utc(2026, 3, 10, 2, 29))
    assert counts(db, dealer, BEFORE_MIDNIGHT)["reports"] == 2
    assert counts(db, dealer, AT_MIDNIGHT)["reports"] == 0


def test_badges_never_count_another_dealer(db, dealers):
    ar, br = dealers
    factories.opportunity(db, br, utc(2026, 3, 10, 12, 0))
    factories.delivery(db, br, utc(2026, 3, 9, 12, 0))
    assert counts(db, ar, BEFORE_MIDNIGHT) == {k: 0 for k in counts(db, ar, BEFORE_MIDNIGHT)}
    assert counts(db, br, BEFORE_MIDNIGHT)["opportunities"] == 1


def test_badges_are_one_statement(db, dealers, app):
    from sqlalchemy import event

    ar, _ = dealers
    seen = []
    engine = app.extensions["boxes.engine"]
    listener = lambda *a: seen.append(a[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        badges(db, ar, BoardWindows.at(ar.time_zone))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(seen) == 1


def test_in_process_filters_by_local_opening_day(db, dealer):
    from boxes.board.in_process import in_process

    # Now: 2026-03-09 23:30 local. Today starts 03-09 03:00Z, yesterday 03-08 03:00Z, a week ago 03-02 03:00Z.
    opened = {
        "today": utc(2026, 3, 9, 3, 0),  # local 00:00 today
        "yesterday": utc(2026, 3, 9, 2, 59),  # local 23:59 yesterday
        "week": utc(2026, 3, 2, 3, 0),  # exactly 7 days before today's midnight: still "up to 1 week"
        "older": utc(2026, 3, 2, 2, 59),
    }
    ids = {k: factories.repair_order(db, dealer, v, number=f"OR-{k}").number for k, v in opened.items()}
    w = BoardWindows.at(dealer.time_zone, BEFORE_MIDNIGHT)
    for name, number in ids.items():
        page = in_process(db, dealer, w, opened=name)
        assert [r.RepairOrder.number for r in page.rows] == [number], name
    assert in_process(db, dealer, w, opened="all").total == 4


def test_no_shows_and_last_arrivals(db, dealer):
    from boxes.board.appointments import appointments, sub_view_counts

    w = BoardWindows.at(dealer.time_zone, BEFORE_MIDNIGHT)  # today = 03-09 local
    factories.appointment(db, dealer, utc(2026, 3, 2, 3, 0), status="confirmed", name="Seven Days")  # 7 days ago
    factories.appointment(db, dealer, utc(2026, 3, 2, 2, 59), status="confirmed", name="Eight Days")
    factories.appointment(db, dealer, utc(2026, 3, 8, 15, 0), status="no_show", name="Yesterday NoShow")
    factories.appointment(db, dealer, utc(2026, 3, 8, 15, 0), status="cancelled", name="Cancelled")
    factories.appointment(db, dealer, utc(2026, 3, 9, 13, 0), status="confirmed", name="Today Waiting")
    for i in range(12):
        factories.appointment(db, dealer, utc(2026, 3, 9, 12, 0), status="arrived",
                              arrived_at=utc(2026, 3, 9, 12, i), name=f"Arrived {i}")
    names = lambda view: [r.Customer.name for r in appointments(db, dealer, w, view=view).rows]  # noqa: E731
    assert sorted(names("no_shows")) == ["Seven Days", "Yesterday NoShow"]
    assert names("not_arrived") == ["Today Waiting"]
    assert names("arrivals") == [f"Arrived {i}" for i in range(11, 1, -1)]  # the last ten, newest first
    counts = sub_view_counts(db, dealer, w)
    assert (counts["no_shows"], counts["not_arrived"], counts["arrivals"]) == (2, 1, 10)
