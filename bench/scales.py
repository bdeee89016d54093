"""Dataset sizes and the dealers of the benchmark group."""

from __future__ import annotations

from dataclasses import dataclass

from boxes.dms.simulator.world_records import DealerProfile


@dataclass(frozen=True)
class Scale:
    name: str
    dealers: int
    vehicles_per_dealer: int

    @property
    def vehicles(self) -> int:
        return self.dealers * self.vehicles_per_dealer


# Per vehicle the generator makes ~5 ROs (~2.3 lines each), 0.5 opportunities, 0.2 appointments:
# "group" is 1 M vehicles, ~5 M ROs, ~500 k opportunities, ~200 k appointments.
SCALES = {
    "small": Scale("small", 2, 5_000),
    "medium": Scale("medium", 6, 25_000),
    "group": Scale("group", 20, 50_000),
}

# Where the group's dealers are: (country, time zone, phone areas of their customers).
_SITES = (
    ("AR", "America/Argentina/Buenos_Aires", ()),
    ("BR", "America/Sao_Paulo", ()),
    ("AR", "America/Argentina/Cordoba", ("351", "351", "351", "3543")),
    ("BR", "America/Sao_Paulo", ("21", "21", "21", "24")),
    ("AR", "America/Argentina/Mendoza", ("261", "261", "2622")),
    ("BR", "America/Bahia", ("71", "71", "75")),
)


def profiles(scale: Scale) -> list[DealerProfile]:
    out = []
    for n in range(scale.dealers):
        country, zone, areas = _SITES[n % len(_SITES)]
        city = zone.rsplit("/", 1)[1][:3].upper()
        out.append(DealerProfile(code=f"{country}-{city}{n + 1:02d}", country=country, time_zone=zone,
                                 name=f"Bench {country} {zone.rsplit('/', 1)[1].replace('_', ' ')} {n + 1}",
                                 area_codes=areas))
    return out
