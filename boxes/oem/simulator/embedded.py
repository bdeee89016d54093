"""What ``boxes run`` needs to run the OEM simulator beside the DMS simulator (see
``boxes.embedded.start_simulator``): its command line, its address, the connection a demo dealer
uses to reach it, and the demo dealers' OEM connectors holding it (``connect_demo_dealers``, called
when the demo is loaded)."""

from __future__ import annotations

from boxes.simulators import add_demo_connectors, child_argv

CLIENT_ID = "boxes"
CLIENT_SECRET = "simulator"  # noqa: S105 - the demo OEM's published secret
LEADS_PER_HOUR = 6.0  # per dealer: a few new leads on the board each hour of a demo
BACKLOG = 20  # per dealer: leads of the last three days, there from the start


def simulator_url(config) -> str:
    return f"http://127.0.0.1:{config.oem_simulator_port}"


def simulator_argv(config) -> list[str]:
    # The demo world (boxes.simulators): the leads' known customers are the demo's.
    return child_argv("oem-simulator", config.oem_simulator_port,
                      "--leads-per-hour", str(LEADS_PER_HOUR), "--backlog", str(BACKLOG))


def start(config, spawn):
    """Spawn the simulator (``spawn(name, argv)``, the supervisor's), after checking its port."""
    from boxes.embedded import _check_port_free

    _check_port_free("127.0.0.1", config.oem_simulator_port, "BOXES_OEM_SIMULATOR_PORT")
    return spawn("oem-simulator", simulator_argv(config))


def demo_connection(config, dealer_code: str):
    """The demo dealer's connection to the simulator."""
    from boxes.oem.client import OemConnection

    return OemConnection(base_url=simulator_url(config), client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                         dealer_code=dealer_code)


def connect_demo_dealers(session, config, dealers) -> int:
    """Give each demo dealer without one an enabled OEM connector on the simulator (leads then reach
    the demo board at the first cron run). Added to ``session``, not committed; returns how many."""
    from boxes.db import utcnow
    from boxes.models import OemConnector

    def connector(dealer) -> OemConnector:
        c = demo_connection(config, dealer.code)
        return OemConnector(dealer_id=dealer.id, enabled=True, updated_at=utcnow(),
                            settings={"base_url": c.base_url, "client_id": c.client_id, "dealer_code": c.dealer_code},
                            secrets={"client_secret": c.client_secret})

    return add_demo_connectors(session, OemConnector, dealers, connector)
