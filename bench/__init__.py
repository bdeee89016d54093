"""Benchmarks of the board on PostgreSQL at dealer-group scale (``make bench``, ``python -m bench``).

``bench.load`` recreates the schema with the migrations and streams a generated dataset (the same
generator as ``boxes demo``) into PostgreSQL with ``COPY``; ``bench.timing`` times the badges and
every board list through the real app (Flask test client, logged in) and as raw SQL. The results
of the last runs are in ``docs/benchmarks.md``.
"""
