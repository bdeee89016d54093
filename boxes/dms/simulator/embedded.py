"""What ``boxes run`` needs to run the DMS simulator next to the board (see ``boxes.embedded``):
its command line, and the demo dealers' connectors pointed at it."""

from __future__ import annotations

from sqlalchemy import select

from boxes.simulators import add_demo_connectors, child_argv, wait_until_serving


def simulator_url(config, code: str) -> str:
    return f"http://127.0.0.1:{config.dms_simulator_port}/feed/v1/{code}"


def simulator_argv(config) -> list[str]:
    return child_argv("dms-simulator", config.dms_simulator_port)


def connect_demo_dealers(config, *, wait: float = 30.0) -> int:
    """Give every demo dealer without a DMS connector one on the simulator, once the simulator
    serves (so the first scheduled sync finds it up). Returns how many connectors were added."""
    from boxes.db import make_engine, make_sessionmaker, utcnow

    if wait:
        wait_until_serving(f"http://127.0.0.1:{config.dms_simulator_port}", wait)
    from boxes.dms.simulator.demo import DEMO_DEALERS
    from boxes.models import Dealer, DmsConnector

    engine = make_engine(config.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            codes = [d["code"] for d in DEMO_DEALERS]
            dealers = session.scalars(select(Dealer).where(Dealer.code.in_(codes))).all()
            added = add_demo_connectors(session, DmsConnector, dealers, lambda dealer: DmsConnector(
                dealer_id=dealer.id, kind="simulator", enabled=True, tolerance_days=0, updated_at=utcnow(),
                settings={"base_url": simulator_url(config, dealer.code), "client_id": "boxes",
                          "page_size": 1000, "timeout_seconds": 30},
                secrets={"client_secret": "simulator"}))
            session.commit()
            return added
    finally:
        engine.dispose()
