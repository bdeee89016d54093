"""What ``boxes run`` needs to run the DMS simulator next to the board (see ``boxes.embedded``):
its command line, and the demo dealers' connectors pointed at it."""

from __future__ import annotations

import sys
import time

from sqlalchemy import select

SEED = 42
VEHICLES = 2000  # the demo dataset's size: the simulator's workshop is the demo's


def simulator_url(config, code: str) -> str:
    return f"http://127.0.0.1:{config.dms_simulator_port}/feed/v1/{code}"


def simulator_argv(config) -> list[str]:
    from boxes.dms.simulator.demo import DEMO_DEALERS

    argv = [sys.executable, "-m", "boxes.cli", "dms-simulator", "--host", "127.0.0.1",
            "--port", str(config.dms_simulator_port), "--seed", str(SEED), "--vehicles", str(VEHICLES),
            "--clock", "real"]
    for d in DEMO_DEALERS:
        argv += ["--dealer", f"{d['code']}:{d['country']}:{d['time_zone']}"]
    return argv


def wait_until_serving(config, timeout: float = 30.0) -> bool:
    """Whether the simulator answers within ``timeout`` seconds (it builds its worlds first)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{config.dms_simulator_port}/_sim/health", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def connect_demo_dealers(config, *, wait: float = 30.0) -> int:
    """Give every demo dealer without a DMS connector one on the simulator, once the simulator
    serves (so the first scheduled sync finds it up). Returns how many connectors were added."""
    from boxes.db import make_engine, make_sessionmaker, utcnow

    if wait:
        wait_until_serving(config, wait)
    from boxes.dms.simulator.demo import DEMO_DEALERS
    from boxes.models import Dealer, DmsConnector

    engine = make_engine(config.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            codes = [d["code"] for d in DEMO_DEALERS]
            dealers = session.scalars(select(Dealer).where(Dealer.code.in_(codes))).all()
            have = set(session.scalars(select(DmsConnector.dealer_id)))
            added = 0
            for dealer in dealers:
                if dealer.id in have:
                    continue
                session.add(DmsConnector(
                    dealer_id=dealer.id, kind="simulator", enabled=True, tolerance_days=0, updated_at=utcnow(),
                    settings={"base_url": simulator_url(config, dealer.code), "client_id": "boxes",
                              "page_size": 1000, "timeout_seconds": 30},
                    secrets={"client_secret": "simulator"}))
                added += 1
            session.commit()
            return added
    finally:
        engine.dispose()
