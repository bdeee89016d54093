"""A deterministic, seeded DMS world: customers, vehicles, sales deliveries, appointments, repair
orders with their lines — and the Boxes side of a dealer that has used the board for a while:
opportunities, campaigns, calls and the discard catalog.

Used by ``boxes demo``, by the tests (``boxes.dms.simulator.demo.load_dataset``), by the
benchmarks (``bench``) and by the DMS simulator, which serves the same records as a feed.

Records are plain frozen dataclasses, never ORM objects: DMS ids are strings, references go by
DMS id (``vehicle_dms_id``, ...), every instant is a tz-aware UTC ``datetime`` and every DMS
record has a ``dms_updated_at``. A few fields are Boxes state rather than DMS data (a delivery's
``welcome_call_at``, an RO's ``courtesy_call_at``, an appointment's ``confirmed_at`` and
``comment``); the feed leaves them out.

Determinism and size:
- everything is relative to the anchor instant ``now``: the same ``(seed, dealer, vehicles,
  now)`` gives identical records, and a demo loaded today looks current;
- each vehicle's story is computed from its own ``random.Random``, seeded from ``(seed, dealer
  code, aspect, index)``: identity (model, VIN, plate), service history, current state
  (appointment, open RO, delivery) and call-centre side (opportunities, calls). Streams are
  independent of each other and of the order they are read in, and any vehicle can be
  regenerated alone (``World.bundle(i)``);
- nothing is kept between vehicles, so memory stays flat however many millions of rows are
  streamed. Uniqueness of VINs and plates comes from a bijection of the vehicle index, not from
  a set of used values;
- the first vehicles of every dealer follow a fixed script (a delivery pending, an appointment
  to confirm, an open RO of each age, ...) so every board list has rows at any size.

Rates per vehicle (the benchmark's "group" scale is 1 M vehicles → ~5 M ROs, ~500 k
opportunities, ~200 k appointments): ~5 repair orders of history, 0.2 appointments within
±14 days, 0.5 opportunities due within ±15 days, 2.5 % delivered by Sales in the last 30 days,
~1.2 % with a walk-in RO open now.
"""

from __future__ import annotations

import hashlib
import unicodedata
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import accumulate
from random import Random
from zoneinfo import ZoneInfo

import phonenumbers

from boxes.dms.simulator.vin import ar_plate, br_plate, make_vin, random_vds, vin_serial
from boxes.models.opportunities import DEFAULT_DISCARD_REASONS


# ======================================================================================= catalog
@dataclass(frozen=True)
class ModelSpec:
    brand: str
    model: str
    wmi: str  # where the model is built: 8A* Argentina, 9B* Brazil
    vds: str  # fixed start of VIN positions 4-8 (the rest is random)
    plant: str  # VIN position 11
    first_year: int
    last_year: int | None  # None: still sold
    versions: tuple[str, ...]
    weight_ar: int  # relative share in each market
    weight_br: int
    km_factor: float = 1.0  # pick-ups and diesels run more

    def sold_in(self, year: int) -> bool:
        return self.first_year <= year and (self.last_year is None or year <= self.last_year)


PICKUP = 1.35

MODELS: tuple[ModelSpec, ...] = (
    # Chevrolet: 8AG General Motors de Argentina (Alvear), 9BG General Motors do Brasil.
    ModelSpec("Chevrolet", "Onix", "9BG", "KS4", "B", 2013, None,
              ("LS 1.4", "LT 1.4", "LTZ 1.4 AT", "LT 1.0T", "LTZ 1.0T AT", "Premier 1.0T AT", "RS 1.0T"), 8, 14),
    ModelSpec("Chevrolet", "Cruze", "8AG", "BF6", "F", 2016, 2024,
              ("LT 1.4T", "LTZ 1.4T AT", "Premier 1.4T AT", "RS 1.4T AT"), 7, 0),
    ModelSpec("Chevrolet", "Tracker", "9BG", "JC7", "B", 2013, None,
              ("LT 1.2T", "LTZ 1.2T AT", "Premier 1.2T AT", "RS 1.2T AT"), 6, 8),
    ModelSpec("Chevrolet", "S10", "9BG", "148", "C", 2012, None,
              ("LS 2.8 CTDI 4x2", "LT 2.8 CTDI 4x4", "LTZ 2.8 CTDI 4x4 AT", "High Country 2.8 CTDI 4x4 AT",
               "Z71 2.8 CTDI 4x4 AT"), 5, 5, PICKUP),
    ModelSpec("Chevrolet", "Spin", "9BG", "JG7", "R", 2012, None,
              ("LT 1.8", "LTZ 1.8 AT 7A", "Premier 1.8 AT", "Activ 1.8 AT"), 3, 4),
    # Fiat: 8AP Fiat Auto Argentina (Córdoba), 9BD FCA Brasil (Betim).
    ModelSpec("Fiat", "Cronos", "8AP", "359", "C", 2018, None,
              ("Like 1.3", "Drive 1.3", "Drive 1.3 CVT", "Precision 1.8 AT", "Precision 1.3 CVT"), 12, 3),
    ModelSpec("Fiat", "Argo", "9BD", "358", "B", 2017, None,
              ("Drive 1.0", "Drive 1.3", "Trekking 1.3", "HGT 1.8 AT", "Precision 1.8 AT"), 4, 7),
    ModelSpec("Fiat", "Toro", "9BD", "226", "G", 2016, None,
              ("Freedom 1.8 AT", "Volcano 2.0 TD 4x4 AT", "Ultra 2.0 TD 4x4 AT", "Ranch 2.0 TD 4x4 AT",
               "Endurance 1.3T AT"), 4, 6, PICKUP),
    ModelSpec("Fiat", "Strada", "9BD", "281", "B", 2010, None,
              ("Working 1.4 CS", "Adventure 1.6 CD", "Freedom 1.3 CD", "Volcano 1.3 CD", "Ranch 1.0T CVT"), 4, 14),
    # Toyota: 8AJ Toyota Argentina (Zárate), 9BR Toyota do Brasil (Indaiatuba, Sorocaba).
    ModelSpec("Toyota", "Hilux", "8AJ", "BA3", "Z", 2010, None,
              ("DX 2.4 TDI 4x2", "SR 2.8 TDI 4x4", "SRV 2.8 TDI 4x4 AT", "SRX 2.8 TDI 4x4 AT",
               "GR-Sport 2.8 TDI 4x4 AT"), 11, 5, PICKUP),
    ModelSpec("Toyota", "Corolla", "9BR", "BZ3", "J", 2010, None,
              ("XLI 1.8", "XEI 2.0 CVT", "SEG 2.0 CVT", "Hybrid 1.8 eCVT", "GR-S 2.0 CVT"), 6, 7),
    ModelSpec("Toyota", "Etios", "9BR", "K3F", "S", 2013, 2022,
              ("X 1.5", "XS 1.5", "XLS 1.5 AT", "Cross 1.5"), 5, 3),
    ModelSpec("Toyota", "Yaris", "9BR", "K3G", "S", 2018, None,
              ("XS 1.5 CVT", "XLS 1.5 CVT", "S 1.5 CVT"), 5, 3),
    # Volkswagen: 8AW Volkswagen Argentina (Pacheco), 9BW Volkswagen do Brasil.
    ModelSpec("Volkswagen", "Amarok", "8AW", "DD2", "P", 2010, None,
              ("Trendline 2.0 TDI 4x2", "Comfortline 2.0 TDI 4x4 AT", "Highline 2.0 TDI 4x4 AT",
               "V6 Extreme 3.0 TDI 4x4 AT"), 8, 3, PICKUP),
    ModelSpec("Volkswagen", "Gol", "9BW", "AB45", "T", 2010, 2023,
              ("Trendline 1.6", "Comfortline 1.6", "Highline 1.6", "1.0 MPI"), 7, 9),
    ModelSpec("Volkswagen", "Polo", "9BW", "DA4", "T", 2018, None,
              ("MSI 1.6", "Comfortline 200 TSI", "Highline 200 TSI AT", "GTS 250 TSI AT"), 5, 9),
    ModelSpec("Volkswagen", "T-Cross", "9BW", "BC2", "P", 2020, None,
              ("Trendline 200 TSI", "Comfortline 200 TSI AT", "Highline 250 TSI AT"), 5, 8),
)
BRANDS = tuple(dict.fromkeys(m.brand for m in MODELS))
PICKUPS = ("S10", "Toro", "Strada", "Hilux", "Amarok")

