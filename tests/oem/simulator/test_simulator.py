"""``boxes oem-simulator``'s leads and its place in ``boxes run``: leads for the demo dealers' own
customers (the demo's rows), for people the dealer does not know, and for nobody reachable; all of
them well-formed leads; the simulator started beside the DMS simulator."""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from boxes.dms.simulator.demo import DEMO_DEALERS, load_dataset, profile_for
from boxes.dms.simulator.generator import DealerProfile
from boxes.identifiers import normalize_tax_id, tax_id_kind
from boxes.models import Customer, Vehicle
from boxes.oem.client import MemoryTokenStore, OemClient
from boxes.oem.leads import parse_lead
from boxes.oem.simulator.generator import LEAD_TYPES, LeadGenerator
from tests import factories
from tests.conftest import free_port

NOW = datetime(2026, 3, 11, 13, 0, tzinfo=UTC)
VEHICLES = 200


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def test_leads_for_known_customers_are_the_demos_customers_with_their_own_car(db, dealers):
    ar = dealers[0]
    factories.user(db, role="caller", dealer=ar)
    load_dataset(db, ar, 42, VEHICLES, NOW)
    db.commit()
    customers = db.scalars(select(Customer).where(Customer.dealer_id == ar.id)).all()
    by_phone = {_digits(c.phone_mobile)[-8:]: c for c in customers}
    owners = {v.vin: v.customer_id for v in db.scalars(select(Vehicle).where(Vehicle.dealer_id == ar.id))}
    emails = {c.email for c in customers if c.email}
    generator = LeadGenerator(42, [profile_for(ar)], VEHICLES, NOW)

    known = [generator.lead(ar.code, n, NOW, contact="known", lead_type="Service") for n in range(1, 31)]
    for lead in known:
        customer = by_phone[_digits(lead["MobilePhone"])[-8:]]
        assert " ".join(filter(None, (lead["FirstName"], lead["LastName"]))) == customer.name
        assert lead["Email"] == (customer.email or None)
        assert owners[lead["Vehicle_VIN__c"]] == customer.id  # the customer's own car, as Boxes has it

    new = [generator.lead(ar.code, n, NOW, contact="new") for n in range(31, 61)]
    assert not {_digits(lead["MobilePhone"])[-8:] for lead in new} & set(by_phone)
    assert not {lead["Email"] for lead in new if lead["Email"]} & emails

    for lead in (generator.lead(ar.code, n, NOW, contact="none") for n in range(61, 91)):
        assert "@" not in (lead["Email"] or "")
        assert len(_digits(lead["MobilePhone"])) < 8 and len(_digits(lead["Phone"])) < 8


def test_the_generator_makes_every_lead_type_for_both_dealers_deterministically():
    profiles = [DealerProfile(code=d["code"], country=d["country"], time_zone=d["time_zone"]) for d in DEMO_DEALERS]
    one = LeadGenerator(42, profiles, VEHICLES, NOW)
    two = LeadGenerator(42, profiles, VEHICLES, NOW)
    leads = [one.lead(p.code, n, NOW) for p in profiles for n in range(1, 101)]
    assert leads == [two.lead(p.code, n, NOW) for p in profiles for n in range(1, 101)]
    assert len({lead["Id"] for lead in leads}) == len(leads) // 2  # a serial is one lead of the org
    for code in (p.code for p in profiles):
        types = Counter(lead["LeadType__c"] for lead in leads if lead["Dealer_Code__c"] == code)
        assert set(types) == set(LEAD_TYPES) and types["Service"] == max(types.values())
    assert all(parse_lead(lead).created_at == NOW for lead in leads)
    assert {lead["Description"] for lead in leads if lead["Dealer_Code__c"] == "BR-SP01"} & {
        "Pastilhas de freio dianteiras", "Kit de correia dentada", "Filtros de ar e de cabine", "Palhetas do limpador"}


def test_leads_carry_the_persons_valid_tax_id_often_and_never_on_a_lead_without_contact():
    profiles = [DealerProfile(code=d["code"], country=d["country"], time_zone=d["time_zone"]) for d in DEMO_DEALERS]
    generator = LeadGenerator(42, profiles, VEHICLES, NOW)
    for p in profiles:
        leads = [generator.lead(p.code, n, NOW, contact=contact) for n in range(1, 61)
                 for contact in ("known", "new")]
        given = [lead["Tax_Id__c"] for lead in leads if lead["Tax_Id__c"]]
        assert 0.4 < len(given) / len(leads) < 0.8
        assert all(normalize_tax_id(t, p.country) for t in given)
        kinds = {tax_id_kind(normalize_tax_id(t, p.country), p.country) for t in given}
        assert kinds == ({"cpf"} if p.country == "BR" else {"cuit", "dni"})
        by_person: dict[tuple, set] = {}
        for lead in leads:
            person = (lead["FirstName"], lead["LastName"], _digits(lead["MobilePhone"]), _digits(lead["Phone"]))
            by_person.setdefault(person, set()).add(lead["Tax_Id__c"])
        assert all(len(ids) == 1 for ids in by_person.values())  # the same person, the same tax id
        assert not any(generator.lead(p.code, n, NOW, contact="none")["Tax_Id__c"] for n in range(61, 91))


def test_boxes_run_starts_the_oem_simulator_beside_the_dms_simulator(config, db):
    from boxes.embedded import start_simulator
    from boxes.models import Dealer
    from boxes.oem.simulator.embedded import demo_connection, simulator_argv

    for values in DEMO_DEALERS:
        db.add(Dealer(**values))
    db.commit()
    config = replace(config, dms_simulator_port=free_port(), oem_simulator_port=free_port())
    argv = simulator_argv(config)
    assert argv[argv.index("--clock") + 1] == "real"
    started: dict[str, subprocess.Popen] = {}

    def spawn(name, argv):
        started[name] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return started[name]

    try:
        start_simulator(config, spawn)  # returns once the DMS simulator serves
        assert set(started) == {"dms-simulator", "oem-simulator"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{config.oem_simulator_port}/_sim/health", timeout=1).is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        for values in DEMO_DEALERS:
            with OemClient(demo_connection(config, values["code"]), store=MemoryTokenStore()) as client:
                leads = [lead for page in client.read_leads() for lead in page.leads]
            # The demo board has leads from the start: the backlog of the last three days.
            assert len(leads) >= 20 and {lead.dealer_code for lead in leads} == {values["code"]}
    finally:
        for process in started.values():
            process.terminate()
            process.wait(10)


def test_with_the_wall_clock_reads_in_between_do_not_eat_the_leads_of_the_next_tick():
    from datetime import timedelta

    from boxes.oem.simulator.living import LivingOem

    ar = DealerProfile(code="AR01", country="AR", time_zone="America/Argentina/Buenos_Aires")
    started = datetime.now(UTC) - timedelta(hours=2)
    oem = LivingOem([ar], vehicles=40, now=started, clock="real", leads_per_hour=30, backlog=0)
    oem.query("AR01", started, 100)  # a read moves the org's clock to the wall clock
    # The tick after it still makes the leads of the two hours since the last tick (about 60).
    assert oem.set_now(datetime.now(UTC) + timedelta(seconds=1)) > 20
