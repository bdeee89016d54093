"""What ``boxes run`` needs to run the OEM simulator beside the DMS simulator (see
``boxes.embedded.start_simulator``): its command line, its address, and the connection a demo
dealer uses to reach it (what the OEM connector of each demo dealer will hold)."""

from __future__ import annotations

from boxes.simulators import child_argv

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