# Phone areas (weights by repetition): Buenos Aires metro and province; São Paulo state.
AREA_CODES = {
    "AR": ("11",) * 12 + ("221", "221", "223", "230", "237", "220"),
    "BR": ("11",) * 12 + ("19", "19", "12", "13", "15", "14"),
}

EMAIL_DOMAINS = ("example.com", "example.com", "example.net", "example.org")

FIRST_NAMES = {
    "AR": (
        "Juan", "Martín", "Santiago", "Matías", "Nicolás", "Facundo", "Lucas", "Diego", "Pablo", "Sebastián",
        "Federico", "Gustavo", "Marcelo", "Carlos", "Jorge", "Roberto", "Alejandro", "Hernán", "Gonzalo",
        "Leandro", "Ezequiel", "Ignacio", "Mariano", "Damián", "Walter", "Rubén", "Claudio", "Daniel",
        "María", "Lucía", "Sofía", "Valentina", "Camila", "Florencia", "Carolina", "Laura", "Gabriela",
        "Silvina", "Mariana", "Paula", "Romina", "Natalia", "Andrea", "Verónica", "Julieta", "Agustina",
        "Micaela", "Daniela", "Cecilia", "Soledad", "Graciela", "Patricia", "Claudia", "Noelia",
    ),
    "BR": (
        "João", "José", "Antônio", "Francisco", "Carlos", "Paulo", "Pedro", "Lucas", "Luiz", "Marcos",
        "Gabriel", "Rafael", "Daniel", "Marcelo", "Bruno", "Eduardo", "Felipe", "Rodrigo", "Gustavo",
        "Thiago", "Leonardo", "Mateus", "Fábio", "Ricardo", "Sérgio", "Vinícius", "André", "Renato",
        "Maria", "Ana", "Francisca", "Antônia", "Adriana", "Juliana", "Márcia", "Fernanda", "Patrícia",
        "Aline", "Camila", "Amanda", "Bruna", "Jéssica", "Letícia", "Larissa", "Beatriz", "Mariana",
        "Gabriela", "Vanessa", "Luciana", "Renata", "Cláudia", "Sandra", "Débora", "Tatiane",
    ),
}
COMPOUND_FIRST = {
    "AR": ("Juan Pablo", "Juan Manuel", "Juan Ignacio", "María José", "María Laura", "María Eugenia",
           "Ana Laura", "Luis Alberto"),
    "BR": ("João Pedro", "João Victor", "Ana Paula", "Maria Eduarda", "Ana Clara", "Luiz Fernando",
           "Carlos Eduardo", "Maria Luiza"),
}
SURNAMES = {
    "AR": (
        "González", "Rodríguez", "Gómez", "Fernández", "López", "Díaz", "Martínez", "Pérez", "García",
        "Sánchez", "Romero", "Sosa", "Álvarez", "Torres", "Ruiz", "Ramírez", "Flores", "Acosta", "Benítez",
        "Medina", "Suárez", "Herrera", "Aguirre", "Pereyra", "Gutiérrez", "Giménez", "Molina", "Silva",
        "Castro", "Rojas", "Ortiz", "Núñez", "Luna", "Juárez", "Cabrera", "Ríos", "Morales", "Godoy",
        "Moreno", "Ferreyra", "Domínguez", "Carrizo", "Peralta", "Castillo", "Ledesma", "Quiroga", "Vega",
        "Vera", "Muñoz", "Ojeda", "Ponce", "Villalba", "Cardozo", "Navarro", "Coronel", "Vázquez", "Ramos",
        "Vargas", "Cáceres", "Arias", "Figueroa", "Córdoba", "Correa", "Maldonado", "Paz", "Rivero",
        "Miranda", "Farías", "Roldán", "Méndez", "Guzmán", "Agüero", "Lucero", "Páez", "Escobar", "Bustos",
        "Russo", "Ferrari", "Romano", "Colombo", "Bianchi", "Rossi", "Fontana", "Costa", "Gallo", "Greco",
    ),
    "BR": (
        "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
        "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira",
        "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques", "Machado",
        "Mendes", "Freitas", "Cardoso", "Ramos", "Gonçalves", "Santana", "Teixeira", "Araújo", "Pinto",
        "Correia", "Cavalcanti", "Monteiro", "Moura", "Batista", "Campos", "Azevedo", "Melo", "Barros",
        "Reis", "Castro", "Borges", "Xavier", "Prado", "Fonseca", "Matos", "Tavares", "Sampaio", "Peixoto",
    ),
}
BR_PARTICLES = ("da", "de", "dos", "do")
COMPANIES = {
    "AR": ("{s} Hnos. S.A.", "Transportes {s} S.R.L.", "Logística {s} S.A.", "Agropecuaria {s} S.A.",
           "Distribuidora {s} S.R.L.", "Constructora {s} S.A."),
    "BR": ("Transportadora {s} Ltda.", "{s} & Filhos Ltda.", "Comercial {s} Ltda.", "Agropecuária {s} S.A.",
           "Distribuidora {s} Ltda.", "Construtora {s} S.A."),
}

