"""The DMS sync engine: per dealer and entity, incremental, idempotent, resumable.

``run(session, dealer, entity)`` reads the dealer's connector page by page from the stored cursor.
Each page is validated record by record (a bad one is quarantined with its reason), deduplicated,
upserted in batches (``INSERT … ON CONFLICT DO UPDATE`` guarded by ``dms_updated_at`` so an
older version never overwrites a newer one, and the same version only when its content differs —
see ``tables.guard``), and committed *together with* the cursor after the
page. A crash or a DMS outage therefore loses nothing and the next run resumes after the last
stored page; a page read twice only counts as "unchanged". Pages are streamed and nothing is
kept between them, so memory does not grow with the feed.

Speed (PostgreSQL; ``docs/integrations.md`` has the figures): a prefetch thread reads and
validates the next page while this one is stored; one lookup sorts a page into ids not stored
yet (binary COPY straight into the table), ids stored with an older version (staged binary COPY,
then the guarded upsert above) and ids stored as they are (not written at all). SQLite takes the
plain ``INSERT … VALUES … ON CONFLICT`` path with the same rules.

One run per dealer × entity at a time: a Redis lock (a lease renewed after every page; a killed
worker's lease expires by itself). Every run is a :class:`SyncRun` with its counts, duration and
error. ``sync_dealer`` runs every entity in reference order, then the derived state
(:mod:`boxes.dms.derived`) and the appointment credit (``board.credit.match_and_credit``).

Unknown references (an RO or appointment for a vehicle never seen, a vehicle of an unknown
customer) are quarantined as ``reference`` entries and retried automatically at the start of
every run of that entity, so they converge once the DMS sends what they point to. Records that
are invalid in themselves wait for an admin's "Retry quarantined" (after fixing the mapping) or
for a newer valid version from the DMS, which resolves them.

The engine, one module per concern:

- :mod:`.tables`: what a page writes per entity (models, columns, the update expressions and the
  version guard), shared by both databases' paths;
- :mod:`.store`: validate a page (``prepare``) and store it (``store_records``, ``store_prepared``):
  the SQLite ``INSERT … ON CONFLICT`` path, the lookups, the repair order lines;
- :mod:`.postgres`: the PostgreSQL fast path (binary COPY of new ids, staged upsert, planned lookups);
- :mod:`.quarantine`: resolving and retrying quarantined records (``retry_quarantined``, also the
  admin's "Retry quarantined");
- :mod:`.runs`: the connector of a dealer, one entity's run (lock, cursor, prefetch thread,
  :class:`SyncRun`) and a dealer's run (``sync_dealer``).

Queueing a sync is the job module's: :mod:`jobs.sync`. The interpreter tuning a streaming run wants
(GC threshold, GIL switch interval) is the worker's, set at its start (:mod:`jobs.runtime`).
"""
