"""Text filters that ignore case and accents, the same way on SQLite and PostgreSQL.

Callers, managers and campaign creators type names in Spanish and Portuguese with or without
accents and capitals ("alvarez" for "Álvarez", "joao" for "João", "CITROEN" for "Citroën").
``lower()`` alone does not do it: SQLite's folds ASCII letters only, and neither database drops
accents. So both sides of a comparison are *folded*: Latin letters with diacritics become their base
letter (``ACCENTED``, derived from Unicode's decompositions once), then lower case.

- In Python: ``fold(text)``.
- In SQL: ``folded(expr)`` — on SQLite the same Python function, registered on every connection as
  ``boxes_fold`` (``boxes.db.make_engine``); on PostgreSQL ``lower(translate(expr, <accented>,
  <base>))`` with the same table, built in (no ``unaccent`` extension to install) and immutable.

Why a function at read time and not a folded copy of each column kept on write: the texts the
grids filter are mostly labels read from other tables through correlated sub-selects (the
customer's, the campaign's, the caller's name), a "contains" match (``LIKE '%…%'``) cannot use a
B-tree index either way, and the rows are first narrowed by the report's own date-range index; the
fold then costs a few microseconds per row of the range. A large dealer that needs indexed
"contains" search on one column can add a trigram (pg_trgm) index on ``folded(column)``: the
PostgreSQL expression is immutable.
"""

from __future__ import annotations

import unicodedata
from itertools import chain

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def _base_letter(char: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))


# Every Latin letter with diacritics (Latin-1 Supplement, Extended-A and -B, Extended Additional)
# whose decomposition is one ASCII letter: Á→A, ã→a, ç→c, ñ→n, ü→u, ë→e, ő→o, ș→s...
ACCENTED = {
    char: base for char in map(chr, chain(range(0xC0, 0x250), range(0x1E00, 0x1F00)))
    if (base := _base_letter(char)) != char and len(base) == 1 and base.isascii() and base.isalpha()
}
_TABLE = str.maketrans(ACCENTED)
_FROM, _TO = "".join(ACCENTED), "".join(ACCENTED.values())


def fold(text: str | None) -> str | None:
    """``text`` without accents, in lower case: what both sides of a text filter are compared as."""
    if text is None:
        return None
    return str(text).translate(_TABLE).lower()


class folded(FunctionElement):  # lower case: it reads as SQL, folded(Customer.name)
    """``fold`` in SQL (see the module's docstring)."""

    type = String()
    name = "folded"
    inherit_cache = True


@compiles(folded)
def _folded_default(element, compiler, **kw):
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(folded, "sqlite")
def _folded_sqlite(element, compiler, **kw):
    return f"boxes_fold({compiler.process(element.clauses, **kw)})"


@compiles(folded, "postgresql")
def _folded_postgresql(element, compiler, **kw):
    # The two tables are letters only (no quote to escape) and constant: a literal, so the
    # expression is the same for every statement and usable in an expression index.
    return f"lower(translate({compiler.process(element.clauses, **kw)}, '{_FROM}', '{_TO}'))"


def contains_folded(expr, typed: str):
    """``expr`` contains ``typed``, case and accents aside; ``%`` and ``_`` are plain characters."""
    return folded(expr).contains(fold(typed), autoescape=True)


def register_sqlite(dbapi_connection) -> None:
    """Make ``boxes_fold`` available on a new SQLite connection (deterministic: usable in indexes)."""
    dbapi_connection.create_function("boxes_fold", 1, fold, deterministic=True)
