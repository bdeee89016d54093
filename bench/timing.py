"""Time the badges and every board list three ways, in the same run:

- **app**: a GET of the board URL through the real Flask app (test client, logged in as a member
  of the dealer, ``HX-Request`` as the board's buttons send it): routing, login, membership,
  the badges, the list and its extras, template rendering;
- **fn**: the board function alone (``deliveries.deliveries(...)`` ...) with a fresh ORM session;
- **raw**: the SQL that function sent, captured from the engine and replayed on a raw DBAPI
  connection of the same engine (statement and parameters exactly as sent), rows fetched.

``app/raw`` is the price of everything that is not the list's own SQL; ``app SQL`` is how much of
an app request was spent executing SQL (all of its statements), so ``app - app SQL`` is Python:
Flask, the ORM and mostly template rendering; ``app CPU`` is the CPU time the request used in this
process, which other load on the machine does not inflate. Each figure is over ``iterations`` runs after
``warmup`` runs. Queries whose raw SQL p95 misses the target get their plans printed with
``EXPLAIN (ANALYZE, BUFFERS)``.
"""

from __future__ import annotations

import gc
import math
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from boxes import create_app
from boxes.auth import sessions as login_sessions
from boxes.board import appointments, completed, deliveries, in_process, opportunities
from boxes.board.badges import badges, count_contacts_today
from boxes.board.windows import BoardWindows
from boxes.campaigns import service as campaign_service
from boxes.config import Config
from boxes.db import make_engine, make_sessionmaker
from boxes.models import Dealer, Opportunity, User


def reports_page(session: Session, dealer: Dealer, w: BoardWindows):
    """What the Reports button's page reads: the default report over the default range (its KPIs and
    its pie) and the contacts registered today."""
    from boxes.reports.grid import Grid, report_of
    from boxes.reports.ranges import DEFAULT_PRESET, make_range

    grid = Grid(report_of(None), make_range(dealer.time_zone, DEFAULT_PRESET), dealer, dealer.locale, w=w)
    return grid.chart(session, grid.report.pie), count_contacts_today(session, dealer, w)


@dataclass
class Case:
    name: str
    path: str  # the board URL, under /d/<code>
    call: Callable[[Session, Dealer, BoardWindows, int], Any]


def cases(campaign_id: int | None = None) -> list[Case]:
    """Every board list (each filter of it) and the badges; ``campaign_id``: also the
    "Op. Campaña" filter on that campaign."""
    out = [
        Case("badges", "/badges", lambda s, d, w, n: badges(s, d, w)),
        Case("deliveries", "/board/deliveries?welcome=pending",
             lambda s, d, w, n: deliveries.deliveries(s, d, w, welcome="pending", per_page=n)),
        # The list's page and its group counts, as the page asks them (one statement).
        Case("opportunities", "/board/opportunities",
             lambda s, d, w, n: opportunities.opportunities_and_groups(s, d, w, per_page=n)[0]),
        Case("opportunities origin=campaign", "/board/opportunities?origin=campaign",
             lambda s, d, w, n: opportunities.opportunities_and_groups(s, d, w, origin="campaign", per_page=n)[0]),
    ]
    if campaign_id is not None:
        out.append(Case("opportunities campaign=<largest>", f"/board/opportunities?campaign={campaign_id}",
                        lambda s, d, w, n: opportunities.opportunities_and_groups(
                            s, d, w, campaign_id=campaign_id, per_page=n)[0]))
    for view in appointments.SUB_VIEWS:
        out.append(Case(f"appointments {view}", f"/board/appointments?view={view}",
                        lambda s, d, w, n, view=view: appointments.appointments(s, d, w, view=view, per_page=n)))
    for opened in in_process.OPENED_FILTERS:
        out.append(Case(f"in_process {opened}", f"/board/in-process?opened={opened}",
                        lambda s, d, w, n, opened=opened: in_process.in_process(s, d, w, opened=opened, per_page=n)))
    out += [
        Case("completed", "/board/completed?courtesy=pending",
             lambda s, d, w, n: completed.completed(s, d, w, courtesy="pending", per_page=n)),
        Case("reports", "/reports", lambda s, d, w, n: reports_page(s, d, w)),
        Case("campaigns", "/campaigns", lambda s, d, w, n: campaign_service.campaigns(s, d, per_page=n)),
    ]
    return out


@dataclass
class Stats:
    median: float
    p95: float

    @classmethod
    def of(cls, seconds: list[float]) -> Stats:
        ordered = sorted(seconds)
        return cls(statistics.median(ordered) * 1000, ordered[math.ceil(0.95 * len(ordered)) - 1] * 1000)


