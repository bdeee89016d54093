"""The simulated DMS world's data tables: the model catalog (brands, models, versions, service
intervals), names, phone areas, e-mail domains, companies, the localized texts of the workshop and
the call centre, and the discard reasons' weights. Data only: :mod:`.generator` draws from them."""

from __future__ import annotations

from dataclasses import dataclass

from boxes.models.opportunities import DEFAULT_DISCARD_REASONS


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