# Localized texts of the workshop and the call centre.
TEXTS: dict[str, dict] = {
    "es": {
        "service": "Service {km} km",
        "works": (
            "Cambio de aceite y filtro", "Cambio de filtro de aire", "Cambio de filtro de habitáculo",
            "Cambio de pastillas de freno delanteras", "Cambio de discos y pastillas de freno",
            "Alineación y balanceo", "Rotación de neumáticos", "Cambio de batería",
            "Carga de gas de aire acondicionado", "Cambio de correa de distribución",
            "Diagnóstico de ruido en tren delantero", "Cambio de escobillas limpiaparabrisas",
            "Cambio de líquido de frenos", "Revisión de sistema eléctrico", "Cambio de bujías",
            "Reemplazo de lámpara de giro", "Lavado de inyectores", "Cambio de amortiguadores delanteros",
        ),
        "done": ("Realizado", "Realizado sin novedades", "OK", "Realizado. Se sugiere revisar neumáticos en el "
                 "próximo service", "Realizado según manual del fabricante", "Realizado, prueba de ruta OK"),
        "open": ("En proceso", "En diagnóstico", "Esperando repuesto", "Pendiente de autorización del cliente",
                 "En lavadero"),
        "declined": ("Cambio de amortiguadores traseros", "Cambio de neumáticos (4)", "Cambio de embrague",
                     "Reparación de aire acondicionado", "Tratamiento de pintura de paragolpes"),
        "declined_result": "Presupuestado, no autorizado por el cliente",
        "incidents": ("Demora de 1 día por falta de repuesto", "Cliente reclama ruido persistente al frenar",
                      "Se detecta pérdida de aceite en cárter, se informa al cliente",
                      "Entrega posterior a la fecha prometida", "Rayón en paragolpes trasero informado al ingreso"),
        "service_types": ("Cambio de aceite", "Diagnóstico", "Frenos", "Alineación y balanceo", "Garantía",
                          "Aire acondicionado", "Recall"),
        "confirm": ("Confirma asistencia", "Confirmado por WhatsApp", "Confirma, llega a primera hora",
                    "Confirmado por teléfono, trae la unidad su esposa/o", "Confirma y pide lavado"),
        "comments": {
            "contacted": ("Cliente conforme con la atención", "Pide turno para la semana próxima",
                          "Consultó por el costo del próximo service", "Muy conforme con el vendedor",
                          "Comenta que anda muy bien la unidad", "Pide presupuesto de neumáticos"),
            "no_answer": ("No atiende, se deja mensaje por WhatsApp", "No contesta", "Buzón de voz",
                          "No atiende, reintentar a la tarde"),
            "call_back_later": ("Pidió que lo llamen a la tarde", "Está manejando, llamar mañana",
                                "Pide que lo llamen el lunes"),
            "wrong_number": ("El número corresponde a otra persona", "Número inexistente"),
        },
        "welcome": ("Bienvenida realizada, se explicó el plan de mantenimiento",
                    "Cliente muy conforme con la entrega", "Se le informó el primer service a los 10.000 km"),
        "courtesy": {5: ("Excelente atención, muy conforme", "Todo perfecto"),
                     4: ("Conforme, demoró un poco la entrega", "Bien, el lavado podría mejorar"),
                     3: ("Regular, esperó mucho en recepción",),
                     2: ("Disconforme con el precio del service",),
                     1: ("Muy disconforme: el ruido sigue", "Reclamo: le entregaron el auto sucio")},
        "notes": {
            "delivery": "Primer service (10.000 km o 6 meses)",
            "completed": ("Próximo service por kilometraje", "Ofrecer cambio de neumáticos presupuestado",
                          "Retomar presupuesto de amortiguadores"),
            "manual": ("Cliente pidió que lo llamen por presupuesto", "Consultar por service atrasado",
                       "Interesado en accesorios"),
            "no_show": "Recuperar turno perdido del {date}",
        },
        "discard": {
            "price": "Le pareció caro el service",
            "distance": "Se mudó lejos del concesionario",
            "serviced_elsewhere": "Hace el service en un taller de confianza",
            "sold_car": "Vendió la unidad",
            "not_interested": "No le interesa por ahora",
            "wrong_data": "Datos de contacto incorrectos",
        },
        "sold": "Agendó turno para el {date}",
        "campaigns": (
            ("Campaña service de invierno {year}", "service_campaign", (), (),
             "Service con 15% de descuento en mano de obra"),
            ("Recall R-{year}-07: inspección del anclaje de cinturones traseros", "recall", ("Chevrolet",), (),
             "Inspección sin cargo, 40 minutos"),
            ("Nota técnica NT-118: actualización de software de la caja automática", "technical_note",
             ("Toyota", "Fiat"), (), "Actualización sin cargo al ingresar la unidad"),
            ("Control de frenos para pick-ups", "other", (), ("S10", "Toro", "Strada", "Hilux", "Amarok"),
             "Control gratuito de frenos y suspensión"),
        ),
        "dealer_texts": {"day": "%d/%m"},
    },
    "pt": {
        "service": "Revisão {km} km",
        "works": (
            "Troca de óleo e filtro", "Troca do filtro de ar", "Troca do filtro de cabine",
            "Troca de pastilhas de freio dianteiras", "Troca de discos e pastilhas de freio",
            "Alinhamento e balanceamento", "Rodízio de pneus", "Troca de bateria",
            "Recarga do ar-condicionado", "Troca da correia dentada", "Diagnóstico de ruído na suspensão dianteira",
            "Troca das palhetas do limpador", "Troca do fluido de freio", "Revisão do sistema elétrico",
            "Troca de velas", "Substituição de lâmpada de seta", "Limpeza de bicos injetores",
            "Troca de amortecedores dianteiros",
        ),
        "done": ("Realizado", "Realizado sem ocorrências", "OK", "Realizado. Recomenda-se verificar os pneus na "
                 "próxima revisão", "Realizado conforme manual do fabricante", "Realizado, teste de rodagem OK"),
        "open": ("Em andamento", "Em diagnóstico", "Aguardando peça", "Aguardando aprovação do cliente",
                 "Na lavagem"),
        "declined": ("Troca de amortecedores traseiros", "Troca de pneus (4)", "Troca de embreagem",
                     "Reparo do ar-condicionado", "Retoque de pintura do para-choque"),
        "declined_result": "Orçado, não aprovado pelo cliente",
        "incidents": ("Atraso de 1 dia por falta de peça", "Cliente reclama de ruído persistente ao frear",
                      "Detectado vazamento de óleo no cárter, cliente informado",
                      "Entrega após a data prometida", "Risco no para-choque traseiro anotado na recepção"),
        "service_types": ("Troca de óleo", "Diagnóstico", "Freios", "Alinhamento e balanceamento", "Garantia",
                          "Ar-condicionado", "Recall"),
        "confirm": ("Confirmou presença", "Confirmado por WhatsApp", "Confirmou, chega cedo",
                    "Confirmado por telefone, quem leva é o cônjuge", "Confirmou e pediu lavagem"),
        "comments": {
            "contacted": ("Cliente satisfeito com o atendimento", "Pediu agendamento para a próxima semana",
                          "Perguntou o valor da próxima revisão", "Muito satisfeito com o vendedor",
                          "Diz que o carro está ótimo", "Pediu orçamento de pneus"),
            "no_answer": ("Não atende, mensagem deixada no WhatsApp", "Não atende", "Caixa postal",
                          "Não atende, tentar à tarde"),
            "call_back_later": ("Pediu para ligar à tarde", "Está dirigindo, ligar amanhã",
                                "Pediu para ligar na segunda-feira"),
            "wrong_number": ("O número é de outra pessoa", "Número inexistente"),
        },
        "welcome": ("Boas-vindas realizadas, plano de manutenção explicado",
                    "Cliente muito satisfeito com a entrega", "Informada a primeira revisão aos 10.000 km"),
        "courtesy": {5: ("Atendimento excelente, muito satisfeito", "Tudo perfeito"),
                     4: ("Satisfeito, a entrega atrasou um pouco", "Bom, a lavagem poderia melhorar"),
                     3: ("Regular, esperou muito na recepção",),
                     2: ("Insatisfeito com o preço da revisão",),
                     1: ("Muito insatisfeito: o ruído continua", "Reclamação: carro entregue sujo")},
        "notes": {
            "delivery": "Primeira revisão (10.000 km ou 6 meses)",
            "completed": ("Próxima revisão por quilometragem", "Oferecer troca de pneus orçada",
                          "Retomar orçamento de amortecedores"),
            "manual": ("Cliente pediu retorno sobre orçamento", "Perguntar sobre revisão atrasada",
                       "Interessado em acessórios"),
            "no_show": "Recuperar agendamento perdido de {date}",
        },
        "discard": {
            "price": "Achou a revisão cara",
            "distance": "Mudou-se para longe da concessionária",
            "serviced_elsewhere": "Faz a revisão em oficina de confiança",
            "sold_car": "Vendeu o veículo",
            "not_interested": "Sem interesse no momento",
            "wrong_data": "Dados de contato incorretos",
        },
        "sold": "Agendou para {date}",
        "campaigns": (
            ("Campanha Revisão de Férias {year}", "service_campaign", (), (),
             "Revisão com 15% de desconto na mão de obra"),
            ("Recall R-{year}-07: inspeção da fixação dos cintos traseiros", "recall", ("Chevrolet",), (),
             "Inspeção gratuita, 40 minutos"),
            ("Nota técnica NT-118: atualização de software do câmbio automático", "technical_note",
             ("Toyota", "Fiat"), (), "Atualização gratuita na entrada do veículo"),
            ("Check-up de freios para picapes", "other", (), ("S10", "Toro", "Strada", "Hilux", "Amarok"),
             "Check-up gratuito de freios e suspensão"),
        ),
        "dealer_texts": {"day": "%d/%m"},
    },
}

# The per-dealer discard catalog is the product's default one.
DISCARD_REASONS = DEFAULT_DISCARD_REASONS
DISCARD_WEIGHTS = (20, 12, 25, 15, 20, 8)


# ======================================================================================= records


@dataclass(frozen=True, slots=True)
class DealerProfile:
    """What the generator needs to know about a dealer."""

    code: str
    country: str  # "AR" | "BR"
    time_zone: str
    name: str = ""
    brands: tuple[str, ...] = ()  # empty: every brand of the catalog
    area_codes: tuple[str, ...] = ()  # customers' phone areas (repeat one to weight it); empty: by country

    @property
    def language(self) -> str:
        return "es" if self.country == "AR" else "pt"


@dataclass(slots=True)
class DiscardReasonRec:
    code: str
    label_es: str
    label_pt_br: str
    label_en: str
    oem_reason: str | None
    position: int


@dataclass(slots=True)
class CampaignRec:
    key: str
    name: str
    kind: str
    due_at: datetime
    note: str
    status: str
    created_at: datetime
    brands: tuple[str, ...]  # the units it targets; empty: any
    models: tuple[str, ...]


@dataclass(slots=True)
class CustomerRec:
    dms_id: str
    name: str
    phone_mobile: str
    phone_home: str
    phone_work: str
    email: str
    dms_updated_at: datetime


@dataclass(slots=True)
class VehicleRec:
    dms_id: str
    customer_dms_id: str
    vin: str
    plate: str
    brand: str
    model: str
    version: str
    model_year: int
    mileage: int
    sold_on: date
    dms_updated_at: datetime


@dataclass(slots=True)
class DeliveryRec:
    dms_id: str
    vehicle_dms_id: str
    customer_dms_id: str
    delivered_at: datetime
    salesperson: str
    dms_updated_at: datetime
    welcome_call_at: datetime | None = None  # Boxes state