@dataclass
class Result:
    name: str
    rows: str
    statements: int  # SQL statements per app request
    app: Stats
    app_sql: Stats  # time the app request spent in its SQL statements
    app_cpu: Stats  # CPU time of this process per app request (insensitive to other load)
    fn: Stats
    raw: Stats
    plans: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.app.median / self.raw.median if self.raw.median else float("nan")


class Capture:
    """The statements an engine sends while active, and the time spent executing them."""

    def __init__(self, engine):
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []
        self.seconds = 0.0
        self.active = False
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.active:
            self.statements.append((statement, parameters))
            conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        started = conn.info.pop("bench_started", None)
        if self.active and started is not None:
            self.seconds += time.perf_counter() - started

    def __enter__(self):
        self.statements = []
        self.seconds = 0.0
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def _timed(fn, iterations: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(iterations):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def measure(url: str, dealer_code: str, user_email: str, *, iterations: int = 60, warmup: int = 5,
            target_ms: float = 25.0, explain: bool = False, only: str | None = None,
            page_size: int | None = None, log=print) -> list[Result]:
    config = Config(instance_dir=Path(tempfile.mkdtemp(prefix="boxes-bench-")), database_url=url,
                    redis_url="redis://127.0.0.1:1/0", secret_key=secrets.token_urlsafe(16), embedded=True,
                    log_level="WARNING")
    if page_size:
        config.page_size = page_size
    app = create_app(config)
    per_page = config.page_size
    app_capture = Capture(app.extensions["boxes.engine"])
    engine = make_engine(url)
    fn_capture = Capture(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        dealer = session.scalar(select(Dealer).where(Dealer.code == dealer_code))
        user = session.scalar(select(User).where(User.email == user_email))
        if dealer is None or user is None:
            raise SystemExit(f"no dealer {dealer_code} or user {user_email} in the benchmark database")
        # The dealer's campaign with the most open opportunities, for the campaign filter.
        campaign_id = session.scalar(
            select(Opportunity.campaign_id)
            .where(Opportunity.dealer_id == dealer.id, Opportunity.status == "open",
                   Opportunity.campaign_id.is_not(None))
            .group_by(Opportunity.campaign_id).order_by(func.count().desc()).limit(1)
        )
        session.expunge_all()
    client = app.test_client()
    with sessions() as session:  # a real login session, as the login page makes
        identity = login_sessions.start(session, session.get(User, user.id), login_sessions.Lifetimes.of(config))
    with client.session_transaction() as flask_session:
        flask_session["_user_id"] = identity
        flask_session["_fresh"] = True
    headers = {"HX-Request": "true"}
    prefix = f"/d/{dealer.code}"

    results = []
    raw = engine.raw_connection()
    # As app.py does in production: what start-up made is frozen out of the collector's walks.
    gc.freeze()
    try:
        for case in cases(campaign_id):
            if only and only not in case.name:
                continue
            def get(case=case):
                response = client.get(prefix + case.path, headers=headers)
                if response.status_code != 200:
                    raise SystemExit(f"{case.path}: HTTP {response.status_code}")
                return response

            app_sql: list[float] = []
            app_cpu: list[float] = []

            def get_measured(get=get, app_sql=app_sql, app_cpu=app_cpu):
                cpu = time.thread_time()
                with app_capture:
                    get()
                app_cpu.append(time.thread_time() - cpu)
                app_sql.append(app_capture.seconds)

            app_times = _timed(get_measured, iterations, warmup)
            app_sql, app_cpu = app_sql[warmup:], app_cpu[warmup:]
            statements = len(app_capture.statements)

            def call(case=case):
                with sessions() as s:
                    return case.call(s, dealer, BoardWindows.at(dealer.time_zone), per_page)

            fn_times = _timed(call, iterations, warmup)
            with fn_capture:
                page = call()
            captured = list(fn_capture.statements)
            rows = f"{len(page.rows)}/{page.total}" if hasattr(page, "rows") else "-"

            cursor = raw.cursor()

            def replay(cursor=cursor, captured=captured):
                for statement, parameters in captured:
                    cursor.execute(statement, parameters)
                    cursor.fetchall()

            raw_times = _timed(replay, iterations, warmup)
            result = Result(case.name, rows, statements, Stats.of(app_times), Stats.of(app_sql),
                            Stats.of(app_cpu), Stats.of(fn_times), Stats.of(raw_times))
            if explain or result.raw.p95 > target_ms:
                for statement, parameters in captured:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    result.plans.append("\n".join(r[0] for r in cursor.fetchall()))
            cursor.close()
            raw.rollback()
            results.append(result)
            log(f"    {case.name:<30} app {result.app.median:7.2f} ms   raw {result.raw.median:7.2f} ms")
    finally:
        gc.unfreeze()
        raw.close()
        app_capture.close()
        fn_capture.close()
        engine.dispose()
        app.extensions["boxes.engine"].dispose()
    return results
