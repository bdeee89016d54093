"""Hostile input over every form and filter: no answer is a server error, and nothing stored breaks a
later job.

The crawler walks the app's URL map (like ``test_tenancy``), so a route added tomorrow is fuzzed the
day it is added. Logged in with every role at a dealer populated with rows, it sends each GET with
hostile query arguments and each POST with a valid form of that route whose fields are, some of
them, replaced by hostile values: numbers beyond every database's range, negative and non-numeric
numbers, year-9999 and year-0 dates, NUL, CR/LF, 200 KB texts, unicode, empty and missing fields,
uploads that are bombs or not what they claim (CSRF token valid, so the handlers really run).

Then the jobs that read what the forms stored run over it: the DMS sync of every entity (with its
derived state and the appointment credit), the campaign job, the automatic reminders; every stored
text fits its column and holds no NUL, every stored instant is a sane date and every stored integer
fits PostgreSQL's ``integer``.

Bounded and deterministic (``derandomize``): ``BOXES_FUZZ_EXAMPLES`` examples per route and method
(default 4, after a deterministic sweep of every field; about a minute per database); raise it for a deeper local run.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Date, Integer, String, Text, select

from boxes.board.contact import SUBJECTS
from boxes.config import ROOT
from boxes.db import Base, UTCDateTime, utcnow
from boxes.models import Campaign, DiscardReason, Membership, User, Vehicle
from boxes.reports.definitions import REPORTS
from tests import factories
from tests.conftest import csrf_token_of
from tests.test_tenancy import ID_ARGS, populate

EXAMPLES = int(os.environ.get("BOXES_FUZZ_EXAMPLES", "4"))
SKIP = {"static", "assets.plotly_js", "auth.logout"}  # logging out would end the crawl, not test it
HUGE = ["99999999999", "9223372036854775808", "99999999999999999999999", "-99999999999", "2147483648",
        "-2147483649", "-1", "0", "1e309", "NaN", "inf", "١٢٣", "１２", " 7 ", "7.5", "0x1F", ""]
DATES = ["9999-12-31T23:59", "9999-12-31", "0001-01-01T00:00", "0001-01-01", "0000-00-00", "2024-02-30",
         "2024-13-01T10:00", "10000-01-01", "1969-12-31T21:00", "1900-01-01", "2100-01-01T00:00",
         "2026-03-08T02:30", "9999-12-31T23:59:59.999999+14:00", "-0001-01-01"]
TEXTS = ["\x00", "a\x00b", "Pérez\x00", "x\r\nSet-Cookie: boxes=1", "\r\n", "\r", "x" * 200_000, "ñandú ção 🚗 Ω",
         "\u202egnp.exe", "<script>alert(1)</script>", "' OR 1=1 --", "%00", "../../etc/passwd", "=cmd|' /C calc'!A0",
         " ", "\t\n", "\ufeff", "a" * 201, "a" * 2001, "https://evil.example/\r\nLocation: x", "//evil.example",
         "{\"a\": 1}", "[]", "null"]
HOSTILE = st.one_of(
    st.sampled_from(HUGE + DATES + TEXTS),
    st.text(max_size=30),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M").rjust(16, "0")),
)


def _template_field_names() -> set[str]:
    """Every field name the templates' forms post (the dynamic ones are added below)."""
    names = set()
    for path in Path(ROOT, "templates").rglob("*.html"):
        names |= set(re.findall(r'name="([a-z_0-9]+)"', path.read_text(encoding="utf-8")))
    return names - {"csrf_token", "viewport"}


FIELDS = sorted(_template_field_names() | {f"{p}_{d}" for p in ("open", "close", "works") for d in range(7)}
                | {"base_url", "client_id", "page_size", "timeout_seconds", "inbox", "columns", "values", "queries",
                   "url", "client_secret", "delimiter", "encoding", "date_format", "db_time_zone", "updated_since",
                   "dealer_code", "token_refresh_margin"}
                | {f"{key}_{part}" for key in ("service", "after_sales", "parts") for part in ("mode", "user_id")})