@dataclass(slots=True)
class RepairOrderLineRec:
    line_no: int
    work_done: str
    result: str
    incidents: str
    declined: bool


@dataclass(slots=True)
class RepairOrderRec:
    dms_id: str
    number: str
    vehicle_dms_id: str
    customer_dms_id: str
    opened_at: datetime
    promised_at: datetime | None
    delivered_at: datetime | None
    status: str  # open | delivered | closed
    mileage: int
    advisor: str
    dms_updated_at: datetime
    lines: tuple[RepairOrderLineRec, ...]
    courtesy_call_at: datetime | None = None  # Boxes state


@dataclass(slots=True)
class AppointmentRec:
    dms_id: str
    vehicle_dms_id: str
    customer_dms_id: str
    scheduled_at: datetime
    service_type: str
    advisor: str
    status: str  # the STAR vocabulary of boxes.models.workshop.APPOINTMENT_STATUSES
    source: str
    arrived_at: datetime | None
    repair_order_dms_id: str | None
    created_at: datetime
    dms_updated_at: datetime
    confirmed_at: datetime | None = None  # Boxes state
    comment: str = ""  # Boxes state


@dataclass(slots=True)
class OpportunityRec:
    key: str
    origin: str
    vehicle_dms_id: str
    customer_dms_id: str
    due_at: datetime
    status: str  # open | sold | discarded
    note: str
    created_at: datetime
    campaign_key: str | None = None
    discard_reason: str | None = None  # a DiscardReasonRec code
    discard_comment: str = ""
    sold_appointment_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(slots=True)
class ActivityRec:
    kind: str
    subject_type: str  # delivery | opportunity | appointment | repair_order
    subject_key: str  # the subject's dms_id (an opportunity's key)
    customer_dms_id: str
    vehicle_dms_id: str
    channel: str
    outcome: str
    comment: str
    created_at: datetime
    satisfaction: int | None = None
    next_contact_at: datetime | None = None


@dataclass(slots=True)
class VehicleBundle:
    """One vehicle and everything that happened around it, in load order."""

    index: int
    customer_index: int
    vehicle: VehicleRec | None = None
    delivery: DeliveryRec | None = None
    repair_orders: list[RepairOrderRec] = field(default_factory=list)
    appointments: list[AppointmentRec] = field(default_factory=list)
    opportunities: list[OpportunityRec] = field(default_factory=list)
    activities: list[ActivityRec] = field(default_factory=list)


# ==================================================================================== parameters

MAX_VEHICLES = 676_000  # the plate space of one registration-year letter series stays collision-free
MAX_AGE_DAYS = 12 * 365
CUSTOMER_SHARE = 0.85  # customers per vehicle: the rest belong to customers with two or three cars
NEW_SHARE = 0.025  # delivered by Sales in the last 30 days
APPOINTMENT_SHARE = 0.2  # with an appointment within ±14 days
OPEN_RO_SHARE = 0.012  # with a walk-in RO open now
HISTORY_CHURN = 0.05  # chance, after each visit, that the owner stops coming
MAX_HISTORY = 30  # ROs of history per vehicle (RO numbers leave room for 40)
SLOTS = tuple(480 + 30 * k for k in range(18))  # workshop appointments, 08:00 … 16:30 local
SATURDAY_LAST_SLOT = 690  # 11:30: the workshop closes at noon on Saturdays
CALL_SLOTS = tuple(540 + 30 * k for k in range(19))  # planned calls, 09:00 … 18:00 local
CHANNELS = ("phone", "whatsapp", "email")
OUTCOMES = ("no_answer", "call_back_later", "contacted")
CHANNEL_WEIGHTS = tuple(accumulate((80, 15, 5)))
SATISFACTION = (5, 4, 3, 2, 1)
SATISFACTION_WEIGHTS = tuple(accumulate((50, 30, 12, 5, 3)))
LINE_COUNTS = (1, 2, 3, 4)
LINE_COUNT_WEIGHTS = tuple(accumulate((25, 35, 25, 15)))
DISCARD_CODES = tuple(r[0] for r in DISCARD_REASONS)
DISCARD_CUM_WEIGHTS = tuple(accumulate(DISCARD_WEIGHTS))

# The first vehicles of every dealer: one of each board situation, so no list is ever empty.
SCRIPT: tuple[dict[str, str], ...] = (
    {"delivery": "pending"},
    {"delivery": "welcome_today"},
    {"appointment": "future_unconfirmed"},
    {"appointment": "future_confirmed"},
    {"appointment": "today_expected"},
    {"appointment": "today_arrived"},
    {"appointment": "no_show", "opportunity": "no_show"},
    {"appointment": "fulfilled"},
    {"open_ro": "today"},
    {"open_ro": "yesterday"},
    {"open_ro": "week"},
    {"open_ro": "older"},
    {"completed": "pending"},
    {"completed": "done_today"},
    {"opportunity": "overdue"},
    {"opportunity": "today"},
    {"opportunity": "upcoming"},
    {"opportunity": "campaign"},
)


_MINUTES = tuple(timedelta(minutes=m) for m in range(24 * 60))


def _seed_base(seed: int, code: str, aspect: str) -> int:
    digest = hashlib.blake2b(f"{seed}|{code}|{aspect}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") << 32


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


def _km(value: int) -> str:
    return f"{value:,}".replace(",", ".")


# Faster than Random.randint/choice/choices, which are written in Python; the streams stay
# deterministic (they only ever call Random.random()).
def _randint(rng: Random, lo: int, hi: int) -> int:
    return lo + int(rng.random() * (hi - lo + 1))


def _randbelow(rng: Random, n: int) -> int:
    return int(rng.random() * n)


def _pick(rng: Random, seq):
    return seq[int(rng.random() * len(seq))]


def _weighted(rng: Random, seq, cum_weights):
    return seq[bisect(cum_weights, rng.random() * cum_weights[-1])]


def _sample(rng: Random, seq, k: int) -> list:
    """``k`` distinct items of ``seq`` (k is small)."""
    picked: list = []
    while len(picked) < k:
        item = seq[int(rng.random() * len(seq))]
        if item not in picked:
            picked.append(item)
    return picked


# ======================================================================================== phones

_MOBILE = (phonenumbers.PhoneNumberType.MOBILE,)
_FIXED = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _e164(country: str, area: str, subscriber: str, kind: str) -> str:
    if country == "AR":
        return f"+549{area}{subscriber}" if kind == "mobile" else f"+54{area}{subscriber}"
    return f"+55{area}{subscriber}"


def format_phone(country: str, area: str, subscriber: str, kind: str, national: bool) -> str:
    """As people and DMSs write them: ``+54 9 11 4567-8901`` or ``011 15-4567-8901``,
    ``+55 11 91234-5678`` or ``(11) 91234-5678``."""
    head, tail = subscriber[:-4], subscriber[-4:]
    if country == "AR":
        if kind == "mobile":
            return f"0{area} 15-{head}-{tail}" if national else f"+54 9 {area} {head}-{tail}"
        return f"(0{area}) {head}-{tail}" if national else f"+54 {area} {head}-{tail}"
    return f"({area}) {head}-{tail}" if national else f"+55 {area} {head}-{tail}"


@cache
def phone_plan(country: str, area: str, kind: str) -> tuple[tuple[str, ...], int]:
    """The two-digit subscriber prefixes after which any digits make a valid number of ``kind``
    (``mobile`` or ``fixed``) in ``area``, as the ``phonenumbers`` metadata says, and the
    subscriber length. Probed once per process with a fixed sample."""
    length = 10 - len(area) if country == "AR" else 9 if kind == "mobile" else 8
    types = _MOBILE if kind == "mobile" else _FIXED
    rng = Random(f"{country}|{area}|{kind}")
    good = []
    for first in ("9",) if (country, kind) == ("BR", "mobile") else "23456789":
        for second in "0123456789":
            prefix = first + second
            for _ in range(8):
                subscriber = prefix + "".join(_pick(rng, "0123456789") for _ in range(length - 2))
                number = phonenumbers.parse(_e164(country, area, subscriber, kind))
                if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in types:
                    break
            else:
                good.append(prefix)
    return tuple(good), length


# ========================================================================================= world


@dataclass(slots=True)
class _Identity:
    index: int
    dms_id: str
    customer_index: int
    customer_dms_id: str
    spec: ModelSpec
    version: str
    model_year: int
    sold_day: int  # local day offset from today (negative: past)
    vin: str
    plate: str
    km_per_day: float
    new: bool  # delivered by Sales in the last 30 days
    campaigns: tuple[int, ...]  # campaigns this unit is a target of
    script: dict[str, str] | None


