"""The PostgreSQL fast path of the store (:mod:`.store` calls it when the session is on PostgreSQL).

One lookup of what is stored sorts a page: ids not stored yet go straight into the table by binary
COPY; ids stored with an older (or the same) version go through a staged binary COPY and the
guarded ``INSERT … ON CONFLICT DO UPDATE`` built from :mod:`.tables`; the rest is not written.
Lookups and line deletes are planned per call for the arrays they get (see each function for the
plans that went wrong without it). ``docs/integrations.md`` has the figures."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import literal_column, select
from sqlalchemy.orm import Session

from boxes.dms.sync.tables import COLUMNS, LINE_COLUMNS, MODELS, UPDATES, guard

DELETE_LINES = "DELETE FROM repair_order_line WHERE dealer_id = %s AND repair_order_id = ANY(%s)"


def driver(session: Session):
    """The psycopg connection inside the session's transaction (PostgreSQL fast paths)."""
    return session.connection().connection.driver_connection


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"



def lookup_ids(session: Session, model, dealer_id: int, dms_ids: set[str], *extra) -> dict:
    """dms_id → id (or → (id, *extra)) of the dealer's stored rows: one planned probe per id
    (:func:`lookup_sql`), in slices of 20,000 ids."""
    if not dms_ids:
        return {}
    out = {}
    ids = list(dms_ids)
    t = model.__table__.c
    sql = lookup_sql(model.__tablename__, [c.name for c in (t.id, *[t[e.key] for e in extra])])
    with driver(session).cursor() as cur:
        _statistics_known(cur, model.__tablename__)
        for i in range(0, len(ids), 20_000):
            cur.execute(sql, (ids[i:i + 20_000], dealer_id), prepare=False)
            if extra:
                out.update((row[0], row[1:]) for row in cur)
            else:
                out.update(cur)
    return out


def _statistics_known(cur, table: str) -> None:
    """Analyze a table PostgreSQL has no statistics for, once it has rows (a fresh installation's
    first load, a table just truncated). Without them the planner may probe another index of the
    dealer (dealer_id, vin) and filter every row of the dealer for each id: measured, 0.4 s for
    one page of 2,000 ids against 2,000 vehicles, instead of 2 ms. As the table grows the planner
    scales what it knows by the table's size, and autovacuum takes over."""
    cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,))
    (tuples,) = cur.fetchone()
    if tuples <= 0:
        cur.execute(f"SELECT EXISTS (SELECT FROM {table})")
        if cur.fetchone()[0]:
            cur.execute(f"ANALYZE {table}")


def lookup_sql(table: str, columns: list[str]) -> str:
    """dms_id → columns of the dealer's rows, for an array of dms_ids (parameters: ids, dealer).

    One probe of the (dealer_id, dms_id) index per id, whatever the statistics say: OFFSET 0
    keeps the LATERAL subquery from being flattened into a join (which stale statistics turn
    into a hash join over all the dealer's rows, e.g. while a first load grows the table), and
    it is planned per call (``prepare=False``), against the table's current size. Not LIMIT 1:
    with it the planner expects a match early in a sequential scan, and an id that is not there
    yet (every id of a first load) scans the whole table."""
    names = ", ".join(f"t.{c}" for c in columns)
    return (f"SELECT wanted.dms_id, {names} FROM unnest(%b::varchar[]) AS wanted(dms_id) CROSS JOIN LATERAL "
            f"(SELECT {names} FROM {table} t WHERE t.dealer_id = %s AND t.dms_id = wanted.dms_id OFFSET 0) AS t")



@dataclass(frozen=True)
class _Statements:
    table: str
    columns: tuple  # dealer_id, created_at, then COLUMNS[entity]
    types: list  # their binary COPY types
    stage: str  # the temporary staging table of updates
    create_stage: str
    copy_stage: str
    copy_table: str  # new rows straight into the table (repair orders: with ids taken beforehand)
    upsert: str  # from the stage, guarded by dms_updated_at


_STATEMENTS: dict[str, _Statements] = {}


def copy_type(column) -> str:
    from sqlalchemy import Boolean, Date, Integer

    from boxes.db import UTCDateTime

    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Integer):
        return "int4"
    if isinstance(kind, Date):
        return "date"
    return "text"  # String, Text: the same binary format as varchar


