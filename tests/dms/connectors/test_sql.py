"""The sql connector against "DMS databases" that are not ours: a SQLite file and, where the machine
runs it, MariaDB at 127.0.0.1:3306 (database ``boxes_dms_test``). The DMS schema is its own
(Portuguese names); the per-entity queries alias it to the feed-v1 fields.

MariaDB is an optional peer: when it is unreachable the MariaDB case is skipped with the reason —
also under CI=true, since a dealer's DMS database is not something every machine has."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from boxes.dms.connectors.base import ConfigurationError
from boxes.dms.connectors.sql import SqlConnector
from boxes.dms.sync.runs import sync_dealer
from boxes.models import Appointment, Customer, DmsConnector, QuarantinedRecord, RepairOrder, RepairOrderLine, Vehicle

MARIADB_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/test"
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/boxes_dms_test"

SCHEMA = [
    "CREATE TABLE clientes (codigo VARCHAR(20) PRIMARY KEY, nome VARCHAR(200), celular VARCHAR(40), "
    "email VARCHAR(200), alterado_em DATETIME NOT NULL)",
    "CREATE TABLE veiculos (codigo VARCHAR(20) PRIMARY KEY, cliente VARCHAR(20), chassi VARCHAR(17), "
    "placa VARCHAR(10), modelo VARCHAR(80), ano INTEGER, alterado_em DATETIME NOT NULL)",
    "CREATE TABLE agenda (codigo VARCHAR(20) PRIMARY KEY, veiculo VARCHAR(20), data_hora DATETIME, "
    "situacao VARCHAR(20), consultor VARCHAR(100), alterado_em DATETIME NOT NULL)",
    "CREATE TABLE ordens (codigo VARCHAR(20) PRIMARY KEY, numero VARCHAR(20), veiculo VARCHAR(20), "
    "abertura DATETIME, entrega DATETIME, itens TEXT, alterado_em DATETIME NOT NULL)",
]
ROWS = [
    "INSERT INTO clientes VALUES ('C1', 'João da Silva', '(11) 91234-5678', 'joao@example.com', '2025-03-01 10:00:00')",
    "INSERT INTO clientes VALUES ('C2', 'Maria Souza', NULL, NULL, '2025-03-01 10:00:00')",
    "INSERT INTO clientes VALUES ('C3', '', NULL, NULL, '2025-03-01 11:00:00')",
    "INSERT INTO veiculos VALUES ('V1', 'C1', '9BWDA45U0JT123456', 'ABC1D23', 'Polo', 2022, '2025-03-01 10:00:00')",
    "INSERT INTO veiculos VALUES ('V2', 'C2', NULL, 'DEF4567', 'Gol', 2019, '2025-03-02 09:00:00')",
    "INSERT INTO agenda VALUES ('A1', 'V1', '2030-03-10 09:00:00', 'confirmed', 'Carlos', '2025-03-02 10:00:00')",
    "INSERT INTO ordens VALUES ('R1', '5001', 'V2', '2025-03-03 08:00:00', '2025-03-03 17:00:00', "
    "'[{\"line_no\": 1, \"work_done\": \"Revisão 20.000 km\"}]', '2025-03-03 17:05:00')",
]
QUERIES = {
    "customers": "SELECT codigo AS dms_id, nome AS name, celular AS phone_mobile, email, alterado_em AS dms_updated_at "
                 "FROM clientes WHERE alterado_em >= :cursor ORDER BY alterado_em",
    "vehicles": "SELECT codigo AS dms_id, cliente AS customer_dms_id, chassi AS vin, placa AS plate, modelo AS model, "
                "ano AS model_year, alterado_em AS dms_updated_at FROM veiculos WHERE alterado_em >= :cursor "
                "ORDER BY alterado_em",
    "appointments": "SELECT codigo AS dms_id, veiculo AS vehicle_dms_id, data_hora AS scheduled_at, "
                    "situacao AS status, consultor AS advisor, alterado_em AS dms_updated_at FROM agenda "
                    "WHERE alterado_em >= :cursor ORDER BY alterado_em",
    "repair_orders": "SELECT codigo AS dms_id, numero AS number, veiculo AS vehicle_dms_id, abertura AS opened_at, "
                     "entrega AS delivered_at, itens AS `lines`, alterado_em AS dms_updated_at FROM ordens "
                     "WHERE alterado_em >= :cursor ORDER BY alterado_em",
}


def _in_the_dms(url: str, statements: list[str]) -> str:
    """Run ``statements`` in the DMS database at ``url``, as the DMS itself would (one transaction); the URL."""
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        for stmt in statements:
            conn.exec_driver_sql(stmt)
    eng.dispose()
    return url


def _sqlite_dms(folder) -> str:
    """A DMS SQLite file in ``folder`` (a dealer's connector folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    return _in_the_dms(f"sqlite:///{folder / 'dms.db'}", SCHEMA + ROWS)


def _mariadb_dms() -> str:
    try:
        admin = sa.create_engine(MARIADB_ADMIN, connect_args={"connect_timeout": 3}, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS boxes_dms_test")
            conn.exec_driver_sql("CREATE DATABASE boxes_dms_test CHARACTER SET utf8mb4")
        admin.dispose()
    except Exception as exc:
        pytest.skip(f"MariaDB not reachable at 127.0.0.1:3306 ({exc.__class__.__name__}): the sql connector's "
                    "MariaDB peer is optional")
    return _in_the_dms(MARIADB_URL, SCHEMA + ROWS)


@pytest.fixture(params=["sqlite", "mariadb"])
def dms_url(request, config):
    return _sqlite_dms(config.connectors_root / "BR01") if request.param == "sqlite" else _mariadb_dms()


def test_sql_connector_reads_the_dms_database_incrementally(db, dealers, dms_url, config):
    br = dealers[1]
    db.add(DmsConnector(dealer_id=br.id, kind="sql", settings={"queries": QUERIES, "db_time_zone": br.time_zone,
                                                              "page_size": 2}, secrets={"url": dms_url}))
    db.commit()
    sync_dealer(db, br, config=config)
    assert set(db.scalars(select(Customer.dms_id))) == {"C1", "C2"}
    assert db.scalar(select(QuarantinedRecord.reason).where(QuarantinedRecord.dms_id == "C3")) == "name: missing"
    v2 = db.scalar(select(Vehicle).where(Vehicle.dms_id == "V2"))
    assert (v2.vin, v2.plate, v2.model_year) == ("", "DEF4567", 2019)
    ro = db.scalar(select(RepairOrder).where(RepairOrder.dms_id == "R1"))
    assert ro.status == "delivered" and ro.opened_at.isoformat() == "2025-03-03T11:00:00+00:00"  # São Paulo, UTC-3
    assert db.scalar(select(RepairOrderLine.work_done)) == "Revisão 20.000 km"
    assert db.scalar(select(Appointment.status)) == "confirmed"

    _in_the_dms(dms_url, ["UPDATE clientes SET nome = 'João da Silva Jr.', alterado_em = '2025-03-05 10:00:00' "
                          "WHERE codigo = 'C1'"])
    runs = sync_dealer(db, br, config=config)
    customers = next(r for r in runs if r.entity == "customers")
    assert (customers.updated, customers.inserted) == (1, 0)
    db.expire_all()
    assert db.scalar(select(Customer.name).where(Customer.dms_id == "C1")) == "João da Silva Jr."
    assert db.scalar(select(sa.func.count()).select_from(Customer)) == 2


def test_sql_connector_refuses_statements_that_write(config):
    from boxes.dms.connectors.boundaries import Boundaries

    url = _sqlite_dms(config.connectors_root / "BR01")
    reach = Boundaries.of(config, "BR01")
    with pytest.raises(ConfigurationError, match="only one SELECT"):
        SqlConnector({"queries": {"customers": "DELETE FROM clientes"}}, {"url": url}, boundaries=reach)
    with pytest.raises(ConfigurationError, match="only one SELECT"):
        SqlConnector({"queries": {"customers": "SELECT 1; DROP TABLE clientes"}}, {"url": url}, boundaries=reach)
    with pytest.raises(ConfigurationError, match="only one SELECT"):  # MySQL would write a file on its server
        SqlConnector({"queries": {"customers": "SELECT codigo INTO OUTFILE '/tmp/x' FROM clientes"}}, {"url": url},
                     boundaries=reach)
    conn = SqlConnector({"queries": {"customers": "WITH x AS (SELECT 1) SELECT codigo AS dms_id FROM clientes"}},
                        {"url": url}, boundaries=reach)
    with pytest.raises(ConfigurationError, match="no dms_updated_at"):
        list(conn.pages("customers", None))
    conn.close()
