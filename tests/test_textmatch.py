"""Case- and accent-insensitive matching: SQLite (the registered function) and PostgreSQL (the
built-in expression) fold every letter of the table exactly as Python does."""

from __future__ import annotations

from sqlalchemy import literal, select

from boxes.textmatch import ACCENTED, fold, folded

SAMPLE = "".join(ACCENTED) + "ABCXYZ abc 123 %_ Ñandú São João Citroën Škoda Łódź"


def test_fold_drops_accents_and_case():
    assert fold("Martín ÁLVAREZ") == "martin alvarez"
    assert fold("JOÃO CONCEIÇÃO") == "joao conceicao"
    assert fold("Ñandú") == "nandu"
    assert fold(None) is None


def test_both_databases_fold_like_python(db, pg_db):
    for session in (db, pg_db):
        assert session.scalar(select(folded(literal(SAMPLE)))) == fold(SAMPLE), session.get_bind().dialect.name