def _statements(entity: str) -> _Statements:
    """The PostgreSQL statements of an entity, built once (the upsert's SET and guard come from
    UPDATES, like the SQLite path's)."""
    statements = _STATEMENTS.get(entity)
    if statements is not None:
        return statements
    from sqlalchemy import column as sql_column
    from sqlalchemy import table as sql_table
    from sqlalchemy.dialects import postgresql

    table = MODELS[entity].__table__
    cols = ("dealer_id", "created_at", *COLUMNS[entity])
    stage = f"boxes_stage_{table.name}"
    source = sql_table(stage, *[sql_column(c) for c in cols])
    # Only the page's columns: the others take the table's server defaults (from_select would otherwise
    # add every column with a Python-side default as a NULL literal, e.g. customer.tax_id).
    stmt = postgresql.insert(table).from_select(list(cols), select(*[source.c[c] for c in cols]),
                                                include_defaults=False)
    excluded = stmt.excluded
    update_cols = UPDATES[entity]
    if isinstance(update_cols, dict):
        set_ = {name: fn(excluded, table) for name, fn in update_cols.items()}
    else:
        set_ = {name: excluded[name] for name in update_cols}
    stmt = stmt.on_conflict_do_update(index_elements=["dealer_id", "dms_id"], set_=set_,
                                      where=guard(entity)(excluded, table)).returning(
        table.c.dms_id, table.c.id, literal_column("(xmax = 0)"))
    names = ", ".join(cols)
    direct = ("id", *cols) if entity == "repair_orders" else cols
    statements = _Statements(
        table=table.name,
        columns=cols,
        types=[copy_type(table.c[c]) for c in cols],
        stage=stage,
        create_stage=f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                     f"SELECT {names} FROM {table.name} WITH NO DATA",
        copy_stage=f"COPY {stage} ({names}) FROM STDIN (FORMAT BINARY)",
        copy_table=f"COPY {table.name} ({', '.join(direct)}) FROM STDIN (FORMAT BINARY)",
        upsert=str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})),
    )
    _STATEMENTS[entity] = statements
    return statements


def write_rows(session: Session, dealer_id: int, entity: str, rows: list[tuple]
                    ) -> tuple[dict[str, int | None], set[str]]:
    """PostgreSQL. One lookup of what is stored sorts the page: an id not stored yet goes
    straight into the table by binary COPY (what a bulk load costs, no conflict handling); an id
    stored with an older or the same version goes through the staged ``INSERT … ON CONFLICT DO
    UPDATE`` (the Boxes-owned facts and the guard live there: the same version is written only when
    its content differs, see ``guard``); an id stored with a newer version is not written at all.
    Should another writer insert one of the new ids meanwhile (an admin's "retry quarantined"),
    the COPY fails on the unique key, is undone to its savepoint, and those rows take the upsert
    path too: the result is the upsert's either way.

    Returns (dms_id → id of the rows written — None where the COPY did not ask —, dms_ids that
    were inserted)."""
    import psycopg

    model = MODELS[entity]
    st = _statements(entity)
    stored = lookup_ids(session, model, dealer_id, {row[2] for row in rows}, model.dms_updated_at)
    new: list[tuple] = []
    newer: list[tuple] = []
    for row in rows:
        got = stored.get(row[2])
        if got is None:
            new.append(row)
        elif got[1] is None or row[-1] >= got[1]:  # dms_updated_at, the last column: guard decides
            newer.append(row)
    written: dict[str, int | None] = {}
    inserted: set[str] = set()
    with driver(session).cursor() as cur:
        if new:
            if entity == "repair_orders":  # the lines need the ids: taken from the sequence first
                cur.execute("SELECT nextval(pg_get_serial_sequence('repair_order', 'id')) "
                            "FROM generate_series(1, %s)", (len(new),))
                new = [(row_id, *row) for (row_id,), row in zip(cur.fetchall(), new, strict=True)]
            cur.execute("SAVEPOINT boxes_sync_new_rows")
            try:
                with cur.copy(st.copy_table) as copy:
                    copy.set_types(["int4", *st.types] if entity == "repair_orders" else st.types)
                    write = copy.write_row
                    for row in new:
                        write(row)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT boxes_sync_new_rows")
                newer.extend(row[1:] if entity == "repair_orders" else row for row in new)
                new = []
            cur.execute("RELEASE SAVEPOINT boxes_sync_new_rows")
            at = 3 if entity == "repair_orders" else 2
            for row in new:
                written[row[at]] = row[0] if entity == "repair_orders" else None
                inserted.add(row[at])
        if newer:
            cur.execute(st.create_stage)
            # Emptied at every commit, and here: a caller may store several pages in one transaction.
            cur.execute(f"DELETE FROM {st.stage}")
            with cur.copy(st.copy_stage) as copy:
                copy.set_types(st.types)
                write = copy.write_row
                for row in newer:
                    write(row)
            cur.execute(st.upsert)
            for dms_id, row_id, is_new in cur.fetchall():
                written[dms_id] = row_id
                if is_new:
                    inserted.add(dms_id)
    return written, inserted



def replace_lines(session: Session, dealer_id: int, changed: list[int], lines: list[tuple]) -> None:
    """The lines of ``changed`` repair orders deleted, then ``lines`` (``LINE_COLUMNS``) copied in."""
    with driver(session).cursor() as cur:
        if changed:
            # Planned for this array (not prepared): an index scan on (repair_order_id, line_no)
            # whatever the statistics say. A join on unnest(array) was planned, on a freshly
            # loaded table, as a nested loop over a sequential scan: a second per page.
            cur.execute(DELETE_LINES, (dealer_id, changed), prepare=False)
        with cur.copy(f"COPY repair_order_line ({', '.join(LINE_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "int4", "int4", "text", "text", "text", "bool"])
            write = copy.write_row
            for line in lines:
                write(line)