QUERY_ARGS = sorted({"page", "campaign", "origin", "welcome", "view", "opened", "courtesy", "preset", "start", "end",
                     "apply", "report", "pie", "sort", "dir", "format", "search", "status", "button", "from", "next",
                     "lead", "failed"}
                    | {f"f_{c.key}" for r in REPORTS.values() for c in r.columns})


# --- uploads: what a campaign creator may drop in the VIN/plate list field ----------------------

def _zip(members: dict[str, bytes | tuple[bytes, bytes, bytes, int]]) -> bytes:
    """A zip of ``members``; a member given as (head, chunk, tail, n) is head + chunk × n + tail,
    streamed into the archive (a bomb's sheet, never held whole in memory)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:  # fast to make
        for name, data in members.items():
            if isinstance(data, bytes):
                z.writestr(name, data)
                continue
            head, chunk, tail, n = data
            with z.open(name, "w", force_zip64=True) as member:
                member.write(head)
                for _ in range(n):
                    member.write(chunk)
                member.write(tail)
    return buffer.getvalue()


ROW = b"<row>" + b'<c t="inlineStr"><is><t>9BWZZZ377VT004251</t></is></c>' * 1000 + b"</row>"


def xlsx_bomb(cells: int) -> bytes:
    """A valid XLSX whose one sheet holds ``cells`` cells of the same text: a few hundred kB
    compressed, ~50 bytes a cell once unpacked, and the reading of every cell after that (how a 387 KB
    file held a web thread 80 s at 610 MB)."""
    head = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main"><sheetData>')
    rows = 1 if cells < 1000 else cells // 1000
    chunk = ROW if cells >= 1000 else b"<row>" + b'<c t="inlineStr"><is><t>X</t></is></c>' * cells + b"</row>"
    return xlsx_with_sheet((head, chunk, b"</sheetData></worksheet>", rows))


def xlsx_wide(rows: int) -> bytes:
    """A tiny XLSX whose rows each hold one cell in the last column (XFD) and which claims the whole
    grid: a reader pads every row to 16,384 cells (and, trusting the claim, to a million rows)."""
    cells = b"".join(f'<row r="{n}"><c r="XFD{n}" t="inlineStr"><is><t>X</t></is></c></row>'.encode()
                     for n in range(1, rows + 1))
    return xlsx_with_sheet(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats'
                           b'.org/spreadsheetml/2006/main"><dimension ref="A1:XFD1048576"/><sheetData>' + cells
                           + b"</sheetData></worksheet>")


def xlsx_with_sheet(sheet) -> bytes:
    return _zip({
        "[Content_Types].xml": (
            b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
            b'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            b'officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (
            b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            b'2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            b'2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            b'<sheet name="VINs" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            b'2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
        "xl/worksheets/sheet1.xml": sheet,
    })


UPLOADS = [
    ("vins.csv", b"VIN\r9BWZZZ377VT004251\r9BWZZZ377VT004252\r"),  # "CSV (Macintosh)": CR-only lines
    ("big.csv", b"VIN\n" + b"A" * 200_000 + b"\n"),  # one cell over the csv module's 128 KB field limit
    ("binary.csv", bytes(range(256)) * 64),
    ("nul.csv", b"VIN\n9BWZZZ377VT\x00004251\n"),
    ("latin1.csv", "VIN;Patente\nÑ123ÁB;AB123CD\n".encode("latin-1")),
    ("empty.xlsx", b""),
    ("not-a-zip.xlsx", b"PK\x03\x04 not really"),
    ("bomb.xlsx", None),  # filled in once (see _uploads)
    ("wide.xlsx", None),
    ("picture.png", b"\x89PNG\r\n\x1a\n"),
    ("", b"no name"),
]


def _uploads() -> list[tuple[str, bytes]]:
    made = {"bomb.xlsx": xlsx_bomb(1_000_000), "wide.xlsx": xlsx_wide(40)}
    return [(name, made[name] if data is None else data) for name, data in UPLOADS]


# --- the crawl ------------------------------------------------------------------------------------

class Crawl:
    def __init__(self, app, client, db, dealer, user, other_user, token, tz):
        self.app, self.client, self.db, self.dealer = app, client, db, dealer
        self.user, self.other_user, self.token, self.tz = user, other_user, token, tz
        self.requests = 0
        self.search_id: str | None = None
        self.endpoint = ""
        self.failures: dict[tuple, str] = {}  # (endpoint, what went wrong) → the first request that did it
        self.statuses: dict[int, int] = {}
        self.uploads = _uploads()

    def local(self, days: int, fmt: str = "%Y-%m-%dT%H:%M") -> str:
        return (datetime.now(self.tz) + timedelta(days=days)).replace(hour=10, minute=0).strftime(fmt)

    def row_id(self, arg: str, subject: str | None = None) -> int:
        model = SUBJECTS[subject][0] if arg == "subject_id" else ID_ARGS[arg]
        if model is User:
            return self.other_user.id
        return self.db.scalar(select(model.id).where(model.dealer_id == self.dealer.id).order_by(model.id.desc())
                              .limit(1))

    def paths(self, rule) -> list[str]:
        """The rule's URL for dealer A's rows (one per subject kind), and once with an id beyond range."""
        subjects = list(SUBJECTS) if "subject" in rule.arguments else [None]
        out = []
        for subject in subjects:
            values = {}
            for arg in rule.arguments:
                if arg == "dealer_code":
                    values[arg] = self.dealer.code
                elif arg == "subject":
                    values[arg] = subject
                elif arg == "entity":  # a DMS entity (a cursor to reset), not a row id
                    values[arg] = "customers"
                else:
                    values[arg] = self.row_id(arg, subject)
            out.append(rule.build(values, append_unknown=False)[1])
        ids = [a for a in rule.arguments if a in ID_ARGS or a == "subject_id"]
        if ids:
            out.append(re.sub(r"/\d+(?=/|$)", "/99999999999", out[0], count=1))
        return out

    def valid_form(self, endpoint: str) -> dict:
        """A form the route accepts, so hostile values reach past the first check."""
        reason = self.db.scalar(select(DiscardReason.id).where(DiscardReason.dealer_id == self.dealer.id).limit(1))
        vehicle = self.db.scalar(select(Vehicle.id).where(Vehicle.dealer_id == self.dealer.id).limit(1))
        forms = {
            "board.register_call": dict(channel="phone", outcome="contacted", comment="Llamó",
                                        next_contact_at=self.local(2)),
            "board.courtesy_call": dict(channel="phone", outcome="contacted", comment="Bien", satisfaction="5"),
            "board.create_opportunity": dict(due_at=self.local(3), note="Service", assigned_user_id=self.user.id),
            "board.recovery_opportunity": dict(due_at=self.local(3), note="Recovery", assigned_user_id=self.user.id),
            "board.discard": dict(reason_id=reason, comment="Precio"),
            "board.replan": dict(due_at=self.local(4), comment="Más tarde"),
            "board.mark_sold": dict(appointment_at=self.local(5), comment="Turno"),
            "board.confirm_appointment": dict(comment="Confirmado"),
            "settings.update_dealer": dict(first_service_months="6", first_service_km="10000", workshop_address="Av 1",
                                           phone="+54 11 4444-0000", email="t@x.example", support_contact="Ana",
                                           works_0="1", open_0="08:00", close_0="18:00"),
            "settings.add_reason": dict(label_es="Lejos", label_pt_br="Longe", label_en="Far", oem_reason=""),
            "settings.change_reason": dict(operation="rename", label_es="Lejos", label_pt_br="Longe",
                                           label_en="Far"),
            "admin.add_user": dict(email="new@x.example", name="Nuevo", password="a-long-password-1",
                                   roles="caller", locale="es"),
            "admin.change_user": dict(operation="roles", roles="caller", password="a-long-password-2"),
            "messaging.save_mail_settings": dict(use_own_smtp="1", smtp_host="smtp.example", smtp_port="587",
                                                 smtp_security="starttls", smtp_username="u", smtp_password="p",
                                                 sender="taller@x.example", reminder_days_before="1",
                                                 reminder_hour="10", daily_cap="100", rate_per_minute="10",
                                                 auto_reminders="1"),
            "integrations.save_dms": dict(kind="files", inbox="/nonexistent/inbox", tolerance_days="1",
                                          columns='{"customers": {"dms_id": "id"}}', enabled=""),
            "oem.save": dict(base_url="https://oem.example", client_id="boxes", dealer_code="AR-BA01",
                             client_secret="s3cret", page_size="200", timeout_seconds="30", token_refresh_margin="300",
                             enabled=""),
            "oem.save_distribution": dict(service_mode="direct", service_user_id=self.user.id,
                                          after_sales_mode="queue", parts_mode="direct", parts_user_id=self.user.id,
                                          first_contact_hours="24", open_leads_cap="25", retention_days="180"),
            "campaigns.run_search": dict(brand="VW", model="Gol", version="", year_from="2015", year_to="2024",
                                         sold_from="2015-01-01", sold_to="2024-12-31", serviced_before="",
                                         open_opportunity="any", id_kind="vin", ids=""),
            "campaigns.select_unit": dict(vehicle_id=vehicle, on="1"),
            "campaigns.process": dict(name="Recall airbag", kind="recall", due_date=self.local(7, "%Y-%m-%d"),
                                      assignment="one", assigned_user_id=self.user.id, note="Airbag"),
            "auth.set_locale": dict(locale="es", next="/"),
        }
        return {k: str(v) for k, v in forms.get(endpoint, {}).items()}

    def valid_query(self, endpoint: str) -> dict:
        queries = {
            "reports.index": dict(report="opportunities", preset="custom", apply="1", start=self.local(-20, "%Y-%m-%d"),
                                  end=self.local(0, "%Y-%m-%d")),
            "reports.grid_view": dict(report="completed", preset="last_30_days", page="1", f_delivered_at="2025-01-01",
                                      f_satisfaction="5", f_customer="Alfa", f_courtesy_call="done", pie="advisor"),
            "reports.export": dict(report="opportunities", preset="last_30_days", format="csv"),
            "board.opportunities_list": dict(origin="campaign", page="1"),
            "oem.log_index": dict(lead="006WD0000000001YAA", start="2025-01-01", end="2025-12-31", failed="1"),
        }
        return dict(queries.get(endpoint, {}))

    def send(self, method: str, path: str, *, query: dict, form: dict, htmx: bool, upload=None):
        """The request; a server error or an exception is recorded (every failing route is reported at
        the end, not only the first)."""
        try:
            return self._send(method, path, query=query, form=form, htmx=htmx, upload=upload)
        except Exception as exc:
            self.db.rollback()
            shown = {k: (v[:40] + "…" if isinstance(v, str) and len(v) > 40 else v) for k, v in form.items()}
            what = f"{exc.__class__.__name__}: {str(exc)[:120]}"
            self.failures.setdefault((self.endpoint, what), f"{method} {path} ?{query} {shown} "
                                                             f"upload={upload and upload[0]!r} → {what}")
            return None

    def _send(self, method: str, path: str, *, query: dict, form: dict, htmx: bool, upload=None):
        headers = {"X-CSRFToken": self.token}
        if htmx:
            headers["HX-Request"] = "true"
        data = dict(form)
        if upload is not None:
            data["upload"] = (io.BytesIO(upload[1]), upload[0])
        response = self.client.open(path, method=method, query_string=query, data=data if method == "POST" else None,
                                    headers=headers, content_type="multipart/form-data" if upload else None)
        response.get_data()  # a streamed export fails while it streams, not before
        self.requests += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"HTTP {response.status_code}"
        return response


# Each field of a route's valid form (and each argument of its valid query) is, in turn, replaced by
# each of these; hypothesis then mixes hostile values over every field name the templates know.
KILLERS = ["99999999999999999999", "9999-12-31T23:59", "0001-01-01T00:00", "a\x00b", "x" * 200_000,
           "x\r\nSet-Cookie: boxes=1"]
SWEPT_ARGS = {"page"}  # every GET route gets a hostile page number too


def _fuzz_route(crawl: Crawl, rule, method: str) -> None:
    endpoint = rule.endpoint
    crawl.endpoint = endpoint
    paths = crawl.paths(rule)
    base_query = crawl.valid_query(endpoint)
    base_form = crawl.valid_form(endpoint) if method == "POST" else {}
    uploads = endpoint == "campaigns.run_search"

    def query_with(extra: dict) -> dict:
        q = {**base_query, **extra}
        if crawl.search_id and endpoint.startswith("campaigns.") and "search" not in extra:
            q["search"] = crawl.search_id
        return q

    # The sweep: deterministic, every field of the form × every killer, on the row's own URL and
    # once on an id beyond any database's range.
    for path in paths[:1] + paths[-1:] if len(paths) > 1 else paths:
        crawl.send(method, path, query=query_with({}), form=base_form, htmx=True)
    swept = sorted(base_form) if method == "POST" else sorted(set(base_query) | SWEPT_ARGS)
    for name in swept:
        for value in KILLERS:
            if method == "POST":
                crawl.send(method, paths[0], query=query_with({}), form={**base_form, name: value}, htmx=True)
            else:
                crawl.send(method, paths[0], query=query_with({name: value}), form={}, htmx=True)
    if uploads:
        for upload in crawl.uploads:
            crawl.send(method, paths[0], query=query_with({}), form={**base_form, "id_kind": "vin"}, htmx=True,
                       upload=upload)

    # No shrinking: the failure names its request already, and the test stays bounded when it fails.
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(paths), htmx=st.booleans(),
           query=st.dictionaries(st.sampled_from(QUERY_ARGS), HOSTILE, max_size=4),
           form=st.dictionaries(st.sampled_from(FIELDS + sorted(base_form)), HOSTILE, max_size=6),
           dropped=st.sets(st.sampled_from(sorted(base_form) or ["-"]), max_size=2),
           upload=st.sampled_from([None, *crawl.uploads]) if uploads else st.none())
    def one(path, htmx, query, form, dropped, upload):
        f = {k: v for k, v in base_form.items() if k not in dropped} | form
        crawl.send(method, path, query=query_with(query), form=f, htmx=htmx, upload=upload)

    one()


def _all_roles_user(db, dealer):
    user = factories.user(db, role="admin", dealer=dealer, name="Fuzz Every Role")
    for role in ("caller", "manager", "campaigns"):
        db.add(Membership(user_id=user.id, dealer_id=dealer.id, role=role))
    db.commit()
    return user


def _check_stored_values(db) -> None:
    """Nothing stored that a later job or a move to PostgreSQL would choke on."""
    today = date.today()
    problems = []
    for table in Base.metadata.sorted_tables:
        cols = [c for c in table.columns if isinstance(c.type, String | Text | Integer | Date | UTCDateTime)]
        for row in db.execute(select(*cols)).all():
            for col, value in zip(cols, row, strict=True):
                if value is None:
                    continue
                where = f"{table.name}.{col.name}"
                if isinstance(value, str):
                    if "\x00" in value:
                        problems.append(f"{where}: NUL in {value[:40]!r}")
                    if isinstance(col.type, String) and col.type.length and len(value) > col.type.length:
                        problems.append(f"{where}: {len(value)} characters in a {col.type.length}-character column")
                elif isinstance(value, bool):
                    continue
                elif isinstance(value, int) and not -(2**31) <= value < 2**31:
                    problems.append(f"{where}: {value} does not fit PostgreSQL's integer")
                elif isinstance(value, datetime | date):
                    day = value if not isinstance(value, datetime) else value.date()
                    if not date(1950, 1, 1) <= day <= date(today.year + 6, 12, 31):
                        problems.append(f"{where}: {value.isoformat()} is out of any sane range")
    assert not problems, "\n".join(problems[:30])


def _later_jobs(db, app, dealer, redis, tmp_path) -> None:
    from boxes.campaigns import service as campaigns
    from boxes.dms.connectors.boundaries import Boundaries
    from boxes.dms.connectors.files import FilesConnector
    from boxes.dms.sync.runs import sync_dealer
    from boxes.messaging.automatic import send_due_reminders

    db.expire_all()
    (tmp_path / dealer.code / "inbox").mkdir(parents=True)  # the dealer's connector folder, tmp_path the root
    runs = sync_dealer(db, dealer, redis=redis, connector=FilesConnector(
        {"inbox": "inbox"}, boundaries=Boundaries(root=tmp_path, dealer_code=dealer.code),
        dealer_time_zone=dealer.time_zone))
    assert {r.status for r in runs} == {"succeeded"}
    for campaign_id in db.scalars(select(Campaign.id).where(Campaign.dealer_id == dealer.id)).all():
        assert campaigns.process(db, campaign_id).status == "done"
    for days in range(-1, 3):
        send_due_reminders(db, dealer, config=app.config["BOXES"], redis=redis, now=utcnow() + timedelta(days=days))


def test_fuzz_every_form_and_filter_answers_no_server_error(app, client, db, dealers, login_as, redis, tmp_path):
    ar, _br = dealers
    populate(db, ar, "Alfa")
    user = _all_roles_user(db, ar)
    other = db.scalar(select(User).where(User.name == "Alfa Caller User"))
    login_as("admin", ar, user=user)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    crawl = Crawl(app, client, db, ar, user, other, token, ZoneInfo(ar.time_zone))
    # A saved campaign search, so the campaign steps that need one run past their 404.
    crawl.endpoint = "campaigns.run_search"
    response = crawl.send("POST", f"/d/{ar.code}/campaigns/new", query={},
                          form={"open_opportunity": "any", "brand": ""}, htmx=False)
    crawl.search_id = re.search(r"search=([0-9a-f]+)", response.headers.get("Location", "")).group(1)

    for method in ("GET", "POST"):
        for rule in app.url_map.iter_rules():
            if rule.endpoint in SKIP or method not in rule.methods:
                continue
            _fuzz_route(crawl, rule, method)
    # The login form, as nobody is logged in yet (the crawl's client is).
    anonymous = app.test_client()
    crawl_anonymous = Crawl(app, anonymous, db, ar, user, other, csrf_token_of(anonymous), crawl.tz)
    crawl_anonymous.endpoint = "auth.login"
    for name in ("email", "password"):
        for value in KILLERS:
            crawl_anonymous.send("POST", "/login", query={"next": value}, htmx=False,
                                 form={"email": "fuzz@test.example", "password": "x", name: value})
    crawl.failures.update(crawl_anonymous.failures)
    assert not crawl.failures, f"{len(crawl.failures)} failures:\n" + "\n".join(crawl.failures.values())
    # Everything still renders over what was stored.
    for page in ("board/deliveries", "board/opportunities", "board/appointments", "board/in-process",
                 "board/completed", "campaigns", "reports?report=campaigns&preset=this_month", "settings/",
                 "admin/users", "admin/integrations/dms", "admin/integrations/oem", "admin/integrations/oem/log"):
        assert client.get(f"/d/{ar.code}/{page}").status_code == 200, page
    _later_jobs(db, app, ar, redis, tmp_path)
    _check_stored_values(db)
    assert crawl.requests > 300
    assert any(code == 422 for code in crawl.statuses), crawl.statuses
