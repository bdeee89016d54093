"""Leads as the OEM's CRM sends them: service, after-sales, parts and vehicle leads for the
simulated dealers, deterministic for a seed.

Who they are for:

- **known** — a customer of the dealer's generated world (``boxes.dms.simulator.generator``: the
  same seed and size as the DMS simulator and the demo, so Boxes has this person), with the
  customer's own vehicle on service and after-sales leads;
- **new** — a person from another world of the same country, unknown to the dealer;
- **no contact** — nobody Boxes could call or write to (no phone nor email, or unusable ones).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

from boxes.dms.simulator.generator import MODELS, DealerProfile, World
from boxes.identifiers import cpf_check_digits, cuit_check_digit
from boxes.oem.api import LEAD_PREFIX, format_instant, record_id

ORG = "WD"  # the org's pod in record ids (seed 001's example lead id is 006WD…)
OUTSIDE_SEED = 1_000_003  # the seed offset of the world of people the dealer does not know
OUTSIDE_VEHICLES = 4000
LEAD_TYPES = ("Service", "AfterSales", "Parts", "NewVehicle", "UsedVehicle")
LEAD_TYPE_WEIGHTS = (40, 20, 15, 15, 10)
CONTACTS = ("known", "new", "none")
CONTACT_WEIGHTS = (45, 40, 15)
UNKNOWN_TYPES = ("Consortium", "Insurance")  # seed 001 mentions "Consórcios e Seguros" leads
SOURCES = ("OEM Website", "OEM App", "Call Center", "Social Media", "Dealer Locator")
TAX_ID_SHARE = 0.6  # of the people a lead is for: the OEM's form asked for their CPF / CUIT / DNI
KM = (10_000, 20_000, 30_000, 40_000, 50_000, 60_000)

TEXTS = {
    "es": {
        "Service": ("Quiere turno para el service de {km} km", "Consulta por un ruido en el tren delantero",
                    "Pide presupuesto de frenos", "Pregunta si su unidad tiene un recall pendiente"),
        "AfterSales": ("Interesado en la extensión de garantía", "Consulta por accesorios (barras de techo)",
                       "Pide precio de cubiertas nuevas", "Quiere un plan de mantenimiento prepago"),
        "Parts": ("Pastillas de freno delanteras", "Kit de distribución", "Filtros de aire y de habitáculo",
                  "Escobillas limpiaparabrisas"),
        "NewVehicle": ("Interesado en {model} 0 km", "Pide cotización de {model}"),
        "UsedVehicle": ("Busca un {model} usado", "Quiere entregar su auto en parte de pago"),
    },
    "pt": {
        "Service": ("Quer agendar a revisão de {km} km", "Reclama de um barulho na suspensão dianteira",
                    "Pede orçamento de freios", "Pergunta se o carro tem recall pendente"),
        "AfterSales": ("Interesse em garantia estendida", "Consulta sobre acessórios (rack de teto)",
                       "Pede preço de pneus novos", "Quer um plano de revisões pré-pago"),
        "Parts": ("Pastilhas de freio dianteiras", "Kit de correia dentada", "Filtros de ar e de cabine",
                  "Palhetas do limpador"),
        "NewVehicle": ("Interesse no {model} 0 km", "Pede cotação do {model}"),
        "UsedVehicle": ("Procura um {model} seminovo", "Quer dar o carro usado como parte do pagamento"),
    },
}
# What a lead looks like when nobody could be reached through it.
NO_CONTACT = ((None, None, None), ("0", None, "sem email"), ("1234", "n/a", None), (None, "-", "nao-tem"))


def _split(name: str) -> tuple[str | None, str]:
    first, _, last = name.partition(" ")
    return (first, last) if last else (None, first)


class LeadGenerator:
    def __init__(self, seed: int, dealers: list[DealerProfile], vehicles: int, now: datetime):
        self.seed = seed
        self.profiles = {d.code: d for d in dealers}
        self.known = {d.code: World(seed, d, vehicles, now) for d in dealers}
        self.outside = {d.code: World(seed + OUTSIDE_SEED, d, OUTSIDE_VEHICLES, now) for d in dealers}
        # Making a customer costs ~2 ms (phone numbers are checked): each one is made once.
        self._people: dict[tuple[str, bool, int], tuple] = {}

    def _person(self, code: str, known: bool, index: int) -> tuple:
        key = (code, known, index)
        person = self._people.get(key)
        if person is None:
            world = (self.known if known else self.outside)[code]
            c = world.customer(index)
            v = world.bundle(index).vehicle if index < world.n_vehicles else None
            person = self._people[key] = (c, v)
        return person

    def _tax_id(self, code: str, known: bool, index: int) -> str | None:
        """The person's tax id as the OEM's form has it (the same for every lead of that person):
        a CPF in Brazil, a CUIT or a DNI in Argentina, with or without punctuation; or none."""
        rng = Random(f"{self.seed}:tax:{code}:{known}:{index}")
        if rng.random() >= TAX_ID_SHARE:
            return None
        punctuated = rng.random() < 0.5
        if self.profiles[code].country == "BR":
            base = f"{rng.randrange(10_000_000, 999_999_999):09d}"
            cpf = base + cpf_check_digits(base)
            return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}" if punctuated else cpf
        dni = f"{rng.randrange(10_000_000, 45_000_000)}"
        cuit = rng.choice(("20", "27")) + dni  # a man's or a woman's CUIL
        check = cuit_check_digit(cuit)
        if check is not None and rng.random() < 0.5:
            return f"{cuit[:2]}-{dni}-{check}" if punctuated else cuit + check
        return f"{dni[:2]}.{dni[2:5]}.{dni[5:]}" if punctuated else dni

    def lead(self, code: str, serial: int, at: datetime, *, lead_type: str | None = None,
             contact: str | None = None) -> dict:
        """Lead number ``serial`` of the org (ids are unique across dealers), created at ``at``."""
        rng = Random(f"{self.seed}:{code}:{serial}")
        lead_type = lead_type or rng.choices(LEAD_TYPES, LEAD_TYPE_WEIGHTS)[0]
        contact = contact or rng.choices(CONTACTS, CONTACT_WEIGHTS)[0]
        world = self.known[code]
        language = self.profiles[code].language
        known = contact == "known" and world.n_customers > 0
        index = rng.randrange((world if known else self.outside[code]).n_customers)
        customer, vehicle = self._person(code, known, index)
        first, last = _split(customer.name)
        phone, mobile, email = customer.phone_home or None, customer.phone_mobile or None, customer.email or None
        if contact == "none":
            phone, mobile, email = rng.choice(NO_CONTACT)
        elif rng.random() < 0.3 and mobile:
            # The OEM's CRM often keeps the number as typed on its website: digits only.
            mobile = "+" + "".join(ch for ch in mobile if ch.isdigit()) if mobile.startswith("+") else mobile
        interest = rng.choice([m for m in MODELS if m.last_year is None]).model
        text = rng.choice(TEXTS[language][lead_type]).format(km=f"{rng.choice(KM):,}".replace(",", "."),
                                                               model=interest)
        with_vehicle = lead_type in ("Service", "AfterSales") and vehicle is not None
        stamp = format_instant(at.astimezone(UTC).replace(microsecond=0))
        preferred = None
        if lead_type == "Service" and rng.random() < 0.5:
            preferred = (at + timedelta(days=rng.randint(1, 10))).date().isoformat()
        return {
            "attributes": {"type": "DealerLead"},
            "Id": record_id(LEAD_PREFIX, ORG, serial),
            "LeadType__c": lead_type,
            "Dealer_Code__c": code,
            "FirstName": first,
            "LastName": last,
            "Company": None,
            "Tax_Id__c": None if contact == "none" else self._tax_id(code, known, index),
            "Email": email,
            "Phone": phone,
            "MobilePhone": mobile,
            "LeadSource": rng.choice(SOURCES),
            "Description": text,
            "Status": "Open - Not Contacted",
            "Stage__c": "New",
            "Substage__c": None,
            "Vehicle_VIN__c": vehicle.vin if with_vehicle else None,
            "Vehicle_Plate__c": vehicle.plate if with_vehicle else None,
            "Vehicle_Model__c": (vehicle.model if with_vehicle or (lead_type == "Parts" and vehicle is not None)
                                 else interest if lead_type in ("NewVehicle", "UsedVehicle") else None),
            "Vehicle_Year__c": vehicle.model_year if with_vehicle else None,
            "Preferred_Date__c": preferred,
            "CreatedDate": stamp,
            "LastModifiedDate": stamp,
            "SystemModstamp": stamp,
        }