class World:
    """The generated world of one dealer. Cheap to build; records are made as they are read."""

    def __init__(self, seed: int, dealer: DealerProfile, vehicles: int, now: datetime, reserve: int = 0):
        """``vehicles`` on the road today; ``reserve`` more that Sales delivers later (the living
        simulator's), each to a new customer. The reserve changes nothing of the first
        ``vehicles``: a demo of N vehicles and a simulator of N plus a reserve are the same world."""
        if now.tzinfo is None:
            raise ValueError("now must be a tz-aware datetime")
        if dealer.country not in ("AR", "BR"):
            raise ValueError(f"unsupported country {dealer.country!r}")
        if not 0 <= vehicles + reserve <= MAX_VEHICLES or reserve < 0:
            raise ValueError(f"vehicles must be between 0 and {MAX_VEHICLES}")
        self.seed = seed
        self.dealer = dealer
        self.n_fleet = vehicles
        self.n_vehicles = vehicles + reserve
        # Today's owners; the reserve's buyers (one each) come after them.
        self.n_customers = max(1, round(vehicles * CUSTOMER_SHARE)) if vehicles else 0
        self.n_buyers = reserve
        self.now = now.astimezone(UTC)
        self.tz = ZoneInfo(dealer.time_zone)
        self.today = self.now.astimezone(self.tz).date()
        self._weekday = self.today.weekday()
        self.country = dealer.country
        self.t = TEXTS[dealer.language]
        self._midnights: dict[int, datetime] = {}
        self._bases = {
            aspect: _seed_base(seed, dealer.code, aspect)
            for aspect in ("dealer", "customer", "vehicle", "history", "current", "crm")
        }
        self._offset = self._bases["dealer"] >> 40
        rng = self._rng("dealer", 0)
        self.advisors = tuple(self._person(rng)[0] for _ in range(5))
        self.salespeople = tuple(self._person(rng)[0] for _ in range(6))
        models = [m for m in MODELS if not dealer.brands or m.brand in dealer.brands]
        if not models:
            raise ValueError(f"no model of brands {dealer.brands!r} in the catalog")
        self._models = models
        self._models_by_year: dict[int, tuple[list[ModelSpec], list[int]]] = {}
        areas = dealer.area_codes or AREA_CODES[dealer.country]
        self._areas = tuple(a for a in areas if phone_plan(self.country, a, "mobile")[0])
        if not self._areas:
            raise ValueError(f"no valid mobile phone area among {areas!r}")
        self._campaigns = self._make_campaigns()
        self._campaign_targets: dict[tuple[str, str], tuple[int, ...]] = {}

    # ------------------------------------------------------------------------------ time helpers

    def midnight(self, day: int) -> datetime:
        """Local midnight ``day`` days from today, as a UTC instant."""
        value = self._midnights.get(day)
        if value is None:
            local = datetime.combine(self.today + timedelta(days=day), time(0), tzinfo=self.tz)
            value = self._midnights[day] = local.astimezone(UTC)
        return value

    def at(self, day: int, minutes: int) -> datetime:
        """Local time ``minutes`` after midnight, ``day`` days from today."""
        return self.midnight(day) + _MINUTES[minutes]

    def past(self, instant: datetime, rng: Random, floor: datetime) -> datetime:
        """``instant`` if it is not in the future, else a random instant between ``floor`` and now."""
        if instant <= self.now:
            return instant
        if floor >= self.now:
            return self.now
        return (floor + (self.now - floor) * rng.random()).replace(microsecond=0)

    def workday(self, day: int, last: int | None = None) -> int:
        """``day`` moved off Sunday, when the workshop is closed: to Monday, or to Saturday when
        Monday would pass ``last``."""
        if (self._weekday + day) % 7 == 6:
            return day + 1 if last is None or day + 1 <= last else day - 1
        return day

    def is_saturday(self, day: int) -> bool:
        return (self._weekday + day) % 7 == 5

    def local_day(self, instant: datetime) -> int:
        return (instant.astimezone(self.tz).date() - self.today).days

    def _rng(self, aspect: str, index: int) -> Random:
        return Random(self._bases[aspect] + index)

    # ------------------------------------------------------------------------------ dealer level

    def discard_reasons(self) -> list[DiscardReasonRec]:
        return [DiscardReasonRec(code, es, pt, en, oem, position)
                for position, (code, es, pt, en, oem) in enumerate(DISCARD_REASONS)]

    def campaigns(self) -> list[CampaignRec]:
        return list(self._campaigns)

    def _make_campaigns(self) -> tuple[CampaignRec, ...]:
        rng = self._rng("dealer", 1)
        due_days = (3, -8, 10, -2)
        out = []
        for n, (name, kind, brands, models, note) in enumerate(self.t["campaigns"]):
            day = due_days[n % len(due_days)]
            out.append(CampaignRec(
                key=f"CMP{n + 1}",
                name=name.format(year=self.today.year),
                kind=kind,
                due_at=self.at(day, 540),
                note=note,
                status="done",
                created_at=self.at(day - _randint(rng, 15, 30), _randint(rng, 600, 1020)),
                brands=brands,
                models=models,
            ))
        return tuple(out)

    def _targets(self, spec: ModelSpec) -> tuple[int, ...]:
        key = (spec.brand, spec.model)
        found = self._campaign_targets.get(key)
        if found is None:
            found = self._campaign_targets[key] = tuple(
                n for n, c in enumerate(self._campaigns)
                if (not c.brands or spec.brand in c.brands) and (not c.models or spec.model in c.models)
            )
        return found

    # ---------------------------------------------------------------------------------- people

    def _person(self, rng: Random) -> tuple[str, str, str]:
        """(full name, first name, surname) in the country's style."""
        country = self.country
        first = _pick(rng, COMPOUND_FIRST[country]) if rng.random() < 0.12 else _pick(rng, FIRST_NAMES[country])
        surname = _pick(rng, SURNAMES[country])
        r = rng.random()
        if country == "BR":
            if r < 0.4:
                last = surname
            elif r < 0.75:
                last = f"{self._other_surname(rng, surname)} {surname}"
            else:
                last = f"{_pick(rng, BR_PARTICLES)} {surname}"
        else:
            last = surname if r < 0.8 else f"{surname} {self._other_surname(rng, surname)}"
        return f"{first} {last}", first, surname

    def _other_surname(self, rng: Random, surname: str) -> str:
        other = _pick(rng, SURNAMES[self.country])
        return other if other != surname else _pick(rng, SURNAMES[self.country][:5])

    def _phone(self, rng: Random, kind: str) -> str:
        area = _pick(rng, self._areas)
        prefixes, length = phone_plan(self.country, area, kind)
        if not prefixes:
            area = self._areas[0]
            prefixes, length = phone_plan(self.country, area, kind)
        rest = length - 2
        subscriber = _pick(rng, prefixes) + f"{_randbelow(rng, 10 ** rest):0{rest}d}"
        return format_phone(self.country, area, subscriber, kind, national=rng.random() < 0.25)

    def customer(self, index: int) -> CustomerRec:
        """Customer ``index``: today's owners, then the reserve cars' buyers (``customers()`` lists
        only today's)."""
        if not 0 <= index < self.n_customers + self.n_buyers:
            raise IndexError(index)
        rng = self._rng("customer", index)
        company = rng.random() < 0.04
        name, first, surname = self._person(rng)
        home = work = email = ""
        if company:
            name = _pick(rng, COMPANIES[self.country]).format(s=surname)
            work = self._phone(rng, "fixed")
            mobile = self._phone(rng, "mobile")
            local = ("administracion." if self.country == "AR" else "financeiro.") + _ascii(surname)
            email = f"{local}@{_pick(rng, EMAIL_DOMAINS)}"
        else:
            mobile = self._phone(rng, "mobile")
            r = rng.random()
            if r < 0.15:
                home = self._phone(rng, "fixed")
            elif r < 0.25:
                work = self._phone(rng, "mobile")
            if rng.random() < 0.88:
                f, s = _ascii(first), _ascii(surname)
                local = _pick(rng, (f"{f}.{s}", f"{f[0]}{s}", f"{f}{s}{_randint(rng, 1, 99)}", f"{s}.{f}"))
                email = f"{local}@{_pick(rng, EMAIL_DOMAINS)}"
        updated = self.now - timedelta(minutes=_randbelow(rng, 60 * 24 * 900))
        return CustomerRec(f"C{index + 1:07d}", name, mobile, home, work, email, updated.replace(microsecond=0))

    def customers(self) -> Iterator[CustomerRec]:
        for index in range(self.n_customers):
            yield self.customer(index)

    # -------------------------------------------------------------------------------- vehicles

    def _model_for(self, rng: Random, year: int) -> ModelSpec:
        table = self._models_by_year.get(year)
        if table is None:
            weight = (lambda m: m.weight_ar) if self.country == "AR" else (lambda m: m.weight_br)
            specs = [m for m in self._models if m.sold_in(year) and weight(m) > 0] or self._models
            table = self._models_by_year[year] = (specs, list(accumulate(max(1, weight(m)) for m in specs)))
        specs, cum = table
        return _weighted(rng, specs, cum)

    def _identity(self, i: int) -> _Identity:
        rng = self._rng("vehicle", i)
        script = SCRIPT[i] if i < len(SCRIPT) else None
        if script is not None:
            mode = script.get("delivery")
            new = mode is not None
            sold_day = {"pending": -1, "welcome_today": -3}.get(mode, 0) if new else -_randint(rng, 400, 2500)
        else:
            new = rng.random() < NEW_SHARE
            sold_day = -_randint(rng, 0, 29) if new else -int(rng.triangular(31, MAX_AGE_DAYS, 31))
            sold_day = self.workday(sold_day, last=0)
        sold_on = self.today + timedelta(days=sold_day)
        year = sold_on.year + (1 if sold_on.month >= 10 and rng.random() < 0.5 else 0)
        spec = self._model_for(rng, year)
        version = _pick(rng, spec.versions)
        vin = make_vin(spec.wmi, random_vds(rng, spec.vds), year, spec.plant, vin_serial(i, self._offset))
        if self.country == "AR":
            plate = ar_plate(i, sold_on, self._offset)
        else:
            plate = br_plate(i, sold_on, self._offset, converted=rng.random() < 0.3)
        if i >= self.n_fleet:  # a reserve car: its buyer is a new customer
            customer_index = self.n_customers + i - self.n_fleet
        else:  # today's fleet; beyond one car each, a second or third car of an existing owner
            customer_index = i if i < self.n_customers else _randbelow(rng, self.n_customers)
        return _Identity(
            index=i,
            dms_id=f"V{i + 1:07d}",
            customer_index=customer_index,
            customer_dms_id=f"C{customer_index + 1:07d}",
            spec=spec,
            version=version,
            model_year=year,
            sold_day=sold_day,
            vin=vin,
            plate=plate,
            km_per_day=rng.uniform(8000, 22000) * spec.km_factor / 365,
            new=new,
            campaigns=self._targets(spec),
            script=script,
        )

    def _odometer(self, ident: _Identity, instant: datetime) -> int:
        """The mileage at ``instant``: a steady use since the sale, so it never goes back."""
        days = (instant - self.midnight(ident.sold_day)).total_seconds() / 86_400
        return 5 + int(ident.km_per_day * max(0.0, days))

    def bundle(self, i: int) -> VehicleBundle:
        """Vehicle ``i`` and its deliveries, ROs, appointments, opportunities and calls."""
        if not 0 <= i < self.n_vehicles:
            raise IndexError(i)
        ident = self._identity(i)
        b = VehicleBundle(index=i, customer_index=ident.customer_index)
        self._history(b, ident)
        no_show_day = self._current(b, ident)
        self._crm(b, ident, no_show_day)
        if b.repair_orders:
            last = max(b.repair_orders, key=lambda ro: ro.opened_at)
            mileage = last.mileage
            updated = max(ro.dms_updated_at for ro in b.repair_orders)
        else:
            mileage = self._odometer(ident, self.now)
            updated = self.at(ident.sold_day, 660)
        if b.delivery is not None:
            updated = max(updated, b.delivery.dms_updated_at)
        s = ident.spec
        b.vehicle = VehicleRec(
            ident.dms_id, ident.customer_dms_id, ident.vin, ident.plate, s.brand, s.model, ident.version,
            ident.model_year, mileage, self.today + timedelta(days=ident.sold_day), min(updated, self.now),
        )
        return b

    def bundles(self, start: int = 0, stop: int | None = None) -> Iterator[VehicleBundle]:
        for i in range(start, self.n_vehicles if stop is None else min(stop, self.n_vehicles)):
            yield self.bundle(i)

    # Per-entity streams (each one regenerates the bundles: read bundles() to get them all at once).
    def vehicles(self) -> Iterator[VehicleRec]:
        for b in self.bundles():
            yield b.vehicle

    def deliveries(self) -> Iterator[DeliveryRec]:
        for b in self.bundles():
            if b.delivery is not None:
                yield b.delivery

    def repair_orders(self) -> Iterator[RepairOrderRec]:
        for b in self.bundles():
            yield from b.repair_orders

    def appointments(self) -> Iterator[AppointmentRec]:
        for b in self.bundles():
            yield from b.appointments

    def opportunities(self) -> Iterator[OpportunityRec]:
        for b in self.bundles():
            yield from b.opportunities

    def activities(self) -> Iterator[ActivityRec]:
        for b in self.bundles():
            yield from b.activities

    # ------------------------------------------------------------------------------- workshop

    def _lines(self, rng: Random, km: int, service: bool, is_open: bool) -> tuple[RepairOrderLineRec, ...]:
        t = self.t
        count = _weighted(rng, LINE_COUNTS, LINE_COUNT_WEIGHTS)
        works = [t["service"].format(km=_km(max(10_000, round(km / 10_000) * 10_000)))] if service else []
        works.extend(_sample(rng, t["works"], count - len(works)))
        lines = []
        for no, work in enumerate(works, 1):
            declined = False
            incidents = ""
            if is_open:
                result = _pick(rng, t["open"])
            elif no > 1 and rng.random() < 0.06:
                work, result, declined = _pick(rng, t["declined"]), t["declined_result"], True
            else:
                result = _pick(rng, t["done"])
                if rng.random() < 0.05:
                    incidents = _pick(rng, t["incidents"])
            lines.append(RepairOrderLineRec(no, work, result, incidents, declined))
        return tuple(lines)

    def _repair_order(self, b: VehicleBundle, ident: _Identity, rng: Random, opened: datetime,
                      delivered: datetime | None, day: int, *, service: bool) -> RepairOrderRec:
        k = len(b.repair_orders)
        km = self._odometer(ident, opened)
        old = delivered is not None and delivered < self.now - timedelta(days=30)
        status = "open" if delivered is None else "closed" if old else "delivered"
        updated = delivered or opened
        updated = min(self.now, updated + timedelta(minutes=_randint(rng, 1, 90)))
        ro = RepairOrderRec(
            dms_id=f"R{ident.index + 1:07d}-{k:02d}",
            number=str(10_000_000 + ident.index * 40 + k),
            vehicle_dms_id=ident.dms_id,
            customer_dms_id=ident.customer_dms_id,
            opened_at=opened,
            promised_at=self.at(day + (0 if rng.random() < 0.7 else _randint(rng, 1, 2)), 1080),
            delivered_at=delivered,
            status=status,
            mileage=km,
            advisor=_pick(rng, self.advisors),
            dms_updated_at=updated,
            lines=self._lines(rng, km, service, delivered is None),
        )
        b.repair_orders.append(ro)
        return ro

    def _courtesy(self, b: VehicleBundle, ident: _Identity, rng: Random, ro: RepairOrderRec, delivered_day: int,
                  force: bool | None = None) -> None:
        """The courtesy call after a service delivered in the last 15 days (about half are done)."""
        if delivered_day < -15 or ro.delivered_at is None:
            return
        if force is False or (force is None and rng.random() >= 0.45):
            return
        day = 0 if force else min(0, delivered_day + _randint(rng, 1, 3))
        if day == delivered_day and ro.delivered_at > self.at(day, 1110):
            return
        when = self.at(day, _randint(rng, 600, 1110))
        floor = max(ro.delivered_at, self.midnight(day))
        when = self.past(max(when, floor), rng, floor)
        score = _weighted(rng, SATISFACTION, SATISFACTION_WEIGHTS)
        ro.courtesy_call_at = when
        b.activities.append(ActivityRec(
            "courtesy_call", "repair_order", ro.dms_id, ident.customer_dms_id, ident.dms_id, "phone",
            "contacted", _pick(rng, self.t["courtesy"][score]), when, satisfaction=score,
        ))

    def _history(self, b: VehicleBundle, ident: _Identity) -> None:
        """Past services: the first at about six months, then every 4 to 11 months until the owner
        stops coming. Only up to four days ago: what is recent comes from the current state."""
        if ident.new:
            return
        rng = self._rng("history", ident.index)
        day = ident.sold_day + _randint(rng, 150, 210)
        while day <= -4 and len(b.repair_orders) < MAX_HISTORY:
            day = self.workday(day, last=-4)
            opened = self.at(day, _randint(rng, 450, 690))
            if rng.random() < 0.7:
                delivered_day, minutes = day, _randint(rng, 960, 1170)
            else:
                delivered_day, minutes = day + _randint(rng, 1, 3), _randint(rng, 600, 1140)
            ro = self._repair_order(b, ident, rng, opened, self.at(delivered_day, minutes), day,
                                    service=rng.random() < 0.8)
            self._courtesy(b, ident, rng, ro, delivered_day)
            if rng.random() < HISTORY_CHURN:
                break
            day += _randint(rng, 120, 330)

    def _current(self, b: VehicleBundle, ident: _Identity) -> int | None:
        """What is going on now: a Sales delivery, an appointment, an open RO. Returns the day of a
        no-show, for the recovery opportunity."""
        rng = self._rng("current", ident.index)
        script = ident.script
        if ident.new:
            self._delivery(b, ident, rng, script.get("delivery") if script else None)
        no_show_day = None
        if script is not None:
            kind = script.get("appointment")
        else:
            kind = "random" if rng.random() < APPOINTMENT_SHARE else None
        if kind is not None:
            no_show_day = self._appointment(b, ident, rng, kind)
        open_kind = script.get("open_ro") if script is not None else (
            "random" if rng.random() < OPEN_RO_SHARE else None)
        if open_kind is not None and all(ro.delivered_at is not None for ro in b.repair_orders):
            self._open_ro(b, ident, rng, open_kind)
        if script is not None and "completed" in script:
            day = -3 if script["completed"] == "pending" else -4
            ro = self._repair_order(b, ident, rng, self.at(day, _randint(rng, 450, 600)),
                                    self.at(day, _randint(rng, 960, 1100)), day, service=True)
            self._courtesy(b, ident, rng, ro, day, force=script["completed"] == "done_today")
        return no_show_day

    def _delivery(self, b: VehicleBundle, ident: _Identity, rng: Random, mode: str | None) -> None:
        day = ident.sold_day
        delivered = self.past(self.at(day, _randint(rng, 600, 1140)), rng, self.midnight(day))
        welcome = None
        if mode == "welcome_today":
            floor = max(delivered, self.midnight(0))
            welcome = self.past(max(floor, self.at(0, _randint(rng, 570, 1110))), rng, floor)
        elif mode is None and day <= -1 and rng.random() < 0.55:
            wday = min(0, day + _randint(rng, 1, 4))
            floor = max(delivered, self.midnight(wday))
            welcome = self.past(max(floor, self.at(wday, _randint(rng, 570, 1110))), rng, floor)
        dms_id = f"D{ident.index + 1:07d}"
        b.delivery = DeliveryRec(
            dms_id, ident.dms_id, ident.customer_dms_id, delivered, _pick(rng, self.salespeople),
            min(self.now, delivered + timedelta(minutes=_randint(rng, 5, 240))), welcome,
        )
        t = self.t
        if welcome is not None:
            b.activities.append(ActivityRec("welcome_call", "delivery", dms_id, ident.customer_dms_id, ident.dms_id,
                                            "phone", "contacted", _pick(rng, t["welcome"]), welcome))
        elif day <= -2 and rng.random() < 0.35:
            when = self.at(day + 1, _randint(rng, 570, 1110))
            b.activities.append(ActivityRec("welcome_call", "delivery", dms_id, ident.customer_dms_id, ident.dms_id,
                                            "phone", "no_answer", _pick(rng, t["comments"]["no_answer"]), when))

    def _appointment(self, b: VehicleBundle, ident: _Identity, rng: Random, kind: str) -> int | None:
        now = self.now
        status = None
        if kind == "random":
            # Not before the car was sold: a new car's first visit comes after its delivery.
            day = self.workday(max(_randint(rng, -14, 14), ident.sold_day + 1), last=14)
            minutes = _pick(rng, SLOTS)
            if self.is_saturday(day) and minutes > SATURDAY_LAST_SLOT:
                minutes = _pick(rng, SLOTS[:8])
        elif kind in ("today_expected", "today_arrived"):
            day = 0
            later = [m for m in SLOTS if self.at(0, m) > now]
            earlier = [m for m in SLOTS if self.at(0, m) <= now]
            if kind == "today_expected":
                minutes = later[0] if later else SLOTS[0]
                status = "confirmed"
            else:
                minutes = earlier[-1] if earlier else None
                status = "arrived"
        else:
            day, status = {
                "future_unconfirmed": (2, "requested"),
                "future_confirmed": (1, "confirmed"),
                "no_show": (-3, "no_show"),
                "fulfilled": (-2, "fulfilled"),
            }[kind]
            minutes = _pick(rng, SLOTS)
        # minutes is None before opening hours: the car was booked for right after midnight.
        scheduled = (self.past(self.at(0, SLOTS[0]), rng, self.midnight(0)) if minutes is None
                     else self.at(day, minutes))
        created = scheduled - timedelta(days=_randint(rng, 1, 20), minutes=_randint(rng, 0, 600))
        if created > now:
            created = now - timedelta(minutes=_randint(rng, 1, 600))
        if status is None:
            r = rng.random()
            if day < 0:
                status = ("fulfilled" if r < 0.70 else "in_progress" if r < 0.74
                          else "no_show" if r < 0.90 else "cancelled")
            elif day == 0 and scheduled <= now:
                status = ("arrived" if r < 0.33 else "in_progress" if r < 0.65
                          else "confirmed" if r < 0.86 else "confirmation_pending")
            elif day == 0:
                status = "confirmed" if r < 0.5 else "confirmation_pending" if r < 0.8 else "requested"
            else:
                status = "confirmed" if r < 0.4 else "confirmation_pending" if r < 0.75 else "requested"

        arrived = None
        ro = None
        updated = created
        if status in ("arrived", "in_progress", "fulfilled"):
            floor = self.midnight(day)
            arrived = max(floor, scheduled + timedelta(minutes=_randint(rng, -20, 25)))
            arrived = self.past(arrived, rng, floor)
            opened = self.past(arrived + timedelta(minutes=_randint(rng, 5, 15)), rng, arrived)
            delivered = None
            delivered_day = day
            if status == "fulfilled":
                if day < 0:
                    delivered_day = day if rng.random() < 0.7 else day + _randint(rng, 1, 2)
                    delivered = max(self.at(delivered_day, _randint(rng, 960, 1170)),
                                    opened + _MINUTES[_randint(rng, 60, 180)])
                    if delivered > now:
                        delivered = None
                elif now - opened >= timedelta(hours=3):
                    delivered = opened + timedelta(hours=2) + (now - opened - timedelta(hours=2)) * rng.random()
                    delivered = delivered.replace(microsecond=0)
                if delivered is None:
                    status = "in_progress"
            ro = self._repair_order(b, ident, rng, opened, delivered, day, service=rng.random() < 0.8)
            if delivered is not None:
                self._courtesy(b, ident, rng, ro, delivered_day)
            updated = ro.dms_updated_at
        elif status == "no_show":
            updated = min(now, scheduled + timedelta(hours=_randint(rng, 2, 30)))
        elif status == "cancelled":
            updated = created + (min(scheduled, now) - created) * rng.random()

        confirmed = None
        comment = ""
        if status == "confirmed" or (status != "requested" and day < 0 and rng.random() < 0.4):
            floor = min(now, created + timedelta(minutes=5))
            confirmed = scheduled - timedelta(minutes=_randint(rng, 120, 4320))
            confirmed = self.past(max(confirmed, floor), rng, floor)
            comment = _pick(rng, self.t["confirm"])
        if kind == "random" and rng.random() < 0.6:
            service_type = self.t["service"].format(
                km=_km(max(10_000, round(self._odometer(ident, scheduled) / 10_000) * 10_000)))
        else:
            service_type = _pick(rng, self.t["service_types"])
        dms_id = f"A{ident.index + 1:07d}-{len(b.appointments)}"
        b.appointments.append(AppointmentRec(
            dms_id=dms_id,
            vehicle_dms_id=ident.dms_id,
            customer_dms_id=ident.customer_dms_id,
            scheduled_at=scheduled,
            service_type=service_type,
            advisor=ro.advisor if ro is not None else _pick(rng, self.advisors),
            status=status,
            source="online" if rng.random() < 0.08 else "dms",
            arrived_at=arrived,
            repair_order_dms_id=ro.dms_id if ro is not None else None,
            created_at=created,
            dms_updated_at=min(now, max(created, updated)),
            confirmed_at=confirmed,
            comment=comment,
        ))
        if confirmed is not None:
            b.activities.append(ActivityRec("confirmation", "appointment", dms_id, ident.customer_dms_id,
                                            ident.dms_id, "phone", "contacted", comment, confirmed))
        return day if status == "no_show" else None

    def _open_ro(self, b: VehicleBundle, ident: _Identity, rng: Random, kind: str) -> None:
        if kind == "random":
            r = rng.random()
            kind = "today" if r < 0.25 else "yesterday" if r < 0.45 else "week" if r < 0.8 else "older"
        day = {"today": 0, "yesterday": -1, "week": _randint(rng, -7, -2), "older": _randint(rng, -40, -8)}[kind]
        if kind in ("week", "older"):
            day = self.workday(day, last=-2 if kind == "week" else -8)
        day = max(day, ident.sold_day)  # a new car: its pre-delivery inspection
        opened = self.past(self.at(day, _randint(rng, 450, 690)), rng, self.midnight(day))
        self._repair_order(b, ident, rng, opened, None, day, service=rng.random() < 0.6)

    # ------------------------------------------------------------------------------- call centre

    def _call(self, b: VehicleBundle, ident: _Identity, rng: Random, subject: str, key: str, outcome: str,
              comment: str, when: datetime, kind: str = "call") -> None:
        channel = _weighted(rng, CHANNELS, CHANNEL_WEIGHTS)
        next_contact = None
        if outcome == "call_back_later":
            next_contact = self.at(self.local_day(when) + _randint(rng, 1, 3), _pick(rng, CALL_SLOTS))
        b.activities.append(ActivityRec(kind, subject, key, ident.customer_dms_id, ident.dms_id, channel, outcome,
                                        comment, when, next_contact_at=next_contact))

    def _crm(self, b: VehicleBundle, ident: _Identity, no_show_day: int | None) -> None:
        rng = self._rng("crm", ident.index)
        plan: list[tuple[str | None, int | None, str | None]] = []  # (origin, due day, status)
        script = ident.script
        if script is not None:
            mode = script.get("opportunity")
            if mode == "no_show" and no_show_day is not None:
                plan.append(("no_show", None, "open"))
            elif mode in ("overdue", "today", "upcoming"):
                plan.append(("manual" if mode != "today" else "completed", {"overdue": -5, "today": 0,
                                                                            "upcoming": 5}[mode], "open"))
            elif mode == "campaign":
                plan.append(("campaign", None, "open"))
        else:
            if no_show_day is not None and rng.random() < 0.6:
                plan.append(("no_show", None, None))
            r = rng.random()
            plan.extend([(None, None, None)] * (1 if r < 0.40 else 2 if r < 0.45 else 0))
        history = [ro for ro in b.repair_orders if ro.delivered_at is not None]
        for k, (origin, day, status) in enumerate(plan):
            self._opportunity(b, ident, rng, k, origin, day, status, no_show_day, history)

    def _opportunity(self, b: VehicleBundle, ident: _Identity, rng: Random, k: int, origin: str | None,
                     day: int | None, status: str | None, no_show_day: int | None,
                     history: list[RepairOrderRec]) -> None:
        now = self.now
        t = self.t
        # One opportunity per campaign and unit: what the campaign manager guarantees too.
        taken = {o.campaign_key for o in b.opportunities}
        targets = [n for n in ident.campaigns if self._campaigns[n].key not in taken]
        if origin is None:
            r = rng.random()
            if -220 <= ident.sold_day <= -150 and rng.random() < 0.7:
                origin = "delivery"
            elif r < 0.35 and targets:
                origin = "campaign"
            elif r < 0.78 and history:
                origin = "completed"
            else:
                origin = "manual"
        if origin == "completed" and not history:
            origin = "manual"
        campaign = None
        if origin == "campaign":
            targets = targets or [0]
            campaign = self._campaigns[targets[0] if ident.script else _pick(rng, targets)]
            due = campaign.due_at
            day = self.local_day(due)
            created = campaign.created_at + timedelta(minutes=_randint(rng, 1, 30))
            note = campaign.note
        elif origin == "delivery":
            day = max(-15, min(15, ident.sold_day + 182)) if day is None else day
            due = self.at(day, _pick(rng, CALL_SLOTS))
            created = self.at(ident.sold_day + 2, _randint(rng, 600, 1080))
            note = t["notes"]["delivery"]
        elif origin == "no_show":
            assert no_show_day is not None
            day = min(15, no_show_day + _randint(rng, 1, 5)) if day is None else day
            due = self.at(day, _pick(rng, CALL_SLOTS))
            floor = self.midnight(no_show_day + 1)
            created = self.past(max(floor, self.at(no_show_day + 1, _randint(rng, 570, 1080))), rng, floor)
            shown = (self.today + timedelta(days=no_show_day)).strftime("%d/%m")
            note = t["notes"]["no_show"].format(date=shown)
        else:
            day = self.workday(_randint(rng, -15, 15), last=15) if day is None else day
            due = self.at(day, _pick(rng, CALL_SLOTS))
            if origin == "completed":
                last = history[-1]
                created = last.delivered_at + timedelta(days=_randint(rng, 1, 3), minutes=_randint(rng, 0, 300))
            else:
                created = self.at(day - _randint(rng, 2, 40), _randint(rng, 570, 1110))
            note = _pick(rng, t["notes"][origin])
        if created > now:
            created = now - timedelta(minutes=_randint(rng, 1, 300))
        if status is None:
            r = rng.random()
            if day < 0:
                status = "open" if r < 0.62 else "sold" if r < 0.84 else "discarded"
            else:
                status = "open" if r < 0.85 else "sold" if r < 0.94 else "discarded"
        key = f"{ident.dms_id}-O{k}"
        opp = OpportunityRec(key, origin, ident.dms_id, ident.customer_dms_id, due, status, note, created,
                             campaign_key=campaign.key if campaign else None)
        if status != "open":
            lo = max(created, due - timedelta(days=3))
            if lo > now:
                lo = created
            closed = (lo + (now - lo) * rng.random()).replace(microsecond=0)
            opp.closed_at = max(closed, created)
            if status == "discarded":
                code = _weighted(rng, DISCARD_CODES, DISCARD_CUM_WEIGHTS)
                opp.discard_reason = code
                opp.discard_comment = t["discard"][code]
                self._call(b, ident, rng, "opportunity", key, "contacted", opp.discard_comment, opp.closed_at)
            else:
                appointment_day = self.local_day(opp.closed_at) + _randint(rng, 1, 10)
                opp.sold_appointment_at = self.at(appointment_day, _pick(rng, SLOTS))
                shown = (self.today + timedelta(days=appointment_day)).strftime("%d/%m")
                self._call(b, ident, rng, "opportunity", key, "contacted", t["sold"].format(date=shown),
                           opp.closed_at)
        else:
            if rng.random() < 0.45:
                outcome = _weighted(rng, OUTCOMES, (50, 75, 100))
                when = (created + (now - created) * rng.random()).replace(microsecond=0)
                self._call(b, ident, rng, "opportunity", key, outcome,
                           _pick(rng, t["comments"][outcome]), max(when, created))
            if rng.random() < 0.08:  # today's work of the call centre
                floor = max(created, self.midnight(0))
                when = self.past(max(floor, self.at(0, _randint(rng, 540, 1140))), rng, floor)
                outcome = _weighted(rng, OUTCOMES, (45, 70, 100))
                self._call(b, ident, rng, "opportunity", key, outcome, _pick(rng, t["comments"][outcome]), when)
        b.opportunities.append(opp)


def generate(seed: int, dealer: DealerProfile, vehicles: int, now: datetime) -> World:
    """The world of ``dealer`` with ``vehicles`` vehicles, anchored at ``now``."""
    return World(seed, dealer, vehicles, now)
